// A device model's behaviour (issue: trust, "any device ... can take a
// behaviour"): honest, or lying at a chosen doorbell, or a seeded mix of
// honest and lying doorbells. The lie comes after the honest device model
// served the doorbell: it rewrites the used element it just wrote (an id or a
// length the driver never gave, an id past the queue) or scribbles on the
// ring areas the device owns (used idx, event suppression, packed flags).
// Every lie goes through the device's own DMA view, so the deployment
// decides what it may reach; the driver's checks decide what it believes.
import type { DmaView } from '../memory/dma-view.js';
import type { MachineDevice } from '../sim/machine.js';
import {
  deviceScribble,
  driverScribble,
  rewriteUsed,
  snapshotUsed,
  writtenSlots,
  type RingWindow,
} from './fuzz/lies.js';
import { FuzzRandom } from './fuzz/random.js';

export const DEVICE_LIES = ['used', 'used-id', 'ring', 'mix'] as const;
export type DeviceLie = (typeof DEVICE_LIES)[number];

export interface DeviceBehaviour {
  /**
   * Who lies: the device model (default), or the guest driver of this device
   * (its descriptors, avail ring or event area, just before it rings the
   * doorbell; the device's checks then meet the lie).
   */
  side?: 'device' | 'driver';
  /**
   * What the device lies about: 'used' (a used element it just wrote: its id
   * or length), 'used-id' (an id past the queue), 'ring' (its ring areas:
   * used idx, event suppression, forged packed descriptors), 'mix' (any).
   */
  lie: DeviceLie;
  /** Lie at the `at`-th doorbell only (1-based). */
  at?: number;
  /** Or lie at each doorbell with probability `rate` (0 to 1): a seeded mix of honest and lying steps. */
  rate?: number;
  /** Seed of the choices. Default: the machine's seed. */
  seed?: number;
}

/** The device's view of queue `index` as the driver programmed it, read and written through its DMA view. */
export function ringWindow(md: MachineDevice, view: DmaView, index: number): RingWindow | undefined {
  const q = md.transport.core.queues[index];
  if (!q || !q.enabled || q.size === 0) return undefined;
  return {
    ring: md.ring,
    size: q.size,
    desc: Number(q.desc),
    driver: Number(q.driver),
    device: Number(q.device),
    read: (addr, len) => view.read(addr, len),
    write: (addr, bytes) => view.write(addr, bytes),
  };
}

/** What a lying device did, doorbell by doorbell (`refused`: its DMA context refused the lie). */
export interface LieRecord {
  doorbell: number;
  what: string;
  refused?: string;
}

/**
 * Makes `md`'s device model behave as `b` says: its doorbell handler serves
 * honestly, then, on the doorbells the behaviour picks, lies. Returns the
 * log of lies (grows as the device runs).
 */
export function applyBehaviour(md: MachineDevice, b: DeviceBehaviour, seed: number): LieRecord[] {
  if (b.side === 'driver') return applyDriverBehaviour(md, b, seed);
  const log: LieRecord[] = [];
  const r = new FuzzRandom((b.seed ?? seed) >>> 0 || 1);
  const model = md.device;
  const view = md.dma.deviceView();
  const serve = model.onNotify.bind(model);
  let doorbells = 0;
  model.onNotify = (index: number) => {
    doorbells++;
    const now = b.at !== undefined ? doorbells === b.at : r.chance(b.rate ?? 0);
    if (!now) return serve(index);
    const windows = md.transport.core.queues
      .map((_, vq) => ringWindow(md, view, vq))
      .filter((w): w is RingWindow => w !== undefined);
    const before = windows.map((w) => {
      try {
        return snapshotUsed(w);
      } catch {
        return undefined; // a ring the device may not read: no lie there
      }
    });
    serve(index);
    if (windows.length === 0) return;
    const record: LieRecord = { doorbell: doorbells, what: '' };
    try {
      const written = windows.flatMap((w, k) => {
        const b0 = before[k];
        return b0 ? writtenSlots(w, b0).map((slot) => ({ w, slot })) : [];
      });
      const kind = b.lie === 'mix' ? r.pick(['used', 'used-id', 'ring'] as const) : b.lie;
      if (kind !== 'ring' && written.length > 0) {
        const { w, slot } = r.pick(written);
        record.what = rewriteUsed(w, slot, r, kind === 'used-id');
      } else {
        record.what = deviceScribble(r.pick(windows), r);
      }
    } catch (e) {
      record.refused = e instanceof Error ? e.message : String(e);
    }
    if (record.what || record.refused) log.push(record);
  };
  return log;
}

/**
 * The driver of `md` lies: just before the doorbells the behaviour picks, it
 * scribbles on the queue's descriptors, avail ring or event area (pointing
 * descriptors anywhere in guest RAM and past it). The ring memory is the
 * same bytes the device reads, reached here at its DMA address.
 */
function applyDriverBehaviour(md: MachineDevice, b: DeviceBehaviour, seed: number): LieRecord[] {
  const log: LieRecord[] = [];
  const r = new FuzzRandom((b.seed ?? seed) >>> 0 || 1);
  const view = md.dma.deviceView();
  const access = md.access;
  const notify = access.notify.bind(access);
  let doorbells = 0;
  access.notify = (index: number) => {
    doorbells++;
    const now = b.at !== undefined ? doorbells === b.at : r.chance(b.rate ?? 0);
    const w = now ? ringWindow(md, view, index) : undefined;
    if (w) {
      const record: LieRecord = { doorbell: doorbells, what: '' };
      try {
        record.what =
          w.ring === 'split'
            ? splitDriverLie(w, r, md.mem.size)
            : driverScribble(w, r, md.mem.size, [w.desc, w.driver, w.device]);
      } catch (e) {
        record.refused = e instanceof Error ? e.message : String(e);
      }
      log.push(record);
    }
    notify(index);
  };
  return log;
}

/**
 * A split-ring driver's lie about the chain it just made available (the one
 * the device is about to pop): its head out of range, a jump of avail idx,
 * a next past the table, a zero length, or an address past guest RAM.
 */
function splitDriverLie(w: RingWindow, r: FuzzRandom, ram: number): string {
  const le = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idx = le(w.read(w.driver + 2, 2)).getUint16(0, true);
  const slot = (idx - 1) & (w.size - 1);
  const head = le(w.read(w.driver + 4 + 2 * slot, 2)).getUint16(0, true);
  const desc = w.desc + 16 * (head % w.size);
  const put = (addr: number, v: number, bytes: 2 | 4 | 8) => {
    const b = new Uint8Array(bytes);
    if (bytes === 8) le(b).setBigUint64(0, BigInt(v), true);
    else if (bytes === 4) le(b).setUint32(0, v, true);
    else le(b).setUint16(0, v, true);
    w.write(addr, b);
  };
  switch (r.int(0, 4)) {
    case 0: {
      const v = w.size + r.int(0, 100);
      put(w.driver + 4 + 2 * slot, v, 2);
      return `avail.ring[${slot}] = ${v}`;
    }
    case 1: {
      const v = (idx + w.size + r.int(1, 8)) & 0xffff;
      put(w.driver + 2, v, 2);
      return `avail.idx ${idx} -> ${v}`;
    }
    case 2: {
      const v = w.size + r.int(0, 100);
      put(desc + 12, le(w.read(desc + 12, 2)).getUint16(0, true) | 1, 2); // VRING_DESC_F_NEXT
      put(desc + 14, v, 2);
      return `desc[${head}].next = ${v}`;
    }
    case 3:
      put(desc + 8, 0, 4);
      return `desc[${head}].len = 0`;
    default: {
      const v = ram + 4096 * r.int(1, 16);
      put(desc, v, 8);
      return `desc[${head}].addr = 0x${v.toString(16)}`;
    }
  }
}

// Attack scenarios for the protect-layer entries of the violation catalogue
// (issue #11, end-to-end protection). Each plays a device that snoops the
// payloads it carries and lies about them, against a guest with protection
// on (ctx.hardened: the record layer over virtio-net, the sector crypt layer
// over virtio-blk) or off (the same lie goes through). The damage is
// measured, not asserted: the guest's payloads are planted secrets
// (damage.ts), the device's reads are searched for them, and the guest reads
// what comes back into the very buffers the secrets came from (an echo
// reading its echo back, a page cache re-reading its page), so every byte
// the lie changed there is counted.
import * as N from '../../../assembly/net/layout.js';
import { BlkStatus } from '../../spec/blk.js';
import { createMachine, type NetMachineDevice } from '../../sim/machine.js';
import { Damage } from '../attack/damage.js';
import type { AttackContext, AttackOutcome, Scenario } from '../attack/types.js';
import { violationOf } from '../catalogue/index.js';
import { ProtectedNet, RECORD_OVERHEAD } from '../protect/record.js';
import { GROUP_BYTES, GROUP_DEVICE_BYTES, SectorCrypt } from '../protect/sector.js';

const PAYLOAD = 512;
const FRAMES = 3;
const VIRTIO_NET_HDR = 12;

/** What the device does to the frames it has just written into RX buffers 0..FRAMES-1 (header excluded). */
type NetLie = (frames: Uint8Array[]) => Uint8Array[];

function outcome(
  ctx: AttackContext,
  e: unknown,
  handling: 'broken' | 'failed',
  bytesLeaked: number,
  bytesCorrupted: number,
  note: string,
): AttackOutcome {
  const v = violationOf(e);
  if (e !== undefined && !v) throw e;
  return {
    detected: v !== undefined,
    violation: v?.id,
    reaction: v ? handling : 'none',
    bytesLeaked,
    bytesCorrupted,
    hung: false,
    note: ctx.hardened ? note : `protection off: ${note}`,
  };
}

/**
 * A virtio-net loopback victim sends FRAMES payloads of secret bytes; the
 * device snoops each frame it is handed (reading the TX buffer through its
 * own DMA view: in a CVM, the swiotlb slot) and writes the frames back into
 * the RX buffers per `lie`; the guest receives each payload back into the buffer it
 * sent it from.
 */
function netAttack(ctx: AttackContext, lie: NetLie, what: string): AttackOutcome {
  const m = createMachine({
    deployment: ctx.deployment,
    seed: ctx.seed,
    devices: [{ kind: 'net', packetBytes: 1500, queueSize: 64 }],
  });
  try {
    const net: NetMachineDevice = m.net();
    const damage = new Damage(m.mem, ctx.seed);
    const src = Array.from({ length: FRAMES }, () => damage.secret(m.mem.alloc(PAYLOAD), PAYLOAD));
    // A canary beside them: the lie must not reach memory the payloads do not own.
    damage.canary(m.mem.alloc(PAYLOAD), PAYLOAD);
    const payloads = src.map((a) => m.mem.read(a, PAYLOAD));
    const pn = ctx.hardened ? new ProtectedNet(net.driver, net.dma, { seed: ctx.seed, name: net.name }) : undefined;
    const frameLen = PAYLOAD + (pn ? RECORD_OVERHEAD : 0);
    const dv = net.dma.deviceView();
    const pair = net.driver.pairs[0]!;
    const v = m.mem.view;
    const seen: Uint8Array[] = [];
    // One frame per kick, so that frame k lands in RX buffer k of the freshly posted ring.
    for (const p of payloads) {
      // The TX buffer the driver takes next (the top of its free stack, as net_drv_tx_build pops it).
      const free = v.getUint32(pair.txState + N.DT_FREE, true);
      const slot = v.getUint32(free + 4 * (v.getUint32(pair.txState + N.DT_NFREE, true) - 1), true);
      if (pn) pn.send(0, [p]);
      else net.driver.send(0, [p]);
      // What the device read of it, through its own DMA view (in a CVM: the swiotlb slot).
      seen.push(dv.read(pair.txSlots.dma[slot]! + VIRTIO_NET_HDR, frameLen));
      net.driver.reapTx(0);
    }
    const bytesLeaked = seen.reduce((n, f) => n + damage.leakedIn(f), 0);
    // The lie: what the device writes into the RX buffers it filled (device-writable, in every deployment).
    const rx = pair.rxSlots.dma.slice(0, FRAMES);
    lie(seen.map((f) => f.slice())).forEach((f, k) => dv.write(rx[k]! + VIRTIO_NET_HDR, f));
    let err: unknown;
    try {
      const got = pn ? pn.receive(0) : net.driver.receive(0).map((p) => p.data);
      got.forEach((p, k) => m.mem.write(src[k]!, p.subarray(0, PAYLOAD)));
    } catch (e) {
      err = e;
    }
    const bytesCorrupted = damage.secretsChanged() + damage.corrupted();
    return outcome(ctx, err, 'broken', bytesLeaked, bytesCorrupted, what);
  } finally {
    m.close();
  }
}

/**
 * A virtio-blk victim writes secret data (two 4 KiB blocks at sector 64) and
 * reads it back into the same page-cache pages; the device snoops its store
 * and lies per `lie` (given the store, the device offset of the data, and
 * the write about to be made, 0 or 1); `writes` writes of fresh secret data
 * come before the read.
 */
function blkAttack(
  ctx: AttackContext,
  writes: number,
  lie: (store: Uint8Array, at: number, span: number, write: number) => void,
  what: string,
): AttackOutcome {
  const m = createMachine({
    deployment: ctx.deployment,
    seed: ctx.seed,
    devices: [{ kind: 'blk', capacityBytes: 1 << 20, queueSize: 64 }],
  });
  try {
    const blk = m.blk();
    const damage = new Damage(m.mem, ctx.seed);
    const bytes = 2 * GROUP_BYTES;
    const sector = 64;
    const page = m.mem.alloc(bytes);
    damage.canary(m.mem.alloc(PAYLOAD), PAYLOAD);
    const sc = ctx.hardened
      ? new SectorCrypt(m.mem, blk.store.bytes / 512, { seed: ctx.seed, name: blk.name })
      : undefined;
    const store = m.mem.bytes.subarray(blk.store.linearBase!, blk.store.linearBase! + blk.store.bytes);
    const at = sc ? sc.deviceSector(sector) * 512 : sector * 512;
    const span = sc ? (bytes / GROUP_BYTES) * GROUP_DEVICE_BYTES : bytes;
    let bytesLeaked = 0;
    let last: Uint8Array = new Uint8Array(bytes);
    for (let w = 0; w < writes; w++) {
      lie(store, at, span, w);
      // Each write brings new secret data (the page's newest contents); the older ones stay planted.
      damage.secret(page, bytes);
      const data = m.mem.read(page, bytes);
      last = data;
      const status = sc ? sc.write(blk.driver, sector, data) : blk.driver.write(sector, data);
      if (status !== BlkStatus.OK) throw new Error(`blk write: status ${status}`);
      // The device reads what it stores.
      bytesLeaked += damage.leakedIn(store.subarray(at, at + span));
    }
    lie(store, at, span, writes);
    let err: unknown;
    try {
      const r = sc ? sc.read(blk.driver, sector, bytes) : blk.driver.read(sector, bytes);
      if (r.status === BlkStatus.OK) m.mem.write(page, r.data);
    } catch (e) {
      err = e;
    }
    // The page now holds what the read returned: bytes that differ from the
    // newest data written count (the older secrets there were overwritten on purpose).
    const now = m.mem.read(page, bytes);
    let bytesCorrupted = damage.corrupted();
    for (let i = 0; i < bytes; i++) if (now[i] !== last[i]) bytesCorrupted++;
    return outcome(ctx, err, 'failed', bytesLeaked, bytesCorrupted, what);
  } finally {
    m.close();
  }
}

export const protectScenarios: readonly Scenario[] = [
  {
    id: 'protect-net-tamper',
    violation: 'PROTECT_RECORD_AUTH',
    attacker: 'device',
    title: 'reads every frame it loops back and flips 64 bytes of the second',
    run: (ctx) =>
      netAttack(
        ctx,
        (f) => {
          for (let i = 100; i < 164; i++) f[1]![i]! ^= 0xff;
          return f;
        },
        '64 bytes of frame 1 flipped in its RX buffer',
      ),
  },
  {
    id: 'protect-net-replay',
    violation: 'PROTECT_RECORD_REPLAY',
    attacker: 'device',
    title: 'delivers the first frame again in place of the second',
    run: (ctx) => netAttack(ctx, (f) => [f[0]!, f[0]!, f[2]!], 'frame 0 delivered again in place of frame 1'),
  },
  {
    id: 'protect-net-reorder',
    violation: 'PROTECT_RECORD_GAP',
    attacker: 'device',
    title: 'delivers the second frame before the first',
    run: (ctx) => netAttack(ctx, (f) => [f[1]!, f[0]!, f[2]!], 'frames 0 and 1 swapped'),
  },
  {
    id: 'protect-net-drop',
    violation: 'PROTECT_RECORD_GAP',
    attacker: 'device',
    title: 'drops the first frame (delivers the next ones a slot early)',
    run: (ctx) => netAttack(ctx, (f) => [f[1]!, f[2]!, f[2]!], 'frame 0 dropped, frames 1 and 2 moved up'),
  },
  {
    id: 'protect-net-length',
    violation: 'PROTECT_RECORD_LENGTH',
    attacker: 'device',
    title: "rewrites the first 8 bytes of every frame (the record's header: type, version, length)",
    run: (ctx) =>
      netAttack(
        ctx,
        (f) => {
          for (const x of f) x.fill(0, 0, 8);
          return f;
        },
        'the first 8 bytes of each frame zeroed',
      ),
  },
  {
    id: 'protect-blk-tamper',
    violation: 'PROTECT_SECTOR_INTEGRITY',
    attacker: 'device',
    title: 'reads the disk and flips 64 bytes of a stored sector',
    run: (ctx) =>
      blkAttack(
        ctx,
        1,
        (s, at, _span, w) => {
          if (w === 1) for (let i = 1000; i < 1064; i++) s[at + i]! ^= 0xff;
        },
        '64 bytes of a stored sector flipped',
      ),
  },
  {
    id: 'protect-blk-replay',
    violation: 'PROTECT_SECTOR_REPLAY',
    attacker: 'device',
    title: 'keeps the first write of two blocks (and their tags) and serves it after the second',
    run: (ctx) => {
      let old: Uint8Array | undefined;
      return blkAttack(
        ctx,
        2,
        (s, at, span, w) => {
          // Before write 1, after write 0: keep the image; before the read, put it back.
          if (w === 1) old = s.slice(at, at + span);
          if (w === 2 && old) s.set(old, at);
        },
        'the first write served again after the second',
      );
    },
  },
];

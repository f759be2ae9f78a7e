// The net, blk and console targets: a machine from createMachine (one
// device, a random deployment, transport and ring) runs an honest workload
// through its hardened driver while, unless honest, the device lies: after
// the device model served a doorbell, it rewrites the used element it just
// wrote (id, len, packed flags), moves its used idx, forges used
// descriptors, scribbles on its event area, or writes past a buffer the
// driver posted. Every lie goes through the device's own DMA view, so the
// deployment decides what it may reach; what the view refuses must leave the
// canaries (seeded bytes in private guest pages) as they were.
import { Damage } from '../attack/damage.js';
import { ringWindow } from '../behaviour.js';
import { createMachine, type Machine, type MachineDevice } from '../../sim/machine.js';
import type { DeploymentName } from '../../sim/deployments.js';
import type { DeviceKind } from '../../sim/machine-config.js';
import { Status } from '../../spec/config.js';
import { BlkStatus, BlkType } from '../../spec/blk.js';
import { Checker, Tokens, describeError } from './check.js';
import { deviceScribble, rewriteUsed, snapshotUsed, writtenSlots, type RingWindow } from './lies.js';
import { FuzzRandom, iterationSeed } from './random.js';
import type { FuzzTarget, IterationOptions, IterationResult } from './types.js';

/** Operations per iteration (each a driver call that crosses to the device). */
export const MACHINE_STEPS = 40;
const DEPLOYMENTS: readonly DeploymentName[] = ['traditional', 'hardware', 'cvm'];
const SECTOR = 512;

interface Liar {
  /** The device lies at its next doorbell. */
  armed: 'none' | 'random' | 'out-of-range';
  /** What it did, for the failure message. */
  last: string;
}

/**
 * Makes the device model lie after it serves a doorbell. The lie is the
 * device's own DMA: a refused access is counted as the violation its DMA
 * context names, and must not have changed a canary.
 */
function installLiar(md: MachineDevice, r: FuzzRandom, check: Checker, damage: Damage, reachesAll: boolean): Liar {
  const liar: Liar = { armed: 'none', last: '' };
  const model = md.device;
  const view = md.dma.deviceView();
  const serve = model.onNotify.bind(model);
  model.onNotify = (index: number) => {
    const mode = liar.armed;
    liar.armed = 'none';
    if (mode === 'none') return serve(index);
    // Every queue the device may write on this doorbell (loopback: the TX
    // doorbell fills RX buffers too), and what their used areas hold now.
    const queues: { vq: number; w: RingWindow; before: Uint8Array | undefined }[] = [];
    md.transport.core.queues.forEach((_, vq) => {
      const w = ringWindow(md, view, vq);
      if (!w) return;
      let before: Uint8Array | undefined;
      try {
        before = snapshotUsed(w);
      } catch {
        before = undefined; // its ring is not the device's to read: no lie there
      }
      queues.push({ vq, w, before });
    });
    serve(index);
    if (queues.length === 0) return;
    const canaries = damage.corrupted();
    liar.last = '';
    try {
      const written = queues.flatMap((q) => (q.before ? writtenSlots(q.w, q.before).map((slot) => ({ q, slot })) : []));
      if (mode === 'out-of-range' || (written.length > 0 && r.chance(0.6))) {
        if (written.length > 0) {
          const { q, slot } = r.pick(written);
          liar.last = `vq${q.vq} ${rewriteUsed(q.w, slot, r, mode === 'out-of-range')}`;
        }
      } else {
        const q = r.pick(queues);
        if (reachesAll || r.chance(0.5)) {
          liar.last = `vq${q.vq} ${deviceScribble(q.w, r)}`;
        } else {
          // Past the end of a buffer the driver posted: only where the
          // deployment limits what the device reaches (a device that reaches
          // all guest RAM may rewrite the driver's own state; no check helps).
          const slot = r.int(0, q.w.size - 1);
          const d = q.w.read(q.w.desc + 16 * slot, 16);
          const dv = new DataView(d.buffer, d.byteOffset, 16);
          const addr = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(8, true);
          liar.last = `vq${q.vq} write 16 bytes at 0x${addr.toString(16)} (past desc[${slot}])`;
          view.write(addr, r.bytes(16));
        }
      }
      if (liar.last) check.lied(liar.last);
    } catch (e) {
      check.lied(`${liar.last} (refused)`);
      check.caught(`device lie (${liar.last || 'reading its ring'})`, e);
      const now = damage.corrupted();
      if (now !== canaries) check.fail('canary', `a refused device access changed ${now - canaries} canary bytes`);
    }
  };
  return liar;
}

function frame(r: FuzzRandom, max: number): Uint8Array {
  return r.bytes(r.int(1, max));
}

/** One iteration of the net, blk or console target. */
export function runMachineIteration(kind: DeviceKind, o: IterationOptions): IterationResult {
  const r = new FuzzRandom(iterationSeed(o.seed, o.iteration));
  const deployment = r.pick(DEPLOYMENTS);
  const transport = r.pick(['pci', 'mmio'] as const);
  const ring = r.pick(['split', 'packed'] as const);
  const queueSize = r.pick([8, 16, 32]);
  const eventIdx = r.chance(0.5);
  const variant = `${deployment}/${transport}/${ring}`;
  const check = new Checker(o.honest, MACHINE_STEPS);
  const base = { transport, ring, queueSize, eventIdx };
  let m: Machine;
  try {
    m = createMachine({
      deployment,
      seed: r.u32() || 1,
      memory: 24 << 20,
      devices: [
        kind === 'net'
          ? { kind, ...base, packetBytes: 256 }
          : kind === 'blk'
            ? { kind, ...base, capacityBytes: 1 << 20, maxIoBytes: 16384, depth: 4 }
            : { kind, ...base },
      ],
    });
  } catch (e) {
    check.fail('error', `createMachine (${variant}): ${describeError(e)}`);
    return check.result(variant);
  }
  try {
    const md = m.devices[0]!;
    const damage = new Damage(m.mem, r.u32());
    for (let k = 0; k < 3; k++) damage.canary(m.mem.alloc(4096), 4096);
    const liar = installLiar(md, r, check, damage, deployment === 'traditional');
    const workload = kind === 'net' ? netWorkload : kind === 'blk' ? blkWorkload : consoleWorkload;
    let injected = false;
    workload(m, md, r, check, () => {
      const inject = !injected && o.injectLieAt !== undefined && check.operations >= o.injectLieAt;
      injected ||= inject;
      if (inject) liar.armed = 'out-of-range';
      else if (!o.honest && r.chance(0.15)) liar.armed = r.chance(0.1) ? 'out-of-range' : 'random';
      else liar.armed = 'none';
    });
    if (o.honest && !check.failure) {
      const changed = damage.corrupted();
      if (changed > 0) check.fail('canary', `an honest run changed ${changed} canary bytes`);
      const faults = m.stats()[`${md.name}.dma-context`]?.counters.faults ?? 0;
      if (faults > 0) check.fail('dma', `the device's DMA context counted ${faults} faults in an honest run`);
      if (md.transport.core.status & Status.NEEDS_RESET) {
        check.fail('error', `the device asked for a reset: ${md.transport.core.needsResetReason() ?? 'no reason'}`);
      }
    }
  } finally {
    try {
      m.close();
    } catch (e) {
      if (!check.lastViolation) check.fail('error', `machine close: ${describeError(e)}`);
    }
  }
  return check.result(variant);
}

type Workload = (m: Machine, md: MachineDevice, r: FuzzRandom, check: Checker, arm: () => void) => void;

/** Stops after the first violation: the driver would reset the device (virtio_break_device). */
const going = (check: Checker): boolean => !check.done && check.lastViolation === undefined;

const netWorkload: Workload = (_m, md, r, check, arm) => {
  if (md.kind !== 'net') return;
  const d = md.driver;
  /** Frames sent and not yet received (loopback: they come back in order). */
  const expected: Uint8Array[] = [];
  const receive = (what: string) => {
    // The hardened driver drops a frame whose lengths lie and counts it
    // (Linux: rx_length_errors); the error it keeps names the violation.
    const errors = d.counters.rxLengthErrors;
    const got = check.op(what, () => d.receive(0));
    if (d.counters.rxLengthErrors > errors) check.caught(`${what} (frame dropped)`, d.errors.at(-1));
    for (const p of got ?? []) {
      const want = expected.shift();
      if (check.honest && (want === undefined || !sameBytes(want, p.data))) {
        check.fail(
          'lost',
          `${what}: frame of ${p.data.length} bytes is not the next one sent (${want?.length ?? 'none'} bytes)`,
        );
      }
    }
  };
  while (going(check)) {
    arm();
    const step = r.int(0, 2);
    if (step === 0) {
      const frames = Array.from({ length: r.int(1, 4) }, () => frame(r, 256));
      const n = check.op('net send', () => d.send(0, frames)) ?? 0;
      expected.push(...frames.slice(0, n));
    } else if (step === 1) check.op('net reap tx', () => d.reapTx(0));
    else receive('net receive');
  }
  if (check.honest && !check.failure) {
    for (let round = 0; round < 8 && expected.length > 0 && !check.failure; round++) {
      check.op('net reap tx (drain)', () => d.reapTx(0));
      receive('net receive (drain)');
    }
    if (!check.failure && expected.length > 0) check.fail('lost', `${expected.length} frames sent never came back`);
  }
};

const blkWorkload: Workload = (m, md, r, check, arm) => {
  if (md.kind !== 'blk') return;
  const d = md.driver;
  const q = d.queues[0]!;
  const sectors = (1 << 20) / SECTOR;
  /** What the disk holds, per sector written (honest runs compare reads with it). */
  const disk = new Map<number, Uint8Array>();
  const bufs = Array.from({ length: 4 }, () => m.mem.alloc(16384));
  const tags = new Tokens();
  const pending = new Map<number, { type: number; sector: number; buf: number; bytes: number }>();
  const reap = (what: string) => {
    check.op(what, () =>
      q.reap((c) => {
        const bad = tags.complete(c.tag);
        if (bad) return check.fail('token', `${what}: request ${bad}`);
        const req = pending.get(c.tag)!;
        pending.delete(c.tag);
        if (!check.honest) return;
        if (c.status !== BlkStatus.OK)
          check.fail('lost', `${what}: honest request ${c.tag} ended with status ${c.status}`);
        else if (req.type === BlkType.IN) {
          const got = m.mem.read(req.buf, req.bytes);
          for (let s = 0; s < req.bytes / SECTOR; s++) {
            const want = disk.get(req.sector + s) ?? new Uint8Array(SECTOR);
            if (!sameBytes(want, got.subarray(s * SECTOR, (s + 1) * SECTOR))) {
              check.fail('lost', `${what}: sector ${req.sector + s} read back differs from what was written`);
              break;
            }
          }
        }
      }),
    );
  };
  while (going(check)) {
    arm();
    // A batch of up to 4 requests, reads and writes, kicked once and reaped.
    const n = r.int(1, 4);
    const used = new Set<number>();
    for (let k = 0; k < n && pending.size < bufs.length; k++) {
      const bytes = SECTOR * r.int(1, 16);
      const sector = r.int(0, sectors - bytes / SECTOR);
      // Requests of one batch touch distinct sectors, so the order the device serves them in does not matter.
      let clash = false;
      for (let s = sector; s < sector + bytes / SECTOR; s++) if (used.has(s)) clash = true;
      if (clash) continue;
      for (let s = sector; s < sector + bytes / SECTOR; s++) used.add(s);
      const buf = bufs.find((b) => ![...pending.values()].some((p) => p.buf === b))!;
      const type = r.chance(0.5) ? BlkType.OUT : BlkType.IN;
      if (type === BlkType.OUT) {
        const data = r.bytes(bytes);
        m.mem.write(buf, data);
        for (let s = 0; s < bytes / SECTOR; s++) disk.set(sector + s, data.slice(s * SECTOR, (s + 1) * SECTOR));
      }
      const tag = check.op('blk submit', () => q.submit(type, sector, buf, bytes));
      if (tag === undefined || tag < 0) break;
      tags.add(tag);
      pending.set(tag, { type, sector, buf, bytes });
    }
    check.op('blk kick', () => q.kick());
    reap('blk reap');
    if (check.honest && !check.failure && tags.outstanding > 0) {
      check.fail('lost', `${tags.outstanding} requests not completed after their doorbell`);
    }
    // A lying device may keep requests; once every buffer is held, the iteration ends.
    if (!check.honest && pending.size >= bufs.length) break;
  }
};

const consoleWorkload: Workload = (_m, md, r, check, arm) => {
  if (md.kind !== 'console') return;
  const d = md.driver;
  let sent: number[] = [];
  const read = (what: string) => {
    const got = check.op(what, () => d.read());
    if (!got || !check.honest) return;
    for (let i = 0; i < got.length; i++) {
      if (sent[i] !== got[i]) {
        check.fail('lost', `${what}: byte ${i} of ${got.length} read back is not the byte written`);
        return;
      }
    }
    sent = sent.slice(got.length);
  };
  while (going(check)) {
    arm();
    if (r.chance(0.6)) {
      const bytes = frame(r, 300);
      const n = check.op('console write', () => d.write(bytes)) ?? 0;
      for (let i = 0; i < n; i++) sent.push(bytes[i]!);
    } else read('console read');
  }
  if (check.honest && !check.failure) {
    for (let round = 0; round < 8 && sent.length > 0 && !check.failure; round++) read('console read (drain)');
    if (!check.failure && sent.length > 0) check.fail('lost', `${sent.length} bytes written never came back`);
  }
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const netTarget: FuzzTarget = {
  name: 'net',
  title: 'virtio-net machine (loopback) whose device rewrites what it writes',
  run: (o) => runMachineIteration('net', o),
};
export const blkTarget: FuzzTarget = {
  name: 'blk',
  title: 'virtio-blk machine whose device rewrites what it writes',
  run: (o) => runMachineIteration('blk', o),
};
export const consoleTarget: FuzzTarget = {
  name: 'console',
  title: 'virtio-console machine (loopback) whose device rewrites what it writes',
  run: (o) => runMachineIteration('console', o),
};

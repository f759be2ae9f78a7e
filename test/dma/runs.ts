// Runs shared by the backend tests of test/dma/: the same workload on any DMA
// backend, returning what each side saw, so a test can hold a backend's run
// against the direct backend's.
import { expect } from 'vitest';
import {
  BlkStatus,
  DmaApi,
  DmaDirection as D,
  GuestMemory,
  createMachine,
  createQueue,
  type BlkDriver,
  type ConsoleDriver,
  type DmaBackendName,
  type RingKind,
  type VirtioNetDriver,
} from '../../src/internal.js';
import { int, rng } from '../helpers/ring.js';

/** Bytes between buffer slots: not a page multiple, so buffers share pages and cross page boundaries. */
const STRIDE = 3000;
const SLOTS = 64;

/**
 * A seeded run of chains of 1 to 4 buffers (some indirect) through one queue
 * whose driver side takes its DMA window and coherent memory from the DMA
 * API and whose device face is built through its device view. Buffers of
 * chains in flight at once never overlap (a queue of 16 holds at most 16
 * chains; each has its 4 slots), but neighbours share guest pages. The device
 * reads every readable iovec and fills every writable one whole; the driver
 * unmaps each chain as it completes. Returns what each side saw. The buffers
 * are shared pages unless `pool` is 'private' (a confidential guest's own
 * memory, which only a bouncing backend may hand to the device).
 */
export function ringRun(
  ring: RingKind,
  backend: DmaBackendName,
  seed: number,
  { pool: kind = 'shared' }: { pool?: 'shared' | 'private' } = {},
) {
  const mem = new GuestMemory({ size: 8 << 20 });
  const api = new DmaApi(mem, { backend });
  const view = api.deviceView();
  const q = createQueue(mem, {
    ring,
    size: 16,
    eventIdx: true,
    indirect: true,
    indirectMax: 4,
    dma: api.driverDma(),
    device: view,
  });
  const pool = mem.alloc(SLOTS * STRIDE, { shared: kind === 'shared' });
  const at = mem.linear(pool);
  for (let k = 0; k < SLOTS * STRIDE; k++) mem.bytes[at + k] = (k * 7 + seed) & 0xff;
  const r = rng(seed);
  const seen: number[] = [];
  const done: { token: number; len: number }[] = [];
  const maps = new Map<number, { dma: number; len: number; dir: D }[]>();
  // Bytes a bouncing backend must copy: mapped for the device to read, unmapped for the CPU to read.
  const bounce = { toDevice: 0, fromDevice: 0 };
  const unmap = (b: { dma: number; len: number; dir: D }) => {
    api.unmap(b.dma, b.len, b.dir);
    if (b.dir !== D.TO_DEVICE) bounce.fromDevice += b.len;
  };
  let token = 0;
  for (let step = 0; step < 200; step++) {
    const nOut = int(r, 0, 2);
    const nIn = int(r, nOut === 0 ? 1 : 0, 2);
    const bufs: { dma: number; len: number; dir: D }[] = [];
    for (let k = 0; k < nOut + nIn; k++) {
      const len = int(r, 1, STRIDE);
      const gpa = pool + ((token % 16) * 4 + k) * STRIDE;
      const dir = k < nOut ? D.TO_DEVICE : r() < 0.3 ? D.BIDIRECTIONAL : D.FROM_DEVICE;
      bufs.push({ dma: api.map(gpa, len, dir), len, dir });
      if (dir !== D.FROM_DEVICE) bounce.toDevice += len;
    }
    const out = bufs.slice(0, nOut).map((b) => ({ addr: b.dma, len: b.len }));
    const inBufs = bufs.slice(nOut).map((b) => ({ addr: b.dma, len: b.len }));
    if (q.driver.add(out, inBufs, token, { indirect: r() < 0.5 })) {
      maps.set(token, bufs);
      token++;
    } else {
      for (const b of bufs) unmap(b);
    }
    q.driver.kick();
    if (r() < 0.4) {
      const used = [];
      for (const c of q.device.pop()) {
        let sum = 0;
        for (const b of c.readable) for (const x of view.bytesAt(b.linear, b.len)) sum = (sum * 31 + x) >>> 0;
        seen.push(c.readable.length > 0 ? 1 : 0, sum);
        let wrote = 0;
        for (const b of c.writable) {
          view.bytesAt(b.linear, b.len).fill((c.id + wrote) & 0xff);
          wrote += b.len;
        }
        used.push({ id: c.id, len: wrote });
      }
      q.device.push(used);
    }
    for (const c of q.driver.getUsed()) {
      done.push(c);
      for (const b of maps.get(c.token)!) unmap(b);
      maps.delete(c.token);
    }
  }
  return {
    seen,
    done,
    bytes: mem.read(pool, SLOTS * STRIDE),
    stats: q.stats(),
    dma: view.counters(),
    api: api.counters(),
    /** What a bouncing backend had to copy each way (maps and unmaps only: this run does not sync). */
    bounce,
    backend: api.backend,
  };
}

/** A backend's ringRun against direct's: the same chains, bytes and ring counters, and no fault. */
export function expectSameAsDirect(run: ReturnType<typeof ringRun>, direct: ReturnType<typeof ringRun>): void {
  expect(direct.done.length).toBeGreaterThan(100);
  expect(run.done).toEqual(direct.done);
  expect(run.seen).toEqual(direct.seen);
  expect(run.bytes).toEqual(direct.bytes);
  expect(run.stats).toEqual(direct.stats);
  expect(direct.stats.indirectAdded).toBeGreaterThan(10);
  expect(run.dma.faults).toBe(0);
}

/**
 * Loopback frames through a net driver: five frames of 60, 700 and 1500
 * bytes on queue pairs 0 and 1, each received back and hashed, then a burst
 * of 32 64-byte frames counted on pair 0.
 */
export function netWork(net: VirtioNetDriver) {
  const frames: number[][] = [];
  for (const bytes of [60, 700, 1500]) {
    for (const pair of [0, 1]) {
      const sent = Array.from({ length: 5 }, (_, k) => new Uint8Array(bytes).map((_, i) => (i * 3 + k + pair) & 0xff));
      const n = net.send(pair, sent);
      const recv = net.receive(pair);
      net.reapTx(pair);
      frames.push([n, recv.length, ...recv.map((p) => p.data.reduce((s, x) => (s * 31 + x) >>> 0, p.buffers))]);
    }
  }
  const burst = net.sendBurst(0, 32, 64);
  const counted = net.receiveCount(0);
  net.reapTx(0);
  return { frames, burst, counted };
}

/** Two writes (8 KiB on queue 0, 512 bytes on queue 1), a flush, both read back, and get-id. */
export function blkWork(blk: BlkDriver) {
  const data = new Uint8Array(8192).map((_, i) => (i * 13) & 0xff);
  const statuses = [blk.write(8, data), blk.write(100, data.subarray(0, 512), 1), blk.flush()];
  const r1 = blk.read(8, 8192);
  const r2 = blk.read(100, 512, 1);
  return { statuses, reads: [r1.status, r2.status], data: [r1.data, r2.data], id: blk.getId() };
}

/** A line written 40 times to a loopback console port, and what came back. */
export function consoleWork(con: ConsoleDriver, line: string) {
  const sent = con.write(new TextEncoder().encode(line.repeat(40)));
  return { sent, back: con.read() };
}

/**
 * A machine of net (loopback, two queue pairs), blk and console on one ring
 * kind and one transport, built by createMachine on `dma`: frames, sectors
 * and console bytes through every device, and each device's context
 * counters.
 */
export function machineRun(ring: RingKind, transport: 'pci' | 'mmio', dma: DmaBackendName) {
  const m = createMachine({
    dma,
    devices: [
      { kind: 'net', ring, transport, queues: 2, queueSize: 64 },
      { kind: 'blk', ring, transport, queues: 2, capacityBytes: 1 << 20, queueSize: 32 },
      { kind: 'console', ring, transport },
    ],
  });
  try {
    const net = netWork(m.net().driver);
    const blk = blkWork(m.blk().driver);
    const con = consoleWork(m.console().driver, 'hello through the DMA API\n');
    const stats = m.stats();
    const ctx = (d: string) => stats[`${d}.dma-context`]!.counters;
    return {
      data: { net, blk, con },
      statuses: blk.statuses,
      ctx: { net: ctx('net0'), blk: ctx('blk0'), console: ctx('console0') },
      stats,
      ok: BlkStatus.OK,
    };
  } finally {
    m.close();
  }
}

// The order in which a virtio-blk device completes a request: its data
// reaches the backing store before its status byte is written, and its status
// byte is written before its used entry is published (otherwise a driver, or
// a crash, can see "done" for data that is not stored). A probe wraps the
// store and records, at every store write, the status bytes and the used
// entries published at that moment; a probe around the queue checks, at every
// push, that the statuses of what is pushed are written and not yet published.
// Memory store (batched Wasm copies) and file store, one request per popped
// set and whole sets, split and packed rings.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as P from '../../assembly/packed/layout.js';
import {
  BlkDevice,
  BlkDriver,
  BlkQueueServer,
  BlkStatus,
  BlkType,
  DmaApi,
  Feature,
  FileBackend,
  GuestMemory,
  MemoryBackend,
  PciDriverAccess,
  VirtioPciTransport,
  blkDeviceQueue,
  type BlkBackend,
  type BlkBackendDesc,
  type QueueDevice,
} from '../../src/internal.js';

const dir = mkdtempSync(join(tmpdir(), 'vqsim-blk-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPLIT = ~(1n << BigInt(Feature.RING_PACKED));
const UNSET = 0xff;

/** What the probe saw at one store event. */
interface Seen {
  what: 'write' | 'zero' | 'flush';
  pos: number;
  len: number;
  /** Status byte of every request at that moment. */
  statuses: number[];
  /** Used entries published at that moment. */
  used: number;
}

/** A backing store that records every store event with the observer's snapshot. */
class OrderProbe implements BlkBackend {
  readonly events: Seen[] = [];
  constructor(
    private readonly inner: BlkBackend,
    private readonly snapshot: () => { statuses: number[]; used: number },
  ) {}
  get kind() {
    return this.inner.kind;
  }
  get bytes() {
    return this.inner.bytes;
  }
  get linearBase() {
    return this.inner.linearBase;
  }
  private note(what: Seen['what'], pos: number, len: number): void {
    this.events.push({ what, pos, len, ...this.snapshot() });
  }
  read(pos: number, dst: number, len: number): void {
    this.inner.read(pos, dst, len);
  }
  write(pos: number, src: number, len: number): void {
    this.inner.write(pos, src, len);
    this.note('write', pos, len);
  }
  stored(pos: number, len: number): void {
    this.note('write', pos, len);
  }
  zero(pos: number, len: number): void {
    this.inner.zero(pos, len);
    this.note('zero', pos, len);
  }
  flush(): void {
    this.note('flush', 0, 0);
    this.inner.flush();
  }
  describe(): BlkBackendDesc {
    return this.inner.describe();
  }
  close(): void {
    this.inner.close();
  }
}

type Req = { type: number; sector: number; bytes: number };

// Writes, a flush, more writes: the flush must follow the stores before it.
const REQS: Req[] = [
  { type: BlkType.OUT, sector: 0, bytes: 1024 },
  { type: BlkType.OUT, sector: 8, bytes: 512 },
  { type: BlkType.OUT, sector: 16, bytes: 4096 },
  { type: BlkType.FLUSH, sector: 0, bytes: 0 },
  { type: BlkType.OUT, sector: 40, bytes: 512 },
  { type: BlkType.OUT, sector: 48, bytes: 2048 },
];

function run(ring: 'split' | 'packed', store: 'memory' | 'file', perSet: number) {
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const inner =
    store === 'memory'
      ? MemoryBackend.create(view, 1 << 20)
      : new FileBackend((at, len) => mem.bytes.subarray(at, at + len), join(dir, `${ring}-${perSet}.img`), 1 << 20);
  const dev = new BlkDevice(view, inner, { serve: 'manual' });
  const access = new PciDriverAccess(new VirtioPciTransport(dev));
  const features = ring === 'split' ? BlkDriver.ALL_FEATURES & SPLIT : BlkDriver.ALL_FEATURES;
  const vq = BlkDriver.probe(access, mem, dma, { queueSize: 16, features }).queues[0]!.vq;
  // Indirect chains: one descriptor each, so request k's used entry is the k-th.
  expect(vq.driver.add([], [{ addr: mem.alloc(64, { shared: true }), len: 1 }], 99, { indirect: true })).toBe(true);
  const headerAt = mem.alloc(4096, { shared: true });
  const dataAt = mem.alloc(REQS.length * 4096, { shared: true });
  const statusAt = (k: number) => headerAt + k * 32 + 16;
  const areas = (vq as unknown as { areas: Record<string, number> }).areas;

  /** Used entries published after the warm-up chain (request k is used entry k + 1). */
  const used = (): number => {
    if (ring === 'split') return mem.readU16(areas.used! + 2) - 1;
    let n = 0;
    // Packed, first lap (wrap counter 1): a used descriptor has AVAIL and USED set.
    for (let k = 1; k <= REQS.length; k++) {
      const f = mem.readU16(areas.desc! + k * P.PDESC_SIZE + P.PDESC_FLAGS);
      if ((f & P.PDESC_F_AVAIL) === 0 || (f & P.PDESC_F_USED) === 0) break;
      n++;
    }
    return n;
  };
  const statuses = () => REQS.map((_, k) => mem.readU8(statusAt(k)));
  const probe = new OrderProbe(inner, () => ({ statuses: statuses(), used: used() }));

  // The queue's pushes, checked as they happen.
  const pushes: { n: number; usedBefore: number; usedAfter: number; statuses: number[] }[] = [];
  const real = blkDeviceQueue(view, dev.queueConfig(0)!, 0);
  const queue = new Proxy(real, {
    get(t, prop) {
      if (prop === 'pushPopped') {
        return (n: number) => {
          const before = { usedBefore: used(), statuses: statuses() };
          const r = t.pushPopped(n);
          pushes.push({ n, ...before, usedAfter: used() });
          return r;
        };
      }
      const v = Reflect.get(t, prop, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as QueueDevice;
  const server = new BlkQueueServer(view, queue, probe, dev.serverConfig());

  // The warm-up chain is not a request the server could parse: pop it by hand.
  expect(real.popBatch(1)).toBe(1);
  real.pushPopped(1);
  expect(vq.driver.reap()).toBe(1);
  expect(used()).toBe(0);

  REQS.forEach((r, k) => {
    const h = headerAt + k * 32;
    mem.writeU32(h, r.type);
    mem.writeU32(h + 4, 0);
    mem.writeU64(h + 8, r.sector);
    mem.writeU8(h + 16, UNSET);
    const data = dataAt + k * 4096;
    for (let i = 0; i < r.bytes; i++) mem.writeU8(data + i, (k * 31 + i) & 0xff);
    const readable = [{ addr: h, len: 16 }, ...(r.bytes ? [{ addr: data, len: r.bytes }] : [])];
    expect(vq.driver.add(readable, [{ addr: h + 16, len: 1 }], k, { indirect: true })).toBe(true);
  });
  let served = 0;
  for (let round = 0; round < REQS.length && served < REQS.length; round++) {
    served += server.serve(1, perSet).requests;
  }
  expect(served).toBe(REQS.length);
  expect(vq.driver.reap()).toBe(REQS.length);
  return { probe, pushes, statuses: statuses(), inner, server };
}

describe.each(['split', 'packed'] as const)('virtio-blk completion order, %s ring', (ring) => {
  describe.each(['memory', 'file'] as const)('%s store', (store) => {
    it.each([
      ['one request per set', 1],
      ['whole sets', 16],
    ] as const)('%s: data, then status byte, then used entry', (_, perSet) => {
      const { probe, pushes, statuses, inner, server } = run(ring, store, perSet);
      expect(statuses).toEqual(REQS.map(() => BlkStatus.OK));

      // Every write request's data reached the store while its status byte
      // was unwritten and its used entry unpublished.
      const writes = REQS.map((r, k) => ({ ...r, k })).filter((r) => r.type === BlkType.OUT);
      for (const w of writes) {
        const ev = probe.events.filter((e) => e.what === 'write' && e.pos === w.sector * 512);
        expect(ev.map((e) => e.len)).toEqual([w.bytes]);
        expect(ev[0]!.statuses[w.k], `status of request ${w.k} when its data was stored`).toBe(UNSET);
        expect(ev[0]!.used, `used entries published when request ${w.k}'s data was stored`).toBeLessThanOrEqual(w.k);
      }
      // The flush came after the three writes before it were stored, with its own status unwritten.
      const order = probe.events.map((e) => (e.what === 'flush' ? 'flush' : `w${e.pos / 512}`));
      expect(order.indexOf('flush')).toBe(3);
      expect(order.slice(0, 3).sort()).toEqual(['w0', 'w16', 'w8']);
      expect(probe.events[3]!.statuses[3]).toBe(UNSET);

      // Every push: the statuses of what it pushes are written, none of it published yet.
      const sets = perSet === 1 ? REQS.map(() => 1) : [REQS.length];
      expect(pushes.map((p) => p.n)).toEqual(sets);
      let first = 0;
      for (const p of pushes) {
        expect(p.usedBefore).toBe(first);
        for (let k = first; k < first + p.n; k++) expect(p.statuses[k], `status ${k} at its push`).toBe(BlkStatus.OK);
        for (let k = first + p.n; k < REQS.length; k++) expect(p.statuses[k]).toBe(UNSET);
        expect(p.usedAfter).toBe(first + p.n);
        first += p.n;
      }
      // The memory store's writes went through batched Wasm copies: one per
      // set with writes, and one more before the flush of a whole set.
      expect(server.counters).toMatchObject({ requests: 6, writes: 5, flushes: 1, bytesWritten: 8192 });
      expect(server.counters.copyBatches).toBe(store === 'file' ? 0 : perSet === 1 ? 5 : 2);
      inner.close();
    });
  });
});

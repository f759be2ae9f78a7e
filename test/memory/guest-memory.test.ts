// Guest memory: bounds-checked accessors with a named error, the guest page
// allocator (alignment, exhaustion, free + merge, determinism), the page
// ownership map, and the mock ring writer's own reads and writes.
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bundleTestWorker } from '../helpers/bundle-worker.js';
import * as L from '../../assembly/layout.js';
import {
  ConfigError,
  GuestMemory,
  GuestMemoryError,
  GuestPageAllocator,
  MockSplitQueue,
  SplitQueue,
  wasmModule,
} from '../../src/internal.js';

const RAM = 1 << 20;

function expectOutside(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(GuestMemoryError);
  expect((caught as GuestMemoryError).code).toBe('ADDRESS_OUTSIDE_GUEST_RAM');
  expect((caught as Error).message).toMatch(/is outside guest RAM \[0, 0x100000\)$/);
}

describe('GuestMemory accessors', () => {
  const mem = new GuestMemory({ size: RAM });

  it('guest physical g is linear GUEST_BASE + g, and values round-trip little-endian', () => {
    mem.writeU32(0x1000, 0x11223344);
    expect(mem.bytes[L.GUEST_BASE + 0x1000]).toBe(0x44);
    expect(mem.readU16(0x1002)).toBe(0x1122);
    mem.writeU64(RAM - 8, 0xfedcba9876543210n);
    expect(mem.readU64(RAM - 8)).toBe(0xfedcba9876543210n);
    mem.writeU8(RAM - 1, 0xab);
    expect(mem.readU8(RAM - 1)).toBe(0xab);
    mem.write(0x2000, new Uint8Array([1, 2, 3]));
    expect([...mem.read(0x2000, 3)]).toEqual([1, 2, 3]);
    mem.fill(0x2000, 2, 9);
    expect([...mem.read(0x2000, 3)]).toEqual([9, 9, 3]);
    expect(mem.linear(0x2000, 16)).toBe(L.GUEST_BASE + 0x2000);
  });

  it('an access reaching past the end of guest RAM is ADDRESS_OUTSIDE_GUEST_RAM, never a RangeError', () => {
    expectOutside(() => mem.readU8(RAM));
    expectOutside(() => mem.readU16(RAM - 1));
    expectOutside(() => mem.readU32(RAM - 3));
    expectOutside(() => mem.readU64(RAM - 7));
    expectOutside(() => mem.writeU8(RAM, 0));
    expectOutside(() => mem.writeU16(RAM - 1, 0));
    expectOutside(() => mem.writeU32(RAM - 2, 0));
    expectOutside(() => mem.writeU64(RAM - 4, 0n));
    expectOutside(() => mem.read(RAM - 4, 8));
    expectOutside(() => mem.write(RAM - 1, new Uint8Array(2)));
    expectOutside(() => mem.fill(RAM - 1, 2, 0));
    expectOutside(() => mem.linear(RAM, 1));
    expectOutside(() => mem.check(2n ** 64n - 1n, 2));
    expectOutside(() => mem.readU32(-4));
    expectOutside(() => mem.readU32(2 ** 53));
    expectOutside(() => mem.setShared(RAM - 4096, 8192, true));
    expectOutside(() => mem.isShared(RAM));
  });

  it('an address that is not a whole number is a named error too, not a RangeError from BigInt()', () => {
    for (const bad of [NaN, Infinity, -Infinity, 1.5]) expectOutside(() => mem.readU8(bad));
    expectOutside(() => mem.read(0, 1.5));
  });

  it('rejects a bad RAM size with one line naming the rule', () => {
    for (const size of [0, 4095, 0x8000, 1.5 * 4096 * 16 + 1]) {
      expect(() => new GuestMemory({ size })).toThrow(ConfigError);
    }
    expect(() => new GuestMemory({ size: 100 })).toThrow(/must be a multiple of 4096 from 65536/);
  });

  it('a second GuestMemory attached to the same memory sees the same RAM', () => {
    const other = new GuestMemory({ memory: mem.memory });
    expect(other.size).toBe(RAM);
    mem.writeU32(0x3000, 77);
    expect(other.readU32(0x3000)).toBe(77);
  });
});

describe('host allocator shared by every face of a memory', () => {
  /** True when no two [at, at + bytes) ranges overlap. */
  function disjoint(blocks: { at: number; bytes: number }[]): boolean {
    const sorted = [...blocks].sort((a, b) => a.at - b.at);
    return sorted.every((b, k) => k === 0 || sorted[k - 1]!.at + sorted[k - 1]!.bytes <= b.at);
  }

  it('two GuestMemory faces of one memory hand out distinct, aligned, zeroed blocks', () => {
    const a = new GuestMemory({ size: RAM });
    const b = new GuestMemory({ memory: a.memory });
    const blocks: { at: number; bytes: number }[] = [];
    for (let k = 0; k < 50; k++) {
      const face = k % 2 === 0 ? a : b;
      const bytes = 1 + ((k * 37) % 300);
      const at = face.hostAlloc(bytes, k % 3 === 0 ? 4096 : 64);
      expect(at % (k % 3 === 0 ? 4096 : 64)).toBe(0);
      expect(at).toBeGreaterThanOrEqual(L.HOST_BASE);
      expect(at + bytes).toBeLessThanOrEqual(L.GUEST_BASE);
      expect(a.bytes.subarray(at, at + bytes).every((x) => x === 0)).toBe(true);
      a.bytes.fill(0xee, at, at + bytes); // a later block must not start inside this one
      blocks.push({ at, bytes });
    }
    expect(disjoint(blocks)).toBe(true);
    // The bump pointer is in the config block, where any thread reads it.
    const next = a.view.getUint32(L.CONFIG_BASE + L.CFG_HOST_NEXT, true);
    expect(next).toBe(Math.max(...blocks.map((x) => x.at + x.bytes)));
  });

  it('exhaustion is OUT_OF_HOST_MEMORY on every face, and leaves the pointer where it was', () => {
    const a = new GuestMemory({ size: RAM });
    const b = new GuestMemory({ memory: a.memory });
    const before = a.view.getUint32(L.CONFIG_BASE + L.CFG_HOST_NEXT, true);
    let caught: unknown;
    try {
      b.hostAlloc(L.GUEST_BASE);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(GuestMemoryError);
    expect((caught as GuestMemoryError).code).toBe('OUT_OF_HOST_MEMORY');
    expect(a.view.getUint32(L.CONFIG_BASE + L.CFG_HOST_NEXT, true)).toBe(before);
    expect(() => a.hostAlloc(16, 3)).toThrow(/host alignment 3: must be a power of two/);
  });

  it('two threads allocating at once never get overlapping blocks', async () => {
    const out = await bundleTestWorker('alloc-worker');
    try {
      const mem = new GuestMemory({ size: RAM });
      const count = 4000;
      const bytes = 24;
      const start = new SharedArrayBuffer(8);
      const go = new Int32Array(start);
      const worker = new Worker(out, { workerData: { memory: mem.memory, module: wasmModule(), count, bytes, start } });
      const theirs = new Promise<number[]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      while (Atomics.load(go, 1) === 0) await new Promise((r) => setTimeout(r, 1));
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      const mine: number[] = [];
      for (let k = 0; k < count; k++) mine.push(mem.hostAlloc(bytes, 8));
      const all = [...mine, ...(await theirs)].map((at) => ({ at, bytes }));
      await worker.terminate();
      expect(all).toHaveLength(2 * count);
      expect(disjoint(all)).toBe(true);
    } finally {
      rmSync(out, { force: true });
    }
  });
});

describe('guest page allocator', () => {
  it('allocates page-aligned, zeroed, private ranges, honouring alignment', () => {
    const mem = new GuestMemory({ size: RAM });
    const a = mem.alloc(1);
    expect(a % 4096).toBe(0);
    mem.fill(a, 4096, 0xff);
    const b = mem.alloc(5000, { align: 16384 });
    expect(b % 16384).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 4096);
    const c = mem.alloc(4096, { align: 65536 });
    expect(c % 65536).toBe(0);
    mem.free(a);
    const a2 = mem.alloc(4096);
    expect(a2).toBe(a); // first fit from the lowest address
    expect([...mem.read(a2, 4096)].every((x) => x === 0)).toBe(true);
    expect(() => mem.alloc(4096, { align: 3000 })).toThrow(GuestMemoryError);
    expect(() => mem.alloc(0)).toThrow(GuestMemoryError);
  });

  it('exhaustion is a named error, and nothing is lost by it', () => {
    const p = new GuestPageAllocator(16, 4096);
    expect(p.allocPages(10)).toBe(0);
    try {
      p.allocPages(7);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GuestMemoryError);
      expect((e as GuestMemoryError).code).toBe('OUT_OF_GUEST_MEMORY');
      expect((e as Error).message).toBe('guest RAM exhausted: no 7 free contiguous pages (6 pages free in all)');
    }
    expect(p.freePages()).toBe(6);
    expect(p.allocPages(6)).toBe(10);
    expect(() => new GuestMemory({ size: 0x10000 }).alloc(0x11000)).toThrow(/guest RAM exhausted/);
  });

  it('free merges neighbours in any order, so the whole range comes back', () => {
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
      [0, 2, 1],
      [1, 0, 2],
    ]) {
      const p = new GuestPageAllocator(12, 4096);
      const starts = [p.allocPages(4), p.allocPages(4), p.allocPages(4)];
      expect(starts).toEqual([0, 4, 8]);
      expect(() => p.allocPages(1)).toThrow(GuestMemoryError);
      for (const k of order) p.freePages(starts[k]);
      expect(p.freePages()).toBe(12);
      expect(p.allocPages(12)).toBe(0);
    }
  });

  it('an aligned allocation splits a free range and the pieces merge back', () => {
    const p = new GuestPageAllocator(32, 4096);
    expect(p.allocPages(1)).toBe(0);
    expect(p.allocPages(4, 8)).toBe(8);
    expect(p.allocPages(2)).toBe(1); // the lead piece before the aligned one is reused
    p.freePages(8);
    p.freePages(0);
    p.freePages(1);
    expect(p.allocPages(32)).toBe(0);
  });

  it('freeing what was not allocated is BAD_FREE', () => {
    const p = new GuestPageAllocator(8, 4096);
    const a = p.allocPages(2);
    expect(() => p.freePages(a + 1)).toThrow(expect.objectContaining({ code: 'BAD_FREE' }));
    p.freePages(a);
    expect(() => p.freePages(a)).toThrow(expect.objectContaining({ code: 'BAD_FREE' }));
  });

  it('is deterministic: the same calls give the same addresses', () => {
    const run = () => {
      const mem = new GuestMemory({ size: RAM });
      const out: number[] = [];
      const live: number[] = [];
      let x = 12345;
      for (let k = 0; k < 120; k++) {
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        if (live.length > 0 && x % 3 === 0) {
          mem.free(live.splice(x % live.length, 1)[0]!);
        } else {
          const g = mem.alloc(1 + (x % 9000), { align: 4096 << (x % 3) });
          out.push(g);
          live.push(g);
        }
      }
      return out;
    };
    const a = run();
    expect(run()).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(10);
  });
});

describe('page ownership map', () => {
  it('pages are private by default and shared with shared: true; free makes them private again', () => {
    const mem = new GuestMemory({ size: RAM });
    const priv = mem.alloc(3 * 4096);
    const shared = mem.alloc(2 * 4096 + 1, { shared: true });
    for (let p = 0; p < 3; p++) expect(mem.isShared(priv + p * 4096)).toBe(false);
    for (let p = 0; p < 3; p++) expect(mem.isShared(shared + p * 4096)).toBe(true);
    expect(mem.bytes[L.PAGE_MAP_BASE + shared / 4096]).toBe(L.PAGE_SHARED);
    expect(mem.bytes[L.PAGE_MAP_BASE + priv / 4096]).toBe(L.PAGE_PRIVATE);
    mem.free(shared);
    for (let p = 0; p < 3; p++) expect(mem.isShared(shared + p * 4096)).toBe(false);
    // setShared covers every page the range touches.
    mem.setShared(priv + 4095, 2, true);
    expect([0, 1, 2].map((p) => mem.isShared(priv + p * 4096))).toEqual([true, true, false]);
  });

  it('a queue puts its rings and indirect tables in shared pages and its bookkeeping in private ones', () => {
    const mem = new GuestMemory({ size: RAM });
    const q = new SplitQueue(mem, { size: 16, indirect: true });
    expect(mem.isShared(q.areas.desc)).toBe(true);
    expect(mem.isShared(q.areas.used)).toBe(true);
    expect(mem.isShared(q.driver.state - L.GUEST_BASE)).toBe(false);
    const pool = mem.view.getUint32(q.driver.state + L.DRV_INDIR_POOL, true) - L.GUEST_BASE;
    expect(mem.isShared(pool)).toBe(true);
  });
});

describe('MockSplitQueue', () => {
  it('reads and writes every spec field at its offset, bypassing the queue', () => {
    const mem = new GuestMemory({ size: RAM });
    const q = new SplitQueue(mem, { size: 4 });
    const m = new MockSplitQueue(q);
    const { desc, avail, used } = q.areas;
    m.writeDesc(2, { addr: 0x1234_5678_9abcn, len: 77, flags: 3, next: 0xffff });
    expect(mem.readU64(desc + 32)).toBe(0x1234_5678_9abcn);
    expect(mem.readU32(desc + 40)).toBe(77);
    expect(mem.readU16(desc + 44)).toBe(3);
    expect(mem.readU16(desc + 46)).toBe(0xffff);
    m.writeDesc(2, { len: 5 });
    expect(m.readDesc(2)).toEqual({ addr: 0x1234_5678_9abcn, len: 5, flags: 3, next: 0xffff });
    m.availFlags = 1;
    m.availIdx = 0x1_0003; // 16 bits, as the ring holds it
    m.setAvailRing(3, 9);
    m.usedEvent = 0xbeef;
    expect([mem.readU16(avail), mem.readU16(avail + 2), mem.readU16(avail + 10), mem.readU16(avail + 12)]).toEqual([
      1, 3, 9, 0xbeef,
    ]);
    m.addAvail(1);
    expect([m.availRing(3), m.availIdx]).toEqual([1, 4]);
    m.usedFlags = 1;
    m.usedIdx = 0xffff;
    m.setUsedRing(3, { id: 0xdeadbeef, len: 12 });
    m.availEvent = 0x1234;
    expect([mem.readU16(used), mem.readU16(used + 2), mem.readU32(used + 28), mem.readU16(used + 36)]).toEqual([
      1, 0xffff, 0xdeadbeef, 0x1234,
    ]);
    m.addUsed(2, 3);
    expect([m.usedRing(3), m.usedIdx]).toEqual([{ id: 2, len: 3 }, 0]);
    m.writeTable(0x8000, [
      { addr: 1, len: 2, flags: 3, next: 4 },
      { addr: 5n, len: 6, flags: 7, next: 8 },
    ]);
    expect(mem.readU64(0x8010)).toBe(5n);
    expect(mem.readU16(0x801e)).toBe(8);
    // Nothing of the driver or the device moved.
    expect(q.driver.numFree).toBe(4);
    expect(q.device.inflight).toBe(0);
  });
});

// The IOTLB of a paged DMA context (assembly/mem/dma.ts): a direct-mapped
// cache of page translations consulted before the table walk. Hits, misses
// and invalidations are counted exactly; an unmap or a remap invalidates, so
// a cached translation never outlives its mapping; the TypeScript reference
// model of the rings fills and counts it exactly as the Wasm core does.
import { describe, expect, it } from 'vitest';
import * as C from '../../assembly/mem/layout.js';
import { DmaContext, DmaView, GuestMemory, createQueue, type RingKind } from '../../src/internal.js';
import { deviceFaceOf, int, rng } from '../helpers/ring.js';

const PAGE = 4096;
const RO = { read: true, write: false };
const RW = { read: true, write: true };

/** The IOTLB's entries as [IOVA page index in the window, guest page] (empty ones left out). */
function entries(mem: GuestMemory, ctx: DmaContext): [number, number][] {
  const v = mem.view;
  const tlb = v.getUint32(ctx.block + C.CTX_IOTLB, true);
  const out: [number, number][] = [];
  for (let k = 0; k < ctx.iotlbEntries; k++) {
    const tag = v.getUint32(tlb + k * C.IOTLB_ENTRY_SIZE + C.IOTLB_TAG, true);
    const pte = v.getUint32(tlb + k * C.IOTLB_ENTRY_SIZE + C.IOTLB_PTE, true);
    if (tag !== 0) out.push([tag - 1, (pte & ~C.PTE_PERM_MASK) >>> 0]);
  }
  return out;
}

function iotlb(ctx: DmaContext) {
  const c = ctx.counters();
  return { hits: c.iotlbHits, misses: c.iotlbMisses, invalidations: c.iotlbInvalidations, faults: c.faults };
}

describe('the IOTLB of a paged DMA context', () => {
  // A window of 1 MiB at IOVA 4 GiB: the IOTLB is indexed by the page within it.
  const BASE = 2 ** 32;

  function setup(entriesCount = 4) {
    const mem = new GuestMemory({ size: 1 << 20 });
    const ctx = DmaContext.paged(mem, { base: BASE, bytes: 1 << 20, iotlbEntries: entriesCount });
    const view = new DmaView(mem, ctx, 'iommu');
    const buf = mem.alloc(16 * PAGE, { shared: true });
    const iova = (page: number) => BASE + page * PAGE;
    return { mem, ctx, view, buf, iova };
  }

  it('counts hits, misses and invalidations exactly on a fixed sequence', () => {
    const { mem, ctx, view, buf, iova } = setup(4);
    expect(ctx.iotlbEntries).toBe(4);
    // Mapping absent pages needs no invalidation.
    ctx.mapPages(iova(0), buf, 6 * PAGE, RO);
    expect(iotlb(ctx)).toEqual({ hits: 0, misses: 0, invalidations: 0, faults: 0 });
    mem.writeU32(buf, 0x11111111);
    mem.writeU32(buf + 4 * PAGE, 0x44444444);

    expect(view.readU32(iova(0))).toBe(0x11111111); // miss: walk, fill slot 0
    expect(view.readU32(iova(0) + 8)).toBe(0); // hit
    expect(view.readU32(iova(4))).toBe(0x44444444); // miss: page 4 takes slot 0 too
    expect(view.readU32(iova(0))).toBe(0x11111111); // miss again: evicted
    expect(iotlb(ctx)).toEqual({ hits: 1, misses: 3, invalidations: 0, faults: 0 });
    expect(entries(mem, ctx)).toEqual([[0, buf]]);

    // Four bytes across pages 0 and 1: one lookup per page touched.
    view.readU32(iova(1) - 2);
    expect(iotlb(ctx)).toEqual({ hits: 2, misses: 4, invalidations: 0, faults: 0 });
    expect(entries(mem, ctx)).toEqual([
      [0, buf],
      [1, buf + PAGE],
    ]);

    // A write through the cached read-only translation: a hit, then the permission fault.
    expect(() => view.writeU32(iova(0), 1)).toThrow(/permission/);
    expect(iotlb(ctx)).toEqual({ hits: 3, misses: 4, invalidations: 0, faults: 1 });

    // Remapping a present page with other permissions invalidates it (one
    // request); the write then walks and finds the new entry.
    ctx.mapPages(iova(0), buf, PAGE, RW);
    expect(entries(mem, ctx)).toEqual([[1, buf + PAGE]]);
    view.writeU32(iova(0), 0xabcdef01);
    expect(mem.readU32(buf)).toBe(0xabcdef01);
    expect(iotlb(ctx)).toEqual({ hits: 3, misses: 5, invalidations: 1, faults: 1 });
    // The same entry again changes nothing: no request.
    ctx.mapPages(iova(0), buf, PAGE, RW);
    expect(iotlb(ctx).invalidations).toBe(1);

    // Unmap: one request for the range; the cached pages are gone and the
    // device faults by name (vhost: IOTLB miss) on every try, each a miss.
    ctx.unmapPages(iova(0), 2 * PAGE);
    expect(entries(mem, ctx)).toEqual([]);
    expect(() => view.readU32(iova(0))).toThrow(/IOTLB miss/);
    expect(() => view.readU32(iova(1))).toThrow(/IOTLB miss/);
    expect(ctx.lastFault()).toEqual({ addr: iova(1), len: 4, code: 43, write: false });
    expect(iotlb(ctx)).toEqual({ hits: 3, misses: 7, invalidations: 2, faults: 3 });
    // Unmapping what is not mapped asks for nothing.
    ctx.unmapPages(iova(0), PAGE);
    expect(iotlb(ctx).invalidations).toBe(2);

    // A miss that finds the page fills the slot the unmap emptied.
    view.readU32(iova(4));
    view.readU32(iova(4));
    expect(iotlb(ctx)).toEqual({ hits: 4, misses: 8, invalidations: 2, faults: 3 });
    expect(entries(mem, ctx)).toEqual([[4, buf + 4 * PAGE]]);
    // The registry's block is the same counters.
    expect(view.counters()).toMatchObject({ iotlbHits: 4, iotlbMisses: 8, iotlbInvalidations: 2 });
  });

  it('an unmap of more pages than the IOTLB holds drops only the entries in its range', () => {
    const { mem, ctx, view, buf, iova } = setup(4);
    ctx.mapPages(iova(0), buf, 10 * PAGE, RW);
    for (const p of [0, 1, 2, 3]) view.readU8(iova(p));
    view.readU8(iova(9)); // slot 1: page 9 replaces page 1
    expect(entries(mem, ctx)).toEqual([
      [0, buf],
      [9, buf + 9 * PAGE],
      [2, buf + 2 * PAGE],
      [3, buf + 3 * PAGE],
    ]);
    ctx.unmapPages(iova(0), 6 * PAGE);
    expect(entries(mem, ctx)).toEqual([[9, buf + 9 * PAGE]]);
    view.readU8(iova(9));
    expect(iotlb(ctx)).toEqual({ hits: 1, misses: 5, invalidations: 1, faults: 0 });
    expect(() => view.readU8(iova(2))).toThrow(/IOTLB miss/);
  });

  it('a context without an IOTLB walks every time and counts no lookups', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const ctx = DmaContext.paged(mem, { base: 0, bytes: 1 << 20, iotlbEntries: 0 });
    const view = new DmaView(mem, ctx, 'paged');
    const buf = mem.alloc(PAGE, { shared: true });
    ctx.mapPages(buf, buf, PAGE, RO);
    view.readU32(buf);
    ctx.unmapPages(buf, PAGE);
    expect(() => view.readU32(buf)).toThrow(/IOTLB miss/);
    expect(ctx.iotlbEntries).toBe(0);
    expect(iotlb(ctx)).toEqual({ hits: 0, misses: 0, invalidations: 0, faults: 1 });
  });

  it('rejects an IOTLB size that is not a power of two', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    expect(() => DmaContext.paged(mem, { base: 0, bytes: PAGE, iotlbEntries: 3 })).toThrow(
      /IOTLB entries 3: must be 0 \(none\) or a power of two up to 65536/,
    );
  });

  it('a direct context has none, and its pops count no lookups', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const ctx = DmaContext.direct(mem);
    expect(ctx.iotlbEntries).toBe(0);
    const view = new DmaView(mem, ctx, 'direct');
    view.readU32(mem.alloc(PAGE));
    expect(iotlb(ctx)).toEqual({ hits: 0, misses: 0, invalidations: 0, faults: 0 });
  });
});

/**
 * One queue whose driver side uses guest physical addresses and whose device
 * face translates through a paged context over all of guest RAM with a small
 * IOTLB: identity everywhere except a scatter region, whose IOVA pages map to
 * guest pages in a shuffled order (buffers there split into iovecs).
 */
function build(ring: RingKind, engine: 'wasm' | 'reference') {
  const SIZE = 2 << 20;
  const mem = new GuestMemory({ size: SIZE });
  const ctx = DmaContext.paged(mem, { base: 0, bytes: SIZE, iotlbEntries: 8 });
  const view = new DmaView(mem, ctx, 'iommu');
  const q = createQueue(mem, { ring, size: 16, indirect: true, indirectMax: 4, eventIdx: true, deviceFace: false });
  const region = mem.alloc(32 * PAGE, { shared: true });
  const backing = mem.alloc(32 * PAGE, { shared: true });
  ctx.mapPages(0, 0, SIZE, RW);
  const order = Array.from({ length: 32 }, (_, k) => (k * 13 + 5) % 32);
  order.forEach((g, k) => ctx.mapPages(region + k * PAGE, backing + g * PAGE, PAGE, RW));
  for (let k = 0; k < 32 * PAGE; k++) mem.bytes[mem.linear(backing) + k] = (k * 7) & 0xff;
  const device = deviceFaceOf(mem, q, view, engine, { ring, size: 16, eventIdx: true, indirect: true }, 'vqT');
  return { mem, ctx, view, driver: q.driver, device, region, backing };
}

/** A seeded run: chains over the scatter region, pops, pushes, and now and then a remap. */
function run(ring: RingKind, engine: 'wasm' | 'reference', seed: number) {
  const { mem, ctx, driver, device, region, backing } = build(ring, engine);
  const r = rng(seed);
  const trace: unknown[] = [];
  let token = 0;
  for (let step = 0; step < 300; step++) {
    const x = r();
    if (x < 0.5) {
      const nOut = int(r, 0, 2);
      const nIn = int(r, nOut === 0 ? 1 : 0, 2);
      const buf = () => {
        const len = int(r, 1, 9000);
        return { addr: region + int(r, 0, 32 * PAGE - len), len };
      };
      const out = Array.from({ length: nOut }, buf);
      const inb = Array.from({ length: nIn }, buf);
      trace.push(driver.add(out, inb, token++, { indirect: r() < 0.4 }));
      driver.kick();
    } else if (x < 0.85) {
      const chains = device.pop(int(r, 1, 4));
      trace.push(chains.map((c) => [c.id, c.readable, c.writable]));
      device.push(chains.map((c) => ({ id: c.id, len: Math.min(c.writeBytes, 16) })));
      driver.getUsed();
    } else {
      // Remap one IOVA page of the region elsewhere (an invalidation), or
      // the same place again (none).
      const k = int(r, 0, 31);
      ctx.mapPages(region + k * PAGE, backing + int(r, 0, 31) * PAGE, PAGE, RW);
    }
  }
  const v = mem.view;
  const tlb = v.getUint32(ctx.block + C.CTX_IOTLB, true);
  return {
    trace,
    counters: ctx.counters(),
    iotlb: mem.bytes.slice(tlb, tlb + 8 * C.IOTLB_ENTRY_SIZE),
    stats: device.stats(),
  };
}

describe.each(['split', 'packed'] as const)('the IOTLB on the %s ring: Wasm and reference agree', (ring) => {
  it('the same pops, the same IOTLB bytes and the same counters on a seeded run', () => {
    const wasm = run(ring, 'wasm', 7);
    const ref = run(ring, 'reference', 7);
    expect(ref.trace).toEqual(wasm.trace);
    expect(ref.counters).toEqual(wasm.counters);
    expect(ref.iotlb).toEqual(wasm.iotlb);
    expect(ref.stats).toEqual(wasm.stats);
    // The run exercised the cache both ways, split buffers and invalidated.
    expect(wasm.counters.iotlbHits).toBeGreaterThan(100);
    expect(wasm.counters.iotlbMisses).toBeGreaterThan(100);
    expect(wasm.counters.iotlbInvalidations).toBeGreaterThan(5);
    expect(wasm.counters.splits).toBeGreaterThan(50);
    expect(wasm.counters.faults).toBe(0);
  });
});

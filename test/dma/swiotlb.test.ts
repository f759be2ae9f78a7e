// The swiotlb allocator (src/dma/swiotlb.ts over assembly/mem/swiotlb.ts)
// against Linux's rules (kernel/dma/swiotlb.c, 6.12): sizing, slot and page
// alignment, min_align_mask, alloc_align_mask and padding slots, segment
// ends, the next-fit cursor and its wrap, the choice of area, merging on
// release both ways, the pool-full error and its rate-limited warning, the
// size limit; then a property test of random map/unmap sequences.
//
// Replay a property failure: VQSIM_SEED=<seed> [VQSIM_PATH=<path>]
// npx vitest run test/dma/swiotlb.test.ts (the failure prints both).
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bundleTestWorker } from '../helpers/bundle-worker.js';
import {
  DmaAttr,
  DmaError,
  GuestMemory,
  Swiotlb,
  SwiotlbFullError,
  parseSwiotlbParam,
  readStatsRegistry,
  swiotlbGeometry,
  wasmModule,
  type SwiotlbOptions,
} from '../../src/internal.js';
import { churn, type ChurnResult } from '../helpers/swiotlb-churn.js';

const SLOT = 2048;
const SEG = 128;

/** A machine memory with a pool made first (so it starts at guest physical 0) and a buffer region after it. */
function setup(options: SwiotlbOptions = {}, ram = 16 << 20) {
  const mem = new GuestMemory({ size: ram });
  const sw = new Swiotlb(mem, options);
  const buf = mem.alloc(2 << 20);
  for (let k = 0; k < 2 << 20; k++) mem.bytes[mem.linear(buf) + k] = (k * 7 + 3) & 0xff;
  return { mem, sw, buf };
}

/** list[] as Linux defines it, from which slots are in use: free slots from i to the end of its run, within its segment. */
function recount(used: boolean[]): number[] {
  const list = new Array<number>(used.length).fill(0);
  for (let i = used.length - 1; i >= 0; i--) {
    if (used[i]) continue;
    list[i] = 1 + (i % SEG !== SEG - 1 && i + 1 < used.length ? list[i + 1]! : 0);
  }
  return list;
}

/** The slot of a bounce address. */
const slotOf = (sw: Swiotlb, addr: number) => Math.floor((addr - sw.start) / SLOT);

function fullError(fn: () => unknown): SwiotlbFullError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SwiotlbFullError);
    return e as SwiotlbFullError;
  }
  throw new Error('expected a SwiotlbFullError');
}

describe('swiotlb sizing as Linux does it', () => {
  it('slots align to a segment, then round to a power of two; areas to a power of two, 128 slots each at least', () => {
    expect(swiotlbGeometry()).toEqual({ nslabs: 32768, nareas: 1, areaNslabs: 32768 });
    expect(swiotlbGeometry({ slots: 1000 }).nslabs).toBe(1024);
    // ALIGN(1100, 128) = 1152, not a power of two: round_up_default_nslabs makes it 2048.
    expect(swiotlbGeometry({ slots: 1100 }).nslabs).toBe(2048);
    expect(swiotlbGeometry({ slots: 1024, areas: 3 })).toEqual({ nslabs: 1024, nareas: 4, areaNslabs: 256 });
    // Eight areas need 8 × 128 slots.
    expect(swiotlbGeometry({ slots: 512, areas: 8 })).toEqual({ nslabs: 1024, nareas: 8, areaNslabs: 128 });
    expect(swiotlbGeometry({ slots: 4096, cpus: 6 })).toEqual({ nslabs: 4096, nareas: 8, areaNslabs: 512 });
    expect(swiotlbGeometry({ slots: 4096, areas: 0 }).nareas).toBe(1);
    // swiotlb_adjust_size: bytes to slots to segments, then a power of two.
    expect(swiotlbGeometry({ bytes: 100 << 20 }).nslabs).toBe(65536);
    expect(swiotlbGeometry({ bytes: 1 }).nslabs).toBe(128);
    expect(() => swiotlbGeometry({ bytes: 1 << 20, slots: 512 })).toThrow(/bytes or slots, not both/);
    expect(() => swiotlbGeometry({ slots: 0 })).toThrow(/swiotlb slots 0: must be a whole number/);
  });

  it('a confidential guest gets 6% of its RAM, clamped to [64 MiB, 1 GiB], rounded as Linux rounds it', () => {
    const MiB = 1 << 20;
    expect(Swiotlb.cvmDefaultBytes(512 * MiB)).toBe(64 * MiB);
    expect(Swiotlb.cvmDefaultBytes(2048 * MiB)).toBe(128 * MiB);
    expect(Swiotlb.cvmDefaultBytes(4096 * MiB)).toBe(256 * MiB);
    expect(Swiotlb.cvmDefaultBytes(16384 * MiB)).toBe(1024 * MiB);
    expect(Swiotlb.cvmDefaultBytes(65536 * MiB)).toBe(1024 * MiB);
  });

  it('swiotlb=<slots>[,<areas>][,force|noforce] counts slots, numbers as simple_strtoul reads them', () => {
    expect(parseSwiotlbParam('swiotlb=32768,4')).toEqual({ slots: 32768, areas: 4 });
    expect(parseSwiotlbParam('65536')).toEqual({ slots: 65536 });
    expect(parseSwiotlbParam('0x800,010,force')).toEqual({ slots: 2048, areas: 8, force: true });
    expect(parseSwiotlbParam(',2,noforce')).toEqual({ areas: 2, force: false });
    expect(() => parseSwiotlbParam('64M')).toThrow(/must be <slots>\[,<areas>\]/);
    expect(() => parseSwiotlbParam('')).toThrow(/must be <slots>/);
    expect(swiotlbGeometry(parseSwiotlbParam('swiotlb=1000,2'))).toEqual({ nslabs: 1024, nareas: 2, areaNslabs: 512 });
  });

  it('the pool is shared pages; its metadata is private guest memory; the debugfs values are in the registry', () => {
    const { mem, sw } = setup({ slots: 512 });
    expect(sw.start).toBe(0);
    expect(sw.bytes).toBe(512 * SLOT);
    for (let p = 0; p < sw.bytes; p += 4096) expect(mem.isShared(sw.start + p)).toBe(true);
    // The descriptor and slot arrays are in guest RAM, private.
    const meta = sw.descriptor - 0x4000000;
    expect(mem.isShared(meta)).toBe(false);
    const reg = readStatsRegistry(mem.memory).swiotlb!;
    expect(reg.kind).toBe('swiotlb');
    expect(reg.counters).toMatchObject({ nslabs: 512, used: 0, usedHiwater: 0, transientNslabs: 0 });
    expect(reg.items).toHaveLength(1);
    expect(sw.state().list).toEqual(recount(new Array(512).fill(false)));
  });
});

describe('swiotlb slot search and release', () => {
  it('slot alignment, page alignment (stride 2) for 4 KiB and more, the next-fit cursor', () => {
    const { sw, buf } = setup({ slots: 512 });
    const a = sw.map(buf + 5, 100);
    expect(a).toBe(sw.start); // slot 0: a bounce buffer starts a slot (no min_align_mask)
    const b = sw.map(buf, 4096);
    // Slot 1 is not page aligned: the search steps to slot 2.
    expect(slotOf(sw, b)).toBe(2);
    expect((b - sw.start) % 4096).toBe(0);
    const c = sw.map(buf, 2049);
    expect(slotOf(sw, c)).toBe(4); // from the cursor, after b's two slots
    const s = sw.state();
    expect(s.areas).toEqual([{ used: 5, index: 6 }]);
    expect(s.list.slice(0, 8)).toEqual([0, 1, 0, 0, 0, 0, 122, 121]);
    expect(sw.slot(2)).toEqual({ list: 0, origAddr: buf, allocSize: 4096, padSlots: 0 });
    expect(sw.slot(3)).toEqual({ list: 0, origAddr: buf + SLOT, allocSize: 2048, padSlots: 0 });
    expect(sw.slot(1).origAddr).toBeUndefined();
    const n = sw.counters();
    expect(n).toMatchObject({ maps: 3, searches: 3, areaSearches: 3, used: 5, usedHiwater: 5 });
    expect(n.slotsScanned).toBe(1 + 2 + 1);
  });

  it('min_align_mask keeps the low bits of the original address', () => {
    const { sw, buf } = setup({ slots: 512 });
    sw.map(buf, 1); // cursor to slot 1
    const orig = buf + 0x1a34;
    const d = sw.map(orig, 3000, { minAlignMask: 0xfff });
    expect(d & 0xfff).toBe(orig & 0xfff);
    // Bit 11 of the slot must match the original's (an odd slot): slot 1 is.
    expect(slotOf(sw, d)).toBe(1);
    expect(d - sw.start - SLOT).toBe(0x234);
    // Two slots: 0x234 + 3000 bytes.
    expect(sw.state().areas[0]!.used).toBe(3);
    // The bytes land at the kept offset.
    expect(sw.mem.read(d, 3000)).toEqual(sw.mem.read(orig, 3000));
    // A 4 KiB mapping with min_align_mask is not forced onto a page.
    const e = sw.map(buf + 0x800, 4096, { minAlignMask: 0x7ff });
    expect(slotOf(sw, e)).toBe(3);
    expect(() => sw.map(buf, 16, { minAlignMask: 0x1000 })).toThrow(/minAlignMask 4096: must be 0 or a mask/);
  });

  it('alloc_align_mask aligns the allocation and rounds its size; min_align_mask above a slot takes padding slots', () => {
    const { sw, buf } = setup({ slots: 512 });
    sw.map(buf, 1);
    const a = sw.map(buf, 100, { allocAlignMask: 0x3fff });
    expect((a - sw.start) % 0x4000).toBe(0);
    expect(slotOf(sw, a)).toBe(8);
    expect(sw.state().areas[0]).toEqual({ used: 1 + 8, index: 16 }); // 16 KiB: 8 slots
    // offset = orig & 0xfff & (0xfff | 0x7ff) = 0xa34: one padding slot, then 0x234 into the next.
    const orig = buf + 0x1a34;
    const p = sw.map(orig, 1000, { allocAlignMask: 0xfff, minAlignMask: 0xfff });
    expect(p & 0xfff).toBe(orig & 0xfff);
    const head = slotOf(sw, p);
    expect(head).toBe(17);
    expect(sw.slot(16)).toMatchObject({ list: 0, origAddr: undefined, padSlots: 0 });
    expect(sw.slot(17)).toMatchObject({ list: 0, origAddr: orig, padSlots: 1 });
    expect(sw.mem.read(p, 1000)).toEqual(sw.mem.read(orig, 1000));
    sw.unmap(p, 1000);
    // Both slots, padding too, are free again.
    expect(sw.slot(16).list).toBeGreaterThan(0);
    expect(sw.slot(17).padSlots).toBe(0);
    expect(sw.state().areas[0]!.used).toBe(9);
  });

  it('free runs are counted to the end of their segment: no mapping crosses one', () => {
    const { sw, buf } = setup({ slots: 256 });
    const big = sw.map(buf, 126 * SLOT);
    expect(slotOf(sw, big)).toBe(0);
    expect(sw.state().list.slice(124, 131)).toEqual([0, 0, 2, 1, 128, 127, 126]);
    const c = sw.map(buf, 5000); // 3 slots, page aligned: slots 126-127 hold 2 only
    expect(slotOf(sw, c)).toBe(128);
  });

  it('the cursor wraps to the start of the area', () => {
    const { sw, buf } = setup({ slots: 256 });
    const m1 = sw.map(buf, 128 * SLOT);
    sw.map(buf, 64 * SLOT);
    expect(sw.state().areas[0]!.index).toBe(192);
    sw.unmap(m1, 128 * SLOT);
    const m3 = sw.map(buf, 100 * SLOT);
    expect(slotOf(sw, m3)).toBe(0);
    expect(sw.state().areas[0]!.index).toBe(100);
    // At the end of the area, next fit starts again at 0.
    sw.map(buf, 28 * SLOT);
    sw.map(buf, 64 * SLOT);
    expect(sw.state().areas[0]!.index).toBe(0);
  });

  it('a mapping starts in its CPU area (cpu & (areas - 1)), then tries the others in turn', () => {
    const { sw, buf } = setup({ slots: 1024, areas: 4, cpus: 8 });
    expect(sw.areaNslabs).toBe(256);
    const a = sw.map(buf, 64, { cpu: 2 });
    expect(slotOf(sw, a)).toBe(512);
    const b = sw.map(buf, 64, { cpu: 5 });
    expect(slotOf(sw, b)).toBe(256 + 0);
    // Fill area 3, then a CPU 3 mapping goes on to area 0.
    sw.map(buf, 128 * SLOT, { cpu: 3 });
    sw.map(buf, 128 * SLOT, { cpu: 7 });
    expect(sw.state().areas[3]!.used).toBe(256);
    const c = sw.map(buf, 64, { cpu: 3 });
    expect(slotOf(sw, c)).toBe(0);
    expect(sw.state().areas.map((x) => x.used)).toEqual([1, 1, 1, 256]);
    // Each CPU counts its own work.
    const per = sw.cpuCounters();
    expect(per.map((x) => x.maps)).toEqual([0, 0, 1, 2, 0, 1, 0, 1]);
    expect(per[3]!.areaSearches).toBe(3); // area 3, then 3 again (full), then 0
    expect(() => sw.map(buf, 64, { cpu: 8 })).toThrow(/swiotlb cpu 8: must be a whole number from 0 to 7/);
  });

  it('release merges with the following free run, then with the preceding one', () => {
    const { sw, buf } = setup({ slots: 256 });
    const [a, b, c] = [sw.map(buf, 10), sw.map(buf, 10), sw.map(buf, 10)];
    const used = new Array(256).fill(false);
    used[0] = used[1] = used[2] = true;
    expect(sw.state().list).toEqual(recount(used));
    expect(sw.state().list.slice(0, 4)).toEqual([0, 0, 0, 125]);
    sw.unmap(b, 10); // between two used slots: a run of 1
    used[1] = false;
    expect(sw.state().list.slice(0, 4)).toEqual([0, 1, 0, 125]);
    sw.unmap(c, 10); // merges with 3.. after it, then with 1 before it
    used[2] = false;
    expect(sw.state().list.slice(0, 4)).toEqual([0, 127, 126, 125]);
    sw.unmap(a, 10);
    used[0] = false;
    expect(sw.state().list).toEqual(recount(used));
    expect(sw.state().list[0]).toBe(128);
    expect(sw.counters()).toMatchObject({ releases: 3, used: 0, usedHiwater: 3 });
  });

  it('unmap takes only the address map() returned', () => {
    const { sw, buf } = setup({ slots: 256 });
    const a = sw.map(buf, 5000);
    for (const bad of [a + SLOT, a + 1, sw.start + 100 * SLOT]) {
      expect(() => sw.unmap(bad, 10)).toThrow(/is not the start of a mapping/);
    }
    expect(() => sw.unmap(sw.start + sw.bytes, 10)).toThrow(/is not a bounce buffer of this pool/);
    expect(sw.state().areas[0]!.used).toBe(3);
    sw.unmap(a, 5000);
    let e: unknown;
    try {
      sw.unmap(a, 5000);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(DmaError);
    expect((e as DmaError).code).toBe('DMA_NOT_MAPPED');
    expect(sw.used).toBe(0);
  });
});

describe('swiotlb pool full and the size limit', () => {
  it("a full pool refuses with Linux's message, rate-limited to 10 per 5 s, silent under NO_WARN", () => {
    let now = 1000;
    const seen: string[] = [];
    const { sw, buf } = setup({ slots: 512, now: () => now, onWarn: (m) => seen.push(m) });
    for (let k = 0; k < 4; k++) sw.map(buf, 128 * SLOT);
    const e = fullError(() => sw.map(buf, 1));
    expect(e.code).toBe('DMA_MAPPING_ERROR');
    expect(e).toBeInstanceOf(DmaError);
    expect(e.message).toBe('swiotlb buffer is full (sz: 1 bytes), total 512 (slots), used 512 (slots)');
    expect([e.size, e.total, e.used, e.reason]).toEqual([1, 512, 512, 'full']);
    expect(sw.lastWarning).toBe(e.message);
    fullError(() => sw.map(buf, 64, { attrs: DmaAttr.NO_WARN }));
    for (let k = 0; k < 11; k++) fullError(() => sw.map(buf, 4096));
    let n = sw.counters();
    expect([n.full, n.warnings, n.warningsSuppressed]).toEqual([13, 10, 2]);
    expect(seen).toHaveLength(10);
    expect(seen[1]).toBe('swiotlb buffer is full (sz: 4096 bytes), total 512 (slots), used 512 (slots)');
    now += 5000;
    fullError(() => sw.map(buf, 2));
    n = sw.counters();
    expect([n.warnings, n.warningsSuppressed]).toEqual([11, 2]);
    expect(sw.lastWarning).toMatch(/sz: 2 bytes/);
  });

  it('a fragmented pool is full for a run it does not have', () => {
    const { sw, buf } = setup({ slots: 256 });
    const held: number[] = [];
    for (let k = 0; k < 256; k++) held.push(sw.map(buf, 1));
    for (let k = 0; k < 256; k += 2) sw.unmap(held[k]!, 1);
    expect(sw.used).toBe(128);
    const e = fullError(() => sw.map(buf, 3000));
    expect(e.message).toBe('swiotlb buffer is full (sz: 3000 bytes), total 256 (slots), used 128 (slots)');
    expect(sw.map(buf, 2000)).toBeGreaterThanOrEqual(0);
  });

  it('a mapping over 256 KiB, padding included, fails at once', () => {
    const { sw, buf } = setup({ slots: 512 });
    const before = sw.counters();
    const e = fullError(() => sw.map(buf, 256 * 1024 + 1));
    expect(e.reason).toBe('too-big');
    expect(e.message).toBe('swiotlb buffer is full (sz: 262145 bytes), total 512 (slots), used 0 (slots)');
    // min_align_mask padding counts: 0x10 + 256 KiB.
    expect(fullError(() => sw.map(buf + 0x10, 256 * 1024, { minAlignMask: 0xfff })).size).toBe(262160);
    const after = sw.counters();
    expect(after.areaSearches).toBe(before.areaSearches);
    expect(after.full).toBe(2);
    // Exactly 256 KiB is one whole segment.
    const a = sw.map(buf, 256 * 1024);
    expect((a - sw.start) % (SEG * SLOT)).toBe(0);
  });
});

describe('swiotlb partial syncs resolve through each slot', () => {
  it('a sync of part of a mapping copies just that part, either way', () => {
    const { mem, sw, buf } = setup({ slots: 256 });
    const orig = buf + 0x300;
    const a = sw.map(orig, 6000);
    // New bytes in the original, synced in over the second slot only.
    mem.fill(orig + 3000, 100, 0xaa);
    expect(sw.sync(a + 3000, 100, true)).toBe(100);
    expect(mem.read(a + 2999, 102)).toEqual(mem.read(orig + 2999, 102));
    expect(mem.readU8(a + 2999)).not.toBe(0xaa);
    // The device writes the third slot; a sync back of 200 bytes there.
    mem.fill(a + 4500, 300, 0x55);
    expect(sw.sync(a + 4500, 200, false)).toBe(200);
    expect(mem.read(orig + 4500, 200)).toEqual(new Uint8Array(200).fill(0x55));
    expect(mem.readU8(orig + 4700)).not.toBe(0x55);
    // Past the end of the mapping: clamped, and counted.
    expect(sw.sync(a + 5900, 500, true)).toBe(100);
    expect(sw.counters().overflows).toBe(1);
    // A free slot has no original: nothing moves.
    expect(sw.sync(sw.start + 200 * SLOT, 64, true)).toBe(0);
  });
});

// ---- The property test ----

interface MapOp {
  kind: 'map';
  size: number;
  origOff: number;
  alloc: number;
  min: number;
  cpu: number;
}
interface UnmapOp {
  kind: 'unmap';
  pick: number;
}
type Op = MapOp | UnmapOp;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('map' as const),
      size: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 6000 }) }, fc.integer({ min: 1, max: 270000 })),
      origOff: fc.integer({ min: 0, max: 65535 }),
      alloc: fc.constantFrom(0, 0, 0, 0x7ff, 0xfff, 0x3fff),
      min: fc.constantFrom(0, 0, 0, 0x3f, 0x7ff, 0xfff),
      cpu: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unmap' as const), pick: fc.nat() }) },
);

const SEED = process.env.VQSIM_SEED ? Number(process.env.VQSIM_SEED) : 0x5107b;
const PATH = process.env.VQSIM_PATH;

describe('swiotlb property: random map/unmap sequences', () => {
  it('never hand out overlapping slots, and list[] always equals a recount', () => {
    const pattern = new Uint8Array(1 << 20).map((_, k) => (k * 13 + 1) & 0xff);
    const tally = { maps: 0, full: 0, tooBig: 0, unmaps: 0, padded: 0 };
    const prop = fc.property(fc.array(opArb, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
      const mem = new GuestMemory({ size: 8 << 20 });
      const orig0 = mem.alloc(1 << 20); // below the pool: its slots do not start at guest physical 0
      mem.write(orig0, pattern);
      const sw = new Swiotlb(mem, { slots: 256, areas: 2, cpus: 4 });
      const live: { addr: number; size: number; first: number; nslots: number }[] = [];
      for (const op of ops) {
        if (op.kind === 'unmap') {
          if (live.length === 0) continue;
          const [m] = live.splice(op.pick % live.length, 1);
          sw.unmap(m!.addr, m!.size);
          tally.unmaps++;
        } else {
          const orig = orig0 + op.origOff;
          const offset = orig & op.min & (op.alloc | (SLOT - 1));
          const allocSize = Math.ceil((op.size + offset) / (op.alloc + 1)) * (op.alloc + 1);
          let addr: number;
          try {
            addr = sw.map(orig, op.size, { allocAlignMask: op.alloc, minAlignMask: op.min, cpu: op.cpu });
          } catch (e) {
            if (!(e instanceof SwiotlbFullError)) throw e;
            expect(e.reason).toBe(allocSize > 256 * 1024 ? 'too-big' : 'full');
            expect(e.size).toBe(allocSize);
            if (e.reason === 'too-big') tally.tooBig++;
            else tally.full++;
            continue;
          }
          expect(allocSize).toBeLessThanOrEqual(256 * 1024);
          // The rules: the low bits under min_align_mask kept, the allocation aligned.
          expect(addr & op.min).toBe(orig & op.min);
          const pad = Math.floor(offset / SLOT);
          if (pad > 0) tally.padded++;
          const first = slotOf(sw, addr) - pad;
          const allocStart = sw.start + first * SLOT;
          expect(allocStart & op.alloc).toBe(0);
          if (op.alloc === 0 && op.min === 0 && allocSize >= 4096) expect(allocStart % 4096).toBe(0);
          expect(addr - allocStart).toBe(offset);
          const nslots = Math.ceil(allocSize / SLOT);
          expect(Math.floor(first / SEG)).toBe(Math.floor((first + nslots - 1) / SEG));
          expect(Buffer.compare(mem.read(addr, op.size), mem.read(orig, op.size))).toBe(0);
          live.push({ addr, size: op.size, first, nslots });
          tally.maps++;
        }
        // No two live mappings share a slot; list[] is the recount of what is in use.
        const used = new Array<boolean>(sw.nslabs).fill(false);
        for (const m of live) {
          for (let i = m.first; i < m.first + m.nslots; i++) {
            expect(used[i]).toBe(false);
            used[i] = true;
          }
        }
        const st = sw.state();
        expect(st.list).toEqual(recount(used));
        const count = used.filter(Boolean).length;
        expect(st.used).toBe(count);
        expect(st.areas.reduce((s, a) => s + a.used, 0)).toBe(count);
        for (let a = 0; a < st.nareas; a++) {
          expect(st.areas[a]!.used).toBe(used.slice(a * st.areaNslabs, (a + 1) * st.areaNslabs).filter(Boolean).length);
        }
      }
      for (const m of live) sw.unmap(m.addr, m.size);
      expect(sw.used).toBe(0);
    });
    const details = fc.check(prop, { numRuns: 60, seed: SEED, ...(PATH ? { path: PATH } : {}) });
    if (details.failed) {
      const replay = `replay: VQSIM_SEED=${details.seed} VQSIM_PATH=${details.counterexamplePath ?? ''}`;
      console.error(`swiotlb property failed; ${replay}`);
      throw new Error(`${fc.defaultReportMessage(details) ?? 'property failed'}\n${replay}`);
    }
    // The runs reach every case.
    console.log(`swiotlb property: ${JSON.stringify(tally)}`);
    expect(tally.maps).toBeGreaterThan(1000);
    expect(tally.unmaps).toBeGreaterThan(500);
    expect(tally.full).toBeGreaterThan(10);
    expect(tally.tooBig).toBeGreaterThan(3);
    expect(tally.padded).toBeGreaterThan(10);
  });
});

describe('swiotlb on two threads', () => {
  it('two CPUs on two threads share one area under its lock: no slot is ever held twice', async () => {
    const out = await bundleTestWorker('swiotlb-worker');
    try {
      const mem = new GuestMemory({ size: 8 << 20 });
      // One area for both CPUs: every search and release of either takes the same lock.
      const sw = new Swiotlb(mem, { slots: 256, areas: 1, cpus: 2 });
      expect(sw.nareas).toBe(1);
      const origs = [mem.alloc(16384), mem.alloc(16384)];
      const ops = 60000;
      const start = new SharedArrayBuffer(8);
      const go = new Int32Array(start);
      const workerData = { memory: mem.memory, module: wasmModule(), descriptor: sw.descriptor, cpu: 1, ops };
      const worker = new Worker(out, { workerData: { ...workerData, seed: 2, orig: origs[1], start } });
      const theirs = new Promise<ChurnResult>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      while (Atomics.load(go, 1) === 0) await new Promise((r) => setTimeout(r, 1));
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      const mine = churn(sw, 0, ops, 1, origs[0]!);
      const other = await theirs;
      await worker.terminate();
      expect([mine.broken, other.broken]).toEqual([0, 0]);
      expect(mine.maps).toBeGreaterThan(ops / 3);
      expect(other.maps).toBeGreaterThan(ops / 3);
      // Everything given back: the lists are as at the start, the counts balance per CPU.
      const st = sw.state();
      expect([st.used, st.areas[0]!.used]).toEqual([0, 0]);
      expect(st.list).toEqual(recount(new Array(256).fill(false)));
      const per = sw.cpuCounters();
      expect(per.map((c) => c.maps)).toEqual([mine.maps, other.maps]);
      expect(per.map((c) => c.releases)).toEqual([mine.maps, other.maps]);
      expect(per.map((c) => c.full)).toEqual([mine.full, other.full]);
    } finally {
      rmSync(out, { force: true });
    }
  });
});

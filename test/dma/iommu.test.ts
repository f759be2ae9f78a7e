// The `iommu` DMA backend (src/dma/iommu.ts) and its IOVA allocator
// (src/dma/iova.ts): fresh IOVA pages per mapping with the direction's
// permissions, faults named when the device goes outside them, unmap
// revoking at once, a buffer over discontiguous guest pages, and every ring
// and device end to end with the same results as direct.
import { describe, expect, it } from 'vitest';
import {
  DmaApi,
  DmaDirection as D,
  DmaError,
  GuestMemory,
  IOMMU_DEFAULT_BASE,
  IOMMU_DEFAULT_BYTES,
  IommuDmaBackend,
  IovaDomain,
  VirtqueueError,
  createQueue,
  type RingKind,
} from '../../src/internal.js';
import { expectSameAsDirect, machineRun, ringRun } from './runs.js';

const PAGE = 4096;
const TOP = IOMMU_DEFAULT_BASE + IOMMU_DEFAULT_BYTES; // 4 GiB

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('the IOVA allocator (iova.c without rcaches)', () => {
  it('hands out size-aligned ranges top-down, next-fit below the last one, retrying from the top once', () => {
    const d = new IovaDomain(1, 15); // frames 1..15; IOVA_START_PFN = 1
    expect(d.alloc(1)).toBe(15); // from the limit down
    expect(d.alloc(1)).toBe(14); // below the cached node
    expect(d.alloc(2)).toBe(12); // aligned to 2
    expect(d.alloc(3)).toBe(8); // 3 frames aligned to 4: frame 11 is left over
    // Freeing at or above the cached node moves it to the freed range's successor.
    expect(d.free(14)).toEqual({ lo: 14, hi: 14 });
    expect(d.alloc(1)).toBe(14); // found again at once
    // Freeing below the cached node leaves it: the search goes on downwards.
    expect(d.free(9)).toEqual({ lo: 8, hi: 10 }); // any frame of a range frees it
    expect(d.alloc(2)).toBe(10);
    expect(d.alloc(4)).toBe(4);
    // Nothing aligned to 4 is free any more (1, 2, 3, 8, 9 are): the retry from the top fails too.
    expect(d.alloc(4)).toBeUndefined();
    expect(d.alloc(2)).toBe(2);
    // Below the cached node nothing fits; the retry from the top finds 8..9.
    expect(d.alloc(2)).toBe(8);
    expect(d.allocated()).toEqual([
      { lo: 2, hi: 3 },
      { lo: 4, hi: 7 },
      { lo: 8, hi: 9 },
      { lo: 10, hi: 11 },
      { lo: 12, hi: 13 },
      { lo: 14, hi: 14 },
      { lo: 15, hi: 15 },
    ]);
    expect(d.used).toBe(14);
    expect(d.alloc(1)).toBe(1);
    expect(d.alloc(1)).toBeUndefined();
    expect(d.free(0)).toBeUndefined();
    expect(d.find(5)).toEqual({ lo: 4, hi: 7 });
  });
});

describe('the iommu backend', () => {
  function setup(options = {}) {
    const mem = new GuestMemory({ size: 1 << 20 });
    const backend = new IommuDmaBackend(mem, options);
    const api = new DmaApi(mem, { backend });
    return { mem, backend, api, view: api.deviceView(), buf: mem.alloc(4 * PAGE, { shared: true }) };
  }

  it('maps each buffer at fresh IOVA pages under 4 GiB, top-down, even two buffers in one guest page', () => {
    const { backend, api, buf } = setup();
    expect(api.driverDma()).toMatchObject({ base: 0xc000_0000, bytes: 0x4000_0000 });
    const a = api.map(buf + 100, 100, D.TO_DEVICE);
    const b = api.map(buf + 300, 100, D.FROM_DEVICE);
    const c = api.map(buf + PAGE - 8, 16, D.BIDIRECTIONAL); // two guest pages: two IOVA pages, aligned to 2
    expect([a, b, c]).toEqual([TOP - PAGE + 100, TOP - 2 * PAGE + 300, TOP - 4 * PAGE + PAGE - 8]);
    const ctx = backend.context;
    expect(ctx.lookup(TOP - PAGE)).toEqual({ gpa: buf, read: true, write: false });
    expect(ctx.lookup(TOP - 2 * PAGE)).toEqual({ gpa: buf, read: false, write: true });
    expect(ctx.lookup(TOP - 4 * PAGE)).toEqual({ gpa: buf, read: true, write: true });
    expect(ctx.lookup(TOP - 3 * PAGE)).toEqual({ gpa: buf + PAGE, read: true, write: true });
    // Unmapping one leaves the other mapping of the same guest page as it was.
    api.unmap(a, 100, D.TO_DEVICE);
    expect(ctx.lookup(TOP - PAGE)).toBeUndefined();
    expect(ctx.lookup(TOP - 2 * PAGE)).toEqual({ gpa: buf, read: false, write: true });
    expect(backend.iova.used).toBe(3);
  });

  it('the device reaches a mapping only in its direction: the other is a permission fault, by name', () => {
    const { mem, api, view, buf } = setup();
    mem.writeU32(buf, 0x12345678);
    const to = api.map(buf, 64, D.TO_DEVICE);
    const from = api.map(buf, 64, D.FROM_DEVICE);
    const both = api.map(buf, 64, D.BIDIRECTIONAL);
    expect(view.readU32(to)).toBe(0x12345678);
    expect(thrown(() => view.writeU32(to, 1)).message).toMatch(
      /device write of 4 bytes at 0xfffff000: the mapping does not allow this direction \(IOMMU permission fault\)/,
    );
    view.writeU32(from, 0xcafe);
    expect(thrown(() => view.readU32(from)).message).toMatch(/IOMMU permission fault/);
    expect(view.readU32(both)).toBe(0xcafe);
    view.writeU32(both + 4, 7);
    expect(mem.readU32(buf + 4)).toBe(7);
    expect(view.counters().faults).toBe(2);
  });

  it('an IOVA outside the aperture is out of the space; inside but unmapped, an IOTLB miss', () => {
    const { view, buf } = setup();
    // A guest physical address where a DMA address belongs.
    expect(thrown(() => view.readU32(buf)).message).toMatch(
      /outside the device's DMA address space \(the iommu backend's\)/,
    );
    expect(thrown(() => view.readU32(TOP - PAGE)).message).toMatch(/IOTLB miss.*vhost: "IOTLB miss"; QEMU: bogus/);
  });

  it('runs out of IOVA space with a mapping error the driver can handle, and recovers after an unmap', () => {
    const { api } = setup({ base: 1 << 30, bytes: 4 * PAGE });
    const got = [0, 1, 2, 3].map((k) => api.map(k * 64, 64, D.TO_DEVICE));
    const base = 1 << 30;
    expect(got).toEqual([base + 3 * PAGE, base + 2 * PAGE + 64, base + PAGE + 128, base + 192]);
    const e = thrown(() => api.map(4096, 64, D.TO_DEVICE));
    expect(e).toBeInstanceOf(DmaError);
    expect((e as DmaError).code).toBe('DMA_MAPPING_ERROR');
    expect(e.message).toBe(
      'iommu: map 64 bytes at 0x1000: no free IOVA range of 1 pages in [0x40000000, 0x40004000) (4 pages in use)',
    );
    api.unmap(got[1]!, 64, D.TO_DEVICE);
    expect(api.map(4096, 64, D.TO_DEVICE)).toBe(got[1]! - 64);
    // A wrong address on unmap is named by the backend too.
    expect(() => new IommuDmaBackend(new GuestMemory({ size: 1 << 20 })).unmap(0xfffff000)).toThrow(
      /iommu: unmap of 0xfffff000, which no mapping starts at/,
    );
  });

  it('counts IOTLB hits, misses and invalidations of the device exactly', () => {
    const { api, view, buf, backend } = setup();
    const d = api.map(buf, 2 * PAGE, D.TO_DEVICE);
    view.readU32(d); // miss
    view.readU32(d + 8); // hit
    view.readU32(d + PAGE); // miss
    view.readU32(d + PAGE - 2); // hit, hit
    api.unmap(d, 2 * PAGE, D.TO_DEVICE); // one invalidation
    expect(() => view.readU32(d)).toThrow(/IOTLB miss/); // a miss that finds nothing
    expect(backend.context.counters()).toMatchObject({
      iotlbHits: 3,
      iotlbMisses: 3,
      iotlbInvalidations: 1,
      faults: 1,
    });
  });

  for (const ring of ['split', 'packed'] as RingKind[]) {
    it(`${ring} ring: unmapping a buffer makes the device fault on it by name (vhost: IOTLB miss)`, () => {
      const { mem, api, view, buf } = setup();
      const q = createQueue(mem, { ring, size: 8, dma: api.driverDma(), device: view, name: 'vqI' });
      const a = api.map(buf, 64, D.TO_DEVICE);
      const b = api.map(buf + 64, 64, D.TO_DEVICE); // the same guest page, another IOVA page
      q.driver.add([{ addr: a, len: 64 }], [], 1);
      expect(q.device.pop().map((c) => c.readable.map((x) => x.addr))).toEqual([[a]]);
      api.unmap(a, 64, D.TO_DEVICE);
      // A driver that hands out the stale address: the device's context refuses it.
      q.driver.add([{ addr: a, len: 64 }], [], 2);
      const e = thrown(() => q.device.pop());
      expect(e).toBeInstanceOf(VirtqueueError);
      expect((e as VirtqueueError).code).toBe('DMA_UNMAPPED');
      expect(e.message).toBe(
        `vqI: IOTLB miss: no mapping for the descriptor's address 0x${a.toString(16)} in the device's DMA context`,
      );
      // The other buffer in the same guest page is still the device's.
      expect(view.readU32(b)).toBe(0);
    });

    it(`${ring} ring: a descriptor the device may not write through is a permission fault`, () => {
      const { mem, api, view, buf } = setup();
      const q = createQueue(mem, { ring, size: 8, dma: api.driverDma(), device: view, name: 'vqI' });
      const a = api.map(buf, 64, D.TO_DEVICE);
      q.driver.add([], [{ addr: a, len: 64 }], 1); // mapped for reading, offered for writing
      const e = thrown(() => q.device.pop()) as VirtqueueError;
      expect(e.code).toBe('DMA_PERMISSION');
      expect(e.message).toBe(
        `vqI: IOMMU permission fault: the mapping at 0x${a.toString(16)} does not allow the descriptor's direction`,
      );
    });

    it(`${ring} ring: a buffer contiguous in IOVA space over discontiguous guest pages splits into iovecs`, () => {
      const { mem, api, view, backend } = setup();
      const q = createQueue(mem, { ring, size: 8, dma: api.driverDma(), device: view });
      const ringPages = backend.iova.used;
      const p1 = mem.alloc(PAGE, { shared: true });
      mem.alloc(PAGE); // a gap
      const p2 = mem.alloc(PAGE, { shared: true });
      mem.write(p1 + PAGE - 3, new Uint8Array([1, 2, 3]));
      mem.write(p2, new Uint8Array([4, 5, 6]));
      // map_sg: one IOVA range; the segments meet at a page boundary, so they are contiguous in it.
      const [s1, s2] = backend.mapSg(
        [
          { gpa: p1, len: PAGE },
          { gpa: p2, len: PAGE },
        ],
        D.BIDIRECTIONAL,
      );
      expect(s2).toBe(s1! + PAGE);
      q.driver.add([{ addr: s1! + PAGE - 3, len: 6 }], [{ addr: s1!, len: 2 * PAGE }], 1);
      const [c] = q.device.pop();
      expect(c!.readable.map((x) => [x.addr, x.len, x.linear])).toEqual([
        [s1! + PAGE - 3, 3, mem.linear(p1 + PAGE - 3)],
        [s2!, 3, mem.linear(p2)],
      ]);
      expect([...c!.readable.flatMap((x) => [...view.bytesAt(x.linear, x.len)])]).toEqual([1, 2, 3, 4, 5, 6]);
      expect(c!.writable.map((x) => [x.len, x.linear])).toEqual([
        [PAGE, mem.linear(p1)],
        [PAGE, mem.linear(p2)],
      ]);
      expect(view.counters()).toMatchObject({ splits: 2, faults: 0 });
      backend.unmapSg(s1!);
      expect(backend.iova.used).toBe(ringPages); // the ring's coherent pages only
    });
  }
});

describe('the iommu backend end to end: the same results as direct, nothing refused', () => {
  for (const ring of ['split', 'packed'] as RingKind[]) {
    it(`${ring} ring with indirect tables, buffers sharing pages`, () => {
      const direct = ringRun(ring, 'direct', 5);
      const iommu = ringRun(ring, 'iommu', 5);
      expectSameAsDirect(iommu, direct);
      // Every unmap of the run invalidated its range once. Each mapping has
      // fresh IOVA pages, so the device's first touch of each is a miss; the
      // hits are the indirect tables, whose pool stays mapped.
      expect(iommu.dma.iotlbInvalidations).toBe(iommu.api.unmaps);
      expect(iommu.dma.iotlbMisses).toBeGreaterThan(iommu.dma.iotlbHits);
      expect(iommu.dma.iotlbHits).toBeGreaterThan(0);
      // Every mapping was returned; the rings and indirect pools stay mapped.
      expect(iommu.api.liveMappings).toBe(0);
    });
  }

  for (const ring of ['split', 'packed'] as RingKind[]) {
    for (const transport of ['pci', 'mmio'] as const) {
      it(`net, blk and console over ${transport}, ${ring} ring, built by createMachine`, () => {
        const direct = machineRun(ring, transport, 'direct');
        const iommu = machineRun(ring, transport, 'iommu');
        expect(iommu.statuses).toEqual([iommu.ok, iommu.ok, iommu.ok]);
        expect(iommu.data).toEqual(direct.data);
        for (const c of Object.values(iommu.ctx)) {
          expect(c.faults).toBe(0);
          expect(c.iotlbMisses).toBeGreaterThan(0);
        }
        expect(iommu.ctx.net.bytesRead).toBe(direct.ctx.net.bytesRead);
        expect(iommu.ctx.blk.bytesWritten).toBe(direct.ctx.blk.bytesWritten);
      });
    }
  }
});

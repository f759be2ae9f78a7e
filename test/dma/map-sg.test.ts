// dma_map_sg / dma_unmap_sg through the DMA API on every backend: the device
// reads each segment's bytes at the address returned; an IOMMU lays the list
// out contiguously in IOVA space; unmapping ends every segment.
import { describe, expect, it } from 'vitest';
import { DmaApi, DmaDirection as D, GuestMemory, Swiotlb } from '../../src/internal.js';

describe.each(['direct', 'offset', 'iommu', 'vduse', 'swiotlb'] as const)('map_sg on %s', (backend) => {
  it('maps a scatter list the device reads segment by segment, and unmaps it whole', () => {
    const mem = new GuestMemory({ size: 96 << 20 });
    if (backend === 'swiotlb') Swiotlb.forMemory(mem, { fit: true });
    const dma = new DmaApi(mem, { backend });
    const view = dma.deviceView();
    const a = mem.alloc(8192);
    const b = mem.alloc(4096);
    mem.write(a + 4000, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    mem.write(b + 16, new Uint8Array([9, 10]));
    const sg = [
      { gpa: a + 4000, len: 200 },
      { gpa: b + 16, len: 2 },
    ];
    const addrs = dma.mapSg(sg, D.TO_DEVICE);
    expect(addrs).toHaveLength(2);
    expect([...view.read(addrs[0]!, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...view.read(addrs[1]!, 2)]).toEqual([9, 10]);
    if (backend === 'iommu') expect(addrs[1]! - addrs[0]!).toBeLessThan(3 * 4096); // one IOVA run
    expect(dma.counters()).toMatchObject({ maps: 2, liveMappings: 2, bytesMapped: 202 });
    dma.unmapSg(sg, addrs, D.TO_DEVICE);
    expect(dma.counters()).toMatchObject({ unmaps: 2, liveMappings: 0 });
  });
});

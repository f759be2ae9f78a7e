// A test-only DMA backend whose DMA addresses are nowhere near guest physical
// addresses, and whose device context refuses whatever is not mapped. Every
// ring, device and driver path that runs on it unchanged has provably gone
// through the DMA API on the guest side and the DMA context on the device side
// (issue 8's proof): one bypass, one guest-physical address where a DMA
// address belongs, and a DMA fault names it.

import { GUEST_PAGE_SIZE } from '../../assembly/layout.js';
import { DmaContext } from '../memory/dma-context.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { DmaError } from './errors.js';
import { DmaDirection, type DmaBackend, type DmaCoherent } from './types.js';

/** 1 TiB: far above any guest physical address, exact as a JavaScript number. */
export const DMA_OFFSET = 2 ** 40;

/**
 * DMA address = guest physical address + DMA_OFFSET, through a paged DMA
 * context (an identity-plus-offset IOMMU). A page is mapped while any mapping
 * covers it, readable by the device while a TO_DEVICE or BIDIRECTIONAL one
 * does, writable while a FROM_DEVICE or BIDIRECTIONAL one does: the page
 * granularity of a real IOMMU, refcounted because buffers share pages here.
 */
export class OffsetDmaBackend implements DmaBackend {
  readonly name = 'offset';
  readonly context: DmaContext;
  readonly window: { base: number; bytes: number };
  /** The mapping changes page tables only; no data moves. */
  readonly needSync = false;
  /** Per page: [mappings the device may read through, mappings it may write through]. */
  private readonly refs = new Map<number, [number, number]>();

  constructor(private readonly mem: GuestMemory) {
    this.window = { base: DMA_OFFSET, bytes: mem.size };
    this.context = DmaContext.paged(mem, { base: DMA_OFFSET, bytes: mem.size });
  }

  private pages(gpa: number, len: number, dir: DmaDirection, by: 1 | -1): void {
    const read = dir !== DmaDirection.FROM_DEVICE ? by : 0;
    const write = dir !== DmaDirection.TO_DEVICE ? by : 0;
    const first = Math.floor(gpa / GUEST_PAGE_SIZE);
    const last = Math.floor((gpa + len - 1) / GUEST_PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      const r = this.refs.get(p) ?? [0, 0];
      r[0] += read;
      r[1] += write;
      if (r[0] < 0 || r[1] < 0)
        throw new DmaError('DMA_NOT_MAPPED', `offset backend: page ${p} unmapped more often than mapped`);
      const at = p * GUEST_PAGE_SIZE;
      if (r[0] === 0 && r[1] === 0) {
        this.refs.delete(p);
        this.context.unmapPages(DMA_OFFSET + at, GUEST_PAGE_SIZE);
      } else {
        this.refs.set(p, r);
        this.context.mapPages(DMA_OFFSET + at, at, GUEST_PAGE_SIZE, { read: r[0] > 0, write: r[1] > 0 });
      }
    }
  }

  map(gpa: number, len: number, dir: DmaDirection): number {
    this.pages(gpa, len, dir, 1);
    return gpa + DMA_OFFSET;
  }

  unmap(_dma: number, gpa: number, len: number, dir: DmaDirection): void {
    this.pages(gpa, len, dir, -1);
  }

  syncForCpu(): void {}
  syncForDevice(): void {}

  allocCoherent(bytes: number): DmaCoherent {
    const gpa = this.mem.alloc(bytes, { shared: true });
    this.pages(gpa, bytes, DmaDirection.BIDIRECTIONAL, 1);
    return { cpu: gpa, dma: gpa + DMA_OFFSET, bytes };
  }

  freeCoherent(region: DmaCoherent): void {
    this.pages(region.cpu, region.bytes, DmaDirection.BIDIRECTIONAL, -1);
    this.mem.free(region.cpu);
  }
}

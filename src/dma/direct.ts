import type { GuestMemory } from '../memory/guest-memory.js';
import type { DmaBackend, DmaCoherent, DmaDirection } from './types.js';

/**
 * The `direct` backend (Linux's dma-direct without swiotlb or an IOMMU): the
 * DMA address is the guest physical address, mapping shares and copies
 * nothing, and the device may reach all of guest RAM.
 */
export class DirectDmaBackend implements DmaBackend {
  readonly name = 'direct';

  constructor(private readonly mem: GuestMemory) {}

  map(gpa: number, _len: number, _dir: DmaDirection): number {
    return gpa;
  }
  unmap(): void {}
  syncForCpu(): void {}
  syncForDevice(): void {}

  allocCoherent(bytes: number): DmaCoherent {
    // Rings are shared with the host (matters once pages are encrypted).
    const gpa = this.mem.alloc(bytes, { shared: true });
    return { cpu: gpa, dma: gpa, bytes };
  }

  freeCoherent(region: DmaCoherent): void {
    this.mem.free(region.cpu);
  }

  translate(dma: number, len: number): number {
    return dma >= 0 && dma + len <= this.mem.size ? dma : -1;
  }
}

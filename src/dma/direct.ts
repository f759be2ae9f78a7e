import { DmaContext } from '../memory/dma-context.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { DmaBackend, DmaCoherent, DmaDirection } from './types.js';

/**
 * The `direct` backend (Linux's dma-direct without swiotlb or an IOMMU): the
 * DMA address is the guest physical address, mapping shares and copies
 * nothing, and the device's context is direct over all of guest RAM.
 */
export class DirectDmaBackend implements DmaBackend {
  readonly name = 'direct';
  readonly context: DmaContext;
  readonly window: { base: number; bytes: number };
  readonly needSync = false;

  constructor(private readonly mem: GuestMemory) {
    this.context = DmaContext.direct(mem);
    this.window = { base: 0, bytes: mem.size };
  }

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
}

// The guest DMA backends by name: the one list a DmaApi and createMachine
// choose from. A new backend (swiotlb, iommu, the test-only offset) is one
// entry here.
import type { GuestMemory } from '../memory/guest-memory.js';
import { DirectDmaBackend } from './direct.js';
import { OffsetDmaBackend } from './offset.js';
import { IommuDmaBackend } from './iommu.js';
import { VduseDmaBackend } from './vduse.js';
import { SwiotlbDmaBackend } from './swiotlb-backend.js';
import { DmaError } from './errors.js';
import type { DmaBackend } from './types.js';

export const DMA_BACKENDS = {
  /** DMA address = guest physical address; the device reaches all guest RAM (Linux's dma-direct). */
  direct: (mem: GuestMemory): DmaBackend => new DirectDmaBackend(mem),
  /**
   * Test-only: DMA address = guest physical + 1 TiB through a paged context
   * that refuses anything unmapped, so any path that skips the DMA API or the
   * device's context fails (src/dma/offset.ts).
   */
  offset: (mem: GuestMemory): DmaBackend => new OffsetDmaBackend(mem),
  /**
   * An IOMMU domain per device (Linux's dma-iommu): fresh IOVA pages per
   * mapping with its direction's permissions, an IOTLB, unmap revokes
   * (src/dma/iommu.ts).
   */
  iommu: (mem: GuestMemory): DmaBackend => new IommuDmaBackend(mem),
  /**
   * VDUSE's bounce domain: page-granular bounce pages (64 MiB of IOVA),
   * copied in at map only for TO_DEVICE/BIDIRECTIONAL; coherent memory
   * unbounced above them (src/dma/vduse.ts).
   */
  vduse: (mem: GuestMemory): DmaBackend => new VduseDmaBackend(mem),
  /**
   * Every streaming mapping bounced through the memory's swiotlb pool; the
   * device reaches shared pages only (a confidential VM's dma-direct,
   * src/dma/swiotlb-backend.ts).
   */
  swiotlb: (mem: GuestMemory): DmaBackend => new SwiotlbDmaBackend(mem),
} as const satisfies Record<string, (mem: GuestMemory) => DmaBackend>;

export type DmaBackendName = keyof typeof DMA_BACKENDS;

/** The backend names, in the order of the table. */
export const DMA_BACKEND_NAMES = Object.keys(DMA_BACKENDS) as DmaBackendName[];

export function isDmaBackendName(name: unknown): name is DmaBackendName {
  return typeof name === 'string' && Object.hasOwn(DMA_BACKENDS, name);
}

/** The backend called `name` over `mem`; DMA_BAD_BACKEND for a name not in the table. */
export function createDmaBackend(name: string, mem: GuestMemory): DmaBackend {
  if (!isDmaBackendName(name)) {
    throw new DmaError('DMA_BAD_BACKEND', `DMA backend ${name}: must be one of ${DMA_BACKEND_NAMES.join(', ')}`);
  }
  return DMA_BACKENDS[name](mem);
}

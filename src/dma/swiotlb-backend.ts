// The `swiotlb` DMA backend: dma-direct with every streaming mapping bounced
// through a swiotlb pool, as a confidential VM's guest does (SWIOTLB_FORCE
// under CC_ATTR_GUEST_MEM_ENCRYPT). The device's context is direct but
// restricted to shared pages: it reaches the bounce pool and coherent memory,
// never the guest's own buffers, which stay private.
import { DmaContext } from '../memory/dma-context.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { DmaError } from './errors.js';
import { Swiotlb } from './swiotlb.js';
import { DmaDirection, type DmaBackend, type DmaCoherent } from './types.js';

export interface SwiotlbBackendOptions {
  /** The pool to bounce through. Default: the memory's one pool (Swiotlb.forMemory), shared by every device. */
  swiotlb?: Swiotlb;
  /** The CPU the driver maps from (its area is searched first, its counters take the counts). Default 0. */
  cpu?: number;
}

/**
 * map() bounces (swiotlb_map: the whole buffer is copied in), unmap() copies
 * back for FROM_DEVICE and BIDIRECTIONAL and frees the slots, the syncs copy
 * one way each (Linux's swiotlb_sync_single_for_device/_for_cpu), so
 * needSync is true. Coherent memory (rings, indirect tables) is made shared
 * in place and never bounced (force_dma_unencrypted). A full pool is a
 * SwiotlbFullError, code DMA_MAPPING_ERROR, for the driver to handle.
 */
export class SwiotlbDmaBackend implements DmaBackend {
  readonly name = 'swiotlb';
  readonly context: DmaContext;
  readonly window: { base: number; bytes: number };
  readonly needSync = true;
  /** swiotlb_max_mapping_size(): 256 KiB. */
  get maxMappingSize(): number {
    return this.swiotlb.maxMappingSize;
  }
  readonly swiotlb: Swiotlb;
  private readonly cpu: number;

  constructor(
    private readonly mem: GuestMemory,
    options: SwiotlbBackendOptions = {},
  ) {
    this.swiotlb = options.swiotlb ?? Swiotlb.forMemory(mem);
    if (this.swiotlb.mem !== mem) {
      throw new DmaError('DMA_BAD_BACKEND', 'swiotlb backend: the pool belongs to another machine memory');
    }
    const cpu = options.cpu ?? 0;
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.swiotlb.cpus) {
      throw new DmaError(
        'DMA_BAD_BACKEND',
        `swiotlb backend cpu ${cpu}: the pool has CPUs 0 to ${this.swiotlb.cpus - 1}`,
      );
    }
    this.cpu = cpu;
    // In a confidential VM the device meets private pages through the
    // machine's encryption model (ciphertext, refused or poisoned writes);
    // without one, it is held to shared pages (the bounce pool and coherent
    // memory), so the bounce path is checked on its own all the same.
    this.context = DmaContext.direct(mem, { sharedOnly: mem.encryption === 'none' });
    // Bounce buffers and coherent memory are both guest RAM.
    this.window = { base: 0, bytes: mem.size };
  }

  /**
   * swiotlb_map: the whole buffer is copied in whatever the direction, and
   * whatever `attrs` (mainline copies even under SKIP_CPU_SYNC, so a partial
   * device write cannot expose stale bounce data); NO_WARN silences a full pool.
   */
  map(gpa: number, len: number, _dir: DmaDirection, attrs = 0): number {
    return this.swiotlb.mapRaw(gpa, len, this.cpu, 0, 0, attrs);
  }

  /** swiotlb_tbl_unmap_single: copies back for FROM_DEVICE and BIDIRECTIONAL unless SKIP_CPU_SYNC. */
  unmap(dma: number, _gpa: number, len: number, dir: DmaDirection, attrs = 0): void {
    this.swiotlb.unmapRaw(dma, len, dir, attrs, this.cpu);
  }

  /** swiotlb_sync_single_for_cpu: copies back for FROM_DEVICE and BIDIRECTIONAL. */
  syncForCpu(dma: number, _gpa: number, len: number, dir: DmaDirection): void {
    if (dir !== DmaDirection.TO_DEVICE) this.swiotlb.sync(dma, len, false, this.cpu);
  }

  /** swiotlb_sync_single_for_device: copies in for TO_DEVICE and BIDIRECTIONAL. */
  syncForDevice(dma: number, _gpa: number, len: number, dir: DmaDirection): void {
    if (dir !== DmaDirection.FROM_DEVICE) this.swiotlb.sync(dma, len, true, this.cpu);
  }

  /** dma_direct_alloc with force_dma_unencrypted: the pages are decrypted (shared) in place. */
  allocCoherent(bytes: number): DmaCoherent {
    const gpa = this.mem.alloc(bytes, { shared: true });
    return { cpu: gpa, dma: gpa, bytes };
  }

  /** The pages go back private (set_memory_encrypted) as they are freed. */
  freeCoherent(region: DmaCoherent): void {
    this.mem.free(region.cpu);
  }
}

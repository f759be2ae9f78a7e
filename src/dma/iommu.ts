// The `iommu` DMA backend: the guest's DMA API over an IOMMU domain, as
// Linux's dma-iommu (drivers/iommu/dma-iommu.c) drives one. Every mapping
// gets fresh IOVA pages from the domain's allocator (src/dma/iova.ts) and
// page-table entries with the permissions its direction allows
// (dma_info_to_prot(): TO_DEVICE → read, FROM_DEVICE → write, BIDIRECTIONAL
// → both); unmapping clears them and invalidates the device's IOTLB. Two
// buffers in one guest page get two IOVA pages, never one shared (no IOVA
// page belongs to two mappings), so unmapping one leaves the other intact.
//
// The device side is a paged DMA context over the domain's aperture: the
// device reaches exactly what is mapped now, with the mapping's permissions;
// anything else is refused and named (an IOTLB miss, or a permission fault).

import { GUEST_PAGE_SIZE } from '../../assembly/layout.js';
import { DmaContext } from '../memory/dma-context.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { ConfigError } from '../errors.js';
import { DmaError } from './errors.js';
import { IovaDomain } from './iova.js';
import { DmaDirection, type DmaBackend, type DmaCoherent } from './types.js';

/**
 * The default aperture: [3 GiB, 4 GiB). dma-iommu hands a PCI device
 * addresses below 4 GiB first (the "SAC" try in iommu_dma_alloc_iova()),
 * top-down, so the first mappings land just under 4 GiB (0xfffff000, ...),
 * as on a real machine; 1 GiB of it keeps the device's page table at 1 MiB
 * of host memory. An IOVA below the aperture is outside the device's space.
 */
export const IOMMU_DEFAULT_BASE = 0xc000_0000;
export const IOMMU_DEFAULT_BYTES = 0x4000_0000;

export interface IommuOptions {
  /** First IOVA of the domain's aperture, a multiple of 4096. Default 3 GiB. */
  base?: number;
  /** Bytes of the aperture, a multiple of 4096 (4 bytes of page table per page). Default 1 GiB. */
  bytes?: number;
  /** Entries of the device's IOTLB (a power of two, or 0 for none). Default 64. */
  iotlbEntries?: number;
}

/** A segment of a scatter-gather list (map_sg). */
export interface DmaSegment {
  gpa: number;
  len: number;
}

const PAGE = GUEST_PAGE_SIZE;

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** dma_info_to_prot(): what the device may do through a mapping of direction `dir`. */
export function iommuProt(dir: DmaDirection): { read: boolean; write: boolean } {
  return { read: dir !== DmaDirection.FROM_DEVICE, write: dir !== DmaDirection.TO_DEVICE };
}

/** Guest DMA through an IOMMU domain: IOVA → guest physical, page by page, per device. */
export class IommuDmaBackend implements DmaBackend {
  readonly name = 'iommu';
  readonly context: DmaContext;
  readonly window: { base: number; bytes: number };
  /** Mapping changes page tables only; no data moves. */
  readonly needSync = false;
  /** The domain's IOVA allocator (frames of 4 KiB). */
  readonly iova: IovaDomain;

  constructor(
    private readonly mem: GuestMemory,
    options: IommuOptions = {},
  ) {
    const base = options.base ?? IOMMU_DEFAULT_BASE;
    const bytes = options.bytes ?? IOMMU_DEFAULT_BYTES;
    for (const [what, v] of [
      ['iommu base', base],
      ['iommu bytes', bytes],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0 || v % PAGE !== 0) {
        throw new ConfigError(`${what} ${v}: must be a whole multiple of 4096`);
      }
    }
    if (bytes === 0) throw new ConfigError('iommu bytes 0: must be at least 4096');
    this.window = { base, bytes };
    this.context = DmaContext.paged(mem, { base, bytes, iotlbEntries: options.iotlbEntries });
    // iommu_dma_init_domain(): base_pfn = max(1, aperture start); IOVA 0 is never handed out.
    this.iova = new IovaDomain(Math.max(1, base / PAGE), (base + bytes) / PAGE - 1);
  }

  /** Allocates `pages` IOVA pages or throws the mapping error a driver handles. */
  private allocIova(pages: number, what: string): number {
    const pfn = this.iova.alloc(pages);
    if (pfn === undefined) {
      throw new DmaError(
        'DMA_MAPPING_ERROR',
        `iommu: ${what}: no free IOVA range of ${pages} pages in [${hex(this.window.base)}, ${hex(this.window.base + this.window.bytes)}) (${this.iova.used} pages in use)`,
      );
    }
    return pfn * PAGE;
  }

  /** dma_map_single → iommu_dma_map_page(): fresh IOVA pages for the guest pages [gpa, gpa + len) touches. */
  map(gpa: number, len: number, dir: DmaDirection): number {
    const off = gpa % PAGE;
    const pages = Math.ceil((off + len) / PAGE);
    const iova = this.allocIova(pages, `map ${len} bytes at ${hex(gpa)}`);
    this.context.mapPages(iova, gpa - off, pages * PAGE, iommuProt(dir));
    return iova + off;
  }

  /**
   * dma_map_sg → iommu_dma_map_sg(): one IOVA range for the whole list, each
   * segment padded to whole pages and laid after the previous one, so that
   * segments meeting at page boundaries are contiguous in IOVA space however
   * far apart their guest pages are (the device then sees one buffer, and
   * its pops split it into iovecs where the guest pages are not contiguous).
   * Returns each segment's DMA address; unmapSg() takes the first.
   */
  mapSg(segments: readonly DmaSegment[], dir: DmaDirection): number[] {
    if (segments.length === 0) throw new DmaError('DMA_BAD_LENGTH', 'iommu: map_sg of an empty list');
    const spans = segments.map((s) => {
      if (!Number.isInteger(s.len) || s.len < 1) {
        throw new DmaError('DMA_BAD_LENGTH', `iommu: map_sg segment of ${s.len} bytes`);
      }
      this.mem.check(s.gpa, s.len);
      const off = s.gpa % PAGE;
      return { first: s.gpa - off, off, pages: Math.ceil((off + s.len) / PAGE) };
    });
    const total = spans.reduce((n, s) => n + s.pages, 0);
    const iova = this.allocIova(total, `map_sg of ${segments.length} segments`);
    const prot = iommuProt(dir);
    const out: number[] = [];
    let at = iova;
    for (const s of spans) {
      this.context.mapPages(at, s.first, s.pages * PAGE, prot);
      out.push(at + s.off);
      at += s.pages * PAGE;
    }
    return out;
  }

  /** dma_unmap_sg: ends a mapSg() mapping, given its first segment's DMA address. */
  unmapSg(dma: number): void {
    this.release(dma, 'unmap_sg');
  }

  /** Clears the page-table entries of the IOVA range holding `dma` (one IOTLB invalidation) and frees it. */
  private release(dma: number, what: string): void {
    const pfn = Math.floor(dma / PAGE);
    const r = this.iova.find(pfn);
    if (!r || r.lo !== pfn) {
      throw new DmaError('DMA_NOT_MAPPED', `iommu: ${what} of ${hex(dma)}, which no mapping starts at`);
    }
    this.context.unmapPages(r.lo * PAGE, (r.hi - r.lo + 1) * PAGE);
    this.iova.free(pfn);
  }

  /** dma_unmap_single → iommu_dma_unmap_page(): the device loses the pages at once. */
  unmap(dma: number): void {
    this.release(dma, 'unmap');
  }

  syncForCpu(): void {}
  syncForDevice(): void {}

  /** dma_alloc_coherent → iommu_dma_alloc(): guest pages mapped read-write at fresh IOVAs. */
  allocCoherent(bytes: number): DmaCoherent {
    const gpa = this.mem.alloc(bytes, { shared: true });
    const pages = Math.ceil(bytes / PAGE);
    let iova: number;
    try {
      iova = this.allocIova(pages, `alloc coherent ${bytes} bytes`);
    } catch (e) {
      this.mem.free(gpa);
      throw e;
    }
    this.context.mapPages(iova, gpa, pages * PAGE, { read: true, write: true });
    return { cpu: gpa, dma: iova, bytes };
  }

  freeCoherent(region: DmaCoherent): void {
    this.release(region.dma, 'free coherent');
    this.mem.free(region.cpu);
  }
}

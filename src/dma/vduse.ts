// The `vduse` DMA backend: the bounce domain of Linux's VDUSE
// (drivers/vdpa/vdpa_user/iova_domain.c), through which a kernel virtio
// driver reaches a device that runs in userspace. The device never sees the
// driver's buffers: a streaming mapping gets page-granular IOVAs below the
// bounce size, each IOVA page backed by a bounce page allocated on first use
// and kept; the kernel copies between the buffer and its bounce pages.
//
// The copies follow VDUSE, not swiotlb (kernel/dma/swiotlb.c copies in at
// map in every direction):
//   map         original → bounce only for TO_DEVICE / BIDIRECTIONAL and
//               not SKIP_CPU_SYNC (swiotlb copies in every direction, so a
//               FROM_DEVICE buffer's bytes the device does not write come
//               back unchanged; here they come back as the bounce page held)
//   unmap       bounce → original for FROM_DEVICE / BIDIRECTIONAL, not SKIP_CPU_SYNC
//   sync for device   original → bounce for TO_DEVICE / BIDIRECTIONAL
//   sync for cpu      bounce → original for FROM_DEVICE / BIDIRECTIONAL
// A mapping of n bytes takes ceil(n / 4096) bounce pages; its data starts at
// offset 0 of the first (the DMA address is page aligned), and bounce page k
// shadows the original bytes from gpa + 4096·k on (vduse_domain_map_page()).
//
// Coherent allocations (rings, indirect tables) are guest pages mapped
// read-write at IOVAs above the bounce range, with no bouncing
// (vduse_domain_alloc_coherent()).
//
// What the device reaches (its paged DMA context over the domain's IOVA
// space of 1 GiB + 128 MiB): every bounce page allocated so far, read-write,
// whether a mapping uses it now or not (VDUSE maps the whole bounce range
// into the device's IOTLB at the first streaming map, and its fault handler
// serves any bounce page that exists), and the coherent allocations while
// they live. Nothing else: the driver's own buffers are out of its reach.
// resetBounceMap() takes the bounce range away again (a device reset).
//
// Bounce pages are guest RAM pages (the kernel's alloc_page(), marked shared
// with the host), taken from the guest page allocator one at a time and
// never returned while the backend lives. Copies run in Wasm (dma_copy_batch)
// on linear addresses from GuestMemory.linear(); each is counted in the
// backend's `bounce` stats block, registered as `<device>.bounce`.

import { GUEST_PAGE_SIZE } from '../../assembly/layout.js';
import { DmaContext } from '../memory/dma-context.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { CounterBlock, statsBlockBytes, type StatsKind } from '../memory/stats-registry.js';
import { ConfigError } from '../errors.js';
import { DmaError } from './errors.js';
import { IovaDomain } from './iova.js';
import { DmaAttr, DmaDirection, type DmaBackend, type DmaCoherent } from './types.js';

const PAGE = GUEST_PAGE_SIZE;
const MiB = 1 << 20;

/** VDUSE_BOUNCE_SIZE (drivers/vdpa/vdpa_user/vduse_dev.c): the default bounce size, 64 MiB. */
export const VDUSE_BOUNCE_SIZE = 64 * MiB;
/** VDUSE_MIN_BOUNCE_SIZE: the smallest bounce_size sysfs takes, 1 MiB. */
export const VDUSE_MIN_BOUNCE_SIZE = MiB;
/** VDUSE_MAX_BOUNCE_SIZE: the largest, 1 GiB. */
export const VDUSE_MAX_BOUNCE_SIZE = 1024 * MiB;
/** VDUSE_IOVA_SIZE: the domain's IOVA space, the largest bounce range and 128 MiB for virtqueues. */
export const VDUSE_IOVA_SIZE = VDUSE_MAX_BOUNCE_SIZE + 128 * MiB;

export interface VduseOptions {
  /**
   * Bytes of the bounce range (sysfs bounce_size): 1 MiB to 1 GiB, rounded
   * down to whole pages as vduse_dev.c does. Default 64 MiB.
   */
  bounceBytes?: number;
  /** Entries of the device's IOTLB (a power of two, or 0 for none). Default 64. */
  iotlbEntries?: number;
}

/** Copy records a batch holds before it goes to Wasm (dma_copy_batch: {dst, src, len, pad} u32 each). */
const BATCH = 256;
const TO_DEVICE = true;
const FROM_DEVICE = false;

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Guest DMA through VDUSE's bounce domain. */
export class VduseDmaBackend implements DmaBackend {
  readonly name = 'vduse';
  readonly context: DmaContext;
  readonly window: { base: number; bytes: number };
  /** Map, unmap and sync copy data: drivers must sync (dma_need_sync() is true). */
  readonly needSync = true;
  /** Bytes of the bounce range: streaming IOVAs lie in [0, bounceSize). */
  readonly bounceSize: number;
  /** vduse_dev_max_mapping_size(): one mapping may fill the bounce range. */
  get maxMappingSize(): number {
    return this.bounceSize;
  }
  /** Streaming IOVAs: frames [1, bounce pages − 1] (IOVA_START_PFN is 1). */
  readonly stream: IovaDomain;
  /** Coherent IOVAs: frames from the end of the bounce range to the end of the space. */
  readonly consistent: IovaDomain;
  readonly statsBlocks: readonly { kind: StatsKind; addr: number }[];
  /** The `bounce` counters: bytes and copies each way, bounce pages, refused maps. */
  readonly stats: CounterBlock<'bounce'>;
  /** Per bounce IOVA page: the guest page backing it, or -1 before its first use (bounce_maps[].bounce_page). */
  private readonly bouncePage: Float64Array;
  /** Per bounce IOVA page: the original address it shadows, or -1 (INVALID_PHYS_ADDR) when no mapping uses it. */
  private readonly origPhys: Float64Array;
  /** Bounce pages allocated, in order (so a reset of the bounce map can take them away). */
  private readonly allocated: number[] = [];
  /** Whether the bounce range is in the device's IOTLB (VDUSE's domain->bounce_map). */
  private bounceMapped = false;
  /** Copy records for dma_copy_batch, in host memory. */
  private readonly list: number;
  private pending = 0;

  constructor(
    private readonly mem: GuestMemory,
    options: VduseOptions = {},
  ) {
    const want = options.bounceBytes ?? VDUSE_BOUNCE_SIZE;
    if (!Number.isInteger(want) || want < VDUSE_MIN_BOUNCE_SIZE || want > VDUSE_MAX_BOUNCE_SIZE) {
      throw new ConfigError(`vduse bounce size ${want}: must be a whole number of bytes from 1 MiB to 1 GiB`);
    }
    this.bounceSize = want - (want % PAGE);
    this.window = { base: 0, bytes: VDUSE_IOVA_SIZE };
    this.context = DmaContext.paged(mem, { base: 0, bytes: VDUSE_IOVA_SIZE, iotlbEntries: options.iotlbEntries });
    const bouncePfns = this.bounceSize / PAGE;
    this.stream = new IovaDomain(1, bouncePfns - 1);
    this.consistent = new IovaDomain(bouncePfns, VDUSE_IOVA_SIZE / PAGE - 1);
    this.bouncePage = new Float64Array(bouncePfns).fill(-1);
    this.origPhys = new Float64Array(bouncePfns).fill(-1);
    this.list = mem.hostAlloc(BATCH * 16, 128);
    const addr = mem.hostAlloc(statsBlockBytes('bounce'), 128);
    this.stats = new CounterBlock(mem.memory.buffer, 'bounce', addr);
    this.statsBlocks = [{ kind: 'bounce', addr }];
  }

  private mappingError(what: string): never {
    this.stats.f.mapErrors.add();
    throw new DmaError('DMA_MAPPING_ERROR', `vduse: ${what}`);
  }

  /** vduse_domain_init_bounce_map(): the bounce range into the device's IOTLB (every page allocated so far). */
  private mapBounceRange(): void {
    if (this.bounceMapped) return;
    for (const pfn of this.allocated) {
      this.context.mapPages(pfn * PAGE, this.bouncePage[pfn]!, PAGE, { read: true, write: true });
    }
    this.bounceMapped = true;
  }

  /**
   * vduse_domain_reset_bounce_map(): takes the bounce range out of the
   * device's IOTLB (a device reset). The pages stay allocated; the next
   * streaming map puts the range back.
   */
  resetBounceMap(): void {
    if (!this.bounceMapped) return;
    // One range, one IOTLB invalidation (vduse_iotlb_del_range() over [0, bounce_size)).
    this.context.unmapPages(0, this.bounceSize);
    this.bounceMapped = false;
  }

  /** The guest pages backing the bounce range so far (bounce pages are allocated on first use and kept). */
  get bouncePages(): number {
    return this.allocated.length;
  }

  /**
   * dma_map_page → vduse_domain_map_page(): page-granular IOVAs below the
   * bounce size, a bounce page behind each (allocated on first use), and the
   * copy in for TO_DEVICE / BIDIRECTIONAL unless SKIP_CPU_SYNC. Returns the
   * IOVA (page aligned: the data starts at offset 0 of its first bounce page).
   */
  map(gpa: number, len: number, dir: DmaDirection, attrs = 0): number {
    const pages = Math.ceil(len / PAGE);
    const pfn = this.stream.alloc(pages);
    if (pfn === undefined) {
      this.mappingError(
        `map ${len} bytes at ${hex(gpa)}: no free IOVA range of ${pages} pages below the bounce size ${hex(this.bounceSize)} (${this.stream.used} pages in use)`,
      );
    }
    this.mapBounceRange();
    for (let k = 0; k < pages; k++) {
      const slot = pfn + k;
      if (this.bouncePage[slot]! < 0) {
        let page: number;
        try {
          page = this.mem.alloc(PAGE, { shared: true });
        } catch {
          for (let j = 0; j < k; j++) this.origPhys[pfn + j] = -1;
          this.stream.free(pfn);
          this.mappingError(`map ${len} bytes at ${hex(gpa)}: no guest page for a bounce page`);
        }
        this.bouncePage[slot] = page;
        this.allocated.push(slot);
        this.stats.f.bouncePages.add();
        this.context.mapPages(slot * PAGE, page, PAGE, { read: true, write: true });
      }
      this.origPhys[slot] = gpa + k * PAGE;
    }
    const iova = pfn * PAGE;
    if ((attrs & DmaAttr.SKIP_CPU_SYNC) === 0 && dir !== DmaDirection.FROM_DEVICE) this.bounce(iova, len, TO_DEVICE);
    return iova;
  }

  /**
   * dma_unmap_page → vduse_domain_unmap_page(): the copy back for
   * FROM_DEVICE / BIDIRECTIONAL unless SKIP_CPU_SYNC, then the IOVAs are
   * free. The bounce pages stay (and stay within the device's reach).
   */
  unmap(dma: number, _gpa: number, len: number, dir: DmaDirection, attrs = 0): void {
    const pfn = Math.floor(dma / PAGE);
    const r = dma % PAGE === 0 ? this.stream.find(pfn) : undefined;
    if (!r || r.lo !== pfn || r.hi - r.lo + 1 !== Math.ceil(len / PAGE)) {
      throw new DmaError(
        'DMA_NOT_MAPPED',
        `vduse: unmap of ${hex(dma)} + ${len} bytes, which is not a streaming mapping`,
      );
    }
    if ((attrs & DmaAttr.SKIP_CPU_SYNC) === 0 && dir !== DmaDirection.TO_DEVICE) this.bounce(dma, len, FROM_DEVICE);
    for (let p = r.lo; p <= r.hi; p++) this.origPhys[p] = -1;
    this.stream.free(pfn);
  }

  /** vduse_domain_sync_single_for_device(): original → bounce for TO_DEVICE / BIDIRECTIONAL. */
  syncForDevice(dma: number, _gpa: number, len: number, dir: DmaDirection): void {
    if (dir !== DmaDirection.FROM_DEVICE) this.bounce(dma, len, TO_DEVICE);
  }

  /** vduse_domain_sync_single_for_cpu(): bounce → original for FROM_DEVICE / BIDIRECTIONAL. */
  syncForCpu(dma: number, _gpa: number, len: number, dir: DmaDirection): void {
    if (dir !== DmaDirection.TO_DEVICE) this.bounce(dma, len, FROM_DEVICE);
  }

  /**
   * vduse_domain_bounce(): copies [iova, iova + size) between the bounce
   * pages and the originals they shadow, a page at a time; stops at a page
   * no mapping uses (Linux WARNs there). Nothing happens above the bounce range.
   */
  private bounce(iova: number, size: number, toDevice: boolean): void {
    if (iova >= this.bounceSize) return;
    let left = size;
    let at = iova;
    let bytes = 0;
    let copies = 0;
    while (left > 0) {
      const slot = Math.floor(at / PAGE);
      const off = at % PAGE;
      const sz = Math.min(PAGE - off, left);
      if (slot >= this.origPhys.length) break;
      const orig = this.origPhys[slot]!;
      const page = this.bouncePage[slot]!;
      if (orig < 0 || page < 0) break;
      const o = this.mem.linear(orig + off, sz);
      const b = this.mem.linear(page + off, sz);
      this.queueCopy(toDevice ? b : o, toDevice ? o : b, sz);
      bytes += sz;
      copies++;
      left -= sz;
      at += sz;
    }
    this.flush();
    if (toDevice) {
      this.stats.f.bytesToDevice.add(bytes);
      this.stats.f.copiesToDevice.add(copies);
    } else {
      this.stats.f.bytesFromDevice.add(bytes);
      this.stats.f.copiesFromDevice.add(copies);
    }
  }

  private queueCopy(dst: number, src: number, len: number): void {
    if (this.pending === BATCH) this.flush();
    const v = this.mem.view;
    const r = this.list + this.pending * 16;
    v.setUint32(r, dst, true);
    v.setUint32(r + 4, src, true);
    v.setUint32(r + 8, len, true);
    this.pending++;
  }

  /** Runs the queued copies in Wasm (memory.copy), one call. */
  private flush(): void {
    if (this.pending > 0) this.mem.core.dma_copy_batch(this.list, this.pending);
    this.pending = 0;
  }

  /** dma_alloc_coherent → vduse_domain_alloc_coherent(): guest pages mapped read-write above the bounce range. */
  allocCoherent(bytes: number): DmaCoherent {
    const pages = Math.ceil(bytes / PAGE);
    const pfn = this.consistent.alloc(pages);
    if (pfn === undefined) this.mappingError(`alloc coherent ${bytes} bytes: no free IOVA range above the bounce size`);
    let gpa: number;
    try {
      gpa = this.mem.alloc(bytes, { shared: true });
    } catch (e) {
      this.consistent.free(pfn);
      throw e;
    }
    this.context.mapPages(pfn * PAGE, gpa, pages * PAGE, { read: true, write: true });
    return { cpu: gpa, dma: pfn * PAGE, bytes };
  }

  freeCoherent(region: DmaCoherent): void {
    const pfn = region.dma / PAGE;
    const r = this.consistent.find(pfn);
    if (!r || r.lo !== pfn) {
      throw new DmaError(
        'DMA_NOT_COHERENT',
        `vduse: free coherent of ${hex(region.dma)}, which no allocation starts at`,
      );
    }
    this.context.unmapPages(region.dma, (r.hi - r.lo + 1) * PAGE);
    this.consistent.free(pfn);
    this.mem.free(region.cpu);
  }
}

// The TypeScript face of a DMA context (assembly/mem/): it lays out and
// configures the block the Wasm core translates every device access
// through. TypeScript only configures; the translation itself, on the hot
// path and for the DmaView's scalar accessors alike, runs in Wasm.
import * as L from '../../assembly/layout.js';
import { GUEST_PAGE_SIZE } from '../../assembly/layout.js';
import * as C from '../../assembly/mem/layout.js';
import { ConfigError, GuestMemoryError, VqsimError } from '../errors.js';
import { ENCRYPTION_MODELS, type EncryptionModel, type GuestMemory } from './guest-memory.js';

export type DmaContextMode = 'direct' | 'paged';

/** Counters of a DMA context's shared stats block. */
export interface DmaContextCounters {
  /** Device reads of guest memory (one per iovec read, frame read or scalar read). */
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  /** Accesses the context refused. */
  faults: number;
  /** iovecs made by translating descriptors, indirect tables and ring areas. */
  maps: number;
  /** iovecs beyond the first of a range whose translation was not contiguous. */
  splits: number;
  /** Paged: page translations the IOTLB answered. */
  iotlbHits: number;
  /** Paged: page translations that walked the page table (whether they found a mapping or not). */
  iotlbMisses: number;
  /**
   * Paged: IOTLB invalidation requests, one per unmapPages() or mapPages()
   * call that removed or changed a present entry (an IOMMU driver's
   * iotlb_sync for the range), whether the IOTLB held the pages or not.
   */
  iotlbInvalidations: number;
}

/** Where the last refused access went (the context keeps only the last). */
export interface DmaFaultRecord {
  addr: number;
  len: number;
  /** The Wasm error code (E_ADDR_RANGE, E_DMA_UNMAPPED, E_DMA_PERM, E_DMA_PRIVATE). */
  code: number;
  write: boolean;
}

/** Bytes of a context's ciphertext staging ring (a device reaching private pages sees them through it). */
const STAGE_BYTES = 1 << 20;
/** Device writes to private pages one batch can stage before its push. */
const WB_RECORDS = 4096;

export interface ContextOptions {
  /** The device may touch shared pages only: a private page is refused (DMA_PRIVATE_PAGE). */
  sharedOnly?: boolean;
  /** The encryption model the device meets. Default: the machine's (GuestMemory.encryption). */
  encryption?: EncryptionModel;
}

export interface PagedContextOptions extends ContextOptions {
  /** First DMA address (IOVA) of the window, a multiple of 4096. */
  base: number;
  /** Bytes of the window, a multiple of 4096 (one page-table entry per page). */
  bytes: number;
  /**
   * Entries of the context's IOTLB, a direct-mapped cache of page
   * translations consulted before the table walk: a power of two from 1 to
   * 65536, or 0 for none. Default 64 (IOTLB_DEFAULT_ENTRIES).
   */
  iotlbEntries?: number;
}

const COUNTERS: [keyof DmaContextCounters, number][] = [
  ['reads', C.DST_READS],
  ['writes', C.DST_WRITES],
  ['bytesRead', C.DST_BYTES_READ],
  ['bytesWritten', C.DST_BYTES_WRITTEN],
  ['faults', C.DST_FAULTS],
  ['maps', C.DST_MAPS],
  ['splits', C.DST_SPLITS],
  ['iotlbHits', C.DST_IOTLB_HITS],
  ['iotlbMisses', C.DST_IOTLB_MISSES],
  ['iotlbInvalidations', C.DST_IOTLB_INVALIDATIONS],
];

function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}

function setU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
}

function pageAligned(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v % GUEST_PAGE_SIZE !== 0) {
    throw new ConfigError(`${what} ${v}: must be a whole multiple of 4096`);
  }
}

/**
 * One device's DMA domain, in host memory: direct (the DMA address is the
 * guest physical address, the space is guest RAM) or paged (an IOVA window
 * translated page by page through a table the guest's IOMMU driver fills).
 * Optionally restricted to shared pages (a confidential VM's device).
 */
export class DmaContext {
  private constructor(
    private readonly mem: GuestMemory,
    /** Linear address of the context block. */
    readonly block: number,
  ) {}

  /**
   * A direct context over all of guest RAM. The machine's encryption model
   * applies unless `encryption` says otherwise ('none' for a device the guest
   * trusts with private memory: an accepted TDISP device).
   */
  static direct(mem: GuestMemory, options: ContextOptions = {}): DmaContext {
    const ctx = DmaContext.layOut(mem, C.DMA_MODE_DIRECT, options);
    setU64(mem.view, ctx.block + C.CTX_LIMIT, mem.size);
    return ctx;
  }

  /** A paged context: nothing is reachable until mapPages() maps it. */
  static paged(mem: GuestMemory, options: PagedContextOptions): DmaContext {
    pageAligned('paged DMA context base', options.base);
    pageAligned('paged DMA context bytes', options.bytes);
    if (options.bytes === 0) throw new ConfigError('paged DMA context bytes 0: must be at least 4096');
    const entries = options.iotlbEntries ?? C.IOTLB_DEFAULT_ENTRIES;
    if (!Number.isInteger(entries) || entries < 0 || entries > 65536 || (entries & (entries - 1)) !== 0) {
      throw new ConfigError(`IOTLB entries ${entries}: must be 0 (none) or a power of two up to 65536`);
    }
    const ctx = DmaContext.layOut(mem, C.DMA_MODE_PAGED, options);
    const v = mem.view;
    setU64(v, ctx.block + C.CTX_BASE, options.base);
    setU64(v, ctx.block + C.CTX_LIMIT, options.bytes);
    v.setUint32(ctx.block + C.CTX_PT, mem.hostAlloc((options.bytes / GUEST_PAGE_SIZE) * 4, 4096), true);
    if (entries > 0) {
      v.setUint32(ctx.block + C.CTX_IOTLB, mem.hostAlloc(entries * C.IOTLB_ENTRY_SIZE, 128), true);
      v.setUint32(ctx.block + C.CTX_IOTLB_MASK, entries - 1, true);
    }
    return ctx;
  }

  /** The face of a context another thread laid out in the same memory. */
  static attach(mem: GuestMemory, block: number): DmaContext {
    return new DmaContext(mem, block);
  }

  private static layOut(mem: GuestMemory, mode: number, options: ContextOptions): DmaContext {
    const block = mem.hostAlloc(C.CTX_SIZE);
    const v = mem.view;
    v.setUint32(block + C.CTX_MODE, mode, true);
    v.setUint32(block + C.CTX_FLAGS, options.sharedOnly ? C.DMA_F_SHARED_ONLY : 0, true);
    v.setUint32(block + C.CTX_STATS, mem.hostAlloc(C.DST_SIZE), true);
    const ctx = new DmaContext(mem, block);
    ctx.setEncryption(options.encryption ?? mem.encryption);
    return ctx;
  }

  /** The encryption model this device meets (ENCRYPTION_MODELS): the machine's, or 'none' once trusted. */
  get encryption(): EncryptionModel {
    return ENCRYPTION_MODELS[this.mem.view.getUint32(this.block + C.CTX_ENC, true)] ?? 'none';
  }

  /**
   * Sets the model this device meets, with the machine's key. Anything but
   * 'none' needs the ciphertext staging ring and write-back list, allocated
   * once here.
   */
  setEncryption(model: EncryptionModel): void {
    const v = this.mem.view;
    const b = this.block;
    const enc = ENCRYPTION_MODELS.indexOf(model);
    if (enc < 0) throw new ConfigError(`encryption ${String(model)}: must be one of ${ENCRYPTION_MODELS.join(', ')}`);
    if (enc !== C.ENC_NONE && v.getUint32(b + C.CTX_STAGE, true) === 0) {
      v.setUint32(b + C.CTX_STAGE, this.mem.hostAlloc(STAGE_BYTES, 4096), true);
      v.setUint32(b + C.CTX_STAGE_CAP, STAGE_BYTES, true);
      v.setUint32(b + C.CTX_WB, this.mem.hostAlloc(WB_RECORDS * C.WB_SIZE), true);
      v.setUint32(b + C.CTX_WB_CAP, WB_RECORDS, true);
    }
    v.setUint32(b + C.CTX_KEY, this.mem.key, true);
    v.setUint32(b + C.CTX_ENC, enc, true);
  }

  /** Blocks every access (a TDISP interface in ERROR), or lifts the block. */
  set blocked(on: boolean) {
    const v = this.mem.view;
    const flags = v.getUint32(this.block + C.CTX_FLAGS, true);
    v.setUint32(this.block + C.CTX_FLAGS, on ? flags | C.DMA_F_BLOCKED : flags & ~C.DMA_F_BLOCKED, true);
  }

  get blocked(): boolean {
    return (this.mem.view.getUint32(this.block + C.CTX_FLAGS, true) & C.DMA_F_BLOCKED) !== 0;
  }

  get mode(): DmaContextMode {
    return this.mem.view.getUint32(this.block + C.CTX_MODE, true) === C.DMA_MODE_DIRECT ? 'direct' : 'paged';
  }

  /** Linear address of the context's stats block (DST_*). */
  get statsBlock(): number {
    return this.mem.view.getUint32(this.block + C.CTX_STATS, true);
  }

  /** The first DMA address and the size of the space (direct: 0 and guest RAM). */
  get window(): { base: number; bytes: number } {
    const v = this.mem.view;
    return { base: u64(v, this.block + C.CTX_BASE), bytes: u64(v, this.block + C.CTX_LIMIT) };
  }

  /** Entries of the IOTLB (0: none; a direct context has none). */
  get iotlbEntries(): number {
    const v = this.mem.view;
    return v.getUint32(this.block + C.CTX_IOTLB, true) === 0 ? 0 : v.getUint32(this.block + C.CTX_IOTLB_MASK, true) + 1;
  }

  get sharedOnly(): boolean {
    return (this.mem.view.getUint32(this.block + C.CTX_FLAGS, true) & C.DMA_F_SHARED_ONLY) !== 0;
  }

  /** Restricts the device to shared pages (or lifts it), e.g. as a confidential VM boots. */
  set sharedOnly(on: boolean) {
    const v = this.mem.view;
    const flags = v.getUint32(this.block + C.CTX_FLAGS, true);
    v.setUint32(this.block + C.CTX_FLAGS, on ? flags | C.DMA_F_SHARED_ONLY : flags & ~C.DMA_F_SHARED_ONLY, true);
  }

  private pte(iova: number): number {
    const { base, bytes } = this.window;
    const off = iova - base;
    if (this.mode !== 'paged' || off < 0 || off >= bytes) {
      throw new GuestMemoryError('DMA_WINDOW', `IOVA 0x${iova.toString(16)} is outside the context's window`);
    }
    return this.mem.view.getUint32(this.block + C.CTX_PT, true) + (off / GUEST_PAGE_SIZE) * 4;
  }

  /**
   * Maps the page-aligned IOVA range [iova, iova + bytes) to guest physical
   * [gpa, gpa + bytes) with the device's permissions (the guest IOMMU
   * driver's iommu_map()). Changing an entry that is present (a remap, or
   * no permission at all: an unmap) invalidates it in the IOTLB, one request
   * for the call; making an absent entry present needs none (an IOTLB caches
   * present entries only).
   */
  mapPages(iova: number, gpa: number, bytes: number, perm: { read: boolean; write: boolean }): void {
    pageAligned('IOVA', iova);
    pageAligned('guest address', gpa);
    pageAligned('mapping length', bytes);
    this.mem.check(gpa, bytes);
    const bits = (perm.read ? C.PTE_READ : 0) | (perm.write ? C.PTE_WRITE : 0);
    const v = this.mem.view;
    let stale = false;
    for (let off = 0; off < bytes; off += GUEST_PAGE_SIZE) {
      const at = this.pte(iova + off);
      const old = v.getUint32(at, true);
      const pte = bits === 0 ? 0 : (gpa + off) | bits;
      if (old !== 0 && old !== pte >>> 0) stale = true;
      v.setUint32(at, pte, true);
    }
    if (stale) this.invalidate(iova, bytes);
  }

  /**
   * Unmaps the page-aligned IOVA range [iova, iova + bytes) (iommu_unmap()),
   * and invalidates it in the IOTLB (one request) when any of it was mapped.
   */
  unmapPages(iova: number, bytes: number): void {
    pageAligned('IOVA', iova);
    pageAligned('mapping length', bytes);
    const v = this.mem.view;
    let present = false;
    for (let off = 0; off < bytes; off += GUEST_PAGE_SIZE) {
      const at = this.pte(iova + off);
      if (v.getUint32(at, true) !== 0) present = true;
      v.setUint32(at, 0, true);
    }
    if (present) this.invalidate(iova, bytes);
  }

  /** The guest physical page and permissions IOVA page `iova` maps to, or undefined when it is not mapped. */
  lookup(iova: number): { gpa: number; read: boolean; write: boolean } | undefined {
    const pte = this.mem.view.getUint32(this.pte(iova), true);
    if ((pte & C.PTE_PERM_MASK) === 0) return undefined;
    return {
      gpa: (pte & ~C.PTE_PERM_MASK) >>> 0,
      read: (pte & C.PTE_READ) !== 0,
      write: (pte & C.PTE_WRITE) !== 0,
    };
  }

  /**
   * Drops the IOTLB's entries for the IOVA range [iova, iova + bytes) and
   * counts one invalidation request. The tag word goes first: a lookup on
   * another thread loads an entry as one u64 and sees it whole or empty.
   */
  private invalidate(iova: number, bytes: number): void {
    const v = this.mem.view;
    const tlb = v.getUint32(this.block + C.CTX_IOTLB, true);
    if (tlb === 0) return;
    const entries = v.getUint32(this.block + C.CTX_IOTLB_MASK, true) + 1;
    const first = (iova - this.window.base) / GUEST_PAGE_SIZE;
    const pages = bytes / GUEST_PAGE_SIZE;
    const drop = (slot: number): void => {
      v.setUint32(slot + C.IOTLB_TAG, 0, true);
      v.setUint32(slot + C.IOTLB_PTE, 0, true);
    };
    if (pages >= entries) {
      for (let k = 0; k < entries; k++) {
        const slot = tlb + k * C.IOTLB_ENTRY_SIZE;
        const tag = v.getUint32(slot + C.IOTLB_TAG, true);
        if (tag !== 0 && tag - 1 >= first && tag - 1 < first + pages) drop(slot);
      }
    } else {
      for (let p = first; p < first + pages; p++) {
        const slot = tlb + (p & (entries - 1)) * C.IOTLB_ENTRY_SIZE;
        if (v.getUint32(slot + C.IOTLB_TAG, true) === p + 1) drop(slot);
      }
    }
    this.addStat(C.DST_IOTLB_INVALIDATIONS);
  }

  private addStat(off: number): void {
    Atomics.add(new BigUint64Array(this.mem.memory.buffer, this.statsBlock + off, 1), 0, 1n);
  }

  /**
   * Counts a device access refused before it reached the translation (not a
   * DMA address at all, or a host buffer outside the host area).
   */
  countFault(): void {
    this.addStat(C.DST_FAULTS);
  }

  counters(): DmaContextCounters {
    const out = {} as DmaContextCounters;
    const s = this.statsBlock;
    for (const [name, off] of COUNTERS) out[name] = u64(this.mem.view, s + off);
    return out;
  }

  /** The last access the context refused, or undefined when none was. */
  lastFault(): DmaFaultRecord | undefined {
    const v = this.mem.view;
    const code = v.getUint32(this.block + C.CTX_FAULT_CODE, true);
    if (code === 0) return undefined;
    return {
      addr: u64(v, this.block + C.CTX_FAULT_ADDR),
      len: v.getUint32(this.block + C.CTX_FAULT_LEN, true),
      code,
      write: v.getUint32(this.block + C.CTX_FAULT_WRITE, true) !== 0,
    };
  }
}

/**
 * What a refused device access means, by the Wasm error code (the messages
 * vhost and QEMU print for the same refusal, where they have one).
 */
export function dmaFaultMessage(code: number, backend: string): string {
  switch (code) {
    case L.E_ADDR_RANGE:
      return `outside the device's DMA address space (the ${backend} backend's)`;
    case L.E_DMA_UNMAPPED:
      return 'IOTLB miss: no mapping for the address (vhost: "IOTLB miss"; QEMU: bogus descriptor)';
    case L.E_DMA_PERM:
      return 'the mapping does not allow this direction (IOMMU permission fault)';
    case L.E_DMA_PRIVATE:
      return 'the page is private to the guest (encrypted): a device may touch shared pages only';
    case L.E_DMA_RMP:
      return 'RMP violation: SEV-SNP refuses a device write to a guest-owned page';
    case L.E_DMA_BLOCKED:
      return "the device's DMA is blocked (its TDISP interface is in ERROR)";
    case L.E_DMA_STAGE:
      return 'too many private-page bytes in one batch for the ciphertext staging ring';
    default:
      return `refused (code ${code})`;
  }
}

/** What the guest DMA API gives a queue's driver side: its domain's DMA window and coherent memory. */
export interface DriverDma {
  /** First DMA address of the domain's window (0 for the direct backend). */
  base: number;
  /** Bytes of the window (guest RAM for the direct backend). */
  bytes: number;
  /**
   * dma_alloc_coherent for memory the device reads (the indirect pool):
   * `addr` the guest physical address the driver writes through, `dma` the
   * device's address for it.
   */
  allocCoherent(bytes: number, align: number): { addr: number; dma?: number | undefined };
  /** dma_free_coherent of what allocCoherent returned at `addr` (a probe that fails gives its rings back). */
  freeCoherent?(addr: number): void;
}

/**
 * A misuse of the DMA API by a driver, or a device access the DMA context
 * refused (DMA_FAULT). The codes are listed in src/dma/errors.ts.
 */
export class DmaError extends VqsimError {
  constructor(code: string, message: string) {
    // A refused device access is the device's fault; an unknown backend the
    // configuration's; every other code is a driver's misuse of the DMA API.
    // A full pool or aperture (DMA_MAPPING_ERROR) is nobody's protocol fault: the host's.
    super(
      code,
      message,
      code === 'DMA_FAULT'
        ? 'device'
        : code === 'DMA_BAD_BACKEND'
          ? 'user'
          : code === 'DMA_MAPPING_ERROR'
            ? 'host'
            : 'driver',
    );
    this.name = 'DmaError';
  }
}

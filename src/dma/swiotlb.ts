// The swiotlb bounce pool, as Linux's kernel/dma/swiotlb.c (6.12) keeps it,
// usable alone (to replay an allocation trace) or behind the `swiotlb` DMA
// backend (src/dma/swiotlb-backend.ts). The slot search, the release and the
// bounce copies run in Wasm (assembly/mem/swiotlb.ts); this class sizes the
// pool as Linux does, lays it out, and turns a refusal into Linux's message.
//
// Where things live: the bounce slots are guest pages made shared
// (set_memory_decrypted), the only part a device may reach. The slot
// metadata (list[], orig_addr, alloc_size, pad_slots), the pool descriptor and
// the areas with their locks are the guest kernel's own: private guest
// memory, as Linux's memblock allocations are private in a confidential VM,
// so a device can neither read where its bounce buffers go nor rewrite
// orig_addr to aim a copy elsewhere. The counters are in a `swiotlb` block of
// the machine's stats registry (host memory).
import * as S from '../../assembly/mem/swiotlb-layout.js';
import { ConfigError, GuestMemoryError } from '../errors.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { CounterBlock } from '../memory/stats-registry.js';
import type { WasmCore } from '../memory/wasm-core.js';
import { DmaError } from './errors.js';
import { DmaAttr, DmaDirection, isDirection } from './types.js';

/** Linux's default pool, 64 MiB (IO_TLB_DEFAULT_SIZE). */
export const SWIOTLB_DEFAULT_BYTES = S.IO_TLB_DEFAULT_SIZE;
/** Bytes of a slot (1 << IO_TLB_SHIFT). */
export const SWIOTLB_SLOT_BYTES = S.IO_TLB_SIZE;
/** Slots of a segment (IO_TLB_SEGSIZE): no mapping crosses one. */
export const SWIOTLB_SEGMENT_SLOTS = S.IO_TLB_SEGSIZE;
/** The largest mapping, padding included: 256 KiB. */
export const SWIOTLB_MAX_MAPPING = S.IO_TLB_MAX_ALLOC;

/** DEFAULT_RATELIMIT_INTERVAL (5 * HZ) and DEFAULT_RATELIMIT_BURST (include/linux/ratelimit_types.h). */
const RATELIMIT_INTERVAL_MS = 5000;
const RATELIMIT_BURST = 10;

export interface SwiotlbOptions {
  /**
   * Pool size in bytes, rounded as swiotlb_adjust_size() does (to whole
   * slots, then segments, then a power of two of slots). Default 64 MiB.
   */
  bytes?: number;
  /** Pool size in slots (the first number of `swiotlb=`): aligned up to 128, then a power of two. */
  slots?: number;
  /**
   * Areas, each with its own lock, cursor and used count: rounded up to a
   * power of two (swiotlb_adjust_nareas), at most one per 128 slots.
   * Default: the CPU count rounded up to a power of two, as Linux takes
   * num_possible_cpus().
   */
  areas?: number;
  /** CPUs that map through the pool (0 .. cpus-1): the default area count and one stats item each. Default 1. */
  cpus?: number;
  /** Name of the pool's block in the stats registry (kind `swiotlb`). Default "swiotlb". */
  name?: string;
  /**
   * When the pool does not fit, halve it as swiotlb_init_remap() does on an
   * allocation failure, down to 1 MiB; here also while it would take more
   * than half of the free guest RAM, so the drivers' own buffers still fit.
   * Default false: the size asked for, or OUT_OF_GUEST_MEMORY.
   */
  fit?: boolean;
  /** The clock (milliseconds) of the pool-full warning's rate limit. Default performance.now. */
  now?: () => number;
  /** Called with each pool-full warning the rate limit lets through (Linux prints it with dev_warn). */
  onWarn?: (message: string) => void;
}

export interface SwiotlbMapOptions {
  /** The mapping's direction; the map copies the whole buffer in whatever it is (mainline). Default BIDIRECTIONAL. */
  dir?: DmaDirection;
  /** The CPU mapping: its area is searched first (cpu & (areas - 1)). Default 0. */
  cpu?: number;
  /** Alignment of the allocation, a mask 2^k - 1 (swiotlb_tbl_map_single's alloc_align_mask). Default 0. */
  allocAlignMask?: number;
  /**
   * The device's min_align_mask (dma_get_min_align_mask), a mask 2^k - 1:
   * the bounce address keeps these low bits of the original. Default 0.
   */
  minAlignMask?: number;
  /** DMA attributes (DmaAttr): NO_WARN silences the pool-full warning. */
  attrs?: number;
}

export interface SwiotlbUnmapOptions {
  /** The direction it was mapped with: FROM_DEVICE and BIDIRECTIONAL copy back. Default BIDIRECTIONAL. */
  dir?: DmaDirection;
  /** DMA attributes (DmaAttr): SKIP_CPU_SYNC skips the copy back. */
  attrs?: number;
  cpu?: number;
}

/** The size a pool is made with: slots, areas and slots per area. */
export interface SwiotlbGeometry {
  nslabs: number;
  nareas: number;
  areaNslabs: number;
}

/** One slot's metadata (struct io_tlb_slot). */
export interface SwiotlbSlot {
  /** Free slots from this one to the end of its segment (0: in use). */
  list: number;
  /** The original buffer's guest physical address for this slot, or undefined (free, or padding). */
  origAddr: number | undefined;
  /** Bytes of the allocation from this slot on. */
  allocSize: number;
  /** Padding slots before the mapping (kept on its first data slot). */
  padSlots: number;
}

/** What state() shows: Linux's io_tlb_pool and its areas. */
export interface SwiotlbState {
  nslabs: number;
  nareas: number;
  areaNslabs: number;
  /** Guest physical address of slot 0. */
  start: number;
  areas: { used: number; index: number }[];
  /** list[] of every slot. */
  list: number[];
  /** Slots in use (io_tlb_used). */
  used: number;
  /** The most ever in use (io_tlb_used_hiwater). */
  highWater: number;
  /** Slots in transient pools (io_tlb_transient_nslabs): always 0, dynamic pools are not modelled. */
  transient: number;
}

/** The pool's counters: the debugfs files and the per-CPU counts summed. */
export interface SwiotlbCounters {
  nslabs: number;
  used: number;
  usedHiwater: number;
  transientNslabs: number;
  warnings: number;
  warningsSuppressed: number;
  maps: number;
  searches: number;
  areaSearches: number;
  slotsScanned: number;
  releases: number;
  full: number;
  bouncesToDevice: number;
  bytesToDevice: number;
  bouncesFromDevice: number;
  bytesFromDevice: number;
  overflows: number;
  lockSpins: number;
}

/**
 * A mapping the pool refused (DMA_MAPPING_ERROR): no free run fits, or the
 * allocation is larger than a segment. The message is Linux's.
 */
export class SwiotlbFullError extends DmaError {
  constructor(
    /** The allocation asked for, padding included (Linux's `sz`). */
    readonly size: number,
    readonly total: number,
    readonly used: number,
    readonly reason: 'full' | 'too-big',
  ) {
    super('DMA_MAPPING_ERROR', swiotlbFullMessage(size, total, used));
    this.name = 'SwiotlbFullError';
  }
}

/** Linux's pool-full warning (swiotlb_tbl_map_single). */
export function swiotlbFullMessage(size: number, total: number, used: number): string {
  return `swiotlb buffer is full (sz: ${size} bytes), total ${total} (slots), used ${used} (slots)`;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
const roundUpPow2 = (n: number) => 2 ** Math.ceil(Math.log2(n));
const alignUp = (n: number, to: number) => Math.ceil(n / to) * to;

function whole(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`swiotlb ${what} ${String(v)}: must be a whole number from ${min} to ${max}`);
  }
  return v;
}

/**
 * The slots and areas Linux makes a pool with: `slots` aligned to a segment
 * (setup_io_tlb_npages) or `bytes` rounded to slots and segments
 * (swiotlb_adjust_size); the area count rounded up to a power of two
 * (swiotlb_adjust_nareas, from num_possible_cpus() by default); the slot count
 * raised to 128 per area, else to a power of two (round_up_default_nslabs);
 * at most one area per 128 slots (limit_nareas).
 */
export function swiotlbGeometry(o: Pick<SwiotlbOptions, 'bytes' | 'slots' | 'areas' | 'cpus'> = {}): SwiotlbGeometry {
  if (o.bytes !== undefined && o.slots !== undefined) {
    throw new ConfigError('swiotlb: give bytes or slots, not both');
  }
  let nslabs: number;
  if (o.slots !== undefined) nslabs = alignUp(whole('slots', o.slots, 1, 2 ** 21), S.IO_TLB_SEGSIZE);
  else if (o.bytes !== undefined) {
    const size = alignUp(whole('bytes', o.bytes, 1, 2 ** 32), S.IO_TLB_SIZE);
    nslabs = alignUp(size / S.IO_TLB_SIZE, S.IO_TLB_SEGSIZE);
  } else nslabs = S.IO_TLB_DEFAULT_SIZE / S.IO_TLB_SIZE;
  const cpus = whole('cpus', o.cpus ?? 1, 1, 1024);
  let nareas = o.areas === undefined ? cpus : whole('areas', o.areas, 0, 1024);
  if (nareas === 0) nareas = 1;
  else if (!isPow2(nareas)) nareas = roundUpPow2(nareas);
  if (nslabs < S.IO_TLB_SEGSIZE * nareas) nslabs = S.IO_TLB_SEGSIZE * nareas;
  else if (!isPow2(nslabs)) nslabs = roundUpPow2(nslabs);
  return limitAreas(nslabs, nareas);
}

function limitAreas(nslabs: number, nareas: number): SwiotlbGeometry {
  const n = nslabs < nareas * S.IO_TLB_SEGSIZE ? Math.max(1, Math.floor(nslabs / S.IO_TLB_SEGSIZE)) : nareas;
  return { nslabs, nareas: n, areaNslabs: nslabs / n };
}

/**
 * Parses Linux's boot parameter `swiotlb=<slots>[,<areas>][,force|noforce]`
 * (with or without the `swiotlb=`): the first number counts slots, not bytes.
 * Numbers are read as simple_strtoul(str, 0) reads them (0x for hex, a
 * leading 0 for octal).
 */
export function parseSwiotlbParam(text: string): { slots?: number; areas?: number; force?: boolean } {
  const s = String(text)
    .trim()
    .replace(/^swiotlb=/, '');
  const m =
    /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)?(?:,(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*))?(?:,(force|noforce))?$/.exec(s);
  if (!m || s === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) {
    throw new ConfigError(
      `swiotlb parameter ${JSON.stringify(text)}: must be <slots>[,<areas>][,force|noforce], for example 32768,4`,
    );
  }
  const num = (t: string) =>
    /^0[xX]/.test(t) ? parseInt(t.slice(2), 16) : t.length > 1 && t[0] === '0' ? parseInt(t, 8) : Number(t);
  const out: { slots?: number; areas?: number; force?: boolean } = {};
  if (m[1] !== undefined) out.slots = num(m[1]);
  if (m[2] !== undefined) out.areas = num(m[2]);
  if (m[3] !== undefined) out.force = m[3] === 'force';
  return out;
}

const pools = new WeakMap<GuestMemory, Swiotlb>();

/**
 * A swiotlb bounce pool in one machine's guest memory. map() hands out a
 * bounce address (or throws SwiotlbFullError), unmap() copies back and
 * releases, sync() copies part of a mapping either way; state() and
 * counters() show what Linux's structures and debugfs would.
 */
export class Swiotlb {
  readonly nslabs: number;
  readonly nareas: number;
  readonly areaNslabs: number;
  /** CPUs that may map (0 .. cpus-1). */
  readonly cpus: number;
  /** Guest physical address of slot 0 (shared pages). */
  readonly start: number;
  /** Bytes of the pool. */
  readonly bytes: number;
  /** Linear address of the pool descriptor (SWP_*), in private guest memory. */
  readonly descriptor: number;
  /** The last pool-full warning the rate limit let through. */
  lastWarning: string | undefined;
  private readonly core: WasmCore;
  private readonly stats: CounterBlock<'swiotlb'>;
  private readonly now: () => number;
  private readonly onWarn: ((message: string) => void) | undefined;
  private rlBegin = -1;
  private rlPrinted = 0;
  private readonly list: Uint16Array;

  /**
   * Makes a pool in `mem` (its pages allocated and made shared, its metadata
   * in private guest memory), or, given `descriptor` (see Swiotlb.attach),
   * this thread's face of a pool another thread made.
   */
  constructor(
    readonly mem: GuestMemory,
    options: SwiotlbOptions = {},
    descriptor?: number,
  ) {
    this.core = mem.core;
    this.now = options.now ?? (() => performance.now());
    this.onWarn = options.onWarn;
    if (descriptor !== undefined) {
      const v = mem.view;
      const get = (off: number) => v.getUint32(descriptor + off, true);
      this.nslabs = get(S.SWP_NSLABS);
      this.nareas = get(S.SWP_NAREAS);
      this.areaNslabs = get(S.SWP_AREA_NSLABS);
      this.start = get(S.SWP_START);
      this.bytes = this.nslabs * S.IO_TLB_SIZE;
      const stats = get(S.SWP_STATS);
      this.cpus = v.getUint32(stats + S.SWS_ITEMS, true);
      this.stats = new CounterBlock(mem.memory.buffer, 'swiotlb', stats, this.cpus);
      this.descriptor = descriptor;
      this.list = new Uint16Array(mem.memory.buffer, get(S.SWP_LIST), this.nslabs);
      return;
    }
    let g = swiotlbGeometry(options);
    this.cpus = options.cpus ?? 1;
    let start: number | undefined;
    if (options.fit) {
      const free = mem.pages.freePages() * mem.pages.pageSize;
      let n = g.nslabs;
      while (n * S.IO_TLB_SIZE > free / 2 && n > S.IO_TLB_MIN_SLABS) n = alignUp(n / 2, S.IO_TLB_SEGSIZE);
      for (;;) {
        try {
          start = mem.alloc(n * S.IO_TLB_SIZE, { shared: true });
          break;
        } catch (e) {
          if (!(e instanceof GuestMemoryError) || e.code !== 'OUT_OF_GUEST_MEMORY' || n <= S.IO_TLB_MIN_SLABS) throw e;
          n = alignUp(n / 2, S.IO_TLB_SEGSIZE);
        }
      }
      g = limitAreas(n, g.nareas);
    } else {
      // The pool's pages are made shared at once (swiotlb_update_mem_attributes).
      start = mem.alloc(g.nslabs * S.IO_TLB_SIZE, { shared: true });
    }
    this.nslabs = g.nslabs;
    this.nareas = g.nareas;
    this.areaNslabs = g.areaNslabs;
    this.start = start;
    this.bytes = g.nslabs * S.IO_TLB_SIZE;
    const n = g.nslabs;
    // Private guest memory: descriptor, areas, list[] (u16 per slot), then the slot records.
    const head = S.SWP_SIZE + g.nareas * S.SWA_SIZE;
    const metaBytes = head + n * S.SW_SLOT_META;
    const meta = mem.linear(mem.alloc(metaBytes), metaBytes);
    const v = mem.view;
    const set = (off: number, val: number) => v.setUint32(meta + off, val, true);
    set(S.SWP_NSLABS, n);
    set(S.SWP_NAREAS, g.nareas);
    set(S.SWP_AREA_NSLABS, g.areaNslabs);
    set(S.SWP_START, start);
    set(S.SWP_LIST, meta + head);
    set(S.SWP_SLOTS, meta + head + 2 * n);
    this.stats = CounterBlock.alloc(mem, 'swiotlb', options.name ?? 'swiotlb', this.cpus);
    set(S.SWP_STATS, this.stats.addr);
    this.stats.set('nslabs', n);
    this.descriptor = meta;
    this.core.swiotlb_init(meta);
    this.list = new Uint16Array(mem.memory.buffer, meta + head, n);
  }

  /**
   * This thread's face of the pool whose descriptor (Swiotlb.descriptor) is
   * at `descriptor` in `mem`, a machine memory another thread made it in.
   * Every structure is in the shared memory, so both faces map and unmap the
   * one pool; each area's lock keeps them apart. Give each thread its own
   * CPUs: a CPU's counters are written by one thread only.
   */
  static attach(mem: GuestMemory, descriptor: number, options: Pick<SwiotlbOptions, 'now' | 'onWarn'> = {}): Swiotlb {
    if (!Number.isInteger(descriptor) || descriptor <= 0 || descriptor >= mem.memory.buffer.byteLength) {
      throw new ConfigError(`swiotlb descriptor ${String(descriptor)}: not an address in this memory`);
    }
    return new Swiotlb(mem, options, descriptor);
  }

  /**
   * The pool of a machine's memory, made on first use (Linux's one default
   * pool, io_tlb_default_mem, shared by every device): with `options` when
   * it is made, else the default size fitted to the memory.
   */
  static forMemory(mem: GuestMemory, options?: SwiotlbOptions): Swiotlb {
    let p = pools.get(mem);
    if (!p) {
      p = new Swiotlb(mem, options ?? { fit: true });
      pools.set(mem, p);
    }
    return p;
  }

  /** The Linux CoCo guest's pool size: 6% of RAM clamped to [64 MiB, 1 GiB], rounded as Linux rounds it. */
  static cvmDefaultBytes(ramBytes: number, cpus = 1): number {
    const ram = whole('RAM bytes', ramBytes, 1, 2 ** 52);
    const size = Math.min(Math.max(Math.floor((ram * 6) / 100), S.IO_TLB_DEFAULT_SIZE), 2 ** 30);
    return swiotlbGeometry({ bytes: size, cpus }).nslabs * S.IO_TLB_SIZE;
  }

  private checkCpu(cpu: number): number {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new ConfigError(`swiotlb cpu ${String(cpu)}: must be a whole number from 0 to ${this.cpus - 1}`);
    }
    return cpu;
  }

  private checkMask(what: string, m: number): number {
    if (!Number.isInteger(m) || m < 0 || m > 0xffffffff || (m !== 0 && (m & (m + 1)) !== 0)) {
      throw new ConfigError(`swiotlb ${what} ${String(m)}: must be 0 or a mask 2^k - 1 below 2^32`);
    }
    return m;
  }

  /**
   * swiotlb_tbl_map_single(): bounces guest physical [orig, orig + size).
   * Returns the bounce buffer's guest physical (= DMA) address; the whole
   * buffer has been copied into it. Throws SwiotlbFullError when no slots
   * fit (Linux returns DMA_MAPPING_ERROR and warns, rate-limited, unless
   * NO_WARN).
   */
  map(orig: number, size: number, options?: SwiotlbMapOptions): number {
    let cpu = 0;
    let alloc = 0;
    let min = 0;
    let attrs = 0;
    if (options) {
      if (options.dir !== undefined && !isDirection(options.dir)) {
        throw new DmaError('DMA_BAD_DIRECTION', `swiotlb map: direction ${String(options.dir)} is not a DMA direction`);
      }
      if (options.cpu !== undefined) cpu = this.checkCpu(options.cpu);
      if (options.allocAlignMask !== undefined) alloc = this.checkMask('allocAlignMask', options.allocAlignMask);
      if (options.minAlignMask !== undefined) min = this.checkMask('minAlignMask', options.minAlignMask);
      attrs = options.attrs ?? 0;
    }
    return this.mapRaw(orig, size, cpu, alloc, min, attrs);
  }

  /** map() with its options as arguments, checked by the caller (the DMA backend's hot path). */
  mapRaw(orig: number, size: number, cpu: number, allocAlignMask: number, minAlignMask: number, attrs: number): number {
    if (!Number.isInteger(orig) || !Number.isInteger(size) || orig < 0 || size < 1 || orig + size > this.mem.size) {
      throw new DmaError(
        'DMA_OUTSIDE_RAM',
        `swiotlb map: 0x${Number(orig).toString(16)} + ${size} bytes is not a buffer in guest RAM [0, 0x${this.mem.size.toString(16)})`,
      );
    }
    const r = this.core.swiotlb_map(this.descriptor, orig, size, allocAlignMask, minAlignMask, cpu, 1);
    if (r < 0) this.refused(r, orig, size, allocAlignMask, minAlignMask, attrs);
    return this.start + r;
  }

  private refused(code: number, orig: number, size: number, alloc: number, min: number, attrs: number): never {
    // Linux's `sz`: the allocation with its alignment padding.
    const offset = orig & min & (alloc | (S.IO_TLB_SIZE - 1));
    const sz = alignUp(size + offset, alloc + 1);
    const used = this.stats.get('used');
    const err = new SwiotlbFullError(sz, this.nslabs, used, code === -S.SWE_TOO_BIG ? 'too-big' : 'full');
    if ((attrs & DmaAttr.NO_WARN) === 0) this.warn(err.message);
    throw err;
  }

  /** dev_warn_ratelimited(): at most 10 messages per 5 s; the rest are counted as suppressed. */
  private warn(message: string): void {
    const t = this.now();
    if (this.rlBegin < 0) this.rlBegin = t;
    if (t - this.rlBegin >= RATELIMIT_INTERVAL_MS) {
      this.rlBegin = t;
      this.rlPrinted = 0;
    }
    if (this.rlPrinted < RATELIMIT_BURST) {
      this.rlPrinted++;
      this.lastWarning = message;
      this.stats.add('warnings');
      this.onWarn?.(message);
    } else {
      this.stats.add('warningsSuppressed');
    }
  }

  private pooled(what: string, addr: number, size: number): number {
    const off = addr - this.start;
    if (!Number.isInteger(addr) || !Number.isInteger(size) || size < 1 || off < 0 || off >= this.bytes) {
      throw new DmaError(
        'DMA_NOT_MAPPED',
        `swiotlb ${what}: 0x${Number(addr).toString(16)} (${size} bytes) is not a bounce buffer of this pool`,
      );
    }
    return off;
  }

  /**
   * swiotlb_tbl_unmap_single(): copies the bounce buffer back to the
   * original for FROM_DEVICE and BIDIRECTIONAL mappings unless SKIP_CPU_SYNC,
   * then frees its slots. `addr` must be what map() returned.
   */
  unmap(addr: number, size: number, options?: SwiotlbUnmapOptions): void {
    const dir = options?.dir ?? DmaDirection.BIDIRECTIONAL;
    if (!isDirection(dir)) {
      throw new DmaError('DMA_BAD_DIRECTION', `swiotlb unmap: direction ${String(dir)} is not a DMA direction`);
    }
    const cpu = options?.cpu === undefined ? 0 : this.checkCpu(options.cpu);
    this.unmapRaw(addr, size, dir, options?.attrs ?? 0, cpu);
  }

  /** unmap() with its options as arguments, checked by the caller. */
  unmapRaw(addr: number, size: number, dir: DmaDirection, attrs: number, cpu: number): void {
    const off = this.pooled('unmap', addr, size);
    const r = this.core.swiotlb_unmap(this.descriptor, off, size, dir, attrs, cpu);
    if (r < 0) {
      throw new DmaError(
        'DMA_NOT_MAPPED',
        `swiotlb unmap: 0x${addr.toString(16)} is not the start of a mapping (device driver tries to free DMA memory it has not allocated)`,
      );
    }
  }

  /**
   * swiotlb_bounce() over [addr, addr + size), any part of a mapping:
   * original -> bounce when `toDevice` (sync_single_for_device), else bounce
   * -> original (sync_single_for_cpu). Each slot resolves its own original
   * address; a copy past the mapping is clamped. Returns the bytes copied
   * (0 in padding or a free slot). The direction rules are the caller's
   * (the backend applies Linux's).
   */
  sync(addr: number, size: number, toDevice: boolean, cpu = 0): number {
    const off = this.pooled('sync', addr, size);
    if (cpu !== 0) this.checkCpu(cpu);
    return this.core.swiotlb_sync(this.descriptor, off, size, toDevice ? 1 : 0, cpu);
  }

  /**
   * swiotlb_max_mapping_size(): one mapping fits in one segment of
   * IO_TLB_SEGSIZE slots (no device here sets a min_align_mask to take off).
   */
  get maxMappingSize(): number {
    return S.IO_TLB_SIZE * S.IO_TLB_SEGSIZE;
  }

  /** The slots in use now (io_tlb_used). */
  get used(): number {
    return this.stats.get('used');
  }

  /** Linux's io_tlb_used_hiwater; write 0 to it with resetHighWater(). */
  get highWater(): number {
    return this.stats.get('usedHiwater');
  }

  resetHighWater(): void {
    this.stats.set('usedHiwater', 0);
  }

  /** One slot's metadata. */
  slot(i: number): SwiotlbSlot {
    if (!Number.isInteger(i) || i < 0 || i >= this.nslabs) {
      throw new ConfigError(`swiotlb slot ${String(i)}: must be a whole number from 0 to ${this.nslabs - 1}`);
    }
    const v = this.mem.view;
    const d = (off: number) => v.getUint32(this.descriptor + off, true);
    const rec = d(S.SWP_SLOTS) + i * S.SLOT_SIZE;
    const orig = v.getUint32(rec + S.SLOT_ORIG, true);
    return {
      list: this.list[i]!,
      origAddr: orig === S.SW_INVALID ? undefined : orig,
      allocSize: v.getUint32(rec + S.SLOT_ASIZE, true),
      padSlots: v.getUint16(rec + S.SLOT_PAD, true),
    };
  }

  /** The pool's structures as Linux keeps them: per-area used and cursor, list[], used and its high water. */
  state(): SwiotlbState {
    const v = this.mem.view;
    const areas = Array.from({ length: this.nareas }, (_, a) => {
      const at = this.descriptor + S.SWP_SIZE + a * S.SWA_SIZE;
      return { used: v.getUint32(at + S.SWA_USED, true), index: v.getUint32(at + S.SWA_INDEX, true) };
    });
    return {
      nslabs: this.nslabs,
      nareas: this.nareas,
      areaNslabs: this.areaNslabs,
      start: this.start,
      areas,
      list: Array.from(this.list),
      used: this.used,
      highWater: this.highWater,
      transient: 0,
    };
  }

  /** The counters: Linux's debugfs values and the per-CPU counts summed over CPUs. */
  counters(): SwiotlbCounters {
    const top = this.stats.read();
    const sum: Record<string, number> = {};
    for (const item of this.stats.readItems()) for (const [k, x] of Object.entries(item)) sum[k] = (sum[k] ?? 0) + x;
    return { ...top, ...sum } as unknown as SwiotlbCounters;
  }

  /** The per-CPU counts, one record per CPU. */
  cpuCounters(): Record<string, number>[] {
    return this.stats.readItems();
  }
}

import {
  CFG_HOST_NEXT,
  CFG_ENCRYPTION,
  CFG_KEY,
  CFG_PAGE_COUNT,
  CFG_RAM_SIZE,
  CONFIG_BASE,
  GUEST_BASE,
  GUEST_PAGE_SHIFT,
  GUEST_PAGE_SIZE,
  GUEST_BASE as HOST_END,
  HOST_BASE,
  MAX_GUEST_RAM,
  PAGE_MAP_BASE,
  PAGE_POISONED,
  PAGE_PRIVATE,
  PAGE_SHARED,
  WASM_PAGE,
} from '../../assembly/layout.js';
import { ConfigError, GuestMemoryError } from '../errors.js';
import { GuestPageAllocator } from './page-allocator.js';
import { CounterBlock } from './stats-registry.js';
import { instantiateCore, wasmModule, type WasmCore } from './wasm-core.js';

export const DEFAULT_GUEST_RAM = 256 * 1024 * 1024;

export interface GuestMemoryOptions {
  /** Guest RAM in bytes: a multiple of 4096, at least 64 KiB, at most 4032 MiB. Default 256 MiB. */
  size?: number;
  /**
   * An existing machine memory to attach to (a worker does this): the config
   * block in it gives the RAM size and holds the host allocator's bump
   * pointer, so hostAlloc() on any face of the memory hands out distinct
   * blocks. The guest page allocator is this face's own: allocate guest RAM
   * on the thread that built the machine.
   */
  memory?: WebAssembly.Memory;
  /** The compiled core to instantiate (a worker gets it from its parent). Default: compile build/vqsim.wasm once. */
  module?: WebAssembly.Module;
  /**
   * The machine's memory-encryption model: what a device sees of a private
   * page (see ENCRYPTION_MODELS). Default 'none', a traditional VM.
   */
  encryption?: EncryptionModel;
  /** The encryption key (a 32-bit number; the machine's seed). Default 1. */
  key?: number;
}

/**
 * The linear address of guest physical `gpa` (no check): for the TypeScript
 * model of the DMA context in the ring reference engines, which mirrors what
 * assembly/mem/dma.ts computes.
 */
export function guestLinear(gpa: number): number {
  return GUEST_BASE + gpa;
}

/**
 * Memory-encryption models (design.md; background/mechanisms.md §6): what a
 * device access to a private guest page does.
 * - none: no encryption; the device sees and writes plaintext.
 * - sev (AMD SEV, SEV-ES): a read returns ciphertext; a write lands, and the
 *   guest later reads garbage, silently (no integrity).
 * - sev-snp: a read returns ciphertext; a write is refused (the RMP check), named.
 * - tdx: a read returns ciphertext; a write poisons the page, and the guest's
 *   next read of it is a machine check (#MC), named.
 */
export const ENCRYPTION_MODELS = ['none', 'sev', 'sev-snp', 'tdx'] as const;
export type EncryptionModel = (typeof ENCRYPTION_MODELS)[number];

/** A guest read of a page a device poisoned (TDX: the line's integrity check failed). */
export class MachineCheckError extends GuestMemoryError {
  constructor(message: string) {
    super('MACHINE_CHECK', message, 'device');
    this.name = 'MachineCheckError';
  }
}

export interface AllocOptions {
  /** Alignment in bytes, a power of two; allocations are page-granular, so at least 4096. */
  align?: number;
  /** Make the pages shared with the host (rings, DMA buffers). Default false: private. */
  shared?: boolean;
}

function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

const HOST_NEXT_WORD = (CONFIG_BASE + CFG_HOST_NEXT) / 4;

/**
 * Reserves `bytes` of host memory (below guest RAM) in a machine memory, from
 * any thread attached to it: the bump pointer lives in the config block and
 * moves by compare-exchange, so two threads never get overlapping blocks
 * (a JS field per thread would hand both the same addresses). Returns a
 * linear address aligned to `align`; the block is zeroed.
 */
export function hostAllocShared(buffer: ArrayBufferLike, bytes: number, align = 128): number {
  if (!Number.isInteger(bytes) || bytes < 0) {
    throw new GuestMemoryError('BAD_ALLOC', `host allocation of ${bytes} bytes: must be a whole number`);
  }
  if (!Number.isInteger(align) || align < 1 || (align & (align - 1)) !== 0) {
    throw new GuestMemoryError('BAD_ALLOC', `host alignment ${align}: must be a power of two`);
  }
  const i32 = new Int32Array(buffer, 0, HOST_NEXT_WORD + 1);
  for (;;) {
    // Host addresses are below GUEST_BASE (64 MiB), so they fit an Int32 word as they are.
    const seen = Atomics.load(i32, HOST_NEXT_WORD);
    const at = Math.ceil((seen === 0 ? HOST_BASE : seen) / align) * align;
    if (at + bytes > HOST_END) {
      throw new GuestMemoryError(
        'OUT_OF_HOST_MEMORY',
        `host area exhausted: ${bytes} bytes asked, ${Math.max(0, HOST_END - at)} left of ${HOST_END - HOST_BASE}`,
      );
    }
    if (Atomics.compareExchange(i32, HOST_NEXT_WORD, seen, at + bytes) === seen) {
      new Uint8Array(buffer, at, bytes).fill(0);
      return at;
    }
  }
}

/**
 * Guest physical RAM of one machine: a shared WebAssembly.Memory whose bytes
 * from GUEST_BASE on are guest physical address 0 onwards, with the Wasm core
 * instantiated over it, a guest page allocator, a per-page ownership map
 * (private or shared) and a bump allocator for host-side structures.
 */
export class GuestMemory {
  readonly memory: WebAssembly.Memory;
  readonly core: WasmCore;
  /** Guest RAM size in bytes. */
  readonly size: number;
  readonly pages: GuestPageAllocator;
  /** The whole linear memory; guest physical address g is at byte GUEST_BASE + g. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /**
   * The linear memory below guest RAM: host-side blocks (device state, stats,
   * pop output). What a device model gets instead of `view`: an access at or
   * above guest RAM is a RangeError, never a way around its DMA context.
   */
  readonly hostView: DataView;

  constructor(options: GuestMemoryOptions = {}) {
    if (options.memory) {
      this.memory = options.memory;
      this.bytes = new Uint8Array(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
      this.size = this.view.getUint32(CONFIG_BASE + CFG_RAM_SIZE, true);
    } else {
      const size = options.size ?? DEFAULT_GUEST_RAM;
      if (!Number.isInteger(size) || size % GUEST_PAGE_SIZE !== 0 || size < 0x10000 || size > MAX_GUEST_RAM) {
        throw new ConfigError(
          `guest memory size ${size}: must be a multiple of 4096 from 65536 to ${MAX_GUEST_RAM} bytes (4032 MiB)`,
        );
      }
      const wasmPages = (GUEST_BASE + size) / WASM_PAGE;
      this.memory = new WebAssembly.Memory({
        initial: Math.ceil(wasmPages),
        maximum: Math.ceil(wasmPages),
        shared: true,
      });
      this.bytes = new Uint8Array(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
      this.size = size;
      this.view.setUint32(CONFIG_BASE + CFG_RAM_SIZE, size, true);
      this.view.setUint32(CONFIG_BASE + CFG_PAGE_COUNT, size / GUEST_PAGE_SIZE, true);
      this.view.setUint32(CONFIG_BASE + CFG_HOST_NEXT, HOST_BASE, true);
      const enc = options.encryption ?? 'none';
      const model = ENCRYPTION_MODELS.indexOf(enc);
      if (model < 0) {
        throw new ConfigError(`encryption ${String(enc)}: must be one of ${ENCRYPTION_MODELS.join(', ')}`);
      }
      const key = options.key ?? 1;
      if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) {
        throw new ConfigError(`encryption key ${key}: must be a whole number from 0 to 2^32-1`);
      }
      this.view.setUint32(CONFIG_BASE + CFG_ENCRYPTION, model, true);
      this.view.setUint32(CONFIG_BASE + CFG_KEY, key, true);
    }
    this.hostView = new DataView(this.memory.buffer, 0, GUEST_BASE);
    this.core = instantiateCore(this.memory, options.module ?? wasmModule());
    this.pages = new GuestPageAllocator(this.size / GUEST_PAGE_SIZE, GUEST_PAGE_SIZE);
  }

  /** Throws a named error unless [gpa, gpa + len) lies inside guest RAM. */
  check(gpa: number | bigint, len: number): void {
    // Whole numbers first: BigInt() of NaN or 1.5 would throw a RangeError.
    const whole = (typeof gpa === 'bigint' || Number.isInteger(gpa)) && Number.isInteger(len);
    const a = whole ? BigInt(gpa) : -1n;
    if (!whole || a < 0n || len < 0 || a + BigInt(len) > BigInt(this.size)) {
      const where = whole ? hex(a) : String(gpa);
      throw new GuestMemoryError(
        'ADDRESS_OUTSIDE_GUEST_RAM',
        `guest address ${where} + ${len} bytes is outside guest RAM [0, ${hex(this.size)})`,
      );
    }
  }

  /** Linear-memory address of guest physical `gpa`, after a bounds check of `len` bytes. */
  linear(gpa: number, len = 1): number {
    this.check(gpa, len);
    return GUEST_BASE + gpa;
  }

  /** Allocates page-aligned guest RAM; returns its guest physical address. Zeroed. */
  alloc(bytes: number, options: AllocOptions = {}): number {
    const align = options.align ?? GUEST_PAGE_SIZE;
    if (!Number.isInteger(align) || align < 1 || (align & (align - 1)) !== 0) {
      throw new GuestMemoryError('BAD_ALLOC', `alignment ${align}: must be a power of two`);
    }
    if (!Number.isInteger(bytes) || bytes < 1) {
      throw new GuestMemoryError('BAD_ALLOC', `allocation of ${bytes} bytes: must be a whole number of at least 1`);
    }
    const pages = Math.ceil(bytes / GUEST_PAGE_SIZE);
    const first = this.pages.allocPages(pages, Math.max(1, align / GUEST_PAGE_SIZE));
    const gpa = first * GUEST_PAGE_SIZE;
    this.bytes.fill(0, GUEST_BASE + gpa, GUEST_BASE + gpa + pages * GUEST_PAGE_SIZE);
    this.setShared(gpa, pages * GUEST_PAGE_SIZE, options.shared ?? false);
    return gpa;
  }

  /** Returns pages from alloc() to the allocator (and makes them private again). */
  free(gpa: number): void {
    const pages = this.pages.freePages(gpa / GUEST_PAGE_SIZE);
    this.setShared(gpa, pages * GUEST_PAGE_SIZE, false);
  }

  /** The machine's memory-encryption model. */
  get encryption(): EncryptionModel {
    return ENCRYPTION_MODELS[this.view.getUint32(CONFIG_BASE + CFG_ENCRYPTION, true)] ?? 'none';
  }

  /** The machine's encryption key. */
  get key(): number {
    return this.view.getUint32(CONFIG_BASE + CFG_KEY, true);
  }

  /**
   * Marks every page touching [gpa, gpa + len) shared with the host, or
   * private. In a confidential VM (encryption other than 'none') each page
   * that changes state is a conversion (set_memory_decrypted /
   * set_memory_encrypted: a hypercall, TLB flushes and, for TDX and SNP,
   * page acceptance; far dearer than a copy), counted in `conversions`.
   */
  setShared(gpa: number, len: number, shared: boolean): void {
    this.check(gpa, len);
    const first = gpa >>> GUEST_PAGE_SHIFT;
    const end = Math.ceil((gpa + len) / GUEST_PAGE_SIZE);
    if (this.encryption !== 'none') {
      const want = shared ? PAGE_SHARED : PAGE_PRIVATE;
      let n = 0;
      for (let p = first; p < end; p++) if ((this.bytes[PAGE_MAP_BASE + p]! & PAGE_SHARED) !== want) n++;
      if (n > 0) this.countConversions(shared, n);
    }
    this.bytes.fill(shared ? PAGE_SHARED : PAGE_PRIVATE, PAGE_MAP_BASE + first, PAGE_MAP_BASE + end);
  }

  private conversionBlock: CounterBlock<'memory'> | undefined;
  private countConversions(toShared: boolean, pages: number): void {
    this.conversionBlock ??= CounterBlock.alloc(this, 'memory', 'memory');
    const f = this.conversionBlock.f;
    (toShared ? f.toShared : f.toPrivate).add(pages);
    f.calls.add();
  }

  /** Page conversions so far: calls, and pages made shared or private (a confidential VM only). */
  conversions(): { calls: number; toShared: number; toPrivate: number } {
    return this.conversionBlock?.read() ?? { calls: 0, toShared: 0, toPrivate: 0 };
  }

  isShared(gpa: number): boolean {
    this.check(gpa, 1);
    return (this.bytes[PAGE_MAP_BASE + (gpa >>> GUEST_PAGE_SHIFT)]! & PAGE_SHARED) !== 0;
  }

  /**
   * The guest consuming [gpa, gpa + len): a machine check when a device
   * poisoned one of its pages (TDX). Every guest read accessor of this class
   * runs it; a driver reading device-written data another way calls it first.
   */
  consume(gpa: number, len: number): void {
    if (len <= 0) return;
    const first = gpa >>> GUEST_PAGE_SHIFT;
    const end = Math.ceil((gpa + len) / GUEST_PAGE_SIZE);
    for (let p = first; p < end; p++) {
      if (this.bytes[PAGE_MAP_BASE + p] === PAGE_POISONED) {
        throw new MachineCheckError(
          `#MC: machine check on a guest read of page 0x${(p * GUEST_PAGE_SIZE).toString(16)}: a device wrote to it while it was private (TDX integrity check failed)`,
        );
      }
    }
  }

  /**
   * Reserves host-side memory (below guest RAM, out of the guest's reach) for
   * device state, stats blocks and pop output. Returns a linear address. Zeroed.
   * Blocks are 128-byte aligned by default: two blocks never share a pair of
   * cache lines that the adjacent-line prefetcher moves together, so queues run
   * by different threads do not false-share. Safe from any thread attached to
   * the memory (see hostAllocShared).
   */
  hostAlloc(bytes: number, align = 128): number {
    return hostAllocShared(this.memory.buffer, bytes, align);
  }

  /** Why [at, at + len) is not a range of the host area, or undefined when it is. */
  hostRangeError(at: number, len: number): string | undefined {
    if (Number.isInteger(at) && Number.isInteger(len) && len >= 0 && at >= HOST_BASE && at + len <= GUEST_BASE) return;
    return `host buffer ${String(at)} + ${String(len)} bytes is outside the host area [${hex(HOST_BASE)}, ${hex(GUEST_BASE)})`;
  }

  readU8(gpa: number): number {
    const at = this.linear(gpa, 1);
    this.consume(gpa, 1);
    return this.view.getUint8(at);
  }
  readU16(gpa: number): number {
    const at = this.linear(gpa, 2);
    this.consume(gpa, 2);
    return this.view.getUint16(at, true);
  }
  readU32(gpa: number): number {
    const at = this.linear(gpa, 4);
    this.consume(gpa, 4);
    return this.view.getUint32(at, true);
  }
  readU64(gpa: number): bigint {
    const at = this.linear(gpa, 8);
    this.consume(gpa, 8);
    return this.view.getBigUint64(at, true);
  }
  writeU8(gpa: number, v: number): void {
    this.view.setUint8(this.linear(gpa, 1), v);
  }
  writeU16(gpa: number, v: number): void {
    this.view.setUint16(this.linear(gpa, 2), v, true);
  }
  writeU32(gpa: number, v: number): void {
    this.view.setUint32(this.linear(gpa, 4), v, true);
  }
  writeU64(gpa: number, v: bigint | number): void {
    this.view.setBigUint64(this.linear(gpa, 8), BigInt(v), true);
  }
  /** A copy of guest bytes [gpa, gpa + len). */
  read(gpa: number, len: number): Uint8Array {
    const at = this.linear(gpa, len);
    this.consume(gpa, len);
    return this.bytes.slice(at, at + len);
  }
  write(gpa: number, data: Uint8Array): void {
    this.bytes.set(data, this.linear(gpa, data.length));
  }
  fill(gpa: number, len: number, value: number): void {
    const at = this.linear(gpa, len);
    this.bytes.fill(value, at, at + len);
  }
}

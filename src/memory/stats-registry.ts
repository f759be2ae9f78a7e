// One registry of counters in the machine's shared memory (design.md,
// "Counters"). Every event that costs a real system time is counted in a stats
// block in host memory, and every block is named in one table that any thread
// attached to the memory can walk: a device or driver running on a worker
// counts into blocks the main thread reads by name, and the cost model of a
// later issue reads only this.
//
// Layout. CFG_STATS in the config block holds the linear address of the table
// (0 until the first registration, then set once by compare-exchange):
//
//   table + 0    u32 slots claimed (Atomics.add; may pass the capacity when full)
//   table + 4    u32 capacity (slots)
//   table + 64   slot[0], slot[1], ... of ENTRY_BYTES each:
//                  +0  u32 kind id (0 while the slot is being written)
//                  +4  u32 linear address of the block
//                  +8  name: up to NAME_BYTES of printable ASCII, NUL-padded
//
// A slot is claimed with Atomics.add on the count, filled, and published by an
// Atomics.store of its kind id last, so a reader never sees half an entry.
// Names belong to whoever registers: one name, one live block. Registering a
// name again rebinds it to the new block (a device rebuilds its queues after a
// reset and counts afresh, as its counters() did before); two threads
// registering one new name at the same moment may both append, and the later
// slot wins.
//
// Blocks hold u64 counters, little-endian, each written by one thread (the
// kind's `writer` says which): plain stores, no read-modify-write atomics.
// Readers load each counter with one 64-bit Atomics.load, so a counter never
// reads torn. CounterBlock keeps the JS writers' common case to one 32-bit
// store and carries into the high word with one 64-bit atomic store.
import * as C from '../../assembly/mem/layout.js';
import * as L from '../../assembly/layout.js';
import * as N from '../../assembly/net/layout.js';
import * as S from '../../assembly/mem/swiotlb-layout.js';
import { ConfigError, GuestMemoryError } from '../errors.js';
import { hostAllocShared } from './guest-memory.js';

/** u64 fields at consecutive offsets from `from`, in the order named. */
function u64s<const T extends readonly string[]>(names: T, from = 0): { readonly [K in T[number]]: number } {
  const out: Record<string, number> = {};
  names.forEach((n, k) => (out[n] = from + 8 * k));
  return out as { readonly [K in T[number]]: number };
}

/** One kind of stats block. */
export interface StatsKindSchema {
  /** Code stored in the registry table: never reuse or renumber one. */
  readonly id: number;
  /** u64 counters: name → byte offset in the block (8-byte aligned). */
  readonly fields: Readonly<Record<string, number>>;
  /** Bytes of the block (before its items, if it has any). */
  readonly bytes: number;
  /**
   * Per-item counters after the fields (e.g. per queue): the item count is
   * the u64 at `countAt`, item k starts at `at + k * stride`.
   */
  readonly items?: {
    readonly countAt: number;
    readonly at: number;
    readonly stride: number;
    readonly fields: Readonly<Record<string, number>>;
  };
  /** Which thread writes the block (each block has one writer). */
  readonly writer: string;
}

const TRANSPORT_FIELDS = [
  'registerReads',
  'registerWrites',
  'configReads',
  'configWrites',
  'notifications',
  'notificationsIgnored',
  'interrupts',
  'queueInterrupts',
  'configInterrupts',
  'interruptsSuppressed',
  'isrReads',
  'statusWrites',
  'resets',
  'featuresRefused',
  'configGenerationChanges',
  'rejectedWrites',
  'invalidAccesses',
  'configValuesMasked',
] as const;

const ACCESS_FIELDS = [
  'valuesMasked',
  'irqNotReady',
  'irqUnhandled',
  'irqLineDisabled',
  'irqWhileDisabled',
  'configWorkQueued',
  'configWorkRuns',
  'configWorkThrottled',
  'polls',
  'queuesCapped',
] as const;

/**
 * Every kind of stats block, with its field schema: adding a kind is one
 * entry here and one register() call where its block is made. (The DMA
 * context's block, for one, becomes `'dma-context': { id: 8, bytes, fields:
 * { deviceReads: ..., ... }, writer }` with offsets from its assembly layout.)
 */
export const STATS_KINDS = {
  /** A virtqueue's ST_* block: the driver's counters in its first 128 bytes, the device's from 128. */
  ring: {
    id: 1,
    bytes: L.ST_SIZE,
    fields: {
      chainsAdded: L.ST_CHAINS_ADDED,
      descsAdded: L.ST_DESCS_ADDED,
      bytesAdded: L.ST_BYTES_ADDED,
      indirectAdded: L.ST_INDIRECT_ADDED,
      kicks: L.ST_KICKS,
      kicksSuppressed: L.ST_KICKS_SUPPRESSED,
      chainsCompleted: L.ST_CHAINS_COMPLETED,
      bytesCompleted: L.ST_BYTES_COMPLETED,
      driverChecksFailed: L.ST_DRIVER_CHECKS_FAILED,
      chainsPopped: L.ST_CHAINS_POPPED,
      descsPopped: L.ST_DESCS_POPPED,
      chainsUsed: L.ST_CHAINS_USED,
      bytesUsed: L.ST_BYTES_USED,
      interrupts: L.ST_INTERRUPTS,
      interruptsSuppressed: L.ST_INTERRUPTS_SUPPRESSED,
      deviceChecksFailed: L.ST_DEVICE_CHECKS_FAILED,
    },
    writer:
      'driver counters: the thread running the driver side; device counters: the thread running the device side (Wasm stores)',
  },
  /** The guest DMA API of one device (src/dma/api.ts): Linux's dma_map_single and friends. */
  'dma-api': {
    id: 2,
    bytes: 128,
    fields: u64s([
      'maps',
      'unmaps',
      'syncsForCpu',
      'syncsForDevice',
      'bytesMapped',
      'coherentAllocs',
      'coherentFrees',
      'liveMappings',
      'errors',
    ]),
    writer: 'the thread that owns the DmaApi (the guest driver)',
  },
  /** A virtio-pci or virtio-mmio transport (src/transport/core.ts): VM exits and interrupt injections. */
  transport: {
    id: 3,
    bytes: 8 * TRANSPORT_FIELDS.length + 8,
    fields: u64s(TRANSPORT_FIELDS),
    items: {
      countAt: 8 * TRANSPORT_FIELDS.length,
      at: 8 * TRANSPORT_FIELDS.length + 8,
      stride: 16,
      fields: { notifications: 0, interrupts: 8 },
    },
    writer: 'the thread that runs the transport (register accesses and the device interrupts go through it)',
  },
  /** One virtio-net queue pair: the counters in the pair's Wasm state block (assembly/net/layout.ts NS_*). */
  'net-pair': {
    id: 4,
    bytes: N.NS_SIZE,
    fields: {
      txPackets: N.NS_TX_PKTS,
      txBytes: N.NS_TX_BYTES,
      rxPackets: N.NS_RX_PKTS,
      rxBytes: N.NS_RX_BYTES,
      rxBuffers: N.NS_RX_BUFS,
      drops: N.NS_DROPS,
      txErrors: N.NS_TX_ERRORS,
      sinkPackets: N.NS_SINK_PKTS,
    },
    writer: 'the thread that runs the pair (net_run in Wasm)',
  },
  /** A virtio-net device, device-wide: control queue commands answered. */
  net: {
    id: 5,
    bytes: 16,
    fields: u64s(['ctrlOk', 'ctrlErr']),
    writer: 'the thread that serves the control queue',
  },
  /** One virtio-blk queue's server (src/devices/blk/server.ts). */
  blk: {
    id: 6,
    bytes: 96,
    fields: u64s([
      'requests',
      'reads',
      'writes',
      'flushes',
      'getIds',
      'discards',
      'writeZeroes',
      'unsupported',
      'ioErrors',
      'bytesRead',
      'bytesWritten',
      'copyBatches',
    ]),
    writer: 'the thread that serves the queue (a device worker, or the machine thread)',
  },
  /** A virtio-console device (src/devices/console/device.ts). */
  console: {
    id: 7,
    bytes: 48,
    fields: u64s(['txBytes', 'rxBytes', 'txChains', 'rxChains', 'dropped', 'emergBytes']),
    writer: 'the thread that runs the device',
  },
  /**
   * A device's DMA context (assembly/mem/layout.ts DST_*): every access the
   * device made to guest memory, from Wasm or TypeScript, and every refusal.
   */
  'dma-context': {
    id: 8,
    bytes: C.DST_SIZE,
    fields: {
      reads: C.DST_READS,
      writes: C.DST_WRITES,
      bytesRead: C.DST_BYTES_READ,
      bytesWritten: C.DST_BYTES_WRITTEN,
      faults: C.DST_FAULTS,
      maps: C.DST_MAPS,
      splits: C.DST_SPLITS,
      iotlbHits: C.DST_IOTLB_HITS,
      iotlbMisses: C.DST_IOTLB_MISSES,
      iotlbInvalidations: C.DST_IOTLB_INVALIDATIONS,
    },
    writer: "every thread that runs one of the device's queues (atomic adds, once per batch)",
  },
  /**
   * Guest page conversions in a confidential VM (set_memory_decrypted /
   * set_memory_encrypted): calls, and pages made shared or private.
   */
  memory: {
    id: 9,
    bytes: 24,
    fields: u64s(['calls', 'toShared', 'toPrivate']),
    writer: 'the guest thread that allocates (the machine thread)',
  },
  /**
   * A bouncing DMA backend's copies (the VDUSE bounce domain, src/dma/vduse.ts):
   * bytes and copies each way, bounce pages allocated, maps refused. (Id 20:
   * clear of the ids other kinds in progress take next.)
   */
  bounce: {
    id: 20,
    bytes: 64,
    fields: u64s([
      'bytesToDevice',
      'bytesFromDevice',
      'copiesToDevice',
      'copiesFromDevice',
      'bouncePages',
      'mapErrors',
    ]),
    writer: 'the thread that owns the DmaApi (the guest driver: maps, unmaps and syncs copy)',
  },
  /**
   * The guest driver's side of a transport (src/drivers/transport-access.ts,
   * AccessCounters): what its hardened access masked, ignored, deferred or
   * capped. (Id 21: clear of the ids other kinds in progress take next.)
   */
  'transport-driver': {
    id: 21,
    bytes: 8 * ACCESS_FIELDS.length,
    fields: u64s(ACCESS_FIELDS),
    writer: 'the guest thread that runs the driver (its interrupt handlers, config work and probe)',
  },
  /**
   * The end-to-end protection layers (src/trust/protect): records sealed and
   * opened by the net record layer, sectors by the blk crypt layer, and the
   * bytes each cipher ran over (the cost model's encryption). Id 22.
   */
  protect: {
    id: 22,
    bytes: 8 * 6,
    fields: u64s(['recordsSealed', 'recordsOpened', 'sectorsSealed', 'sectorsOpened', 'bytesSealed', 'bytesOpened']),
    writer: 'the guest thread that runs the protection layer',
  },
  /**
   * The swiotlb bounce pool (src/dma/swiotlb.ts, assembly/mem/swiotlb-layout.ts
   * SWS_*): Linux's debugfs files, then one item per CPU that maps through it
   * (sum the items for the pool's totals).
   */
  swiotlb: {
    id: 10,
    bytes: S.SWS_ITEM0,
    fields: {
      nslabs: S.SWS_NSLABS,
      used: S.SWS_USED,
      usedHiwater: S.SWS_HIWATER,
      transientNslabs: S.SWS_TRANSIENT,
      warnings: S.SWS_WARNINGS,
      warningsSuppressed: S.SWS_WARNINGS_SUPPRESSED,
    },
    items: {
      countAt: S.SWS_ITEMS,
      at: S.SWS_ITEM0,
      stride: S.SWC_SIZE,
      fields: {
        maps: S.SWC_MAPS,
        searches: S.SWC_SEARCHES,
        areaSearches: S.SWC_AREA_SEARCHES,
        slotsScanned: S.SWC_SLOTS_SCANNED,
        releases: S.SWC_RELEASES,
        full: S.SWC_FULL,
        bouncesToDevice: S.SWC_BOUNCES_TO_DEVICE,
        bytesToDevice: S.SWC_BYTES_TO_DEVICE,
        bouncesFromDevice: S.SWC_BOUNCES_FROM_DEVICE,
        bytesFromDevice: S.SWC_BYTES_FROM_DEVICE,
        overflows: S.SWC_OVERFLOWS,
        lockSpins: S.SWC_LOCK_SPINS,
      },
    },
    writer:
      'used and usedHiwater: every thread that maps (atomic adds); item k: the thread running CPU k; warnings: the thread that owns the Swiotlb face',
  },
} as const satisfies Record<string, StatsKindSchema>;

export type StatsKind = keyof typeof STATS_KINDS;
/** The counter names of a kind. */
export type StatsField<K extends StatsKind> = keyof (typeof STATS_KINDS)[K]['fields'] & string;
/** The counters of a block of kind K, as numbers (exact below 2^53). */
export type CountersOf<K extends StatsKind> = Record<StatsField<K>, number>;

const KINDS = STATS_KINDS as Record<StatsKind, StatsKindSchema>;
const KIND_BY_ID = new Map<number, StatsKind>();
for (const k of Object.keys(KINDS) as StatsKind[]) {
  const s = KINDS[k];
  if (KIND_BY_ID.has(s.id)) throw new Error(`stats kinds ${KIND_BY_ID.get(s.id)} and ${k} share id ${s.id}`);
  KIND_BY_ID.set(s.id, k);
  for (const [f, off] of Object.entries(s.fields)) {
    if (off % 8 !== 0 || off + 8 > s.bytes) throw new Error(`stats kind ${k}: field ${f} at ${off} is misplaced`);
  }
}
// u32[i] is the low half of a u64 on a little-endian host (as Wasm is); every platform Node runs on is.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('vqsim needs a little-endian host');

/** Bytes of a block of `kind` with `items` items. */
export function statsBlockBytes(kind: StatsKind, items = 0): number {
  const s = KINDS[kind];
  return s.items ? s.items.at + items * s.items.stride : s.bytes;
}

/** What allocates host blocks in a machine memory: GuestMemory, a device's DMA view, a device arena. */
export interface HostBlocks {
  hostAlloc(bytes: number, align?: number): number;
  /** A view of (at least) the host area; its buffer is the machine's memory. */
  readonly hostView: DataView;
}

function bufferOf(m: WebAssembly.Memory | ArrayBufferLike): ArrayBufferLike {
  return m instanceof WebAssembly.Memory ? m.buffer : m;
}

/**
 * One u64 counter of a block, for the thread that writes it. A writer keeps
 * the Counter objects it bumps on hot paths (`block.f.maps.add()`): a named
 * property and one monomorphic method, about as cheap as a JS field increment.
 */
export class Counter {
  constructor(
    private readonly u32: Uint32Array,
    private readonly u64: BigUint64Array,
    /** Index of the low 32-bit word (even: the counter is 8-byte aligned). */
    private readonly i: number,
  ) {}

  /** Adds `n` (may be negative, for a gauge): one 32-bit store unless the low word carries. */
  add(n = 1): void {
    const lo = this.u32[this.i]! + n;
    if (lo >= 0 && lo <= 0xffffffff) this.u32[this.i] = lo;
    else this.carry(lo);
  }

  private carry(lo: number): void {
    Atomics.store(this.u64, this.i >>> 1, BigInt(Math.max(0, this.u32[this.i + 1]! * 2 ** 32 + lo)));
  }

  /** The value, read untorn. */
  get(): number {
    return Number(Atomics.load(this.u64, this.i >>> 1));
  }

  set(value: number): void {
    Atomics.store(this.u64, this.i >>> 1, BigInt(value));
  }
}

/**
 * The counters of one block, for the thread that writes it (and any that read
 * it). Counters are u64 in the block; see the file comment for the stores.
 */
export class CounterBlock<K extends StatsKind> {
  private readonly u64: BigUint64Array;
  private readonly schema: StatsKindSchema;
  /** One Counter per field, by name: `block.f.maps.add()`. */
  readonly f: { readonly [F in StatsField<K>]: Counter };
  /** Per-item counters (kinds with items): `block.items[k].interrupts.add()`. */
  readonly items: readonly Readonly<Record<string, Counter>>[];

  constructor(
    buffer: ArrayBufferLike,
    readonly kind: K,
    /** Linear address of the block (0 for a detached block). */
    readonly addr: number,
    items = 0,
  ) {
    const u32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    this.u64 = new BigUint64Array(buffer, 0, buffer.byteLength >>> 3);
    this.schema = KINDS[kind];
    const counters = (at: number, fields: Readonly<Record<string, number>>) => {
      const out: Record<string, Counter> = {};
      for (const [name, off] of Object.entries(fields)) out[name] = new Counter(u32, this.u64, (at + off) >>> 2);
      return out;
    };
    this.f = counters(addr, this.schema.fields) as { readonly [F in StatsField<K>]: Counter };
    const it = this.schema.items;
    if (!it && items !== 0) throw new ConfigError(`stats kind ${kind} has no items`);
    this.items = it ? Array.from({ length: items }, (_, k) => counters(addr + it.at + k * it.stride, it.fields)) : [];
    if (it) u32[(addr + it.countAt) >>> 2] = items;
  }

  /**
   * Reserves a zeroed block in the machine's host memory and registers it
   * under `name`. `items`: per-item slots for a kind that has them (the
   * transport's queues).
   */
  static alloc<K extends StatsKind>(host: HostBlocks, kind: K, name: string, items = 0): CounterBlock<K> {
    const at = host.hostAlloc(statsBlockBytes(kind, items), 128);
    const b = new CounterBlock(host.hostView.buffer, kind, at, items);
    StatsRegistry.attach(host.hostView.buffer).register(kind, name, at);
    return b;
  }

  /**
   * A block in a private buffer, in no registry: for an object built without
   * a machine memory (a transport in a unit test). Its counters() still work.
   */
  static detached<K extends StatsKind>(kind: K, items = 0): CounterBlock<K> {
    const bytes = Math.ceil(statsBlockBytes(kind, items) / 8) * 8;
    return new CounterBlock(new ArrayBuffer(bytes), kind, 0, items);
  }

  /** Adds `n` to `field` (for cold paths; hot ones keep `f.<field>`). */
  add(field: StatsField<K>, n = 1): void {
    this.f[field].add(n);
  }

  get(field: StatsField<K>): number {
    return this.f[field].get();
  }

  set(field: StatsField<K>, value: number): void {
    this.f[field].set(value);
  }

  /** Adds `n` to field `field` of item `k`. */
  addItem(k: number, field: string, n = 1): void {
    this.items[k]![field]!.add(n);
  }

  /** Every counter, read now. */
  read(): CountersOf<K> {
    return readFields(this.u64, this.addr, this.schema.fields) as CountersOf<K>;
  }

  /** Per-item counters, read now (empty for a kind without items). */
  readItems(): Record<string, number>[] {
    return readItems(this.u64, this.addr, this.schema);
  }
}

function readFields(u64: BigUint64Array, addr: number, fields: Readonly<Record<string, number>>) {
  const out: Record<string, number> = {};
  for (const [name, off] of Object.entries(fields)) out[name] = Number(Atomics.load(u64, (addr + off) >>> 3));
  return out;
}

function readItems(u64: BigUint64Array, addr: number, schema: StatsKindSchema): Record<string, number>[] {
  const it = schema.items;
  if (!it) return [];
  const n = Number(Atomics.load(u64, (addr + it.countAt) >>> 3));
  return Array.from({ length: n }, (_, k) => readFields(u64, addr + it.at + k * it.stride, it.fields));
}

/** A registered block: its name, kind and linear address. */
export interface StatsEntry {
  name: string;
  kind: StatsKind;
  addr: number;
}

/** A registered block, read: its counters by name, and its per-item counters if its kind has them. */
export interface StatsRecord extends StatsEntry {
  counters: Record<string, number>;
  items?: Record<string, number>[];
}

/** Slots in the table. */
export const STATS_REGISTRY_CAPACITY = 2048;
/** Longest block name, in ASCII bytes. */
export const STATS_NAME_BYTES = 56;
const HEADER_BYTES = 64;
const ENTRY_BYTES = 64;
const E_KIND = 0;
const E_ADDR = 4;
const E_NAME = 8;
const STATS_WORD = (L.CONFIG_BASE + L.CFG_STATS) >>> 2;

const byBuffer = new WeakMap<ArrayBufferLike, StatsRegistry>();

/** The stats registry of one machine memory, as one thread sees it. */
export class StatsRegistry {
  private readonly i32: Int32Array;
  private readonly u64: BigUint64Array;
  private readonly bytes: Uint8Array;

  private constructor(private readonly buffer: ArrayBufferLike) {
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    this.u64 = new BigUint64Array(buffer, 0, buffer.byteLength >>> 3);
    this.bytes = new Uint8Array(buffer);
  }

  /** The registry of a machine memory (any thread attached to it). */
  static attach(memory: WebAssembly.Memory | ArrayBufferLike): StatsRegistry {
    const buffer = bufferOf(memory);
    let r = byBuffer.get(buffer);
    if (!r) {
      r = new StatsRegistry(buffer);
      byBuffer.set(buffer, r);
    }
    return r;
  }

  /** Linear address of the table; made on first need (by whichever thread registers first). */
  private table(create: boolean): number {
    const t = Atomics.load(this.i32, STATS_WORD);
    if (t !== 0 || !create) return t;
    const mine = hostAllocShared(this.buffer, HEADER_BYTES + STATS_REGISTRY_CAPACITY * ENTRY_BYTES, 128);
    this.i32[(mine >>> 2) + 1] = STATS_REGISTRY_CAPACITY;
    // Another thread may have made one meanwhile: theirs wins, ours stays unused.
    const won = Atomics.compareExchange(this.i32, STATS_WORD, 0, mine);
    return won === 0 ? mine : won;
  }

  private slots(t: number): number {
    return Math.min(Atomics.load(this.i32, t >>> 2), this.i32[(t >>> 2) + 1]!);
  }

  private nameAt(e: number): string {
    let s = '';
    for (let k = 0; k < STATS_NAME_BYTES; k++) {
      const c = this.bytes[e + E_NAME + k]!;
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }

  /**
   * Names the block of `kind` at linear address `addr` (host memory of this
   * machine). A name already registered is rebound to the new block; it must
   * be of the same kind.
   */
  register(kind: StatsKind, name: string, addr: number): void {
    const schema = KINDS[kind];
    if (!schema) throw new ConfigError(`stats kind ${String(kind)}: must be one of ${Object.keys(KINDS).join(', ')}`);
    if (typeof name !== 'string' || !/^[\x21-\x7e]+$/.test(name) || name.length > STATS_NAME_BYTES) {
      throw new ConfigError(
        `stats block name ${JSON.stringify(name)}: must be 1 to ${STATS_NAME_BYTES} printable ASCII characters without spaces`,
      );
    }
    if (!Number.isInteger(addr) || addr % 8 !== 0 || addr < L.HOST_BASE || addr + schema.bytes > L.GUEST_BASE) {
      throw new GuestMemoryError(
        'BAD_STATS_BLOCK',
        `stats block ${name}: address ${String(addr)} is not an 8-byte aligned block in the host area`,
      );
    }
    const t = this.table(true);
    const first = t + HEADER_BYTES;
    for (let k = this.slots(t) - 1; k >= 0; k--) {
      const e = first + k * ENTRY_BYTES;
      const id = Atomics.load(this.i32, (e + E_KIND) >>> 2);
      if (id === 0 || this.nameAt(e) !== name) continue;
      if (id !== schema.id) {
        throw new ConfigError(`stats block name ${name}: already names a ${KIND_BY_ID.get(id)} block, not ${kind}`);
      }
      Atomics.store(this.i32, (e + E_ADDR) >>> 2, addr);
      return;
    }
    const cap = this.i32[(t >>> 2) + 1]!;
    const k = Atomics.add(this.i32, t >>> 2, 1);
    if (k >= cap) {
      throw new GuestMemoryError(
        'STATS_REGISTRY_FULL',
        `stats registry full: ${cap} blocks are registered, ${name} does not fit`,
      );
    }
    const e = first + k * ENTRY_BYTES;
    for (let j = 0; j < STATS_NAME_BYTES; j++) this.bytes[e + E_NAME + j] = j < name.length ? name.charCodeAt(j) : 0;
    Atomics.store(this.i32, (e + E_ADDR) >>> 2, addr);
    Atomics.store(this.i32, (e + E_KIND) >>> 2, schema.id);
  }

  /** Every registered block, once per name (the latest binding), in registration order. */
  entries(): StatsEntry[] {
    const t = this.table(false);
    if (t === 0) return [];
    const byName = new Map<string, StatsEntry>();
    const first = t + HEADER_BYTES;
    for (let k = 0, n = this.slots(t); k < n; k++) {
      const e = first + k * ENTRY_BYTES;
      const id = Atomics.load(this.i32, (e + E_KIND) >>> 2);
      const kind = KIND_BY_ID.get(id);
      if (kind === undefined) continue; // a slot still being written, or a kind this build does not know
      const name = this.nameAt(e);
      byName.set(name, { name, kind, addr: Atomics.load(this.i32, (e + E_ADDR) >>> 2) });
    }
    return [...byName.values()];
  }

  /** The block registered as `name`, if any. */
  find(name: string): StatsEntry | undefined {
    return this.entries().find((e) => e.name === name);
  }

  /** Reads one entry's counters. */
  readEntry(e: StatsEntry): StatsRecord {
    const schema = KINDS[e.kind];
    const rec: StatsRecord = { ...e, counters: readFields(this.u64, e.addr, schema.fields) };
    if (schema.items) rec.items = readItems(this.u64, e.addr, schema);
    return rec;
  }

  /** Every registered block's counters, by name, read now. */
  read(): Record<string, StatsRecord> {
    const out: Record<string, StatsRecord> = {};
    for (const e of this.entries()) out[e.name] = this.readEntry(e);
    return out;
  }

  /** The counters of block `name`, which must be of `kind`; throws a named error otherwise. */
  counters<K extends StatsKind>(name: string, kind: K): CountersOf<K> {
    const e = this.find(name);
    if (!e) throw new ConfigError(`stats block ${name}: not registered`);
    if (e.kind !== kind) throw new ConfigError(`stats block ${name}: is a ${e.kind} block, not ${kind}`);
    return this.readEntry(e).counters as CountersOf<K>;
  }
}

/** Names a block in the registry of `memory` (see StatsRegistry.register). */
export function registerStats(
  memory: WebAssembly.Memory | ArrayBufferLike,
  kind: StatsKind,
  name: string,
  addr: number,
): void {
  StatsRegistry.attach(memory).register(kind, name, addr);
}

/** Every registered block of `memory`, read now, by name: from any thread attached to it. */
export function readStatsRegistry(memory: WebAssembly.Memory | ArrayBufferLike): Record<string, StatsRecord> {
  return StatsRegistry.attach(memory).read();
}

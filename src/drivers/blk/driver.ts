// A guest virtio-blk driver, after Linux's drivers/block/virtio_blk.c: probe
// (features wanted ∩ offered), the config checks virtblk_probe does, one
// request queue per virtqueue, every buffer mapped through the DMA API, and
// completions checked against what was posted. `hardened: false` trusts the
// device, for comparisons.
import { DmaDirection } from '../../dma/types.js';
import { DmaError } from '../../dma/errors.js';
import type { DmaApi } from '../../dma/api.js';
import { ConfigError, VqsimError, type FaultSide } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { capQueues, probeDevice, readConfig64, readConfigStable, type ProbeOptions } from '../probe.js';
import { Status } from '../../spec/config.js';
import type { TransportAccess } from '../transport-access.js';
import { Feature } from '../../spec/features.js';
import { hasFeature } from '../../virtqueue/features.js';
import type { RingKind, Virtqueue } from '../../virtqueue/queue.js';
import { RequestBatch } from '../../virtqueue/split/request-batch.js';
import {
  BLK_DWZ_SIZE,
  BLK_OUTHDR_SIZE,
  BLK_WRITE_ZEROES_FLAG_UNMAP,
  BlkConfig,
  BlkFeature,
  BlkStatus,
  BlkType,
  SECTOR_SIZE,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_ID_BLOCK,
} from '../../spec/blk.js';

const PAGE_SIZE = 4096;
const EINVAL = 22;
const EIO = 5;
const ETIMEDOUT = 110;
/**
 * The largest capacity, in 512-byte sectors, the driver takes: every byte
 * offset (sector × 512) must be an exact JavaScript number (≤ 2^53 − 1), so
 * 2^44 − 1 sectors (8 PiB). Linux keeps capacity in a u64 sector_t
 * (virtblk_update_capacity → set_capacity) and has no such limit; a u64 read
 * into a double loses precision above 2^53, so the hardened driver clamps a
 * larger capacity to this and counts it (capacityClamped).
 */
export const BLK_MAX_CAPACITY_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR_SIZE);
/**
 * How many empty polls a request waits for its completion before it times
 * out: VDUSE's default request timeout (30 s) at one poll per simulated
 * millisecond. Logical time, never the wall clock.
 */
export const BLK_DEFAULT_TIMEOUT_POLLS = 30_000;

/**
 * A device value the driver refuses, with Linux's message and errno: side
 * 'device' (BLK_USED_LEN, BLK_NO_STATUS, BLK_MQ_ZERO_QUEUES,
 * BLK_INVALID_BLOCK_SIZE, BLK_INVALID_SIZE_MAX, BLK_NOT_COMPLETED: a request
 * the device did not complete within the timeout, or one in flight when the
 * device broke and was reset), or the caller's misuse, side 'user'
 * (BLK_NOT_BLOCK: the access is not a block device; BLK_QUEUE_FULL;
 * BLK_TOO_MANY_SEGMENTS; BLK_DRIVER_BROKEN: a request to a driver whose
 * device timed out, before recover(); BLK_DEVICE_REMOVED: a request after
 * remove()).
 */
/** A request to a device that was removed (hot-unplugged): ENODEV, the caller's. */
function removedError(): BlkDriverError {
  return new BlkDriverError('BLK_DEVICE_REMOVED', 'virtio_blk: the device was removed', -19, 'user');
}

export class BlkDriverError extends VqsimError {
  constructor(
    code: string,
    message: string,
    readonly errno: number,
    side: FaultSide = 'device',
  ) {
    super(code, message, side);
    this.name = 'BlkDriverError';
  }
}

export interface BlkDriverOptions {
  /** Feature bits wanted (device and ring); VERSION_1 is implied. Default: all the driver knows. */
  features?: bigint;
  /** Queues wanted at most (Linux: nr_cpu_ids). Default: all the device reports. */
  queues?: number;
  queueSize?: number;
  /** Validate what the device says (default true); false trusts it. */
  hardened?: boolean;
  /** Largest data transfer per request the driver's buffers take, in bytes. Default 128 KiB. */
  maxIoBytes?: number;
  /**
   * Empty polls a request made by read()/write()/... waits before it ends
   * with BLK_NOT_COMPLETED (and the device is reset). Default
   * BLK_DEFAULT_TIMEOUT_POLLS (VDUSE's 30 s at one poll per simulated ms).
   */
  timeoutPolls?: number;
}

/** All the features this driver understands. */
export const BLK_DRIVER_FEATURES = [
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  BlkFeature.SIZE_MAX,
  BlkFeature.SEG_MAX,
  BlkFeature.BLK_SIZE,
  BlkFeature.FLUSH,
  BlkFeature.MQ,
  BlkFeature.DISCARD,
  BlkFeature.WRITE_ZEROES,
  BlkFeature.RO,
].reduce((f, b) => f | (1n << BigInt(b)), 0n);

export interface BlkDeviceInfo {
  /** 512-byte sectors (hardened: at most BLK_MAX_CAPACITY_SECTORS). */
  capacity: number;
  /** size_max with VIRTIO_BLK_F_SIZE_MAX, else 0 (no limit beyond the DMA API's). */
  sizeMax: number;
  segMax: number;
  blkSize: number;
  numQueues: number;
  readOnly: boolean;
}

/** A finished request: its tag, the device's status byte, and the bytes it said it wrote. */
export interface BlkCompletion {
  tag: number;
  status: number;
  len: number;
}

/** One discard / write-zeroes range. */
export interface BlkRange {
  sector: number;
  sectors: number;
}

/** What the driver counted about the device (clamps of what it said). */
export interface BlkDriverCounters {
  /** A capacity above BLK_MAX_CAPACITY_SECTORS, clamped to it. */
  capacityClamped: number;
  /** Requests ended by the timeout (BLK_NOT_COMPLETED). */
  timeouts: number;
  /** Device resets: a timeout, or NEEDS_RESET seen after DRIVER_OK. */
  resets: number;
  /** Requests submitted again after a reset (not acknowledged before it). */
  resubmitted: number;
}

/** A request in flight, as submitted: what a reset resubmits. */
export interface BlkRequest {
  tag: number;
  type: number;
  sector: number;
  data: number;
  dataLen: number;
}

interface Slot {
  type: number;
  sector: number;
  /** The header's DMA address, as map() returned it. */
  hdrDma: number;
  dataGpa: number;
  dataLen: number;
  dataDir: DmaDirection;
  /** Each data segment's DMA address, as map() returned it (maxSegmentBytes each, the last shorter). */
  dataDma: number[];
  writable: number;
}

/**
 * One request queue over one virtqueue. submit() queues requests into a
 * batch, kick() adds the batch with one call and rings the doorbell, reap()
 * takes every completion with one call.
 */
export class BlkQueue {
  /** Per slot: header (16 bytes) at slot × 32, status byte at + 16. In shared pages. */
  private readonly slab: number;
  /** The slab's linear address, for the header and status stores (checked once, here). */
  private readonly slabLinear: number;
  private readonly view: DataView;
  private readonly slots: Slot[] = [];
  private readonly free: number[] = [];
  /** Completed requests reaped by a one-request helper for someone else, delivered by the next reap(). */
  private readonly held: BlkCompletion[] = [];
  private readonly batch: RequestBatch;
  private pendingDescs = 0;
  /** The virtqueue; a new one after recover() (rebind). */
  vq: Virtqueue;
  /** Requests in the ring or the batch. */
  inflight = 0;
  /** Submits refused because a buffer could not be mapped (a full swiotlb pool: DMA_MAPPING_ERROR). */
  mapErrors = 0;
  /** Why the last submit returned -1, when it was a mapping error (undefined after a submit that worked). */
  mapError: DmaError | undefined;

  constructor(
    readonly driver: BlkDriver,
    readonly index: number,
    vq: Virtqueue,
  ) {
    this.vq = vq;
    const mem = driver.mem;
    // Guest kernel memory (kmalloc): private in a confidential VM; the DMA API makes it reachable.
    this.slab = mem.alloc(vq.size * 32);
    this.slabLinear = mem.linear(this.slab, vq.size * 32);
    this.view = mem.view;
    for (let k = vq.size - 1; k >= 0; k--) {
      this.free.push(k);
      this.slots.push({
        type: 0,
        sector: 0,
        hdrDma: 0,
        dataGpa: 0,
        dataLen: 0,
        dataDir: DmaDirection.TO_DEVICE,
        dataDma: [],
        writable: 0,
      });
    }
    this.batch = new RequestBatch(mem, vq.size, vq.size * 3);
  }

  /**
   * Queues one request: `data` is the guest buffer (guest physical address)
   * and its length; 0 for none. Returns the request's tag, or -1 when the
   * ring has no room now, or a buffer could not be mapped (`mapError`; Linux
   * returns BLK_STS_RESOURCE and blk-mq retries): reap, then submit again.
   * A refused request leaves nothing behind; what is already queued stays.
   * The data is cut into segments that one map() takes (virtio_max_dma_size:
   * 256 KiB through swiotlb), one descriptor each, at most `maxSegments`.
   */
  submit(type: number, sector: number, data = 0, dataLen = 0): number {
    return this.submitAs(-1, type, sector, data, dataLen);
  }

  /** submit() with tag `want` when it is free (a resubmission after a reset keeps its tag); -1: any. */
  private submitAs(want: number, type: number, sector: number, data: number, dataLen: number): number {
    if (this.detached) throw removedError();
    const segBytes = this.driver.maxSegmentBytes;
    const segs = dataLen > 0 ? Math.ceil(dataLen / segBytes) : 0;
    if (segs > this.driver.maxSegments) {
      throw new BlkDriverError(
        'BLK_TOO_MANY_SEGMENTS',
        `blk request of ${dataLen} bytes: ${segs} segments of at most ${segBytes} bytes, the queue takes ${this.driver.maxSegments}`,
        -EINVAL,
        'user',
      );
    }
    const need = 2 + segs;
    const descs = this.vq.driver.numFree - this.pendingDescs;
    if (this.free.length === 0 || descs < (this.driver.indirect ? 1 : need) || !this.batch.fits(need)) return -1;
    let k: number;
    const at = want < 0 ? -1 : this.free.indexOf(want);
    if (at >= 0) k = this.free.splice(at, 1)[0]!;
    else k = this.free.pop()!;
    const dma = this.driver.dma;
    const hdr = this.slab + k * 32;
    const v = this.view;
    const h = this.slabLinear + k * 32;
    v.setUint32(h, type, true);
    v.setUint32(h + 4, 0, true);
    v.setUint32(h + 8, sector % 2 ** 32, true);
    v.setUint32(h + 12, Math.floor(sector / 2 ** 32), true);
    v.setUint8(h + 16, 0xff); // not a status: the device must write it
    const s = this.slots[k]!;
    let hdrDma: number;
    try {
      hdrDma = dma.map(hdr, 32, DmaDirection.BIDIRECTIONAL);
    } catch (e) {
      this.free.push(k);
      return this.mapFailed(e);
    }
    s.hdrDma = hdrDma;
    s.type = type;
    s.sector = sector;
    const readable = [{ addr: hdrDma, len: BLK_OUTHDR_SIZE }];
    const writable: { addr: number; len: number }[] = [];
    s.dataLen = dataLen;
    s.dataGpa = data;
    s.writable = 1;
    s.dataDma.length = 0;
    if (dataLen > 0) {
      const toDevice = type !== BlkType.IN && type !== BlkType.GET_ID;
      s.dataDir = toDevice ? DmaDirection.TO_DEVICE : DmaDirection.FROM_DEVICE;
      const bufs = toDevice ? readable : writable;
      for (let at = 0; at < dataLen; at += segBytes) {
        const len = Math.min(segBytes, dataLen - at);
        let d: number;
        try {
          d = dma.map(data + at, len, s.dataDir);
        } catch (e) {
          this.unmapData(s);
          dma.unmap(hdrDma, 32, DmaDirection.BIDIRECTIONAL);
          this.free.push(k);
          return this.mapFailed(e);
        }
        s.dataDma.push(d);
        bufs.push({ addr: d, len });
      }
      if (!toDevice) s.writable += dataLen;
    }
    writable.push({ addr: hdrDma + 16, len: 1 });
    this.batch.add(readable, writable, k, this.driver.indirect);
    this.pendingDescs += this.driver.indirect ? 1 : need;
    this.inflight++;
    this.mapError = undefined;
    return k;
  }

  /** Ends the mappings of a slot's data segments (those made so far). */
  private unmapData(s: Slot): void {
    const segBytes = this.driver.maxSegmentBytes;
    s.dataDma.forEach((d, i) => this.driver.dma.unmap(d, Math.min(segBytes, s.dataLen - i * segBytes), s.dataDir));
    s.dataDma.length = 0;
  }

  /** A map that failed: a full pool is -1 (retry after a reap); any other error is the caller's. */
  private mapFailed(e: unknown): number {
    if (!(e instanceof DmaError) || e.code !== 'DMA_MAPPING_ERROR') throw e;
    this.mapErrors++;
    this.mapError = e;
    return -1;
  }

  /** Adds the queued requests to the ring (one call) and notifies the device when it asks. */
  kick(): void {
    if (this.batch.count > 0) {
      this.vq.driver.addBatch(this.batch);
      this.batch.clear();
      this.pendingDescs = 0;
    }
    if (this.vq.driver.kick()) this.driver.access.notify(this.index);
  }

  /**
   * Takes the completed requests (one reap call), checks each used length,
   * unmaps its buffers and reads its status. `onDone` gets each; returns how
   * many. A completion that fails a check (BLK_USED_LEN, BLK_NO_STATUS) is
   * thrown only after every other completion of the same reap was delivered
   * (nothing lost: blk_mq_complete_request for the good ones, an error for
   * the bad one); every tag of the reap is back in the free pool either way.
   */
  reap(onDone?: (c: BlkCompletion) => void, max?: number): number {
    // First the completions a one-request helper reaped for other requests.
    const held = this.held.splice(0);
    for (const c of held) {
      this.free.push(c.tag);
      onDone?.(c);
    }
    if (this.detached) return held.length;
    const drv = this.vq.driver;
    const n = max === undefined ? drv.reap() : drv.reap(max);
    const comp = drv.completions;
    const dma = this.driver.dma;
    let bad: BlkDriverError | undefined;
    for (let i = 0; i < n; i++) {
      const k = comp[2 * i]!;
      const len = comp[2 * i + 1]!;
      const s = this.slots[k]!;
      // Unmapped with the addresses map() returned (the device's, not the CPU's).
      dma.unmap(s.hdrDma, 32, DmaDirection.BIDIRECTIONAL);
      if (s.dataLen > 0) this.unmapData(s);
      this.free.push(k);
      this.inflight--;
      if (this.driver.hardened) {
        let e: BlkDriverError | undefined;
        if (len > s.writable) {
          e = new BlkDriverError('BLK_USED_LEN', `used len ${len} is larger than in buflen ${s.writable}`, EIO);
        } else if (len < 1) {
          e = new BlkDriverError('BLK_NO_STATUS', `virtio_blk: used len ${len} leaves the status byte unwritten`, EIO);
        }
        if (e) {
          bad ??= e;
          continue;
        }
      }
      // The CPU reads the status byte: a machine check if the device poisoned its page (TDX).
      this.driver.mem.consume(this.slab + k * 32 + 16, 1);
      onDone?.({ tag: k, status: this.view.getUint8(this.slabLinear + k * 32 + 16), len });
    }
    if (bad) throw bad;
    return held.length + n;
  }

  /**
   * Keeps a completion a one-request helper reaped for another request, to
   * hand it to the next reap() (nothing lost); its tag stays taken until then.
   */
  hold(c: BlkCompletion): void {
    const at = this.free.lastIndexOf(c.tag);
    if (at >= 0) this.free.splice(at, 1);
    this.held.push(c);
  }

  /** Requests in flight (submitted, not reaped), by tag: what a reset must resubmit or fail. */
  inFlight(): BlkRequest[] {
    const used = new Set([...this.free, ...this.held.map((c) => c.tag)]);
    const out: BlkRequest[] = [];
    for (let k = 0; k < this.slots.length; k++) {
      if (used.has(k)) continue;
      const s = this.slots[k]!;
      out.push({ tag: k, type: s.type, sector: s.sector, data: s.dataGpa, dataLen: s.dataLen });
    }
    return out;
  }

  /**
   * After the device was reset (it no longer owns any buffer): unmaps every
   * request in flight and gives its tag back to the free pool. Returns them.
   */
  abortAll(): BlkRequest[] {
    const reqs = this.inFlight();
    for (const r of reqs) {
      const s = this.slots[r.tag]!;
      this.driver.dma.unmap(s.hdrDma, 32, DmaDirection.BIDIRECTIONAL);
      if (s.dataLen > 0) this.unmapData(s);
      this.free.push(r.tag);
    }
    this.batch.clear();
    this.pendingDescs = 0;
    this.inflight = 0;
    return reqs;
  }

  /**
   * Moves the queue onto the virtqueue a re-probe built (same size: slab,
   * slots and batch are kept, so a device that breaks again and again does
   * not make the driver allocate again). Call after abortAll().
   */
  rebind(vq: Virtqueue): void {
    if (vq.size !== this.vq.size) {
      throw new ConfigError(`blk queue ${this.index}: a rebind needs size ${this.vq.size}, got ${vq.size}`);
    }
    this.vq = vq;
    this.batch.clear();
    this.pendingDescs = 0;
  }

  /** Gives the slab back (the queue is not used again). */
  release(): void {
    this.driver.mem.free(this.slab);
  }

  /** The device is gone: reap() hands out the held completions only (the rings are freed). */
  detached = false;

  /** Resubmits a request with its old tag when free (recover()); returns the tag used, or -1. */
  resubmit(r: BlkRequest): number {
    return this.submitAs(r.tag, r.type, r.sector, r.data, r.dataLen);
  }

  /** Free tags (the pool never leaks: free + in flight = queue size). */
  get freeTags(): number {
    return this.free.length;
  }
}

interface Negotiated {
  features: bigint;
  info: BlkDeviceInfo;
  vqs: Virtqueue[];
  /** Frees the rings the probe allocated (after a reset). */
  release: () => void;
  capacityClamped: boolean;
}

/**
 * virtblk_probe: negotiate, read num_queues (MQ) and check it, set up the
 * queues, read and check blk_size, size_max and capacity. Throws
 * BlkDriverError (or the transport's named errors) and leaves the device
 * reset when it is refused.
 */
function negotiate(access: TransportAccess, mem: GuestMemory, dma: DmaApi, options: BlkDriverOptions): Negotiated {
  const hardened = options.hardened ?? true;
  const probe: ProbeOptions = {
    features: options.features ?? BLK_DRIVER_FEATURES,
    queueSize: options.queueSize,
    validate: (a, f) => {
      // init_vq: num_queues with MQ, else one queue.
      let n = 1;
      if (hasFeature(f, BlkFeature.MQ)) {
        n = readConfigStable(a, () => a.readConfig(BlkConfig.NUM_QUEUES, 2));
        if (n === 0 && hardened) {
          throw new BlkDriverError('BLK_MQ_ZERO_QUEUES', 'MQ advertised but zero queues reported', -EINVAL);
        }
      }
      probe.queues = capQueues(a, Math.min(n, options.queues ?? n));
    },
  };
  // Rings come from dma_alloc_coherent (the validate hook above sets the queue count on this object).
  probe.dma = dma.driverDma();
  const dev = probeDevice(access, mem, probe);
  try {
    const f = dev.features;
    const cfg = readConfigStable(access, () => ({
      capacity: readConfig64(access, BlkConfig.CAPACITY),
      sizeMax: hasFeature(f, BlkFeature.SIZE_MAX) ? access.readConfig(BlkConfig.SIZE_MAX, 4) : 0,
      segMax: hasFeature(f, BlkFeature.SEG_MAX) ? access.readConfig(BlkConfig.SEG_MAX, 4) : 0,
      blkSize: hasFeature(f, BlkFeature.BLK_SIZE) ? access.readConfig(BlkConfig.BLK_SIZE, 4) : SECTOR_SIZE,
    }));
    const b = cfg.blkSize;
    if (hardened && (b < SECTOR_SIZE || b > PAGE_SIZE || (b & (b - 1)) !== 0)) {
      throw new BlkDriverError(
        'BLK_INVALID_BLOCK_SIZE',
        `virtio_blk: invalid block size: 0x${b.toString(16)}`,
        -EINVAL,
      );
    }
    // virtblk_probe takes size_max as the queue's max_segment_size;
    // blk_validate_limits refuses one below PAGE_SIZE (-EINVAL). 0 means no
    // limit (blk_validate_limits' default).
    if (hardened && cfg.sizeMax !== 0 && cfg.sizeMax < PAGE_SIZE) {
      throw new BlkDriverError(
        'BLK_INVALID_SIZE_MAX',
        `virtio_blk: size_max ${cfg.sizeMax} is below PAGE_SIZE ${PAGE_SIZE}`,
        -EINVAL,
      );
    }
    // Capacity: a u64 of sectors. Hardened: clamped to what a JavaScript
    // number addresses exactly (BLK_MAX_CAPACITY_SECTORS), counted. Naive:
    // Number() rounds it to the nearest double.
    const clamp = hardened && cfg.capacity > BigInt(BLK_MAX_CAPACITY_SECTORS);
    const info: BlkDeviceInfo = {
      capacity: clamp ? BLK_MAX_CAPACITY_SECTORS : Number(cfg.capacity),
      sizeMax: cfg.sizeMax,
      segMax: cfg.segMax,
      blkSize: b,
      numQueues: dev.queues.length,
      readOnly: hasFeature(f, BlkFeature.RO),
    };
    return { features: f, info, vqs: dev.queues, capacityClamped: clamp, release: dev.release };
  } catch (e) {
    access.reset(); // virtio_reset_device on the probe's error path
    throw e;
  }
}

/** A probed virtio-blk device with its request queues. */
export class BlkDriver {
  /** Every feature this driver understands (BLK_DRIVER_FEATURES). */
  static readonly ALL_FEATURES = BLK_DRIVER_FEATURES;
  readonly queues: BlkQueue[];
  readonly hardened: boolean;
  readonly maxIoBytes: number;
  readonly timeoutPolls: number;
  readonly counters: BlkDriverCounters = { capacityClamped: 0, timeouts: 0, resets: 0, resubmitted: 0 };
  /**
   * The device timed out and was reset: requests are refused
   * (BLK_DRIVER_BROKEN) until recover() brings it back.
   */
  broken = false;
  /** Requests in flight when a timeout reset the device, by queue: recover() submits them again. */
  private orphans: BlkRequest[][] = [];
  private scratch: number;
  private _features: bigint;
  private _info: BlkDeviceInfo;
  /** Frees the current rings (del_vqs), once the device is reset. */
  private releaseRings: () => void;

  private constructor(
    readonly access: TransportAccess,
    readonly mem: GuestMemory,
    readonly dma: DmaApi,
    n: Negotiated,
    private readonly options: BlkDriverOptions,
  ) {
    this.hardened = options.hardened ?? true;
    this.maxIoBytes = options.maxIoBytes ?? 128 * 1024;
    const t = options.timeoutPolls ?? BLK_DEFAULT_TIMEOUT_POLLS;
    if (!Number.isInteger(t) || t < 1)
      throw new ConfigError(`blk timeoutPolls ${t}: must be a whole number of at least 1`);
    this.timeoutPolls = t;
    this._features = n.features;
    this._info = n.info;
    this.releaseRings = n.release;
    if (n.capacityClamped) this.counters.capacityClamped++;
    this.queues = n.vqs.map((vq, i) => new BlkQueue(this, i, vq));
    this.setLimits();
    this.scratch = mem.alloc(this.maxIoBytes);
  }

  get features(): bigint {
    return this._features;
  }
  get info(): BlkDeviceInfo {
    return this._info;
  }
  get indirect(): boolean {
    return hasFeature(this._features, Feature.INDIRECT_DESC);
  }
  /**
   * Bytes of one data segment: what one map() takes (virtio_max_dma_size),
   * a descriptor's 32-bit len, and size_max when the device gives one
   * (blk_queue_max_segment_size; the naive driver ignores it).
   */
  get maxSegmentBytes(): number {
    return this.limits.segBytes;
  }
  /**
   * Data segments of one request: seg_max, at least 1 ("We need at least one
   * SG element, whatever they say") and at most the queue size − 2 (the
   * header and status descriptors; virtblk_probe).
   */
  get maxSegments(): number {
    return this.limits.segs;
  }
  /** Both limits, worked out once per probe (submit() reads them per request). */
  private limits = { segBytes: 0, segs: 0 };
  private setLimits(): void {
    const sizeMax = this.hardened && this._info.sizeMax > 0 ? this._info.sizeMax : Infinity;
    const smallest = this.queues.reduce((m, q) => Math.min(m, q.vq.size), Infinity);
    this.limits = {
      segBytes: Math.min(this.dma.maxMappingSize, 2 ** 31, sizeMax),
      segs: Math.max(1, Math.min(this._info.segMax || 1, smallest - 2)),
    };
  }

  /** The ring kind the queues use. */
  get ring(): RingKind {
    return hasFeature(this._features, Feature.RING_PACKED) ? 'packed' : 'split';
  }

  /** virtblk_probe (see negotiate()). */
  static probe(access: TransportAccess, mem: GuestMemory, dma: DmaApi, options: BlkDriverOptions = {}): BlkDriver {
    if (access.deviceId() !== VIRTIO_ID_BLOCK) {
      throw new BlkDriverError(
        'BLK_NOT_BLOCK',
        `virtio_blk: device ${access.deviceId()} is not a block device`,
        19,
        'user',
      );
    }
    return new BlkDriver(access, mem, dma, negotiate(access, mem, dma, options), options);
  }

  /**
   * The device goes away (virtblk_remove). Orderly: the queues are kicked
   * once more, so the device completes what it was given, then the device is
   * reset. Surprise (the function already left the bus: it can neither be
   * reset nor reach memory any more): no reset. Either way every request
   * still in flight ends with VIRTIO_BLK_S_IOERR, handed to the next reap()
   * with its tag, and every buffer is unmapped and the rings and slabs are
   * freed. A write acknowledged before was stored before its status byte
   * was written, so no acknowledged write is lost; one in flight was never
   * acknowledged. Returns the requests failed. The driver takes no request
   * after.
   */
  remove(options: { surprise?: boolean } = {}): number {
    if (!options.surprise) {
      // The device completes what it was given; its completions wait for the next reap().
      for (const q of this.queues) {
        try {
          q.kick();
          q.reap((c) => q.hold(c));
        } catch (e) {
          // A device that lies while it goes away: its queue is broken, what
          // it did not complete fails below; the removal goes on.
          if (!(e instanceof VqsimError)) throw e;
        }
      }
      this.access.reset();
    }
    let failed = 0;
    for (const q of this.queues) {
      for (const r of q.abortAll()) {
        q.hold({ tag: r.tag, status: BlkStatus.IOERR, len: 0 });
        failed++;
      }
      q.detached = true;
    }
    this.broken = true;
    this.removed = true;
    this.releaseRings();
    this.mem.free(this.scratch);
    return failed;
  }

  /** remove() ran: the device is gone. */
  removed = false;

  /** The device set NEEDS_RESET after DRIVER_OK (virtio_error on its side): it serves nothing until reset. */
  needsReset(): boolean {
    return (this.access.getStatus() & Status.NEEDS_RESET) !== 0;
  }

  /**
   * Resets the device and brings it back (the recovery Linux's
   * virtblk_freeze/virtblk_restore does around a reset): the reset ends the
   * device's ownership of every buffer, so every request in flight is
   * unmapped and its tag freed; the device is probed again (features,
   * config, queues); and every request that was not acknowledged is
   * submitted again, with its tag when the new queue has it, and kicked. An
   * acknowledged write was stored before its status byte was written, so it
   * is never lost; an unacknowledged one is written again. Returns the
   * requests resubmitted, by queue (old tag → new tag).
   */
  recover(): Map<number, number>[] {
    // Requests in flight, and those a timeout's reset left waiting.
    const pending = this.queues.map((q, i) => [...(this.orphans[i] ?? []), ...q.abortAll()]);
    this.orphans = [];
    this.access.reset();
    this.counters.resets++;
    // The reset took the old rings back from the device: free them before the new probe allocates its own.
    this.releaseRings();
    const n = negotiate(this.access, this.mem, this.dma, this.options);
    this._features = n.features;
    this._info = n.info;
    this.releaseRings = n.release;
    if (n.capacityClamped) this.counters.capacityClamped++;
    const old = this.queues.splice(0);
    n.vqs.forEach((vq, i) => {
      const q = old[i];
      const reuse = q !== undefined && q.vq.size === vq.size;
      if (reuse) q.rebind(vq);
      this.queues.push(reuse ? q : new BlkQueue(this, i, vq));
    });
    old.forEach((q, i) => {
      if (this.queues[i] !== q) q.release();
    });
    this.setLimits();
    this.broken = false;
    const out: Map<number, number>[] = this.queues.map(() => new Map());
    pending.forEach((reqs, i) => {
      const q = this.queues[i % this.queues.length]!;
      const m = out[i % this.queues.length]!;
      for (const r of reqs) {
        const tag = q.resubmit(r);
        if (tag < 0)
          throw new BlkDriverError('BLK_QUEUE_FULL', `blk queue ${q.index} is full after a reset`, -28, 'user');
        m.set(r.tag, tag);
        this.counters.resubmitted++;
      }
      q.kick();
    });
    return out;
  }

  /**
   * A request that timed out: reset the device (it may still own the
   * buffers: only a reset takes them back, as VDUSE's timeout breaks the
   * device), unmap and free every tag in flight, keep the other requests for
   * recover(), and refuse requests until then.
   */
  private timedOut(q: number, tag: number, why = `within ${this.timeoutPolls} polls`): never {
    this.counters.timeouts++;
    this.access.reset();
    this.counters.resets++;
    // The timed-out request fails; every other request in flight is kept
    // for recover() to submit again (nothing lost, no tag leaked meanwhile).
    this.orphans = this.queues.map((queue, i) => queue.abortAll().filter((r) => i !== q || r.tag !== tag));
    this.broken = true;
    throw new BlkDriverError(
      'BLK_NOT_COMPLETED',
      `blk queue ${q}: the device did not complete the request ${why}`,
      -ETIMEDOUT,
    );
  }

  // One-request helpers for tests and small simulations: submit, kick, reap
  // on queue `q`; the device must complete the request when notified.

  private one(q: number, type: number, sector: number, data: number, len: number): BlkCompletion {
    if (this.removed) throw removedError();
    if (this.broken) {
      throw new BlkDriverError(
        'BLK_DRIVER_BROKEN',
        'virtio_blk: the device was reset after a timeout: recover() first',
        -EIO,
        'user',
      );
    }
    // One recovery per request: a device that needs a reset again after it
    // cannot make the driver reset and re-probe it for ever.
    let recovered = false;
    if (this.needsReset()) {
      this.recover();
      recovered = true;
    }
    const queue = this.queues[q];
    if (!queue) throw new ConfigError(`blk queue ${q}: the driver has ${this.queues.length}`);
    let tag = queue.submit(type, sector, data, len);
    if (tag < 0 && queue.mapError) throw queue.mapError;
    if (tag < 0) throw new BlkDriverError('BLK_QUEUE_FULL', `blk queue ${q} is full`, -28, 'user');
    queue.kick();
    let got: BlkCompletion | undefined;
    // Every empty poll is one tick of logical time; the request times out
    // after timeoutPolls of them (blk_mq's timeout, VDUSE's 30 s).
    for (let polls = 0; !got; polls++) {
      if (polls >= this.timeoutPolls) this.timedOut(q, tag);
      const cur = this.queues[q]!;
      cur.reap((c) => {
        if (c.tag === tag) got = c;
        else cur.hold(c);
      });
      if (got) break;
      // NEEDS_RESET after DRIVER_OK: reset, re-probe, resubmit what was not acknowledged.
      if (this.needsReset()) {
        if (recovered) this.timedOut(q, tag, 'after a reset: it needs a reset again');
        const moved = this.recover()[q]!;
        tag = moved.get(tag) ?? tag;
        recovered = true;
      }
    }
    return got;
  }

  private staging(len: number): number {
    if (len > this.maxIoBytes)
      throw new ConfigError(`blk request of ${len} bytes: at most maxIoBytes ${this.maxIoBytes}`);
    return this.scratch;
  }

  /** Reads `bytes` at `sector`. */
  read(sector: number, bytes: number, q = 0): { status: number; data: Uint8Array } {
    const buf = this.staging(bytes);
    const c = this.one(q, BlkType.IN, sector, buf, bytes);
    return { status: c.status, data: this.mem.read(buf, bytes) };
  }

  /** Writes `data` at `sector`; returns the status byte. */
  write(sector: number, data: Uint8Array, q = 0): number {
    const buf = this.staging(data.length);
    this.mem.write(buf, data);
    return this.one(q, BlkType.OUT, sector, buf, data.length).status;
  }

  flush(q = 0): number {
    return this.one(q, BlkType.FLUSH, 0, 0, 0).status;
  }

  /** GET_ID: the device's ID string. */
  getId(q = 0): { status: number; id: string } {
    const buf = this.staging(VIRTIO_BLK_ID_BYTES);
    this.mem.fill(buf, VIRTIO_BLK_ID_BYTES, 0);
    const c = this.one(q, BlkType.GET_ID, 0, buf, VIRTIO_BLK_ID_BYTES);
    const raw = this.mem.read(buf, VIRTIO_BLK_ID_BYTES);
    const end = raw.indexOf(0);
    return { status: c.status, id: new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end)) };
  }

  /** DISCARD or WRITE_ZEROES of `ranges`. */
  zeroRanges(type: 'discard' | 'write-zeroes', ranges: readonly BlkRange[], unmap = false, q = 0): number {
    const len = ranges.length * BLK_DWZ_SIZE;
    const buf = this.staging(len);
    ranges.forEach((r, i) => {
      const at = buf + i * BLK_DWZ_SIZE;
      this.mem.writeU32(at, r.sector % 2 ** 32);
      this.mem.writeU32(at + 4, Math.floor(r.sector / 2 ** 32));
      this.mem.writeU32(at + 8, r.sectors);
      this.mem.writeU32(at + 12, type === 'write-zeroes' && unmap ? BLK_WRITE_ZEROES_FLAG_UNMAP : 0);
    });
    return this.one(q, type === 'discard' ? BlkType.DISCARD : BlkType.WRITE_ZEROES, 0, buf, len).status;
  }

  /** A request of any type with the driver's staging buffer (for tests of unknown types). */
  raw(type: number, sector: number, bytes: number, q = 0): BlkCompletion {
    return this.one(q, type, sector, bytes > 0 ? this.staging(bytes) : 0, bytes);
  }
}

export { BlkStatus, BlkType };

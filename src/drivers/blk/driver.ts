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

/**
 * A device value the driver refuses, with Linux's message and errno: side
 * 'device' (BLK_USED_LEN, BLK_NO_STATUS, BLK_MQ_ZERO_QUEUES,
 * BLK_INVALID_BLOCK_SIZE, BLK_NOT_COMPLETED), or the caller's misuse, side
 * 'user' (BLK_NOT_BLOCK: the access is not a block device; BLK_QUEUE_FULL).
 */
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
}

/** All the features this driver understands. */
export const BLK_DRIVER_FEATURES = [
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  BlkFeature.SEG_MAX,
  BlkFeature.BLK_SIZE,
  BlkFeature.FLUSH,
  BlkFeature.MQ,
  BlkFeature.DISCARD,
  BlkFeature.WRITE_ZEROES,
  BlkFeature.RO,
].reduce((f, b) => f | (1n << BigInt(b)), 0n);

export interface BlkDeviceInfo {
  capacity: number;
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

interface Slot {
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
  private readonly batch: RequestBatch;
  private pendingDescs = 0;
  /** Requests in the ring or the batch. */
  inflight = 0;
  /** Submits refused because a buffer could not be mapped (a full swiotlb pool: DMA_MAPPING_ERROR). */
  mapErrors = 0;
  /** Why the last submit returned -1, when it was a mapping error (undefined after a submit that worked). */
  mapError: DmaError | undefined;

  constructor(
    readonly driver: BlkDriver,
    readonly index: number,
    readonly vq: Virtqueue,
  ) {
    const mem = driver.mem;
    // Guest kernel memory (kmalloc): private in a confidential VM; the DMA API makes it reachable.
    this.slab = mem.alloc(vq.size * 32);
    this.slabLinear = mem.linear(this.slab, vq.size * 32);
    this.view = mem.view;
    for (let k = vq.size - 1; k >= 0; k--) {
      this.free.push(k);
      this.slots.push({ hdrDma: 0, dataGpa: 0, dataLen: 0, dataDir: DmaDirection.TO_DEVICE, dataDma: [], writable: 0 });
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
    const k = this.free.pop()!;
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
   * unmaps its buffers and reads its status. `onDone` gets each; returns how many.
   */
  reap(onDone?: (c: BlkCompletion) => void): number {
    const drv = this.vq.driver;
    const n = drv.reap();
    const comp = drv.completions;
    const dma = this.driver.dma;
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
        if (len > s.writable) {
          throw new BlkDriverError('BLK_USED_LEN', `used len ${len} is larger than in buflen ${s.writable}`, EIO);
        }
        if (len < 1) {
          throw new BlkDriverError(
            'BLK_NO_STATUS',
            `virtio_blk: used len ${len} leaves the status byte unwritten`,
            EIO,
          );
        }
      }
      // The CPU reads the status byte: a machine check if the device poisoned its page (TDX).
      this.driver.mem.consume(this.slab + k * 32 + 16, 1);
      onDone?.({ tag: k, status: this.view.getUint8(this.slabLinear + k * 32 + 16), len });
    }
    return n;
  }
}

/** A probed virtio-blk device with its request queues. */
export class BlkDriver {
  /** Every feature this driver understands (BLK_DRIVER_FEATURES). */
  static readonly ALL_FEATURES = BLK_DRIVER_FEATURES;
  readonly queues: BlkQueue[];
  readonly hardened: boolean;
  readonly indirect: boolean;
  readonly maxIoBytes: number;
  /** Bytes of one data segment: what one map() takes (virtio_max_dma_size). */
  readonly maxSegmentBytes: number;
  /** Data segments of one request: seg_max (1 without it), at most the queue size − 2 (virtblk_probe). */
  readonly maxSegments: number;
  private scratch: number;

  private constructor(
    readonly access: TransportAccess,
    readonly mem: GuestMemory,
    readonly dma: DmaApi,
    readonly features: bigint,
    readonly info: BlkDeviceInfo,
    vqs: Virtqueue[],
    options: BlkDriverOptions,
  ) {
    this.hardened = options.hardened ?? true;
    this.indirect = hasFeature(features, Feature.INDIRECT_DESC);
    this.maxIoBytes = options.maxIoBytes ?? 128 * 1024;
    // A descriptor's len is 32 bits.
    this.maxSegmentBytes = Math.min(dma.maxMappingSize, 2 ** 31);
    this.maxSegments = Math.max(1, Math.min(info.segMax || 1, Math.min(...vqs.map((vq) => vq.size)) - 2));
    this.queues = vqs.map((vq, i) => new BlkQueue(this, i, vq));
    this.scratch = mem.alloc(this.maxIoBytes);
  }

  /** The ring kind the queues use. */
  get ring(): RingKind {
    return hasFeature(this.features, Feature.RING_PACKED) ? 'packed' : 'split';
  }

  /**
   * virtblk_probe: negotiate, read num_queues (MQ) and check it, set up the
   * queues, read and check blk_size. Throws BlkDriverError (or the transport's
   * named errors) and leaves FAILED set when the device is refused.
   */
  static probe(access: TransportAccess, mem: GuestMemory, dma: DmaApi, options: BlkDriverOptions = {}): BlkDriver {
    const hardened = options.hardened ?? true;
    if (access.deviceId() !== VIRTIO_ID_BLOCK) {
      throw new BlkDriverError(
        'BLK_NOT_BLOCK',
        `virtio_blk: device ${access.deviceId()} is not a block device`,
        19,
        'user',
      );
    }
    let info: BlkDeviceInfo | undefined;
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
      info = {
        capacity: Number(cfg.capacity),
        segMax: cfg.segMax,
        blkSize: b,
        numQueues: dev.queues.length,
        readOnly: hasFeature(f, BlkFeature.RO),
      };
    } catch (e) {
      access.reset(); // virtio_reset_device on the probe's error path
      throw e;
    }
    return new BlkDriver(access, mem, dma, dev.features, info, dev.queues, options);
  }

  // One-request helpers for tests and small simulations: submit, kick, reap
  // on queue `q`; the device must complete the request when notified.

  private one(q: number, type: number, sector: number, data: number, len: number): BlkCompletion {
    const queue = this.queues[q];
    if (!queue) throw new ConfigError(`blk queue ${q}: the driver has ${this.queues.length}`);
    const tag = queue.submit(type, sector, data, len);
    if (tag < 0 && queue.mapError) throw queue.mapError;
    if (tag < 0) throw new BlkDriverError('BLK_QUEUE_FULL', `blk queue ${q} is full`, -28, 'user');
    queue.kick();
    let got: BlkCompletion | undefined;
    const others: BlkCompletion[] = [];
    queue.reap((c) => (c.tag === tag ? (got = c) : others.push(c)));
    if (!got)
      throw new BlkDriverError('BLK_NOT_COMPLETED', `blk queue ${q}: the device did not complete the request`, -EIO);
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

// A virtio-blk device model (VIRTIO 1.2 §5.2), host side: config space as
// struct virtio_blk_config, feature offer, and one BlkQueueServer per queue,
// built from the areas the driver programmed and reached through the device's
// DMA view only.
import type { ConfigWidth, QueueConfig, VirtioDeviceContext, VirtioDeviceModel } from '../../transport/device-model.js';
import type { DeviceHost } from '../../virtqueue/device-host.js';
import { Feature } from '../../spec/features.js';
import { hasFeature } from '../../virtqueue/features.js';
import { deviceQueueFromAreas, type QueueDevice } from '../../virtqueue/queue.js';
import { ConfigError, toVqsimError, type VqsimError } from '../../errors.js';
import type { BlkBackend } from './backend.js';
import { BlkConfig, BlkFeature, SECTOR_SIZE, VIRTIO_ID_BLOCK } from '../../spec/blk.js';
import { BlkQueueServer, type BlkServerConfig, type BlkServerCounters } from './server.js';

export interface BlkDeviceOptions {
  /** Queues (num_queues); more than one offers VIRTIO_BLK_F_MQ. Default 1. */
  queues?: number;
  /** Offer VIRTIO_BLK_F_MQ even with one queue. Default: queues > 1. */
  mq?: boolean;
  /** Largest queue size. Default 256. */
  maxQueueSize?: number;
  /** size_max (VIRTIO_BLK_F_SIZE_MAX, offered when set): the largest data segment, in bytes. Default: not offered. */
  sizeMax?: number;
  /** seg_max (VIRTIO_BLK_F_SEG_MAX). Default maxQueueSize − 2. */
  segMax?: number;
  /** blk_size (VIRTIO_BLK_F_BLK_SIZE). Default 512. */
  blkSize?: number;
  /** Offer VIRTIO_BLK_F_RO and refuse writes. Default false. */
  readOnly?: boolean;
  /** GET_ID answer, up to 20 bytes. Default 'vqsim-blk'. */
  id?: string;
  /** Discard and write-zeroes limits (sectors per segment, segments per request). */
  maxDiscardSectors?: number;
  maxDiscardSeg?: number;
  maxWriteZeroesSectors?: number;
  maxWriteZeroesSeg?: number;
  /** Ring features offered besides VERSION_1. Default RING_PACKED, EVENT_IDX, INDIRECT_DESC. */
  ringFeatures?: readonly number[];
  /**
   * 'notify' (default): serve a queue when the driver rings its doorbell.
   * 'manual': do nothing on a doorbell; whoever runs the device calls serve()
   * (or runs the queue on a worker thread from queueConfig()).
   */
  serve?: 'notify' | 'manual';
  /**
   * The device's name in the stats registry and in queue errors: each queue
   * server counts in `<name>.q<i>` (kind blk), its ring is `<name>.vq<i>`. Default "blk".
   */
  name?: string;
}

export class BlkDevice implements VirtioDeviceModel {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly deviceFeatures: bigint;
  readonly numQueues: number;
  readonly maxQueueSize: number;
  readonly configSize = BlkConfig.SIZE;
  /** The config space the driver reads; a test may change it to make the device lie. */
  readonly config = new DataView(new ArrayBuffer(BlkConfig.SIZE));
  protected ctx!: VirtioDeviceContext;
  private readonly ready = new Map<number, QueueConfig>();
  protected servers: BlkQueueServer[] = [];
  private features = 0n;
  private readonly id: Uint8Array;
  private readonly mode: 'notify' | 'manual';
  /** Why the device stopped (it needs a reset), if it did: the error, with its code and the side at fault. */
  fault: VqsimError | undefined;
  /** The fault's message. */
  get failure(): string | undefined {
    return this.fault?.message;
  }
  readonly name: string;

  constructor(
    readonly host: DeviceHost,
    readonly backend: BlkBackend,
    options: BlkDeviceOptions = {},
  ) {
    const queues = options.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1 || queues > 0xffff) {
      throw new ConfigError(`blk queues ${queues}: must be a whole number from 1 to 65535`);
    }
    this.numQueues = queues;
    this.name = options.name ?? 'blk';
    this.maxQueueSize = options.maxQueueSize ?? 256;
    this.mode = options.serve ?? 'notify';
    this.id = new TextEncoder().encode(options.id ?? 'vqsim-blk').slice(0, 20);
    const bits = [
      Feature.VERSION_1,
      ...(options.ringFeatures ?? [Feature.RING_PACKED, Feature.EVENT_IDX, Feature.INDIRECT_DESC]),
      BlkFeature.SEG_MAX,
      BlkFeature.BLK_SIZE,
      BlkFeature.FLUSH,
      BlkFeature.DISCARD,
      BlkFeature.WRITE_ZEROES,
    ];
    if (options.mq ?? queues > 1) bits.push(BlkFeature.MQ);
    if (options.readOnly) bits.push(BlkFeature.RO);
    if (options.sizeMax !== undefined) bits.push(BlkFeature.SIZE_MAX);
    this.deviceFeatures = bits.reduce((f, b) => f | (1n << BigInt(b)), 0n);
    const c = this.config;
    const capacity = backend.bytes / SECTOR_SIZE;
    c.setUint32(BlkConfig.CAPACITY, capacity % 2 ** 32, true);
    c.setUint32(BlkConfig.CAPACITY + 4, Math.floor(capacity / 2 ** 32), true);
    c.setUint32(BlkConfig.SIZE_MAX, options.sizeMax ?? 0, true);
    c.setUint32(BlkConfig.SEG_MAX, options.segMax ?? this.maxQueueSize - 2, true);
    c.setUint32(BlkConfig.BLK_SIZE, options.blkSize ?? 512, true);
    c.setUint16(BlkConfig.NUM_QUEUES, queues, true);
    c.setUint32(BlkConfig.MAX_DISCARD_SECTORS, options.maxDiscardSectors ?? 0xffffffff, true);
    c.setUint32(BlkConfig.MAX_DISCARD_SEG, options.maxDiscardSeg ?? 16, true);
    c.setUint32(BlkConfig.DISCARD_SECTOR_ALIGNMENT, 1, true);
    c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SECTORS, options.maxWriteZeroesSectors ?? 0xffffffff, true);
    c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, options.maxWriteZeroesSeg ?? 16, true);
    c.setUint8(BlkConfig.WRITE_ZEROES_MAY_UNMAP, 1);
  }

  /** Capacity in 512-byte sectors, as the config says. */
  get capacity(): number {
    return (
      this.config.getUint32(BlkConfig.CAPACITY, true) + this.config.getUint32(BlkConfig.CAPACITY + 4, true) * 2 ** 32
    );
  }

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, width: ConfigWidth): number {
    const c = this.config;
    return width === 1 ? c.getUint8(offset) : width === 2 ? c.getUint16(offset, true) : c.getUint32(offset, true);
  }
  /** Only the writeback byte is writable (VIRTIO_BLK_F_CONFIG_WCE is not offered: writes are ignored). */
  writeConfig(_offset: number, _width: ConfigWidth, _value: number): void {}

  onQueueReady(index: number, queue: QueueConfig): void {
    this.ready.set(index, queue);
  }

  /** What a worker needs to run queue `index` itself (after DRIVER_OK, in 'manual' mode). */
  queueConfig(index: number): QueueConfig | undefined {
    return this.ready.get(index);
  }

  /** The server config the negotiated features give. */
  serverConfig(features = this.features): BlkServerConfig {
    const c = this.config;
    return {
      capacity: this.capacity,
      readOnly: hasFeature(features, BlkFeature.RO),
      flush: hasFeature(features, BlkFeature.FLUSH),
      discard: hasFeature(features, BlkFeature.DISCARD),
      writeZeroes: hasFeature(features, BlkFeature.WRITE_ZEROES),
      maxDiscardSectors: c.getUint32(BlkConfig.MAX_DISCARD_SECTORS, true),
      maxDiscardSeg: c.getUint32(BlkConfig.MAX_DISCARD_SEG, true),
      maxWriteZeroesSectors: c.getUint32(BlkConfig.MAX_WRITE_ZEROES_SECTORS, true),
      maxWriteZeroesSeg: c.getUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, true),
      id: this.id,
    };
  }

  onDriverOk(features: bigint): void {
    this.features = features;
    this.fault = undefined;
    if (this.mode === 'manual') return;
    const cfg = this.serverConfig(features);
    this.servers = [];
    for (const [index, q] of this.ready) {
      const queue = blkDeviceQueue(this.host, q, index, this.name);
      this.servers[index] = new BlkQueueServer(this.host, queue, this.backend, cfg, `${this.name}.q${index}`);
    }
  }

  /** The server of queue `index` (after DRIVER_OK, 'notify' mode). */
  server(index: number): BlkQueueServer | undefined {
    return this.servers[index];
  }

  /** Counters summed over the queues. */
  counters(): BlkServerCounters {
    const sum = {} as BlkServerCounters;
    for (const s of this.servers) {
      if (!s) continue;
      for (const [k, v] of Object.entries(s.counters) as [keyof BlkServerCounters, number][])
        sum[k] = (sum[k] ?? 0) + v;
    }
    return sum;
  }

  onNotify(index: number): void {
    const s = this.servers[index];
    if (!s || this.failure !== undefined) return;
    try {
      if (s.serve().interrupt) this.ctx.raiseQueueInterrupt(index);
    } catch (e) {
      this.fault = toVqsimError(e, 'DEVICE_INTERNAL');
      this.ctx.needsReset(this.fault);
    }
  }

  onReset(): void {
    this.ready.clear();
    this.servers = [];
    this.features = 0n;
  }
}

/** The device's face of a programmed queue (either ring kind), through its DMA view. */
export function blkDeviceQueue(host: DeviceHost, q: QueueConfig, index: number, device = 'blk'): QueueDevice {
  return deviceQueueFromAreas(
    host,
    {
      ring: q.ring,
      size: q.size,
      desc: Number(q.desc),
      driver: Number(q.driver),
      device: Number(q.device),
      eventIdx: q.eventIdx,
      indirect: q.indirect,
    },
    { name: `${device}.vq${index}` },
  );
}

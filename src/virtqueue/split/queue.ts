import * as L from '../../../assembly/layout.js';
import { ConfigError } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { EngineName, SplitEngine } from '../engine.js';
import { ReferenceSplitEngine } from '../reference/split.js';
import { readStats, type QueueStats } from '../stats.js';
import { SplitDevice } from './device.js';
import { SplitDriver } from './driver.js';
import { splitRingLayout, type SplitRingLayout } from './layout.js';

export interface SplitQueueOptions {
  /** Queue size: a power of two from 1 to 32768. Default 256. */
  size?: number;
  /** VIRTIO_F_EVENT_IDX negotiated. Default false. */
  eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. Default false. */
  indirect?: boolean;
  /** Descriptors in each per-head indirect table (at most the queue size). Default min(size, 32). */
  indirectMax?: number;
  /** Alignment of the used ring, as vring_init()'s `align`. Default 4096. */
  align?: number;
  /** 'wasm' (default) or 'reference' (the plain TypeScript model). */
  engine?: EngineName;
  /** Name used in error messages. Default "vq0". */
  name?: string;
  /** Buffers the device's pop output holds per call. Default max(4 × size, 1024). */
  popElements?: number;
}

/**
 * A split virtqueue (VIRTIO 1.2 §2.7) in guest memory, with its driver side
 * (guest, `driver`) and device side (host, `device`). The rings live in shared
 * guest pages exactly as the spec lays them out; the driver's bookkeeping lives
 * in private guest pages; the device's state and the stats block live in host
 * memory outside guest RAM.
 */
export class SplitQueue {
  readonly name: string;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly layout: SplitRingLayout;
  /** Guest physical address of the ring (descriptor table first). */
  readonly ringAddr: number;
  readonly engine: SplitEngine;
  readonly engineName: EngineName;
  /** Linear address of the stats block. */
  readonly statsBlock: number;
  readonly driver: SplitDriver;
  readonly device: SplitDevice;

  constructor(
    readonly mem: GuestMemory,
    options: SplitQueueOptions = {},
  ) {
    const size = options.size ?? 256;
    this.layout = splitRingLayout(size, options.align ?? 4096);
    this.size = size;
    this.name = options.name ?? 'vq0';
    this.eventIdx = options.eventIdx ?? false;
    this.indirect = options.indirect ?? false;
    this.engineName = options.engine ?? 'wasm';
    if (this.engineName === 'wasm') this.engine = mem.core;
    else if (this.engineName === 'reference') this.engine = new ReferenceSplitEngine(mem.memory);
    else throw new ConfigError(`engine ${String(this.engineName)}: must be wasm or reference`);
    const indirectMax = options.indirectMax ?? Math.min(size, 32);
    if (!Number.isInteger(indirectMax) || indirectMax < 1 || indirectMax > size) {
      throw new ConfigError(`indirectMax ${indirectMax}: must be from 1 to the queue size (${size})`);
    }
    const popElements = options.popElements ?? Math.max(4 * size, 1024);
    if (!Number.isInteger(popElements) || popElements < size) {
      throw new ConfigError(`popElements ${popElements}: must be at least the queue size (${size})`);
    }

    this.ringAddr = mem.alloc(this.layout.total, { shared: true, align: this.layout.align });
    const flags = (this.eventIdx ? L.QF_EVENT_IDX : 0) | (this.indirect ? L.QF_INDIRECT : 0);
    const ring = mem.linear(this.ringAddr, this.layout.total);
    this.statsBlock = mem.hostAlloc(L.ST_SIZE);

    this.driver = new SplitDriver(this, ring, flags, this.indirect ? indirectMax : 0);
    this.device = new SplitDevice(this, ring, flags, popElements);
  }

  /** The queue's counters (both sides write the same block). */
  stats(): QueueStats {
    return readStats(this.mem.view, this.statsBlock);
  }

  /** Guest physical addresses of the three areas, as a transport would program them. */
  get areas(): { desc: number; avail: number; used: number } {
    return {
      desc: this.ringAddr + this.layout.desc,
      avail: this.ringAddr + this.layout.avail,
      used: this.ringAddr + this.layout.used,
    };
  }
}

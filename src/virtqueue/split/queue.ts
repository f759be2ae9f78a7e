import * as L from '../../../assembly/layout.js';
import { ConfigError } from '../../errors.js';
import { registerStats } from '../../memory/stats-registry.js';
import { checkRingMemory, type RingMemory } from '../ring-memory.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { EngineName, SplitEngine } from '../engine.js';
import { ReferenceSplitEngine } from '../reference/split.js';
import type { Virtqueue } from '../queue.js';
import { readStats, sumStats, type QueueStats } from '../stats.js';
import { directDeviceView, type DeviceHost } from '../../memory/dma-view.js';
import { directDriverDma, type DriverDma } from '../ring-memory.js';
import { SplitDevice, type SplitDeviceAddrs } from './device.js';
import { SplitDriver, type SplitDriverAddrs } from './driver.js';
import { splitRingLayout, type SplitRingLayout } from './layout.js';
import { modeFlags, type TrustModeOptions } from '../modes.js';

export interface SplitQueueOptions extends TrustModeOptions {
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
  /**
   * Name used in error messages and for the queue's stats blocks ("<name>",
   * or "<name>.driver" and "<name>.device" for a pair): printable ASCII
   * without spaces, at most STATS_NAME_BYTES (56) characters with the suffix.
   * Default "vq0".
   */
  name?: string;
  /** Buffers the device's pop output holds per call. Default max(4 × size, 1024). */
  popElements?: number;
  /**
   * Memory for the ring, allocated by the caller: a guest driver passes what
   * its DMA API's dma_alloc_coherent returned (`addr` the guest physical
   * address it writes through, `dma` the address the device is given). At
   * least the ring layout's total bytes, aligned as the layout needs. Default:
   * shared guest pages allocated here, with dma = addr.
   */
  ringMemory?: RingMemory;
  /**
   * The driver's DMA domain (what its DMA API gives it): the window a
   * buffer's DMA address must lie in, and dma_alloc_coherent for the
   * indirect pool. Default: direct DMA over guest RAM.
   */
  dma?: DriverDma;
  /**
   * The device's view of guest memory (its DMA context), through which the
   * device face is built from the areas, as a transport would. Default: a
   * direct context over guest RAM.
   */
  device?: DeviceHost;
  /**
   * False for a driver's queue whose device side is the transport's (the
   * device builds its own face from the programmed areas): no device face is
   * built here. Default true.
   */
  deviceFace?: boolean;
}

/** A queue as a plain object, for SplitQueue.attach() in another thread. */
export interface SplitQueueHandle {
  kind: 'split';
  name: string;
  size: number;
  align: number;
  eventIdx: boolean;
  indirect: boolean;
  ringAddr: number;
  ringDma: number;
  /** The driver's stats block (the device's is in device.statsBlock). */
  statsBlock: number;
  driver: SplitDriverAddrs;
  device: SplitDeviceAddrs;
}

/**
 * A split virtqueue (VIRTIO 1.2 §2.7) in guest memory: its driver side
 * (guest, `driver`) paired with a device side (host, `device`) built the one
 * way a device side is built, from the areas the driver would program,
 * through a DMA context (SplitDevice.fromAreas). The rings live in shared
 * guest pages exactly as the spec lays them out; the driver's bookkeeping
 * lives in private guest pages; the device's state and each side's stats
 * block live in host memory outside guest RAM.
 */
export class SplitQueue implements Virtqueue {
  readonly name: string;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly layout: SplitRingLayout;
  /** Guest physical address of the ring (descriptor table first). */
  readonly ringAddr: number;
  /** The ring's address as the device is given it (its DMA address; = ringAddr unless ringMemory said otherwise). */
  readonly ringDma: number;
  readonly engine: SplitEngine;
  readonly engineName: EngineName;
  /** Linear address of the driver's stats block (the device counts in device.statsBlock). */
  readonly statsBlock: number;
  readonly driver: SplitDriver;
  private readonly deviceSide: SplitDevice | undefined;

  constructor(
    readonly mem: GuestMemory,
    options: SplitQueueOptions = {},
    attachTo?: SplitQueueHandle,
  ) {
    const size = attachTo?.size ?? options.size ?? 256;
    this.layout = splitRingLayout(size, attachTo?.align ?? options.align ?? 4096);
    this.size = size;
    this.name = attachTo?.name ?? options.name ?? 'vq0';
    this.eventIdx = attachTo?.eventIdx ?? options.eventIdx ?? false;
    this.indirect = attachTo?.indirect ?? options.indirect ?? false;
    this.engineName = options.engine ?? 'wasm';
    if (this.engineName === 'wasm') this.engine = mem.core;
    else if (this.engineName === 'reference') this.engine = new ReferenceSplitEngine(mem.memory);
    else throw new ConfigError(`engine ${String(this.engineName)}: must be wasm or reference`);

    if (attachTo) {
      this.ringAddr = attachTo.ringAddr;
      this.ringDma = attachTo.ringDma;
      this.statsBlock = attachTo.statsBlock;
      this.driver = new SplitDriver(this, attachTo.driver);
      this.deviceSide = SplitDevice.attach(mem, attachTo.device, size, { engine: this.engine, name: this.name });
      return;
    }
    const indirectMax = options.indirectMax ?? Math.min(size, 32);
    if (!Number.isInteger(indirectMax) || indirectMax < 1 || indirectMax > size) {
      throw new ConfigError(`indirectMax ${indirectMax}: must be from 1 to the queue size (${size})`);
    }
    const dma = options.dma ?? directDriverDma(mem);
    const rm = options.ringMemory ?? dma.allocCoherent(this.layout.total, this.layout.align);
    checkRingMemory(rm, this.layout.total, this.layout.align);
    this.ringAddr = rm.addr;
    this.ringDma = rm.dma ?? rm.addr;
    const flags =
      (this.eventIdx ? L.QF_EVENT_IDX : 0) |
      (this.indirect ? L.QF_INDIRECT : 0) |
      modeFlags(options, this.engineName === 'reference', this.name);
    const ring = mem.linear(this.ringAddr, this.layout.total);
    this.statsBlock = mem.hostAlloc(L.ST_SIZE);
    this.driver = SplitDriver.create(this, ring, flags, this.indirect ? indirectMax : 0, dma);
    const { desc, avail, used } = this.areas;
    // Each side counts in its own block: a driver's queue on its own is named
    // as it is, a pair's two halves by side.
    const paired = options.deviceFace !== false;
    registerStats(mem.memory, 'ring', paired ? `${this.name}.driver` : this.name, this.statsBlock);
    if (!paired) return;
    this.deviceSide = SplitDevice.fromAreas(
      options.device ?? directDeviceView(mem),
      { size, desc, driver: avail, device: used, eventIdx: this.eventIdx, indirect: this.indirect },
      {
        engine: this.engine,
        name: this.name,
        statsName: `${this.name}.device`,
        popElements: options.popElements,
        hardened: options.hardened,
        nospec: options.nospec,
      },
    );
  }

  /** The device face paired with this driver (see SplitQueueOptions.deviceFace). */
  get device(): SplitDevice {
    if (!this.deviceSide) {
      throw new ConfigError(
        `${this.name}: a driver's queue has no device face here; the device builds its own from the areas it was given`,
      );
    }
    return this.deviceSide;
  }

  /**
   * Everything another thread needs to drive this queue over the same memory:
   * a plain object that survives postMessage. See SplitQueue.attach().
   */
  handle(): SplitQueueHandle {
    return {
      kind: 'split',
      name: this.name,
      size: this.size,
      align: this.layout.align,
      eventIdx: this.eventIdx,
      indirect: this.indirect,
      ringAddr: this.ringAddr,
      ringDma: this.ringDma,
      statsBlock: this.statsBlock,
      driver: { ...this.driver.addrs },
      device: { ...this.device.addrs },
    };
  }

  /**
   * A second face of a queue that lives in `mem` (typically a GuestMemory
   * attached to the same WebAssembly.Memory in a worker). Nothing is allocated
   * or reset: both faces work on the same state blocks.
   */
  static attach(mem: GuestMemory, handle: SplitQueueHandle, engine: EngineName = 'wasm'): SplitQueue {
    return new SplitQueue(mem, { engine }, handle);
  }

  /** The queue's counters: the driver's half from its block, the device's from the device's. */
  stats(): QueueStats {
    const driver = readStats(this.mem.view, this.statsBlock);
    // A driver's queue alone (no device face here) has the driver's half only.
    return this.deviceSide ? sumStats(driver, this.deviceSide.stats()) : driver;
  }

  /** Addresses of the three areas as the device is given them (a transport programs these). */
  get areas(): { desc: number; avail: number; used: number } {
    return {
      desc: this.ringDma + this.layout.desc,
      avail: this.ringDma + this.layout.avail,
      used: this.ringDma + this.layout.used,
    };
  }
}

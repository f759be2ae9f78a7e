import * as L from '../../../assembly/layout.js';
import { registerStats } from '../../memory/stats-registry.js';
import { ConfigError } from '../../errors.js';
import { checkRingMemory, type RingMemory } from '../ring-memory.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { EngineName, PackedEngine } from '../engine.js';
import { modeFlags, type TrustModeOptions } from '../modes.js';
import type { Virtqueue } from '../queue.js';
import { ReferencePackedEngine } from '../reference/packed.js';
import { readStats, sumStats, type QueueStats } from '../stats.js';
import { directDeviceView, type DeviceHost } from '../../memory/dma-view.js';
import { directDriverDma, type DriverDma } from '../ring-memory.js';
import { PackedDevice, type PackedDeviceAddrs } from './device.js';
import { PackedDriver, type PackedDriverAddrs } from './driver.js';
import { packedRingLayout, type PackedRingLayout } from './layout.js';

export interface PackedQueueOptions extends TrustModeOptions {
  /** Queue size: any whole number from 1 to 32768. Default 256. */
  size?: number;
  /** VIRTIO_F_EVENT_IDX negotiated (enables the DESC event mode). Default false. */
  eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. Default false. */
  indirect?: boolean;
  /**
   * VIRTIO_F_IN_ORDER negotiated (§2.8.9). Default false. The device uses
   * buffers in the order they were made available and writes one used
   * descriptor per push (the batch's last id and len); the driver completes
   * every buffer up to that id, the skipped ones with their total length.
   */
  inOrder?: boolean;
  /** Descriptors in each per-id indirect table (at most the queue size). Default min(size, 32). */
  indirectMax?: number;
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
  /** The driver's DMA domain (see SplitQueueOptions.dma). Default: direct DMA over guest RAM. */
  dma?: DriverDma;
  /** The device's view of guest memory (see SplitQueueOptions.device). Default: a direct context. */
  device?: DeviceHost;
  /**
   * False for a driver's queue whose device side is the transport's (the
   * device builds its own face from the programmed areas): no device face is
   * built here. Default true.
   */
  deviceFace?: boolean;
}

/** A packed queue as a plain object, for PackedQueue.attach() in another thread. */
export interface PackedQueueHandle {
  kind: 'packed';
  name: string;
  size: number;
  eventIdx: boolean;
  indirect: boolean;
  inOrder: boolean;
  ringAddr: number;
  ringDma: number;
  statsBlock: number;
  driver: PackedDriverAddrs;
  device: PackedDeviceAddrs;
}

/**
 * A packed virtqueue (VIRTIO 1.2 §2.8) in guest memory: one descriptor ring
 * both sides write, plus the driver and device event suppression areas, in
 * shared guest pages. The driver's bookkeeping lives in private guest pages;
 * the device's state and the stats block in host memory. Same faces as
 * SplitQueue (Virtqueue), so code runs on either ring.
 */
export class PackedQueue implements Virtqueue {
  readonly name: string;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly inOrder: boolean;
  readonly layout: PackedRingLayout;
  /** Guest physical address of the ring (descriptor ring first). */
  readonly ringAddr: number;
  /** The ring's address as the device is given it (its DMA address; = ringAddr unless ringMemory said otherwise). */
  readonly ringDma: number;
  readonly engine: PackedEngine;
  readonly engineName: EngineName;
  /** Linear address of the stats block. */
  readonly statsBlock: number;
  readonly driver: PackedDriver;
  private readonly deviceSide: PackedDevice | undefined;

  constructor(
    readonly mem: GuestMemory,
    options: PackedQueueOptions = {},
    attachTo?: PackedQueueHandle,
  ) {
    const size = attachTo?.size ?? options.size ?? 256;
    this.layout = packedRingLayout(size);
    this.size = size;
    this.name = attachTo?.name ?? options.name ?? 'vq0';
    this.eventIdx = attachTo?.eventIdx ?? options.eventIdx ?? false;
    this.indirect = attachTo?.indirect ?? options.indirect ?? false;
    this.inOrder = attachTo?.inOrder ?? options.inOrder ?? false;
    this.engineName = options.engine ?? 'wasm';
    if (this.engineName === 'wasm') this.engine = mem.core;
    else if (this.engineName === 'reference') this.engine = new ReferencePackedEngine(mem.memory);
    else throw new ConfigError(`engine ${String(this.engineName)}: must be wasm or reference`);

    if (attachTo) {
      this.ringAddr = attachTo.ringAddr;
      this.ringDma = attachTo.ringDma;
      this.statsBlock = attachTo.statsBlock;
      this.driver = new PackedDriver(this, attachTo.driver);
      this.deviceSide = PackedDevice.attach(mem, attachTo.device, size, { engine: this.engine, name: this.name });
      return;
    }
    const indirectMax = options.indirectMax ?? Math.min(size, 32);
    if (!Number.isInteger(indirectMax) || indirectMax < 1 || indirectMax > size) {
      throw new ConfigError(`indirectMax ${indirectMax}: must be from 1 to the queue size (${size})`);
    }
    const dma = options.dma ?? directDriverDma(mem);
    const rm = options.ringMemory ?? dma.allocCoherent(this.layout.total, 16);
    checkRingMemory(rm, this.layout.total, 16);
    this.ringAddr = rm.addr;
    this.ringDma = rm.dma ?? rm.addr;
    const flags =
      (this.eventIdx ? L.QF_EVENT_IDX : 0) |
      (this.indirect ? L.QF_INDIRECT : 0) |
      (this.inOrder ? L.QF_IN_ORDER : 0) |
      modeFlags(options, this.engineName === 'reference', this.name);
    const ring = mem.linear(this.ringAddr, this.layout.total);
    this.statsBlock = mem.hostAlloc(L.ST_SIZE);
    this.driver = PackedDriver.create(this, ring, flags, this.indirect ? indirectMax : 0, dma);
    const { desc, driver, device } = this.areas;
    // Each side counts in its own block: a driver's queue on its own is named
    // as it is, a pair's two halves by side.
    const paired = options.deviceFace !== false;
    registerStats(mem.memory, 'ring', paired ? `${this.name}.driver` : this.name, this.statsBlock);
    if (!paired) return;
    this.deviceSide = PackedDevice.fromAreas(
      options.device ?? directDeviceView(mem),
      { size, desc, driver, device, eventIdx: this.eventIdx, indirect: this.indirect, inOrder: this.inOrder },
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

  /** The device face paired with this driver (see PackedQueueOptions.deviceFace). */
  get device(): PackedDevice {
    if (!this.deviceSide) {
      throw new ConfigError(
        `${this.name}: a driver's queue has no device face here; the device builds its own from the areas it was given`,
      );
    }
    return this.deviceSide;
  }

  /** Everything another thread needs to drive this queue over the same memory. */
  handle(): PackedQueueHandle {
    return {
      kind: 'packed',
      name: this.name,
      size: this.size,
      eventIdx: this.eventIdx,
      indirect: this.indirect,
      inOrder: this.inOrder,
      ringAddr: this.ringAddr,
      ringDma: this.ringDma,
      statsBlock: this.statsBlock,
      driver: { ...this.driver.addrs },
      device: { ...this.device.addrs },
    };
  }

  /** A second face of a queue that lives in `mem`; nothing is allocated or reset. */
  static attach(mem: GuestMemory, handle: PackedQueueHandle, engine: EngineName = 'wasm'): PackedQueue {
    return new PackedQueue(mem, { engine }, handle);
  }

  /** The queue's counters: the driver's half from its block, the device's from the device's. */
  stats(): QueueStats {
    const driver = readStats(this.mem.view, this.statsBlock);
    // A driver's queue alone (no device face here) has the driver's half only.
    return this.deviceSide ? sumStats(driver, this.deviceSide.stats()) : driver;
  }

  /** Addresses of the three areas as the device is given them (a transport programs these). */
  get areas(): { desc: number; driver: number; device: number } {
    return {
      desc: this.ringDma + this.layout.desc,
      driver: this.ringDma + this.layout.driver,
      device: this.ringDma + this.layout.device,
    };
  }
}

import type { GuestMemory } from '../memory/guest-memory.js';
import type { GuestBuffer } from './buffers.js';
import type { EngineName } from './engine.js';
import type { QueueStats } from './stats.js';
import type { Chain, UsedElem } from './device-face.js';
import type { Completion } from './driver-face.js';
import { SplitQueue } from './split/queue.js';
import { PackedQueue } from './packed/queue.js';
import type { RequestBatch } from './split/request-batch.js';
import { ConfigError, DeviceError, VqsimError } from '../errors.js';
import type { DriverDma, RingMemory } from './ring-memory.js';
import type { DeviceHost, DeviceRingOptions, ProgrammedRing } from './device-host.js';
import { SplitDevice } from './split/device.js';
import { PackedDevice } from './packed/device.js';
import type { TrustModeOptions } from './modes.js';

export type RingKind = 'split' | 'packed';

/** The guest driver's face of a virtqueue, the same for every ring kind. */
export interface QueueDriver {
  readonly completions: Uint32Array;
  readonly numFree: number;
  readonly broken: boolean;
  addBatch(batch: RequestBatch): number;
  add(
    out: readonly GuestBuffer[],
    inBufs?: readonly GuestBuffer[],
    token?: number,
    opts?: { indirect?: boolean },
  ): boolean;
  kick(): boolean;
  reap(max?: number): number;
  getUsed(max?: number): Completion[];
  disableCallbacks(): void;
  enableCallbacks(): boolean;
}

/** The device's face of a virtqueue, the same for every ring kind. */
export interface QueueDevice {
  readonly broken: boolean;
  readonly inflight: number;
  /** Linear address of the pop output: POP_* chain records first. */
  readonly popOut: number;
  /** Most records one popBatch lays out. */
  readonly popChains: number;
  /** Most elements one popBatch lays out. */
  readonly popElements: number;
  /** Linear address of the ELEM_* elements of the last popBatch (after the records it asked for). */
  readonly popElementsAt: number;
  popBatch(max?: number): number;
  chain(k: number): Chain;
  pop(max?: number): Chain[];
  pushPopped(n: number): number;
  /** Up to max chains, each popped and pushed back used before the next, in one engine call (a loopback device's turn; see DeviceFace.useBatch). */
  useBatch(max?: number): number;
  push(elems: readonly UsedElem[]): number;
  shouldNotify(): boolean;
  setNotify(enable: boolean): boolean;
  /** The counters of the stats block this side writes. */
  stats(): QueueStats;
  /** Linear address of that stats block (host memory). */
  readonly statsBlock: number;
}

/** A virtqueue of either ring kind. */
export interface Virtqueue {
  readonly mem: GuestMemory;
  readonly name: string;
  readonly size: number;
  readonly engineName: EngineName;
  readonly driver: QueueDriver;
  readonly device: QueueDevice;
  stats(): QueueStats;
}

/**
 * Options of createQueue. The trust modes (TrustModeOptions: hardened,
 * nospec, usedLenCheck) apply to the driver face and, for hardened and
 * nospec, to the paired device face too.
 */
export interface QueueOptions extends TrustModeOptions {
  /** 'split' (default) or 'packed'. */
  ring?: RingKind;
  size?: number;
  eventIdx?: boolean;
  indirect?: boolean;
  indirectMax?: number;
  /** VIRTIO_F_IN_ORDER (packed ring only; see PackedQueueOptions.inOrder). Default false. */
  inOrder?: boolean;
  engine?: EngineName;
  name?: string;
  /** Buffers the device's pop output holds per call (see SplitQueueOptions). */
  popElements?: number;
  /** Caller-allocated ring memory, e.g. from DmaApi.allocCoherent (see SplitQueueOptions). */
  ringMemory?: RingMemory;
  /** The driver's DMA domain (see SplitQueueOptions.dma). */
  dma?: DriverDma;
  /** The device's DMA view the paired device face is built through (see SplitQueueOptions.device). */
  device?: DeviceHost;
  /** False: a driver's queue only, whose device side the transport's device builds. */
  deviceFace?: boolean;
}

/** Builds a queue of the ring kind asked for; code written against Virtqueue runs on both. */
export function createQueue(mem: GuestMemory, options: QueueOptions = {}): Virtqueue {
  const { ring = 'split', inOrder, ...rest } = options;
  if (ring === 'split') {
    if (inOrder) throw new ConfigError('inOrder: VIRTIO_F_IN_ORDER is implemented for ring packed only');
    return new SplitQueue(mem, rest);
  }
  if (ring === 'packed') return new PackedQueue(mem, { ...rest, inOrder });
  throw new ConfigError(`ring ${String(ring)}: must be split or packed`);
}

/**
 * The device's own face of a queue the driver programmed through a transport,
 * for either ring kind: the areas are reached through the device's checked DMA
 * translation (its DmaView), and its state lives in its own host memory.
 */
export function deviceQueueFromAreas(
  host: DeviceHost,
  ring: ProgrammedRing & { ring: RingKind },
  options: DeviceRingOptions = {},
): QueueDevice {
  try {
    if (ring.ring === 'split') return SplitDevice.fromAreas(host, ring, options);
    if (ring.ring === 'packed') return PackedDevice.fromAreas(host, ring, options);
  } catch (e) {
    // An area the device's DMA context cannot reach: the driver programmed a
    // ring where the device may not go (QEMU's virtio_queue_set_rings: "Cannot
    // map descriptor ring"; vhost: "Invalid ring" addresses).
    if (e instanceof VqsimError && e.code === 'DMA_FAULT') {
      throw new DeviceError(
        'RING_UNMAPPABLE',
        `Cannot map descriptor ring (desc 0x${ring.desc.toString(16)}, driver area 0x${ring.driver.toString(16)}, device area 0x${ring.device.toString(16)}): ${e.message}`,
        'driver',
      );
    }
    throw e;
  }
  throw new ConfigError(`ring ${String(ring.ring)}: must be split or packed`);
}

// The guest-side bring-up of a virtio device, after Linux's virtio.c
// (virtio_dev_probe, virtio_find_vqs) and virtio_config.h (__virtio_cread_many):
// the generation-stable config read and the probe sequence, the same over PCI
// and MMIO (through TransportAccess).

import { TransportError } from '../errors.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { Status } from '../spec/config.js';
import { Feature } from '../spec/features.js';
import type { EngineName } from '../virtqueue/engine.js';
import { hasFeature } from '../virtqueue/features.js';
import { DriverFace } from '../virtqueue/driver-face.js';
import { createQueue, type Virtqueue } from '../virtqueue/queue.js';
import { directDriverDma, type DriverDma } from '../virtqueue/ring-memory.js';
import { MmioDriverAccess, type TransportAccess } from './transport-access.js';

/**
 * Rounds of a generation-stable config read before CONFIG_UNSTABLE. Linux's
 * __virtio_cread_many loops without a bound; a hardened guest cannot let a
 * device keep it there.
 */
export const CONFIG_GENERATION_RETRIES = 64;
/** Largest queue size a ring takes (VIRTIO 1.2 §2.7 and §2.8: Queue Size is at most 32768). */
export const MAX_QUEUE_SIZE = 32768;

/**
 * Reads config fields consistently (VIRTIO 1.2 §2.5.1, Linux's
 * __virtio_cread_many): read the generation, run `read`, read the generation
 * again, and repeat while it changed. A device that never settles gets a
 * named error after `maxTries` rounds instead of hanging the driver.
 */
export function readConfigStable<T>(access: TransportAccess, read: () => T, maxTries = CONFIG_GENERATION_RETRIES): T {
  for (let i = 0; i < maxTries; i++) {
    const before = access.generation();
    const value = read();
    if (access.generation() === before) return value;
  }
  throw new TransportError('CONFIG_UNSTABLE', `config generation changed on each of ${maxTries} reads`);
}

/** Reads a 64-bit config field as two 32-bit halves (inside a readConfigStable callback). */
export function readConfig64(access: TransportAccess, offset: number): bigint {
  const lo = access.readConfig(offset, 4);
  const hi = access.readConfig(offset + 4, 4);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * The guest's feature policy per device, set by whoever builds the machine
 * (src/sim/machine.ts from the trust policy): given the features the driver
 * would accept, it returns those it may, before FEATURES_OK. Kept beside the
 * access rather than in each driver's options so every driver's probe obeys it.
 */
const featurePolicies = new WeakMap<TransportAccess, (features: bigint) => bigint>();

/** Sets (or with undefined clears) the feature policy the probe applies to `access`. */
export function setFeaturePolicy(access: TransportAccess, policy: ((features: bigint) => bigint) | undefined): void {
  if (policy) featurePolicies.set(access, policy);
  else featurePolicies.delete(access);
}

export interface ProbeOptions {
  /** Every feature bit the driver understands; the probe accepts those the device offers too. VERSION_1 is implied. */
  features: bigint;
  /** Queues to set up, from 0. Default: all the device has. */
  queues?: number;
  /**
   * The device's queue indices to set up, in order, instead of 0..queues-1:
   * virtio-net sets up the pairs it uses and its control queue, which sits
   * after every pair the device has (VIRTIO 1.2 §5.1.2: controlq is 2N).
   */
  queueIndices?: number[];
  /** Queue size wanted (capped at each queue's maximum). Default 256. */
  queueSize?: number;
  /** Engine for the driver's queues. Default 'wasm'. */
  engine?: EngineName;
  /** Descriptors per indirect table, when INDIRECT_DESC is negotiated. */
  indirectMax?: number;
  /**
   * Device-specific checks before FEATURES_OK (Linux's driver->validate): may
   * read config and return the features to accept instead (e.g. drop a bit).
   */
  validate?: (access: TransportAccess, features: bigint) => bigint | void;
  /**
   * The guest DMA API for this device (DmaApi.driverDma()): rings and
   * indirect tables come from its dma_alloc_coherent, as Linux's
   * vring_alloc_queue does, and buffers must lie in its DMA window. Default:
   * direct DMA, shared guest pages with DMA address = guest physical address.
   */
  dma?: DriverDma;
  /**
   * Check what the device says (default: the access's own `hardened`): the
   * VERSION_1, FEATURES_OK, NEEDS_RESET, feature read-back and queue size
   * checks. Off, the probe believes the device (the naive side of an attack).
   */
  hardened?: boolean;
}

/** A device after a successful probe: DRIVER_OK is set and its queues are live. */
export interface ProbedDevice {
  access: TransportAccess;
  deviceId: number;
  offered: bigint;
  features: bigint;
  queues: Virtqueue[];
  /**
   * Frees the rings, indirect tables and the driver's private pages the
   * probe allocated (Linux's del_vqs). Only after a reset the device
   * finished: until then it may still reach them. Idempotent.
   */
  release(): void;
}

const hex = (n: bigint | number): string => '0x' + n.toString(16);

/**
 * The driver-side bring-up, as Linux's virtio_dev_probe plus find_vqs does it
 * (VIRTIO 1.2 §3.1.1): reset; ACKNOWLEDGE; DRIVER; read the device features;
 * refuse a device without VERSION_1; accept (wanted ∩ offered); FEATURES_OK
 * and read it back; build each queue in guest memory for the negotiated ring
 * (RING_PACKED selects the packed ring, EVENT_IDX and INDIRECT_DESC carry
 * over) and program and enable it; DRIVER_OK.
 *
 * Hardened, it also refuses a device that changes its feature bits between
 * two reads (FEATURES_CHANGED), reads back driver features it was not given
 * (FEATURES_MISMATCH), sets NEEDS_RESET before DRIVER_OK (DEVICE_FAILED), or
 * offers a queue size a ring cannot take (QUEUE_SIZE).
 *
 * On a failure after ACKNOWLEDGE it resets the device (so that it lets go of
 * the rings: del_vqs follows virtio_reset_device in Linux's probe error
 * path), frees every ring and indirect table it allocated, sets FAILED, and
 * throws the named error.
 */
export function probeDevice(access: TransportAccess, mem: GuestMemory, options: ProbeOptions): ProbedDevice {
  const hardened = options.hardened ?? access.hardened;
  if (hardened && access instanceof MmioDriverAccess) access.checkIdentity();
  access.reset();
  access.setStatus(Status.ACKNOWLEDGE);
  // Every coherent allocation the queues make goes through here, so a failed probe can give them back.
  const base = options.dma ?? directDriverDma(mem);
  const allocated: number[] = [];
  const dma: DriverDma = {
    base: base.base,
    bytes: base.bytes,
    allocCoherent: (bytes, align) => {
      const r = base.allocCoherent(bytes, align);
      allocated.push(r.addr);
      return r;
    },
  };
  const queues: Virtqueue[] = [];
  try {
    access.setStatus(access.getStatus() | Status.DRIVER);
    const offered = access.getDeviceFeatures();
    if (hardened && !hasFeature(offered, Feature.VERSION_1)) {
      throw new TransportError(
        'NO_VERSION_1',
        `virtio: device ${access.deviceId()} uses modern interface but does not have VIRTIO_F_VERSION_1`,
      );
    }
    let features = (options.features | (1n << BigInt(Feature.VERSION_1))) & offered;
    const v = options.validate?.(access, features);
    if (typeof v === 'bigint') features = v & offered;
    // The guest's policy has the last word on what is negotiated.
    const policy = featurePolicies.get(access);
    if (policy) features = policy(features) & features;
    // A driver accepts only what it implements: vqsim's split ring has no
    // in-order mode, so IN_ORDER goes with RING_PACKED or not at all.
    if (!hasFeature(features, Feature.RING_PACKED)) features &= ~(1n << BigInt(Feature.IN_ORDER));
    access.setDriverFeatures(features);
    access.setStatus(access.getStatus() | Status.FEATURES_OK);
    const status = access.getStatus();
    if (hardened && !(status & Status.FEATURES_OK)) {
      throw new TransportError('FEATURES_REFUSED', `virtio: device refuses features: ${hex(features)}`);
    }
    // virtio_dev_probe: a device that asks for a reset while its features
    // are validated gets no DRIVER_OK (the check is repeated before DRIVER_OK).
    if (hardened && status & Status.NEEDS_RESET) {
      throw new TransportError('DEVICE_FAILED', `virtio: device ${access.deviceId()} needs a reset during probe`);
    }
    if (hardened) checkFeatureReadback(access, offered, features);
    const ring = hasFeature(features, Feature.RING_PACKED) ? 'packed' : 'split';
    const indices = options.queueIndices ?? Array.from({ length: options.queues ?? access.numQueues() }, (_, k) => k);
    access.setupConfigInterrupt();
    for (const i of indices) {
      const max = access.queueMaxSize(i);
      if (hardened) checkQueueMax(i, max, ring);
      let size = Math.min(options.queueSize ?? 256, max);
      if (ring === 'split') size = 2 ** Math.floor(Math.log2(size)); // split sizes are powers of two
      if (!Number.isInteger(size) || size < 1) {
        throw new TransportError('QUEUE_SIZE', `virtio: queue ${i} size ${size} is not usable`);
      }
      // The device side is the transport's: it builds its own face from the
      // areas programmed below, through its DMA context.
      const vq = createQueue(mem, {
        ring,
        size,
        dma,
        deviceFace: false,
        eventIdx: hasFeature(features, Feature.EVENT_IDX),
        indirect: hasFeature(features, Feature.INDIRECT_DESC),
        inOrder: ring === 'packed' && hasFeature(features, Feature.IN_ORDER),
        indirectMax: options.indirectMax,
        engine: options.engine,
        // A naive driver's rings believe the device too (virtio_ring.c before its hardening).
        hardened,
        name: access.name === undefined ? `vq${i}` : `${access.name}.vq${i}`,
      });
      queues.push(vq);
      access.setupQueue(i, vq);
    }
    if (hardened && access.getStatus() & Status.NEEDS_RESET) {
      throw new TransportError(
        'DEVICE_FAILED',
        `virtio: device ${access.deviceId()} needs a reset during probe (after queue setup)`,
      );
    }
    access.setStatus(access.getStatus() | Status.DRIVER_OK);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      releaseQueues(base, allocated, queues);
    };
    return { access, deviceId: access.deviceId(), offered, features, queues, release };
  } catch (e) {
    failProbe(access, base, allocated, queues, e instanceof TransportError && e.code === 'DEVICE_FAILED');
    throw e;
  }
}

/**
 * The probe's error path. Once rings exist (or the device asked for it with
 * NEEDS_RESET) the device is reset first, so that it lets go of them, and
 * the rings and indirect tables are freed: the driver's probe error path in
 * Linux (virtio_reset_device, then del_vqs). A device that does not finish
 * that reset (bounded) may still reach them, so they are left allocated.
 * Then FAILED, as virtio_dev_probe's error path sets it.
 */
function failProbe(
  access: TransportAccess,
  dma: DriverDma,
  allocated: readonly number[],
  queues: readonly Virtqueue[],
  needsReset: boolean,
): void {
  if (allocated.length > 0 || needsReset) {
    let quiesced = true;
    try {
      access.reset();
    } catch {
      quiesced = false;
    }
    if (quiesced) releaseQueues(dma, allocated, queues);
  }
  access.setStatus(access.getStatus() | Status.FAILED);
}

/** del_vqs: the driver's private pages the device never sees, then the rings and indirect tables. */
function releaseQueues(dma: DriverDma, allocated: readonly number[], queues: readonly Virtqueue[]): void {
  for (const vq of queues) if (vq.driver instanceof DriverFace) vq.driver.freePrivate();
  if (dma.freeCoherent) for (let k = allocated.length - 1; k >= 0; k--) dma.freeCoherent(allocated[k]!);
}

/**
 * The queues (or queue pairs) a multiqueue driver uses when the device
 * offers `n`: at most one per guest CPU, as virtio_blk's init_vq
 * (min(num_queues, nr_cpu_ids): only those are set up, so a device cannot
 * make the driver spend guest RAM on rings at will) and virtnet_probe
 * (min(max_queue_pairs, num_online_cpus()) pairs; here only those get rings) do. A cut is counted in
 * access.counters.queuesCapped (catalogue: QUEUES_CAPPED). The naive access
 * takes what the device offers.
 */
export function capQueues(access: TransportAccess, n: number): number {
  return access.capQueues(n);
}

/**
 * After FEATURES_OK: the device's offer must read the same as before, and
 * (where the transport lets the driver read its own features back: PCI's
 * driver_feature) the device must hold exactly what the driver wrote, or the
 * two sides disagree on what was negotiated.
 */
function checkFeatureReadback(access: TransportAccess, offered: bigint, features: bigint): void {
  const again = access.getDeviceFeatures();
  if (again !== offered) {
    throw new TransportError(
      'FEATURES_CHANGED',
      `virtio: device features changed from ${hex(offered)} to ${hex(again)} during probe`,
    );
  }
  const held = access.getDriverFeatures?.();
  if (held !== undefined && held !== features) {
    throw new TransportError(
      'FEATURES_MISMATCH',
      `virtio: device holds driver features ${hex(held)}, the driver wrote ${hex(features)}`,
    );
  }
}

/**
 * A queue's maximum size as the device reports it (vp_modern_create_virtqueue,
 * vring_create_virtqueue_split): 0 is no queue, and a split ring needs a
 * power of two ("Bad virtqueue length"), every ring at most 32768.
 */
function checkQueueMax(index: number, max: number, ring: 'split' | 'packed'): void {
  if (max === 0) throw new TransportError('QUEUE_UNAVAILABLE', `virtio: queue ${index} is not available`);
  if (max > MAX_QUEUE_SIZE) {
    throw new TransportError('QUEUE_SIZE', `virtio: queue ${index}: bad queue size ${max} (at most ${MAX_QUEUE_SIZE})`);
  }
  if (ring === 'split' && (max & (max - 1)) !== 0) {
    throw new TransportError('QUEUE_SIZE', `virtio: queue ${index}: Bad virtqueue length ${max}`);
  }
}

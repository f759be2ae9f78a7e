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
import { createQueue, type Virtqueue } from '../virtqueue/queue.js';
import type { DriverDma } from '../virtqueue/ring-memory.js';
import { MmioDriverAccess, type TransportAccess } from './transport-access.js';

/**
 * Reads config fields consistently (VIRTIO 1.2 §2.5.1, Linux's
 * __virtio_cread_many): read the generation, run `read`, read the generation
 * again, and repeat while it changed. A device that never settles gets a
 * named error after `maxTries` rounds instead of hanging the driver.
 */
export function readConfigStable<T>(access: TransportAccess, read: () => T, maxTries = 64): T {
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
}

/** A device after a successful probe: DRIVER_OK is set and its queues are live. */
export interface ProbedDevice {
  access: TransportAccess;
  deviceId: number;
  offered: bigint;
  features: bigint;
  queues: Virtqueue[];
}

/**
 * The driver-side bring-up, as Linux's virtio_dev_probe plus find_vqs does it
 * (VIRTIO 1.2 §3.1.1): reset; ACKNOWLEDGE; DRIVER; read the device features;
 * refuse a device without VERSION_1; accept (wanted ∩ offered); FEATURES_OK
 * and read it back; build each queue in guest memory for the negotiated ring
 * (RING_PACKED selects the packed ring, EVENT_IDX and INDIRECT_DESC carry
 * over) and program and enable it; DRIVER_OK. On a failure after ACKNOWLEDGE
 * it sets FAILED, as Linux does, and throws the named error.
 */
export function probeDevice(access: TransportAccess, mem: GuestMemory, options: ProbeOptions): ProbedDevice {
  if (access instanceof MmioDriverAccess) access.checkIdentity();
  access.reset();
  access.setStatus(Status.ACKNOWLEDGE);
  try {
    access.setStatus(access.getStatus() | Status.DRIVER);
    const offered = access.getDeviceFeatures();
    if (!hasFeature(offered, Feature.VERSION_1)) {
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
    if (!(status & Status.FEATURES_OK)) {
      throw new TransportError('FEATURES_REFUSED', `virtio: device refuses features: 0x${features.toString(16)}`);
    }
    if (status & Status.NEEDS_RESET) {
      throw new TransportError('DEVICE_FAILED', `virtio: device ${access.deviceId()} needs a reset during probe`);
    }
    const ring = hasFeature(features, Feature.RING_PACKED) ? 'packed' : 'split';
    const n = options.queues ?? access.numQueues();
    access.setupConfigInterrupt();
    const queues: Virtqueue[] = [];
    for (let i = 0; i < n; i++) {
      const max = access.queueMaxSize(i);
      if (max === 0) throw new TransportError('QUEUE_UNAVAILABLE', `virtio: queue ${i} is not available`);
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
        dma: options.dma,
        deviceFace: false,
        eventIdx: hasFeature(features, Feature.EVENT_IDX),
        indirect: hasFeature(features, Feature.INDIRECT_DESC),
        inOrder: ring === 'packed' && hasFeature(features, Feature.IN_ORDER),
        indirectMax: options.indirectMax,
        engine: options.engine,
        name: access.name === undefined ? `vq${i}` : `${access.name}.vq${i}`,
      });
      access.setupQueue(i, vq);
      queues.push(vq);
    }
    access.setStatus(access.getStatus() | Status.DRIVER_OK);
    return { access, deviceId: access.deviceId(), offered, features, queues };
  } catch (e) {
    access.setStatus(access.getStatus() | Status.FAILED);
    throw e;
  }
}

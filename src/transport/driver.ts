// The guest driver's side of a transport, after Linux's virtio_pci_modern.c,
// virtio_mmio.c and virtio.c (virtio_dev_probe): register accessors behind one
// interface (like struct virtio_config_ops), the generation-stable config read,
// interrupt dispatch, and the probe sequence.

import type { GuestMemory } from '../memory/guest-memory.js';
import type { EngineName } from '../virtqueue/engine.js';
import { Feature, hasFeature } from '../virtqueue/features.js';
import { PackedQueue } from '../virtqueue/packed/queue.js';
import { createQueue, type Virtqueue } from '../virtqueue/queue.js';
import { SplitQueue } from '../virtqueue/split/queue.js';
import type { RingMemory } from '../virtqueue/ring-memory.js';
import { splitRingLayout } from '../virtqueue/split/layout.js';
import { packedRingLayout } from '../virtqueue/packed/layout.js';
import {
  Isr,
  Mmio,
  PciCommon,
  Status,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VERSION,
  VIRTIO_MSI_NO_VECTOR,
} from './constants.js';
import type { InterruptEvent } from './core.js';
import type { ConfigWidth } from './device-model.js';
import { TransportError } from './errors.js';
import type { VirtioMmioTransport } from './mmio.js';
import { PciBarLayout, type VirtioPciTransport } from './pci.js';

/** Guest addresses of a queue's three areas, whatever the ring kind. */
export interface QueueAreas {
  desc: number;
  driver: number;
  device: number;
}

/** The areas of a queue built by createQueue (split: desc/avail/used; packed: desc/driver/device). */
export function queueAreas(vq: Virtqueue): QueueAreas {
  if (vq instanceof SplitQueue) {
    const a = vq.areas;
    return { desc: a.desc, driver: a.avail, device: a.used };
  }
  if (vq instanceof PackedQueue) return vq.areas;
  throw new TransportError('BAD_OPTION', `queue ${vq.name}: not a SplitQueue or PackedQueue, its areas are unknown`);
}

/**
 * What a guest driver does with a transport, the same for PCI and MMIO
 * (Linux's struct virtio_config_ops). Every call is one or more register
 * accesses, counted by the transport.
 */
export interface TransportAccess {
  readonly kind: 'pci' | 'mmio';
  /**
   * The guest's name for the device (Linux's dev_name, "virtio0"); the probe
   * names its queues "<name>.vq<i>" (their stats blocks too). Unset: "vq<i>".
   */
  readonly name?: string;
  /** The virtio device ID. */
  deviceId(): number;
  getStatus(): number;
  setStatus(status: number): void;
  /** Writes 0 and reads the status back until it is 0 (VIRTIO 1.2 §2.4). */
  reset(): void;
  /** The 64 offered feature bits, read through the select register. */
  getDeviceFeatures(): bigint;
  /** Writes the 64 accepted feature bits through the select register. */
  setDriverFeatures(features: bigint): void;
  /** The config generation counter. */
  generation(): number;
  readConfig(offset: number, width: ConfigWidth): number;
  writeConfig(offset: number, width: ConfigWidth, value: number): void;
  /** Number of queues the device has (PCI num_queues; MMIO: queues until QueueNumMax reads 0). */
  numQueues(): number;
  /** Maximum size of queue `index`; 0 when it does not exist. */
  queueMaxSize(index: number): number;
  /** Sets up the config-change interrupt (PCI: the MSI-X config vector). Before queues. */
  setupConfigInterrupt(): void;
  /** Programs queue `index` with `vq`'s size and areas, and enables it; throws when the device refuses. */
  setupQueue(index: number, vq: Virtqueue): void;
  /** Rings queue `index`'s doorbell. */
  notify(index: number): void;
  /** Called on a used-buffer interrupt for queue `index`. */
  onQueueInterrupt(index: number, fn: () => void): void;
  /** Called on a configuration-change interrupt. */
  onConfigInterrupt(fn: () => void): void;
}

/** Bookkeeping shared by both accessors: which callback runs on which interrupt. */
abstract class AccessBase {
  protected readonly queueCb: (() => void)[] = [];
  protected configCb: (() => void) | undefined;
  onQueueInterrupt(index: number, fn: () => void): void {
    this.queueCb[index] = fn;
  }
  onConfigInterrupt(fn: () => void): void {
    this.configCb = fn;
  }
  protected dispatchIsr(isr: number): void {
    if (isr & Isr.CONFIG) this.configCb?.();
    if (isr & Isr.QUEUE) for (const fn of this.queueCb) fn?.();
  }
}

export interface PciAccessOptions {
  /** Use MSI-X when the function has it (default true); otherwise INTx with the ISR register. */
  msix?: boolean;
  /** The guest's name for the device (see TransportAccess.name). */
  name?: string;
}

/** Guest-side access to a VirtioPciTransport, like Linux's virtio_pci_modern_dev helpers. */
export class PciDriverAccess extends AccessBase implements TransportAccess {
  readonly kind = 'pci' as const;
  readonly name: string | undefined;
  private readonly msix: boolean;
  /** Queues on each MSI-X vector. */
  private readonly vectorQueues = new Map<number, number[]>();

  constructor(
    readonly transport: VirtioPciTransport,
    options: PciAccessOptions = {},
  ) {
    super();
    this.name = options.name;
    this.msix = (options.msix ?? true) && transport.msixVectors >= 2;
    transport.setMsixEnabled(this.msix);
    transport.setInterruptHandler((irq) => this.interrupt(irq));
  }

  private r(off: number, w: number): number {
    return this.transport.readCommon(off, w);
  }
  private w(off: number, w: number, v: number): void {
    this.transport.writeCommon(off, w, v);
  }

  deviceId(): number {
    return this.transport.pciDeviceId - 0x1040;
  }
  getStatus(): number {
    return this.r(PciCommon.DEVICE_STATUS, 1);
  }
  setStatus(status: number): void {
    this.w(PciCommon.DEVICE_STATUS, 1, status);
  }
  reset(): void {
    this.setStatus(0);
    // vp_modern_set_status(0) then wait until the device reads 0 back.
    for (let i = 0; i < 1000; i++) if (this.getStatus() === 0) return;
    throw new TransportError('RESET_TIMEOUT', 'virtio-pci: device status did not read back 0 after reset');
  }
  getDeviceFeatures(): bigint {
    this.w(PciCommon.DEVICE_FEATURE_SELECT, 4, 0);
    const lo = this.r(PciCommon.DEVICE_FEATURE, 4);
    this.w(PciCommon.DEVICE_FEATURE_SELECT, 4, 1);
    const hi = this.r(PciCommon.DEVICE_FEATURE, 4);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  setDriverFeatures(features: bigint): void {
    this.w(PciCommon.DRIVER_FEATURE_SELECT, 4, 0);
    this.w(PciCommon.DRIVER_FEATURE, 4, Number(features & 0xffffffffn));
    this.w(PciCommon.DRIVER_FEATURE_SELECT, 4, 1);
    this.w(PciCommon.DRIVER_FEATURE, 4, Number((features >> 32n) & 0xffffffffn));
  }
  generation(): number {
    return this.r(PciCommon.CONFIG_GENERATION, 1);
  }
  readConfig(offset: number, width: ConfigWidth): number {
    return this.transport.readDeviceConfig(offset, width);
  }
  writeConfig(offset: number, width: ConfigWidth, value: number): void {
    this.transport.writeDeviceConfig(offset, width, value);
  }
  numQueues(): number {
    return this.r(PciCommon.NUM_QUEUES, 2);
  }
  queueMaxSize(index: number): number {
    this.w(PciCommon.QUEUE_SELECT, 2, index);
    return this.r(PciCommon.QUEUE_SIZE, 2);
  }
  setupConfigInterrupt(): void {
    if (!this.msix) return;
    // vp_find_vqs_msix: vector 0 for config changes.
    this.w(PciCommon.CONFIG_MSIX_VECTOR, 2, 0);
    if (this.r(PciCommon.CONFIG_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) {
      throw new TransportError('MSIX_VECTOR_REFUSED', 'virtio-pci: config_msix_vector 0 read back as NO_VECTOR');
    }
  }
  setupQueue(index: number, vq: Virtqueue): void {
    const a = queueAreas(vq);
    this.w(PciCommon.QUEUE_SELECT, 2, index);
    this.w(PciCommon.QUEUE_SIZE, 2, vq.size);
    writeAddr((o, v) => this.w(o, 4, v), PciCommon.QUEUE_DESC_LO, a.desc);
    writeAddr((o, v) => this.w(o, 4, v), PciCommon.QUEUE_DRIVER_LO, a.driver);
    writeAddr((o, v) => this.w(o, 4, v), PciCommon.QUEUE_DEVICE_LO, a.device);
    if (this.msix) {
      // One vector per queue after the config vector; queues share when the table is short.
      const vector = 1 + (index % (this.transport.msixVectors - 1));
      this.w(PciCommon.QUEUE_MSIX_VECTOR, 2, vector);
      if (this.r(PciCommon.QUEUE_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) {
        throw new TransportError(
          'MSIX_VECTOR_REFUSED',
          `virtio-pci: queue ${index} vector ${vector} read back as NO_VECTOR`,
        );
      }
      const list = this.vectorQueues.get(vector) ?? [];
      list.push(index);
      this.vectorQueues.set(vector, list);
    }
    this.w(PciCommon.QUEUE_ENABLE, 2, 1);
    if (this.r(PciCommon.QUEUE_ENABLE, 2) !== 1) {
      throw new TransportError(
        'QUEUE_ENABLE_REFUSED',
        `virtio-pci: queue ${index} did not enable (${this.transport.lastRejection() ?? 'no reason given'})`,
      );
    }
  }
  /** Rings the doorbell at NOTIFY + queue_notify_off × notify_off_multiplier, writing the queue index. */
  notify(index: number): void {
    this.transport.barWrite(PciBarLayout.NOTIFY + this.notifyOff(index) * this.transport.notifyOffMultiplier, 2, index);
  }
  private readonly notifyOffs: number[] = [];
  private notifyOff(index: number): number {
    // Read once per queue at setup in Linux; cached here on first use.
    let off = this.notifyOffs[index];
    if (off === undefined) {
      this.w(PciCommon.QUEUE_SELECT, 2, index);
      off = this.r(PciCommon.QUEUE_NOTIFY_OFF, 2);
      this.notifyOffs[index] = off;
    }
    return off;
  }
  private interrupt(irq: InterruptEvent): void {
    if (irq.line === 'intx') {
      this.dispatchIsr(this.transport.readIsr()); // vp_interrupt: read to clear
      return;
    }
    if (irq.vector === 0) this.configCb?.();
    for (const q of this.vectorQueues.get(irq.vector) ?? []) this.queueCb[q]?.();
  }
}

/** Guest-side access to a VirtioMmioTransport, like Linux's virtio_mmio.c. */
export class MmioDriverAccess extends AccessBase implements TransportAccess {
  readonly kind = 'mmio' as const;
  readonly name: string | undefined;

  /** `options.name`: the guest's name for the device (see TransportAccess.name). */
  constructor(
    readonly transport: VirtioMmioTransport,
    options: { name?: string } = {},
  ) {
    super();
    this.name = options.name;
    transport.setInterruptHandler(() => this.interrupt());
  }

  /** virtio_mmio_probe's checks: magic value and version 2. */
  checkIdentity(): void {
    const magic = this.transport.read(Mmio.MAGIC_VALUE);
    if (magic !== VIRTIO_MMIO_MAGIC) {
      throw new TransportError('BAD_MAGIC', `virtio-mmio: wrong magic value 0x${magic.toString(16)}`);
    }
    const version = this.transport.read(Mmio.VERSION);
    if (version !== VIRTIO_MMIO_VERSION) {
      throw new TransportError('BAD_VERSION', `virtio-mmio: version ${version} not supported (only 2)`);
    }
  }

  deviceId(): number {
    return this.transport.read(Mmio.DEVICE_ID);
  }
  getStatus(): number {
    return this.transport.read(Mmio.STATUS);
  }
  setStatus(status: number): void {
    this.transport.write(Mmio.STATUS, 4, status);
  }
  reset(): void {
    this.setStatus(0);
    for (let i = 0; i < 1000; i++) if (this.getStatus() === 0) return;
    throw new TransportError('RESET_TIMEOUT', 'virtio-mmio: device status did not read back 0 after reset');
  }
  getDeviceFeatures(): bigint {
    this.transport.write(Mmio.DEVICE_FEATURES_SEL, 4, 1);
    const hi = this.transport.read(Mmio.DEVICE_FEATURES);
    this.transport.write(Mmio.DEVICE_FEATURES_SEL, 4, 0);
    const lo = this.transport.read(Mmio.DEVICE_FEATURES);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  setDriverFeatures(features: bigint): void {
    this.transport.write(Mmio.DRIVER_FEATURES_SEL, 4, 1);
    this.transport.write(Mmio.DRIVER_FEATURES, 4, Number((features >> 32n) & 0xffffffffn));
    this.transport.write(Mmio.DRIVER_FEATURES_SEL, 4, 0);
    this.transport.write(Mmio.DRIVER_FEATURES, 4, Number(features & 0xffffffffn));
  }
  generation(): number {
    return this.transport.read(Mmio.CONFIG_GENERATION);
  }
  readConfig(offset: number, width: ConfigWidth): number {
    return this.transport.read(Mmio.CONFIG + offset, width);
  }
  writeConfig(offset: number, width: ConfigWidth, value: number): void {
    this.transport.write(Mmio.CONFIG + offset, width, value);
  }
  numQueues(): number {
    let n = 0;
    while (n < 0x10000 && this.queueMaxSize(n) !== 0) n++;
    return n;
  }
  queueMaxSize(index: number): number {
    this.transport.write(Mmio.QUEUE_SEL, 4, index);
    return this.transport.read(Mmio.QUEUE_NUM_MAX);
  }
  setupConfigInterrupt(): void {
    // One interrupt line: nothing to set up.
  }
  setupQueue(index: number, vq: Virtqueue): void {
    const t = this.transport;
    const a = queueAreas(vq);
    t.write(Mmio.QUEUE_SEL, 4, index);
    if (t.read(Mmio.QUEUE_READY) !== 0) {
      throw new TransportError('QUEUE_UNAVAILABLE', `virtio-mmio: queue ${index} is already set up`);
    }
    t.write(Mmio.QUEUE_NUM, 4, vq.size);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DESC_LOW, a.desc);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DRIVER_LOW, a.driver);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DEVICE_LOW, a.device);
    t.write(Mmio.QUEUE_READY, 4, 1);
    if (t.read(Mmio.QUEUE_READY) !== 1) {
      throw new TransportError(
        'QUEUE_ENABLE_REFUSED',
        `virtio-mmio: queue ${index} did not become ready (${t.lastRejection() ?? 'no reason given'})`,
      );
    }
  }
  notify(index: number): void {
    this.transport.write(Mmio.QUEUE_NOTIFY, 4, index);
  }
  /** vm_interrupt: read InterruptStatus, acknowledge it, dispatch. */
  private interrupt(): void {
    const status = this.transport.read(Mmio.INTERRUPT_STATUS);
    this.transport.write(Mmio.INTERRUPT_ACK, 4, status);
    this.dispatchIsr(status);
  }
}

function writeAddr(write: (off: number, v: number) => void, lowOffset: number, addr: number): void {
  write(lowOffset, addr % 0x100000000);
  write(lowOffset + 4, Math.floor(addr / 0x100000000));
}

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
   * Where rings come from: the guest DMA API's dma_alloc_coherent, as Linux's
   * vring_alloc_queue does (drivers pass their DmaApi's). Default: shared
   * guest pages with DMA address = guest physical address.
   */
  allocRing?: (bytes: number) => RingMemory;
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
      const ringMemory = options.allocRing?.(
        ring === 'split' ? splitRingLayout(size).total : packedRingLayout(size).total,
      );
      const vq = createQueue(mem, {
        ring,
        size,
        ringMemory,
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

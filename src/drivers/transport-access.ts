// The guest driver's view of a transport, after Linux's virtio_pci_modern.c
// and virtio_mmio.c: register accessors behind one interface (like struct
// virtio_config_ops) and interrupt dispatch. This is guest code: it reaches a
// device only through the registers a PCI function or an MMIO window shows
// (PciFunction, MmioWindow below), which the device side in src/transport
// implements; it never imports that side.

import { TransportError } from '../errors.js';
import { Isr, type ConfigWidth, type InterruptEvent } from '../spec/config.js';
import { Mmio, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION } from '../spec/mmio.js';
import {
  PCI_MODERN_DEVICE_ID_BASE,
  PciCapType,
  PciCommon,
  VIRTIO_MSI_NO_VECTOR,
  type VirtioPciCap,
} from '../spec/pci.js';
import { PackedQueue } from '../virtqueue/packed/queue.js';
import type { Virtqueue } from '../virtqueue/queue.js';
import { SplitQueue } from '../virtqueue/split/queue.js';

/**
 * What a guest reaches of a virtio-pci function: the capability list, the
 * structures in its BAR, the MSI-X Enable bit and its interrupts.
 * VirtioPciTransport (src/transport/pci.ts) is one.
 */
export interface PciFunction {
  /** PCI device ID: 0x1040 + the virtio device ID. */
  readonly pciDeviceId: number;
  /** MSI-X table size (0: INTx only). */
  readonly msixVectors: number;
  /** notify_off_multiplier of the NOTIFY_CFG capability. */
  readonly notifyOffMultiplier: number;
  /** The virtio vendor capabilities (struct virtio_pci_cap). */
  readonly capabilities: readonly VirtioPciCap[];
  setMsixEnabled(on: boolean): void;
  readCommon(offset: number, width: number): number;
  writeCommon(offset: number, width: number, value: number): void;
  readIsr(): number;
  readDeviceConfig(offset: number, width: number): number;
  writeDeviceConfig(offset: number, width: number, value: number): void;
  /** A write at a BAR offset (the driver rings doorbells this way). */
  barWrite(offset: number, width: number, value: number): void;
  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void;
  /** Why the device last refused a write: for error messages (a simulator's aid, no real bus has it). */
  lastRejection(): string | undefined;
}

/** What a guest reaches of a virtio-mmio device: its register window and its interrupt line. VirtioMmioTransport is one. */
export interface MmioWindow {
  read(offset: number, width?: number): number;
  write(offset: number, width: number, value: number): void;
  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void;
  /** Why the device last refused a write: for error messages. */
  lastRejection(): string | undefined;
}

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

/** Guest-side access to a virtio-pci function (a PciFunction), like Linux's virtio_pci_modern_dev helpers. */
export class PciDriverAccess extends AccessBase implements TransportAccess {
  readonly kind = 'pci' as const;
  readonly name: string | undefined;
  private readonly msix: boolean;
  /** Queues on each MSI-X vector. */
  private readonly vectorQueues = new Map<number, number[]>();

  /** BAR offset of the notify region, from the NOTIFY_CFG capability (as vp_modern_probe finds it). */
  private readonly notifyBase: number;

  constructor(
    readonly transport: PciFunction,
    options: PciAccessOptions = {},
  ) {
    super();
    const notify = transport.capabilities.find((c) => c.cfgType === PciCapType.NOTIFY_CFG);
    if (!notify)
      throw new TransportError('MISSING_CAPABILITY', 'virtio-pci: the function has no NOTIFY_CFG capability');
    this.notifyBase = notify.offset;
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
    return this.transport.pciDeviceId - PCI_MODERN_DEVICE_ID_BASE;
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
    this.transport.barWrite(this.notifyBase + this.notifyOff(index) * this.transport.notifyOffMultiplier, 2, index);
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

/** Guest-side access to a virtio-mmio window (an MmioWindow), like Linux's virtio_mmio.c. */
export class MmioDriverAccess extends AccessBase implements TransportAccess {
  readonly kind = 'mmio' as const;
  readonly name: string | undefined;

  /** `options.name`: the guest's name for the device (see TransportAccess.name). */
  constructor(
    readonly transport: MmioWindow,
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

// State and rules shared by the virtio-pci and virtio-mmio models: the device
// status state machine, feature negotiation, per-queue registers, the config
// generation counter, interrupts and the counters. The transports only decode
// register offsets into calls on this core.

import { Isr, Status, type InterruptEvent } from '../spec/config.js';
import { Feature } from '../spec/features.js';
import { VIRTIO_MSI_NO_VECTOR } from '../spec/pci.js';
import { hasFeature } from '../virtqueue/features.js';
import { CounterBlock, type HostBlocks, type StatsField } from '../memory/stats-registry.js';
import type { ConfigWidth, QueueConfig, VirtioDeviceContext, VirtioDeviceModel } from './device-model.js';
import { DeviceError, TransportError, VqsimError } from '../errors.js';

/**
 * Counters of one transport. In a real VM every register or config access is
 * a VM exit, every notification an exit (or an ioeventfd), every interrupt an
 * injection: a cost model multiplies these by their costs. They live in a
 * `transport` block of the stats registry (per-queue counters as its items).
 */
export interface TransportCounters {
  /** Reads of transport registers (PCI common config and ISR, MMIO registers below 0x100). */
  registerReads: number;
  /** Writes to transport registers. */
  registerWrites: number;
  /** Reads of the device-specific config space. */
  configReads: number;
  /** Writes to the device-specific config space. */
  configWrites: number;
  /** Doorbell writes (PCI notify area, MMIO QueueNotify), delivered or not. */
  notifications: number;
  /** Doorbell writes not passed to the device (before DRIVER_OK, queue not enabled, bad index). */
  notificationsIgnored: number;
  /** Interrupts delivered to the driver (queue + config). */
  interrupts: number;
  /** Used-buffer interrupts delivered. */
  queueInterrupts: number;
  /** Configuration-change interrupts delivered. */
  configInterrupts: number;
  /** Interrupts the device raised that were not delivered (before DRIVER_OK, VIRTIO_MSI_NO_VECTOR). */
  interruptsSuppressed: number;
  /** ISR status reads (PCI ISR, MMIO InterruptStatus); a subset of registerReads. */
  isrReads: number;
  /** Device status writes; a subset of registerWrites. */
  statusWrites: number;
  /** Resets (status written 0). */
  resets: number;
  /** FEATURES_OK writes the device refused. */
  featuresRefused: number;
  /** Config generation changes. */
  configGenerationChanges: number;
  /** Register writes the device refused by the spec's rules (see lastRejection()). */
  rejectedWrites: number;
  /** Accesses to no register, with a wrong width, or outside the config space. */
  invalidAccesses: number;
  /** Config values the device model answered wider than the access (or not a whole number), cut to its width. */
  configValuesMasked: number;
  /** Per queue: notifications passed to the device and interrupts delivered. */
  perQueue: { notifications: number; interrupts: number }[];
}

export type { InterruptEvent } from '../spec/config.js';

/** Where a transport keeps its counters: a block in the machine's host memory, named in its stats registry. */
export interface TransportStatsOptions {
  /** Allocates the block (GuestMemory, or the device's DMA view). */
  host: HostBlocks;
  /** The block's name in the registry. Default "transport"; a machine names one per device, e.g. "net0.transport". */
  name?: string;
}

/** The queue registers of one virtqueue. */
interface QueueRegs {
  size: number;
  enabled: boolean;
  desc: bigint;
  driver: bigint;
  device: bigint;
  msixVector: number;
}

function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

const U32 = 0xffffffffn;

export class TransportCore {
  status = 0;
  driverFeatures = 0n;
  negotiated = 0n;
  /** Config generation, 32 bits (PCI presents the low 8). */
  generation = 0;
  isr = 0;
  configVector = VIRTIO_MSI_NO_VECTOR;
  deviceFeatureSel = 0;
  driverFeatureSel = 0;
  queueSel = 0;
  /** MSI-X enabled in the PCI function's capability (never on MMIO). */
  msixEnabled = false;
  readonly queues: QueueRegs[];
  /** Written by the thread that runs the transport; see TransportCounters. */
  private readonly c: CounterBlock<'transport'>;
  private rejection: string | undefined;
  private resetFault: VqsimError | undefined;
  private handler: ((irq: InterruptEvent) => void) | undefined;
  readonly ctx: VirtioDeviceContext;

  constructor(
    readonly device: VirtioDeviceModel,
    readonly transportName: string,
    stats?: TransportStatsOptions,
  ) {
    const { numQueues, maxQueueSize, configSize } = device;
    if (!Number.isInteger(numQueues) || numQueues < 0 || numQueues > 0xffff) {
      throw new TransportError('BAD_OPTION', `numQueues ${numQueues}: must be a whole number from 0 to 65535`);
    }
    if (!Number.isInteger(maxQueueSize) || maxQueueSize < 1 || maxQueueSize > 32768) {
      throw new TransportError('BAD_OPTION', `maxQueueSize ${maxQueueSize}: must be a whole number from 1 to 32768`);
    }
    if (!Number.isInteger(configSize) || configSize < 0) {
      throw new TransportError('BAD_OPTION', `configSize ${configSize}: must be a whole number of bytes`);
    }
    this.queues = Array.from({ length: numQueues }, () => this.freshQueue());
    // Without a machine memory (a transport in a unit test) the block is private and in no registry.
    this.c = stats
      ? CounterBlock.alloc(stats.host, 'transport', stats.name ?? 'transport', numQueues)
      : CounterBlock.detached('transport', numQueues);
    const getNegotiated = () => this.negotiated;
    const getStatus = () => this.status;
    this.ctx = {
      get negotiatedFeatures() {
        return getNegotiated();
      },
      get status() {
        return getStatus();
      },
      raiseQueueInterrupt: (i) => this.raiseQueueInterrupt(i),
      raiseConfigInterrupt: () => this.raiseConfigInterrupt(),
      configChanged: () => this.configChanged(),
      needsReset: (reason) => this.needsReset(reason),
    };
  }

  private freshQueue(): QueueRegs {
    return {
      size: this.device.maxQueueSize,
      enabled: false,
      desc: 0n,
      driver: 0n,
      device: 0n,
      msixVector: VIRTIO_MSI_NO_VECTOR,
    };
  }

  /** The counters, read now from the block. */
  get counters(): TransportCounters {
    return this.snapshot();
  }

  snapshot(): TransportCounters {
    return { ...this.c.read(), perQueue: this.c.readItems() as TransportCounters['perQueue'] };
  }

  /** Counts `n` events of `field` (the register decoders of PCI and MMIO call it). */
  count(field: StatsField<'transport'>, n = 1): void {
    this.c.add(field, n);
  }

  lastRejection(): string | undefined {
    return this.rejection;
  }

  /** Why the device asked for a reset (NEEDS_RESET), if it did: the fault's message. */
  needsResetReason(): string | undefined {
    return this.resetFault?.message;
  }

  /** The fault that made the device ask for a reset, with its code and the side that committed it. */
  needsResetFault(): VqsimError | undefined {
    return this.resetFault;
  }

  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void {
    this.handler = fn;
  }

  /** Records a write the device refused. */
  reject(reason: string): void {
    this.c.f.rejectedWrites.add();
    this.rejection = `${this.transportName}: ${reason}`;
  }

  invalid(reason: string): void {
    this.c.f.invalidAccesses.add();
    this.rejection = `${this.transportName}: ${reason}`;
  }

  countRead(): void {
    this.c.f.registerReads.add();
  }
  countWrite(): void {
    this.c.f.registerWrites.add();
  }

  // ---- device status (VIRTIO 1.2 §2.1, §3.1.1) ----

  writeStatus(value: number): void {
    this.c.f.statusWrites.add();
    const v = value & 0xff;
    if (v === 0) {
      this.reset();
      return;
    }
    const cur = this.status;
    // NEEDS_RESET belongs to the device: the driver can neither set nor clear it.
    let want = (v & ~Status.NEEDS_RESET) | (cur & Status.NEEDS_RESET);
    if ((cur & ~want) !== 0) {
      this.reject(`device status ${hex(v)} clears bits of ${hex(cur)}: only a write of 0 (reset) may clear bits`);
      return;
    }
    const added = want & ~cur;
    if (added & Status.FAILED) {
      this.status = want; // The driver gave up; only a reset follows.
      return;
    }
    if (cur & Status.FAILED) {
      this.reject(`device status ${hex(v)} after FAILED: the driver must reset the device first`);
      return;
    }
    if (added & Status.DRIVER && !(want & Status.ACKNOWLEDGE)) {
      this.reject(`device status ${hex(v)}: DRIVER set before ACKNOWLEDGE`);
      return;
    }
    if (added & Status.FEATURES_OK && !(want & Status.DRIVER)) {
      this.reject(`device status ${hex(v)}: FEATURES_OK set before DRIVER`);
      return;
    }
    if (added & Status.DRIVER_OK && !(want & Status.FEATURES_OK)) {
      this.reject(`device status ${hex(v)}: DRIVER_OK set before FEATURES_OK`);
      return;
    }
    if (added & Status.FEATURES_OK) {
      const why = this.checkFeatures(this.driverFeatures);
      if (why === undefined) {
        this.negotiated = this.driverFeatures;
      } else {
        // VIRTIO 1.2 §2.2.2: the device "MUST fail to set FEATURES_OK"; the
        // driver finds out by reading the status back.
        this.c.f.featuresRefused.add();
        this.rejection = `${this.transportName}: FEATURES_OK refused: ${why}`;
        want &= ~(Status.FEATURES_OK | Status.DRIVER_OK);
      }
    }
    // The device may have asked for a reset while it validated the features (NEEDS_RESET is its bit).
    this.status = want | (this.status & Status.NEEDS_RESET);
    if (want & added & Status.DRIVER_OK) {
      try {
        this.device.onDriverOk(this.negotiated);
      } catch (e) {
        // The device cannot take up what the driver programmed (QEMU's
        // "Cannot map descriptor ring" at queue start): virtio_error, not an
        // exception in the driver's status write.
        if (!(e instanceof VqsimError) || e.side !== 'driver') throw e;
        this.needsReset(e);
      }
    }
  }

  private checkFeatures(f: bigint): string | undefined {
    const extra = f & ~this.device.deviceFeatures;
    if (extra !== 0n) return `driver accepted features ${hex(extra)} the device does not offer`;
    if (!hasFeature(f, Feature.VERSION_1)) return 'driver did not accept VIRTIO_F_VERSION_1';
    if (this.device.validateFeatures && !this.device.validateFeatures(f)) {
      return `device ${this.device.deviceId} does not accept features ${hex(f)}`;
    }
    return undefined;
  }

  reset(): void {
    this.c.f.resets.add();
    this.status = 0;
    this.driverFeatures = 0n;
    this.negotiated = 0n;
    this.isr = 0;
    this.configVector = VIRTIO_MSI_NO_VECTOR;
    this.deviceFeatureSel = 0;
    this.driverFeatureSel = 0;
    this.queueSel = 0;
    this.resetFault = undefined;
    for (let i = 0; i < this.queues.length; i++) this.queues[i] = this.freshQueue();
    this.device.onReset();
  }

  // ---- features through the 32-bit select windows (VIRTIO 1.2 §4.1.4.3, §4.2.2) ----

  deviceFeatureWord(): number {
    const sel = this.deviceFeatureSel;
    if (sel > 1) return 0; // no feature bit above 63 is defined
    return Number((this.device.deviceFeatures >> BigInt(32 * sel)) & U32);
  }

  driverFeatureWord(): number {
    const sel = this.driverFeatureSel;
    if (sel > 1) return 0;
    return Number((this.driverFeatures >> BigInt(32 * sel)) & U32);
  }

  writeDriverFeatureWord(value: number): void {
    if (this.status & Status.FEATURES_OK) {
      this.reject('driver features written after FEATURES_OK');
      return;
    }
    const sel = this.driverFeatureSel;
    if (sel > 1) {
      if (value !== 0) this.reject(`driver feature word ${sel} = ${hex(value >>> 0)}: no feature above bit 63`);
      return;
    }
    const shift = BigInt(32 * sel);
    this.driverFeatures = (this.driverFeatures & ~(U32 << shift)) | (BigInt(value >>> 0) << shift);
  }

  // ---- queue registers ----

  /** The selected queue's registers, or undefined when the selector is past the last queue. */
  selected(): QueueRegs | undefined {
    return this.queues[this.queueSel];
  }

  /**
   * The selected queue's registers if the driver may change them now: not
   * after DRIVER_OK (no VIRTIO_F_RING_RESET here), not while it is enabled
   * (VIRTIO 1.2 §4.1.4.3.2, §4.2.2.2).
   */
  writableQueue(what: string): QueueRegs | undefined {
    const q = this.selected();
    if (!q) {
      this.invalid(`${what} written for queue ${this.queueSel}, which does not exist`);
      return undefined;
    }
    if (this.status & Status.DRIVER_OK) {
      this.reject(`${what} of queue ${this.queueSel} written after DRIVER_OK`);
      return undefined;
    }
    if (q.enabled) {
      this.reject(`${what} of queue ${this.queueSel} written while the queue is enabled`);
      return undefined;
    }
    return q;
  }

  writeQueueSize(value: number): void {
    const q = this.writableQueue('queue size');
    if (q) q.size = value & 0xffff;
  }

  /** Sets the low or high half of a queue address register. */
  writeQueueAddr(area: 'desc' | 'driver' | 'device', high: boolean, value: number): void {
    const q = this.writableQueue(`queue ${area} address`);
    if (!q) return;
    const v = BigInt(value >>> 0);
    q[area] = high ? (q[area] & U32) | (v << 32n) : (q[area] & ~U32) | v;
  }

  readQueueAddr(area: 'desc' | 'driver' | 'device', high: boolean): number {
    const q = this.selected();
    if (!q) return 0;
    return Number(high ? q[area] >> 32n : q[area] & U32);
  }

  /** Enables the selected queue, after checking what the device can check. Returns whether it is enabled. */
  enableQueue(): boolean {
    const index = this.queueSel;
    const q = this.writableQueue('queue enable');
    if (!q) return false;
    if (!(this.status & Status.FEATURES_OK)) {
      this.reject(`queue ${index} enabled before FEATURES_OK`);
      return false;
    }
    const packed = hasFeature(this.negotiated, Feature.RING_PACKED);
    const max = this.device.maxQueueSize;
    if (q.size < 1 || q.size > max || (!packed && (q.size & (q.size - 1)) !== 0)) {
      this.reject(
        `queue ${index} size ${q.size}: must be ${packed ? 'from 1' : 'a power of two from 1'} to the maximum ${max}`,
      );
      return false;
    }
    // Alignments: split 16/2/4 (VIRTIO 1.2 §2.7), packed 16/4/4 (§2.8).
    const align = packed ? ([16n, 4n, 4n] as const) : ([16n, 2n, 4n] as const);
    const areas = [q.desc, q.driver, q.device] as const;
    for (let k = 0; k < 3; k++) {
      if (areas[k]! % align[k]! !== 0n) {
        const name = ['descriptor area', 'driver area', 'device area'][k];
        this.reject(`queue ${index} ${name} ${hex(areas[k]!)} is not ${align[k]}-byte aligned`);
        return false;
      }
    }
    q.enabled = true;
    const cfg: QueueConfig = {
      index,
      size: q.size,
      desc: q.desc,
      driver: q.driver,
      device: q.device,
      ring: packed ? 'packed' : 'split',
      eventIdx: hasFeature(this.negotiated, Feature.EVENT_IDX),
      indirect: hasFeature(this.negotiated, Feature.INDIRECT_DESC),
      inOrder: hasFeature(this.negotiated, Feature.IN_ORDER),
    };
    this.device.onQueueReady(index, cfg);
    return true;
  }

  /** MMIO QueueReady = 0: stop using the selected queue. */
  disableQueue(): void {
    const q = this.selected();
    if (!q) {
      this.invalid(`queue ready written for queue ${this.queueSel}, which does not exist`);
      return;
    }
    q.enabled = false;
  }

  // ---- notifications and interrupts ----

  notify(index: number): void {
    this.c.f.notifications.add();
    const q = this.queues[index];
    if (!q || !q.enabled || !(this.status & Status.DRIVER_OK)) {
      this.c.f.notificationsIgnored.add();
      return;
    }
    this.c.items[index]!.notifications!.add();
    this.device.onNotify(index);
  }

  raiseQueueInterrupt(index: number): boolean {
    const q = this.queues[index];
    // VIRTIO 1.2 §2.1.2: no used buffer notification before DRIVER_OK.
    if (!q || !q.enabled || !(this.status & Status.DRIVER_OK)) {
      this.c.f.interruptsSuppressed.add();
      return false;
    }
    // Like QEMU's virtio_irq(): ISR bit 0 is set with or without MSI-X.
    this.isr |= Isr.QUEUE;
    if (!this.deliver(q.msixVector)) return false;
    this.c.f.queueInterrupts.add();
    this.c.items[index]!.interrupts!.add();
    return true;
  }

  raiseConfigInterrupt(): boolean {
    if (this.status === 0) {
      this.c.f.interruptsSuppressed.add();
      return false;
    }
    this.isr |= Isr.CONFIG;
    if (!this.deliver(this.configVector)) return false;
    this.c.f.configInterrupts.add();
    return true;
  }

  private deliver(vector: number): boolean {
    if (this.msixEnabled && vector === VIRTIO_MSI_NO_VECTOR) {
      this.c.f.interruptsSuppressed.add();
      return false;
    }
    this.c.f.interrupts.add();
    this.handler?.(this.msixEnabled ? { line: 'msix', vector } : { line: 'intx' });
    return true;
  }

  configChanged(): void {
    this.generation = (this.generation + 1) >>> 0;
    this.c.f.configGenerationChanges.add();
    if (this.status & Status.DRIVER_OK) this.raiseConfigInterrupt();
  }

  needsReset(reason: string | VqsimError): void {
    this.resetFault = typeof reason === 'string' ? new DeviceError('DEVICE_NEEDS_RESET', reason, 'device') : reason;
    this.status |= Status.NEEDS_RESET;
    if (this.status & Status.DRIVER_OK) this.raiseConfigInterrupt();
  }

  // ---- device-specific config space ----

  readConfig(offset: number, width: number): number {
    this.c.f.configReads.add();
    if (!this.configInRange(offset, width)) return 0;
    const v = this.device.readConfig(offset, width as ConfigWidth);
    // The bus carries `width` bytes: a model's hook may answer anything (a
    // wider number, -1, a fraction, NaN), the guest's load sees its low bits.
    const max = width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
    if (Number.isInteger(v) && v >= 0 && v <= max) return v;
    this.c.f.configValuesMasked.add();
    return width === 4 ? v >>> 0 : v & max;
  }

  writeConfig(offset: number, width: number, value: number): void {
    this.c.f.configWrites.add();
    if (!this.configInRange(offset, width)) return;
    this.device.writeConfig(offset, width as ConfigWidth, value);
  }

  private configInRange(offset: number, width: number): boolean {
    if ((width !== 1 && width !== 2 && width !== 4) || offset < 0 || offset + width > this.device.configSize) {
      this.invalid(
        `config access of ${width} bytes at ${hex(offset)}: config space is ${this.device.configSize} bytes`,
      );
      return false;
    }
    return true;
  }
}

/**
 * What every transport presents besides its registers: the core (status,
 * features, queues, interrupts, counters) shared by virtio-pci and
 * virtio-mmio. A subclass attaches the device model once its own layout is set.
 */
export abstract class TransportBase {
  readonly core: TransportCore;

  constructor(
    readonly device: VirtioDeviceModel,
    name: string,
    stats?: TransportStatsOptions,
  ) {
    this.core = new TransportCore(device, name, stats);
  }

  /** The counters, as a plain object (a copy). */
  counters(): TransportCounters {
    return this.core.snapshot();
  }

  /** Why the device last refused or ignored a write, for logs and tests. */
  lastRejection(): string | undefined {
    return this.core.lastRejection();
  }

  /** Where interrupts go: the driver's handler (the driver access installs one). */
  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void {
    this.core.setInterruptHandler(fn);
  }
}

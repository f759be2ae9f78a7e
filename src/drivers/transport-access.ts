// The guest driver's view of a transport, after Linux's virtio_pci_modern.c
// and virtio_mmio.c: register accessors behind one interface (like struct
// virtio_config_ops) and interrupt dispatch. This is guest code: it reaches a
// device only through the registers a PCI function or an MMIO window shows
// (PciFunction, MmioWindow below), which the device side in src/transport
// implements; it never imports that side.

import { TransportError } from '../errors.js';
import { CounterBlock, type HostBlocks } from '../memory/stats-registry.js';
import { Isr, Status, type ConfigWidth, type InterruptEvent } from '../spec/config.js';
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
  /** False once the function left the bus (surprise removal); absent: always present. */
  readonly present?: boolean;
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
  /** pci_device_is_present(): false once a PCI function was surprise-removed. Absent (MMIO): always there. */
  devicePresent?(): boolean;
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
  /** Reads the 64 driver feature bits back (PCI's driver_feature is readable; MMIO's DriverFeatures is not). */
  getDriverFeatures?(): bigint;
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
  /**
   * Called on a used-buffer interrupt for queue `index`; return false when
   * there was no work (IRQ_NONE: counts toward the storm model).
   */
  onQueueInterrupt(index: number, fn: () => unknown): void;
  /**
   * Called for a configuration change: out of the interrupt, as Linux's
   * config_work (hardened), or inside it (naive).
   */
  onConfigInterrupt(fn: () => void): void;
  /** Whether the access checks what the device says (see AccessBase). */
  readonly hardened: boolean;
  /** Guest CPUs: a multiqueue driver uses at most this many queues (pairs); see capQueues. */
  readonly cpus: number;
  /** What the hardened access clamped, ignored or deferred. */
  readonly counters: AccessCounters;
  /** The storm model disabled the interrupt line. */
  readonly irqDisabled: boolean;
  /** Config-change work queued and not yet run (hardened). */
  readonly configWorkPending: boolean;
  /** Serves the queues and the pending config work without an interrupt. */
  poll(): void;
  /** Queues (pairs) of `n` offered that a multiqueue driver uses; see capQueues in probe.ts. */
  capQueues(n: number): number;
}

/**
 * The interrupt-storm model, after the kernel's note_interrupt
 * (kernel/irq/spurious.c): every IRQ_STORM_WINDOW interrupts on a line, if
 * more than IRQ_STORM_UNHANDLED of them were unhandled (IRQ_NONE: no queue on
 * the line had a callback that found work, an INTx whose ISR read 0), the line
 * is disabled ("irq %d: nobody cared") and the driver goes on by polling
 * (irqpoll). The kernel also restarts the count when two unhandled interrupts
 * are more than 100 ms apart; a simulator without a clock does not.
 */
export const IRQ_STORM_WINDOW = 100_000;
/** See IRQ_STORM_WINDOW: unhandled interrupts in a window above which the line is disabled. */
export const IRQ_STORM_UNHANDLED = 99_900;
/**
 * Runs of the config-change work in one go (Linux's virtio_config_changed
 * queues config_work; a work already queued is not queued twice). A device
 * that raises a config interrupt from inside the config read the work does
 * gets the work rerun at most this many times; what is left stays pending
 * until the next interrupt or poll(), counted in configWorkThrottled.
 */
export const CONFIG_WORK_BUDGET = 64;
/** Guest CPUs an access assumes when none is given (a machine passes its `cpus`). */
export const DEFAULT_GUEST_CPUS = 4;
/** Status reads after writing 0 before a reset is given up (RESET_TIMEOUT); vp_modern_reset polls with msleep(1). */
export const RESET_POLL_BUDGET = 1000;

/**
 * What the guest access counted of the device's behaviour (hardened checks
 * that clamp rather than fail), in a `transport-driver` stats block.
 */
export interface AccessCounters {
  /** Register or config values wider than the access (or not a whole number), masked to its width. */
  valuesMasked: number;
  /** Queue interrupts before DRIVER_OK or after a reset, ignored (vring_interrupt on a broken vq). */
  irqNotReady: number;
  /** Interrupts nobody handled (IRQ_NONE). */
  irqUnhandled: number;
  /** Times the line was disabled by the storm model ("nobody cared"). */
  irqLineDisabled: number;
  /** Interrupts that arrived while the line was disabled (dropped; poll() serves the queues). */
  irqWhileDisabled: number;
  /** Config interrupts that queued the config-change work (not already pending). */
  configWorkQueued: number;
  /** Runs of the config-change work. */
  configWorkRuns: number;
  /** Times the work stopped at CONFIG_WORK_BUDGET runs with more pending. */
  configWorkThrottled: number;
  /** poll() calls (the driver serving its queues without interrupts). */
  polls: number;
  /** Times a driver asked capQueues for more queues than the guest has CPUs, and got the CPU count. */
  queuesCapped: number;
}

/**
 * Bookkeeping shared by both accessors: which callback runs on which
 * interrupt, the width masking of every value read, and the interrupt
 * hardening (Linux: CONFIG_VIRTIO_HARDEN_NOTIFICATION, note_interrupt, the
 * config_work of virtio.c). With `hardened` off the access trusts the device:
 * values pass as read, every interrupt runs its callbacks at once, config
 * callbacks run inside the interrupt.
 */
abstract class AccessBase {
  /** A queue callback returns false when it found no work (IRQ_NONE); anything else is handled. */
  protected readonly queueCb: ((() => unknown) | undefined)[] = [];
  protected configCb: (() => void) | undefined;
  /** The counters (see AccessCounters); in the machine's stats registry when built with `stats`. */
  protected readonly c: CounterBlock<'transport-driver'>;
  /** DRIVER_OK written and no reset since (virtio_device_ready ... virtio_reset_device). */
  protected live = false;
  private lineDisabled = false;
  private irqCount = 0;
  private irqsUnhandled = 0;
  private irqDepth = 0;
  private configPending = false;
  private inConfigWork = false;

  constructor(
    readonly hardened: boolean,
    readonly cpus: number,
    stats: AccessStatsOptions | undefined,
  ) {
    if (!Number.isInteger(cpus) || cpus < 1) {
      throw new TransportError('BAD_OPTION', `cpus ${cpus}: must be a whole number of at least 1`);
    }
    this.c = stats
      ? CounterBlock.alloc(stats.host, 'transport-driver', stats.name)
      : CounterBlock.detached('transport-driver');
  }

  /** The counters, read now from the block (a copy). */
  get counters(): AccessCounters {
    return this.c.read();
  }

  /**
   * How many of `n` queues (pairs) the device offers a multiqueue driver
   * uses: at most one per guest CPU, counted when it cuts; all `n` naive.
   */
  capQueues(n: number): number {
    if (!this.hardened || n <= this.cpus) return n;
    this.c.f.queuesCapped.add();
    return this.cpus;
  }

  onQueueInterrupt(index: number, fn: () => unknown): void {
    this.queueCb[index] = fn;
  }
  onConfigInterrupt(fn: () => void): void {
    this.configCb = fn;
  }

  /** The line was disabled by the storm model: interrupts are dropped, poll() serves the queues. */
  get irqDisabled(): boolean {
    return this.lineDisabled;
  }

  /** Config-change work queued and not yet run. */
  get configWorkPending(): boolean {
    return this.configPending;
  }

  /**
   * Serves every queue callback and the pending config work without an
   * interrupt (irqpoll, or a driver's own polling once its line is disabled).
   */
  poll(): void {
    this.c.f.polls.add();
    for (let i = 0; i < this.queueCb.length; i++) this.queueCb[i]?.();
    this.runConfigWork();
  }

  /** Tracks DRIVER_OK and resets from the driver's own status writes. */
  protected noteStatus(status: number): void {
    if (status === 0 || status & Status.FAILED) {
      this.live = false;
      this.configPending = false;
    } else if (status & Status.DRIVER_OK && !this.live) {
      this.live = true;
      this.runConfigWork(); // virtio_config_core_enable: a change that came during probe is handled now
    }
  }

  /**
   * A value read through a `width`-byte access: a real load of that width
   * cannot return more bits, so whatever the device model answered is cut to
   * them (NaN and fractions included: the bits a fixed-width load returns).
   */
  protected masked(v: number, width: number): number {
    const max = width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
    if (!this.hardened || (Number.isInteger(v) && v >= 0 && v <= max)) return v;
    this.c.f.valuesMasked.add();
    return width === 4 ? v >>> 0 : v & max;
  }

  /** Every interrupt enters here; `handle` dispatches it and says whether anyone handled it. */
  protected irq(handle: () => boolean): void {
    if (this.hardened && this.lineDisabled) {
      this.c.f.irqWhileDisabled.add();
      return;
    }
    this.irqDepth++;
    let handled: boolean;
    try {
      handled = handle();
    } finally {
      this.irqDepth--;
    }
    if (!handled) this.c.f.irqUnhandled.add();
    if (this.hardened) this.noteInterrupt(handled);
    // The config work runs out of the interrupt, after the outermost handler returned.
    if (this.irqDepth === 0) this.runConfigWork();
  }

  /** note_interrupt (kernel/irq/spurious.c), with its constants. */
  private noteInterrupt(handled: boolean): void {
    if (!handled) this.irqsUnhandled++;
    if (++this.irqCount < IRQ_STORM_WINDOW) return;
    this.irqCount = 0;
    if (this.irqsUnhandled > IRQ_STORM_UNHANDLED) {
      this.lineDisabled = true;
      this.c.f.irqLineDisabled.add();
    }
    this.irqsUnhandled = 0;
  }

  /** vring_interrupt: ignored (and counted) on a queue that is not live; IRQ_NONE without work. */
  protected queueInterrupt(index: number): boolean {
    // A device that is not live (before DRIVER_OK, after a reset or a
    // removal) gets its interrupt ignored and counted, whether or not the
    // driver polls that queue instead of taking its interrupts.
    if (this.hardened && !this.live) {
      this.c.f.irqNotReady.add();
      return false;
    }
    const fn = this.queueCb[index];
    if (!fn) return false;
    return fn() !== false;
  }

  /** vp_config_changed / virtio_config_changed: queue the work (hardened) or run the callback now (naive). */
  protected configInterrupt(): boolean {
    if (!this.hardened) {
      this.configCb?.();
      return true;
    }
    if (!this.configPending) {
      this.configPending = true;
      this.c.f.configWorkQueued.add();
    }
    return true;
  }

  private runConfigWork(): void {
    if (!this.hardened || this.inConfigWork || !this.live || !this.configPending) return;
    this.inConfigWork = true;
    try {
      let runs = 0;
      while (this.configPending) {
        if (runs === CONFIG_WORK_BUDGET) {
          this.c.f.configWorkThrottled.add();
          break;
        }
        this.configPending = false;
        runs++;
        this.c.f.configWorkRuns.add();
        this.configCb?.();
      }
    } finally {
      this.inConfigWork = false;
    }
  }

  protected dispatchIsr(isr: number): boolean {
    let handled = false;
    if (isr & Isr.CONFIG) handled = this.configInterrupt();
    if (isr & Isr.QUEUE) for (let i = 0; i < this.queueCb.length; i++) handled = this.queueInterrupt(i) || handled;
    return handled;
  }
}

export interface PciAccessOptions {
  /** Use MSI-X when the function has it (default true); otherwise INTx with the ISR register. */
  msix?: boolean;
  /** The guest's name for the device (see TransportAccess.name). */
  name?: string;
  /** Check what the device says (default true); false: the naive access that trusts it (see AccessBase). */
  hardened?: boolean;
  /** Guest CPUs (default DEFAULT_GUEST_CPUS). */
  cpus?: number;
  /** Keep the counters in the machine's stats registry (default: a private block). */
  stats?: AccessStatsOptions;
}

/** Where an access keeps its counters: a `transport-driver` block, e.g. "net0.driver.transport". */
export interface AccessStatsOptions {
  host: HostBlocks;
  name: string;
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
  /** Bytes of the notify region (vp_modern_probe's notify_len). */
  private readonly notifyLen: number;

  constructor(
    readonly transport: PciFunction,
    options: PciAccessOptions = {},
  ) {
    super(options.hardened ?? true, options.cpus ?? DEFAULT_GUEST_CPUS, options.stats);
    const notify = transport.capabilities.find((c) => c.cfgType === PciCapType.NOTIFY_CFG);
    if (!notify)
      throw new TransportError('MISSING_CAPABILITY', 'virtio-pci: the function has no NOTIFY_CFG capability');
    this.notifyBase = notify.offset;
    this.notifyLen = notify.length;
    this.name = options.name;
    this.msix = (options.msix ?? true) && transport.msixVectors >= 2;
    transport.setMsixEnabled(this.msix);
    transport.setInterruptHandler((irq) => this.interrupt(irq));
  }

  private r(off: number, w: number): number {
    return this.masked(this.transport.readCommon(off, w), w);
  }
  private w(off: number, w: number, v: number): void {
    this.transport.writeCommon(off, w, v);
  }

  deviceId(): number {
    return this.transport.pciDeviceId - PCI_MODERN_DEVICE_ID_BASE;
  }
  /** pci_device_is_present(): false once the function was surprise-removed (its reads come back all ones). */
  devicePresent(): boolean {
    return this.transport.present !== false;
  }
  getStatus(): number {
    return this.r(PciCommon.DEVICE_STATUS, 1);
  }
  setStatus(status: number): void {
    this.w(PciCommon.DEVICE_STATUS, 1, status);
    this.noteStatus(status);
  }
  reset(): void {
    this.setStatus(0);
    // vp_modern_set_status(0) then wait until the device reads 0 back.
    for (let i = 0; i < RESET_POLL_BUDGET; i++) if (this.getStatus() === 0) return;
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
  getDriverFeatures(): bigint {
    this.w(PciCommon.DRIVER_FEATURE_SELECT, 4, 0);
    const lo = this.r(PciCommon.DRIVER_FEATURE, 4);
    this.w(PciCommon.DRIVER_FEATURE_SELECT, 4, 1);
    const hi = this.r(PciCommon.DRIVER_FEATURE, 4);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  generation(): number {
    return this.r(PciCommon.CONFIG_GENERATION, 1);
  }
  readConfig(offset: number, width: ConfigWidth): number {
    return this.masked(this.transport.readDeviceConfig(offset, width), width);
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
    if (this.hardened && this.r(PciCommon.CONFIG_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) {
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
      if (this.hardened && this.r(PciCommon.QUEUE_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) {
        throw new TransportError(
          'MSIX_VECTOR_REFUSED',
          `virtio-pci: queue ${index} vector ${vector} read back as NO_VECTOR`,
        );
      }
      const list = this.vectorQueues.get(vector) ?? [];
      list.push(index);
      this.vectorQueues.set(vector, list);
    }
    this.mapNotify(index);
    this.w(PciCommon.QUEUE_ENABLE, 2, 1);
    if (this.hardened && this.r(PciCommon.QUEUE_ENABLE, 2) !== 1) {
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
  /**
   * vp_modern_map_vq_notify: read queue_notify_off of the selected queue and
   * check that its doorbell (2 bytes) lies inside the notify region, or the
   * driver would write somewhere else in the BAR ("bad notification offset").
   */
  private mapNotify(index: number): void {
    const off = this.r(PciCommon.QUEUE_NOTIFY_OFF, 2);
    const mult = this.transport.notifyOffMultiplier;
    if (this.hardened && off * mult + 2 > this.notifyLen) {
      throw new TransportError(
        'BAD_NOTIFY_OFFSET',
        `virtio-pci: bad notification offset ${off} (x ${mult}) for queue ${index} > ${this.notifyLen}`,
      );
    }
    this.notifyOffs[index] = off;
  }
  private notifyOff(index: number): number {
    // Read at setup (mapNotify); a queue rung before it was set up reads it now.
    let off = this.notifyOffs[index];
    if (off === undefined) {
      this.w(PciCommon.QUEUE_SELECT, 2, index);
      off = this.r(PciCommon.QUEUE_NOTIFY_OFF, 2);
      this.notifyOffs[index] = off;
    }
    return off;
  }
  private interrupt(irq: InterruptEvent): void {
    this.irq(() => {
      // vp_interrupt: read to clear; an ISR of 0 is not ours (IRQ_NONE).
      if (irq.line === 'intx') return this.dispatchIsr(this.masked(this.transport.readIsr(), 1));
      // vp_vring_interrupt per vector; vector 0 carries config changes (vp_config_changed).
      let handled = irq.vector === 0 && this.configInterrupt();
      for (const q of this.vectorQueues.get(irq.vector) ?? []) handled = this.queueInterrupt(q) || handled;
      return handled;
    });
  }
}

/** Guest-side access to a virtio-mmio window (an MmioWindow), like Linux's virtio_mmio.c. */
export class MmioDriverAccess extends AccessBase implements TransportAccess {
  readonly kind = 'mmio' as const;
  readonly name: string | undefined;

  /** `options.name`: the guest's name for the device (see TransportAccess.name); `hardened` as for PCI. */
  constructor(
    readonly transport: MmioWindow,
    options: Omit<PciAccessOptions, 'msix'> = {},
  ) {
    super(options.hardened ?? true, options.cpus ?? DEFAULT_GUEST_CPUS, options.stats);
    this.name = options.name;
    transport.setInterruptHandler(() => this.interrupt());
  }

  /** virtio_mmio_probe's checks: magic value and version 2. */
  checkIdentity(): void {
    const magic = this.r(Mmio.MAGIC_VALUE);
    if (magic !== VIRTIO_MMIO_MAGIC) {
      throw new TransportError('BAD_MAGIC', `virtio-mmio: wrong magic value 0x${magic.toString(16)}`);
    }
    const version = this.r(Mmio.VERSION);
    if (version !== VIRTIO_MMIO_VERSION) {
      throw new TransportError('BAD_VERSION', `virtio-mmio: version ${version} not supported (only 2)`);
    }
  }

  /** A 32-bit register read. */
  private r(offset: number): number {
    return this.masked(this.transport.read(offset), 4);
  }
  deviceId(): number {
    return this.r(Mmio.DEVICE_ID);
  }
  getStatus(): number {
    return this.r(Mmio.STATUS);
  }
  setStatus(status: number): void {
    this.transport.write(Mmio.STATUS, 4, status);
    this.noteStatus(status);
  }
  reset(): void {
    this.setStatus(0);
    for (let i = 0; i < RESET_POLL_BUDGET; i++) if (this.getStatus() === 0) return;
    throw new TransportError('RESET_TIMEOUT', 'virtio-mmio: device status did not read back 0 after reset');
  }
  getDeviceFeatures(): bigint {
    this.transport.write(Mmio.DEVICE_FEATURES_SEL, 4, 1);
    const hi = this.r(Mmio.DEVICE_FEATURES);
    this.transport.write(Mmio.DEVICE_FEATURES_SEL, 4, 0);
    const lo = this.r(Mmio.DEVICE_FEATURES);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  setDriverFeatures(features: bigint): void {
    this.transport.write(Mmio.DRIVER_FEATURES_SEL, 4, 1);
    this.transport.write(Mmio.DRIVER_FEATURES, 4, Number((features >> 32n) & 0xffffffffn));
    this.transport.write(Mmio.DRIVER_FEATURES_SEL, 4, 0);
    this.transport.write(Mmio.DRIVER_FEATURES, 4, Number(features & 0xffffffffn));
  }
  generation(): number {
    return this.r(Mmio.CONFIG_GENERATION);
  }
  readConfig(offset: number, width: ConfigWidth): number {
    return this.masked(this.transport.read(Mmio.CONFIG + offset, width), width);
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
    return this.r(Mmio.QUEUE_NUM_MAX);
  }
  setupConfigInterrupt(): void {
    // One interrupt line: nothing to set up.
  }
  setupQueue(index: number, vq: Virtqueue): void {
    const t = this.transport;
    const a = queueAreas(vq);
    t.write(Mmio.QUEUE_SEL, 4, index);
    if (this.r(Mmio.QUEUE_READY) !== 0) {
      throw new TransportError('QUEUE_UNAVAILABLE', `virtio-mmio: queue ${index} is already set up`);
    }
    t.write(Mmio.QUEUE_NUM, 4, vq.size);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DESC_LOW, a.desc);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DRIVER_LOW, a.driver);
    writeAddr((o, v) => t.write(o, 4, v), Mmio.QUEUE_DEVICE_LOW, a.device);
    t.write(Mmio.QUEUE_READY, 4, 1);
    if (this.hardened && this.r(Mmio.QUEUE_READY) !== 1) {
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
    this.irq(() => {
      const status = this.r(Mmio.INTERRUPT_STATUS);
      this.transport.write(Mmio.INTERRUPT_ACK, 4, status);
      return this.dispatchIsr(status); // vm_interrupt: nothing pending is IRQ_NONE
    });
  }
}

function writeAddr(write: (off: number, v: number) => void, lowOffset: number, addr: number): void {
  write(lowOffset, addr % 0x100000000);
  write(lowOffset + 4, Math.floor(addr / 0x100000000));
}

// A lying device for the transport and interrupt scenarios: an honest device
// model (EchoDevice) behind a real VirtioPciTransport or VirtioMmioTransport,
// seen by the guest through a wrapper (LyingPci, LyingMmio) that answers some
// register, config or ISR reads with a lie and can inject interrupts at will.
// The lies follow a script (a value at a chosen read, from the n-th read on,
// for a number of reads) or a seeded random mix (randomLie). What the guest
// then does is the guest's own code: PciDriverAccess / MmioDriverAccess and
// probeDevice, hardened or naive.
import { DmaApi } from '../../dma/api.js';
import type { MmioWindow, PciFunction } from '../../drivers/transport-access.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { ConfigWidth, InterruptEvent } from '../../spec/config.js';
import { Feature } from '../../spec/features.js';
import type { VirtioPciCap } from '../../spec/pci.js';
import type { QueueConfig, VirtioDeviceContext, VirtioDeviceModel } from '../../transport/device-model.js';
import type { VirtioMmioTransport } from '../../transport/mmio.js';
import type { VirtioPciTransport } from '../../transport/pci.js';
import { deviceQueueFromAreas, type QueueDevice } from '../../virtqueue/queue.js';
import { rng } from './damage.js';

export interface EchoDeviceOptions {
  /** Virtio device ID. Default 3 (console: no config a driver insists on). */
  deviceId?: number;
  /** Offered features. Default VERSION_1 | EVENT_IDX. */
  features?: bigint;
  numQueues?: number;
  maxQueueSize?: number;
  /** Config space bytes. Default 16. */
  configSize?: number;
  /**
   * Answers a config read instead of the config bytes (a device model's
   * config hook: it may return anything, call ctx.raiseConfigInterrupt, ...).
   */
  onConfigRead?: (offset: number, width: ConfigWidth, honest: number, ctx: VirtioDeviceContext) => number;
  /** Device-side veto of the driver's features (false: FEATURES_OK refused). */
  validateFeatures?: (features: bigint, ctx: VirtioDeviceContext) => boolean;
}

/**
 * An honest device model: config bytes, queues that complete every chain
 * with its writable length (as QEMU's virtqueue_push would after filling it)
 * and notify when the ring says so. Its queues are reached through a DMA API
 * device view over the guest memory.
 */
export class EchoDevice implements VirtioDeviceModel {
  readonly deviceId: number;
  readonly deviceFeatures: bigint;
  readonly numQueues: number;
  readonly maxQueueSize: number;
  readonly configSize: number;
  readonly config: DataView;
  ctx!: VirtioDeviceContext;
  /** Config reads the model served. */
  configReads = 0;
  /** Chains completed. */
  completed = 0;
  private readonly queues = new Map<number, QueueDevice>();
  private live = false;

  constructor(
    readonly mem: GuestMemory,
    private readonly options: EchoDeviceOptions = {},
  ) {
    this.deviceId = options.deviceId ?? 3;
    this.deviceFeatures = options.features ?? (1n << BigInt(Feature.VERSION_1)) | (1n << BigInt(Feature.EVENT_IDX));
    this.numQueues = options.numQueues ?? 2;
    this.maxQueueSize = options.maxQueueSize ?? 256;
    this.configSize = options.configSize ?? 16;
    this.config = new DataView(new ArrayBuffer(this.configSize));
  }
  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, width: ConfigWidth): number {
    this.configReads++;
    const c = this.config;
    const honest =
      width === 1 ? c.getUint8(offset) : width === 2 ? c.getUint16(offset, true) : c.getUint32(offset, true);
    return this.options.onConfigRead ? this.options.onConfigRead(offset, width, honest, this.ctx) : honest;
  }
  writeConfig(offset: number, width: ConfigWidth, value: number): void {
    if (width === 4) this.config.setUint32(offset, value, true);
    else if (width === 2) this.config.setUint16(offset, value, true);
    else this.config.setUint8(offset, value);
    this.ctx.configChanged();
  }
  validateFeatures(features: bigint): boolean {
    return this.options.validateFeatures ? this.options.validateFeatures(features, this.ctx) : true;
  }
  onQueueReady(index: number, q: QueueConfig): void {
    const areas = { desc: Number(q.desc), driver: Number(q.driver), device: Number(q.device) };
    this.queues.set(index, deviceQueueFromAreas(new DmaApi(this.mem).deviceView(), { ...q, ...areas }));
  }
  onDriverOk(): void {
    this.live = true;
  }
  onNotify(index: number): void {
    const vq = this.queues.get(index);
    if (!vq || !this.live) return;
    const chains = vq.pop();
    vq.push(chains.map((c) => ({ id: c.id, len: c.writeBytes })));
    this.completed += chains.length;
    if (vq.shouldNotify()) this.ctx.raiseQueueInterrupt(index);
  }
  onReset(): void {
    this.queues.clear();
    this.live = false;
  }
}

/** Where a lie is told: a PCI common-config field, the device config, the ISR byte, or an MMIO register. */
export type LieSpace = 'common' | 'config' | 'isr' | 'mmio';

/** One scripted lie. */
export interface Lie {
  space: LieSpace;
  /** Byte offset in that space (PciCommon.*, Mmio.*, a config offset); omitted: every offset. */
  offset?: number;
  /** Only while this queue is selected (queue registers). */
  queue?: number;
  /** The first matching read that lies (0: the first). Default 0. */
  from?: number;
  /** How many matching reads lie from there. Default: all. */
  times?: number;
  /** The answer, given the honest value and the index of the matching read. */
  answer(honest: number, n: number): number;
}

/** Bookkeeping common to both wrappers: matching reads against the script, counting the lies told. */
class Liar {
  /** Lies told so far. */
  told = 0;
  private readonly seen: number[];
  constructor(private readonly lies: readonly Lie[]) {
    this.seen = lies.map(() => 0);
  }
  read(space: LieSpace, offset: number, queue: number, honest: number): number {
    let v = honest;
    for (let k = 0; k < this.lies.length; k++) {
      const l = this.lies[k]!;
      if (l.space !== space || (l.offset !== undefined && l.offset !== offset)) continue;
      if (l.queue !== undefined && l.queue !== queue) continue;
      const n = this.seen[k]!++;
      const from = l.from ?? 0;
      if (n < from || (l.times !== undefined && n >= from + l.times)) continue;
      v = l.answer(v, n);
      this.told++;
    }
    return v;
  }
}

/**
 * A virtio-pci function whose reads may lie (see Lie), around an honest
 * VirtioPciTransport. `raise()` delivers an interrupt to the guest whenever
 * the attacker wants, past every gate of the honest transport.
 */
export class LyingPci implements PciFunction {
  private readonly liar: Liar;
  private handler: ((irq: InterruptEvent) => void) | undefined;
  readonly capabilities: readonly VirtioPciCap[];

  constructor(
    readonly inner: VirtioPciTransport,
    lies: readonly Lie[] = [],
    options: { capabilities?: (honest: readonly VirtioPciCap[]) => readonly VirtioPciCap[] } = {},
  ) {
    this.liar = new Liar(lies);
    this.capabilities = options.capabilities ? options.capabilities(inner.capabilities) : inner.capabilities;
  }
  get told(): number {
    return this.liar.told;
  }
  get pciDeviceId(): number {
    return this.inner.pciDeviceId;
  }
  get msixVectors(): number {
    return this.inner.msixVectors;
  }
  get notifyOffMultiplier(): number {
    return this.inner.notifyOffMultiplier;
  }
  setMsixEnabled(on: boolean): void {
    this.inner.setMsixEnabled(on);
  }
  readCommon(offset: number, width: number): number {
    return this.liar.read('common', offset, this.inner.core.queueSel, this.inner.readCommon(offset, width));
  }
  writeCommon(offset: number, width: number, value: number): void {
    this.inner.writeCommon(offset, width, value);
  }
  readIsr(): number {
    return this.liar.read('isr', 0, this.inner.core.queueSel, this.inner.readIsr());
  }
  readDeviceConfig(offset: number, width: number): number {
    return this.liar.read('config', offset, this.inner.core.queueSel, this.inner.readDeviceConfig(offset, width));
  }
  writeDeviceConfig(offset: number, width: number, value: number): void {
    this.inner.writeDeviceConfig(offset, width, value);
  }
  barWrite(offset: number, width: number, value: number): void {
    this.inner.barWrite(offset, width, value);
  }
  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void {
    this.handler = fn;
    this.inner.setInterruptHandler(fn);
  }
  lastRejection(): string | undefined {
    return this.inner.lastRejection();
  }
  /** An interrupt the device injects on its own, whatever the status says. */
  raise(irq: InterruptEvent): void {
    this.handler?.(irq);
  }
}

/** A virtio-mmio window whose register and config reads may lie, around an honest VirtioMmioTransport. */
export class LyingMmio implements MmioWindow {
  private readonly liar: Liar;
  private handler: ((irq: InterruptEvent) => void) | undefined;
  constructor(
    readonly inner: VirtioMmioTransport,
    lies: readonly Lie[] = [],
  ) {
    this.liar = new Liar(lies);
  }
  get told(): number {
    return this.liar.told;
  }
  read(offset: number, width = 4): number {
    return this.liar.read('mmio', offset, this.inner.core.queueSel, this.inner.read(offset, width));
  }
  write(offset: number, width: number, value: number): void {
    this.inner.write(offset, width, value);
  }
  setInterruptHandler(fn: ((irq: InterruptEvent) => void) | undefined): void {
    this.handler = fn;
    this.inner.setInterruptHandler(fn);
  }
  lastRejection(): string | undefined {
    return this.inner.lastRejection();
  }
  /** An interrupt the device injects on its own. */
  raise(): void {
    this.handler?.({ line: 'intx' });
  }
}

/** Values a random lie picks from: edges of every width, and what no register can hold. */
const ODD_VALUES = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x8000, 0x8001, 0xffffffff, 2 ** 32 + 1, -1, 1.5, NaN];

/**
 * A seeded mix of honest and malicious reads in `space`: each read lies with
 * probability `p` (0..1), answering an edge value, a flipped bit of the
 * honest value, or a number no register can hold.
 */
export function randomLie(space: LieSpace, seed: number, p: number): Lie {
  const next = rng(seed);
  const threshold = Math.floor(p * 0x100000000);
  return {
    space,
    answer(honest) {
      if (next() >= threshold) return honest;
      const r = next();
      if (r & 1) return (honest ^ (1 << ((r >>> 1) % 32))) >>> 0;
      return ODD_VALUES[(r >>> 1) % ODD_VALUES.length]!;
    },
  };
}

// A virtio-console device model (VIRTIO 1.2 §5.3) with one port: receiveq
// (queue 0, port 0 RX: device to guest) and transmitq (queue 1, port 0 TX).
// VIRTIO_CONSOLE_F_SIZE (cols, rows) and F_EMERG_WRITE are offered;
// F_MULTIPORT (the control queues) is not. Bytes the guest sends go to the
// backend; bytes for the guest wait in a host-side FIFO (in the shared
// memory's host area) until the guest posts receive buffers. Payload copies
// are Wasm copies through the DMA view.
import { ConfigError, toVqsimError, type VqsimError } from '../../errors.js';
import { CounterBlock } from '../../memory/stats-registry.js';
import type { ConfigWidth, QueueConfig, VirtioDeviceContext, VirtioDeviceModel } from '../../transport/device-model.js';
import type { DmaView } from '../../dma/view.js';
import {
  CONSOLE_RECEIVEQ,
  CONSOLE_TRANSMITQ,
  ConsoleConfig,
  ConsoleFeature,
  VIRTIO_ID_CONSOLE,
} from '../../spec/console.js';
import { Feature } from '../../spec/features.js';
import { deviceQueueFromAreas, type QueueDevice } from '../../virtqueue/queue.js';
import type { PoppedBuffer } from '../../virtqueue/device-face.js';

export interface ConsoleDeviceOptions {
  /** 'loopback': what the guest sends comes back to it. 'sink': it is collected for the host (take()). Default loopback. */
  backend?: 'loopback' | 'sink';
  cols?: number;
  rows?: number;
  /** Bytes the FIFO to the guest (and the sink's collector) hold. Default 1 MiB. */
  fifoBytes?: number;
  maxQueueSize?: number;
  /** Ring features offered besides VERSION_1. Default RING_PACKED, EVENT_IDX, INDIRECT_DESC. */
  ringFeatures?: readonly number[];
  /** The device's name in the stats registry (its `console` block) and in queue errors (`<name>.vq<i>`). Default "console". */
  name?: string;
}

/** The device's counters: a `console` block in the stats registry, written by the thread that runs the device. */
export interface ConsoleCounters {
  txBytes: number;
  rxBytes: number;
  txChains: number;
  rxChains: number;
  /** Bytes dropped because a FIFO was full. */
  dropped: number;
  emergBytes: number;
}

/** Pops one chain and returns its writable buffers. */
function popOne(q: QueueDevice): { id: number; writable: PoppedBuffer[] } | undefined {
  if (q.popBatch(1) === 0) return undefined;
  const { id, writable } = q.chain(0);
  return { id, writable };
}

/** A byte FIFO in host memory; moves are Wasm copies. */
class HostFifo {
  rd = 0;
  wr = 0;
  constructor(
    private readonly view: DmaView,
    readonly at: number,
    readonly cap: number,
  ) {}
  get length(): number {
    return this.wr - this.rd;
  }
  /** Room at the end, compacting first when that makes more. */
  room(): number {
    if (this.rd > 0 && this.wr === this.cap) {
      this.view.core.dma_copy(this.at, this.at + this.rd, this.wr - this.rd);
      this.wr -= this.rd;
      this.rd = 0;
    }
    if (this.rd === this.wr) this.rd = this.wr = 0;
    return this.cap - this.wr;
  }
}

export class ConsoleDevice implements VirtioDeviceModel {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly deviceFeatures: bigint;
  readonly numQueues = 2;
  readonly maxQueueSize: number;
  readonly configSize = ConsoleConfig.SIZE;
  readonly config = new DataView(new ArrayBuffer(ConsoleConfig.SIZE));
  readonly name: string;
  private readonly stats: CounterBlock<'console'>;
  readonly mode: 'loopback' | 'sink';
  protected ctx!: VirtioDeviceContext;
  private readonly ready = new Map<number, QueueConfig>();
  private rx: QueueDevice | undefined;
  private tx: QueueDevice | undefined;
  /** Bytes for the guest. */
  private readonly toGuest: HostFifo;
  /** Bytes the guest sent, for the host (sink). */
  private readonly collected: HostFifo;
  /** Why the device stopped (it needs a reset), if it did: the error, with its code and the side at fault. */
  fault: VqsimError | undefined;
  /** The fault's message. */
  get failure(): string | undefined {
    return this.fault?.message;
  }

  constructor(
    readonly view: DmaView,
    options: ConsoleDeviceOptions = {},
  ) {
    this.mode = options.backend ?? 'loopback';
    if (this.mode !== 'loopback' && this.mode !== 'sink') {
      throw new ConfigError(`console backend ${String(this.mode)}: must be loopback or sink`);
    }
    this.maxQueueSize = options.maxQueueSize ?? 256;
    this.name = options.name ?? 'console';
    this.stats = CounterBlock.alloc(view, 'console', this.name);
    const fifo = options.fifoBytes ?? 1 << 20;
    this.toGuest = new HostFifo(view, view.hostAlloc(fifo), fifo);
    this.collected = new HostFifo(view, view.hostAlloc(fifo), fifo);
    const bits = [
      Feature.VERSION_1,
      ...(options.ringFeatures ?? [Feature.RING_PACKED, Feature.EVENT_IDX, Feature.INDIRECT_DESC]),
      ConsoleFeature.SIZE,
      ConsoleFeature.EMERG_WRITE,
    ];
    this.deviceFeatures = bits.reduce((f, b) => f | (1n << BigInt(b)), 0n);
    this.config.setUint16(ConsoleConfig.COLS, options.cols ?? 80, true);
    this.config.setUint16(ConsoleConfig.ROWS, options.rows ?? 25, true);
    this.config.setUint32(ConsoleConfig.MAX_NR_PORTS, 1, true);
  }

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, width: ConfigWidth): number {
    const c = this.config;
    if (offset >= ConsoleConfig.EMERG_WR) return 0; // emerg_wr is write-only
    return width === 1 ? c.getUint8(offset) : width === 2 ? c.getUint16(offset, true) : c.getUint32(offset, true);
  }
  /** emerg_wr: one character to the host, outside the queues. */
  writeConfig(offset: number, _width: ConfigWidth, value: number): void {
    if (offset !== ConsoleConfig.EMERG_WR) return;
    this.stats.f.emergBytes.add();
    this.deliver(new Uint8Array([value & 0xff]), this.mode === 'loopback' ? this.toGuest : this.collected);
    if (this.rx && this.failure === undefined) this.serveRx();
  }
  /** The host resizes the console: new cols and rows, a config change. */
  resize(cols: number, rows: number): void {
    this.config.setUint16(ConsoleConfig.COLS, cols, true);
    this.config.setUint16(ConsoleConfig.ROWS, rows, true);
    this.ctx.configChanged();
  }
  onQueueReady(index: number, queue: QueueConfig): void {
    this.ready.set(index, queue);
  }
  onDriverOk(_features: bigint): void {
    this.fault = undefined;
    const face = (i: number) => {
      const q = this.ready.get(i);
      if (!q) return undefined;
      return deviceQueueFromAreas(
        this.view,
        { ...q, desc: Number(q.desc), driver: Number(q.driver), device: Number(q.device) },
        { name: `${this.name}.vq${i}` },
      );
    };
    this.rx = face(CONSOLE_RECEIVEQ);
    this.tx = face(CONSOLE_TRANSMITQ);
  }
  onReset(): void {
    this.ready.clear();
    this.rx = this.tx = undefined;
  }

  onNotify(index: number): void {
    if (this.failure !== undefined) return;
    try {
      if (index === CONSOLE_TRANSMITQ) this.serveTx();
      this.serveRx();
    } catch (e) {
      this.fault = toVqsimError(e, 'DEVICE_INTERNAL');
      this.ctx.needsReset(this.fault);
    }
  }

  /** The counters, read now from the block. */
  get counters(): ConsoleCounters {
    return this.stats.read();
  }

  /** Host input: bytes for the guest (delivered into its receive buffers as they come). */
  input(bytes: Uint8Array): void {
    this.deliver(bytes, this.toGuest);
    if (this.rx && this.failure === undefined) this.serveRx();
  }

  /** Sink: takes the bytes the guest sent so far. */
  take(): Uint8Array {
    const f = this.collected;
    const out = this.view.bytesAt(f.at + f.rd, f.length).slice();
    f.rd = f.wr = 0;
    return out;
  }

  private deliver(bytes: Uint8Array, f: HostFifo): void {
    const n = Math.min(bytes.length, f.room());
    this.view.bytesAt(f.at + f.wr, n).set(bytes.subarray(0, n));
    f.wr += n;
    this.stats.f.dropped.add(bytes.length - n);
  }

  /** TX: every byte the guest sent goes to the FIFO of its backend; each chain is used with len 0. */
  private serveTx(): void {
    const q = this.tx;
    if (!q) return;
    const f = this.mode === 'loopback' ? this.toGuest : this.collected;
    const c = this.stats;
    let any = false;
    let reads = 0;
    let readBytes = 0;
    for (let n = q.popBatch(); n > 0; n = q.popBatch()) {
      const used = [];
      for (let k = 0; k < n; k++) {
        const chain = q.chain(k);
        for (const b of chain.readable) {
          // The iovec the pop translated: a Wasm copy into the FIFO.
          const fit = Math.min(b.len, f.room());
          if (fit > 0) this.view.core.dma_copy(f.at + f.wr, b.linear, fit);
          reads++;
          readBytes += fit;
          f.wr += fit;
          c.f.txBytes.add(fit);
          c.f.dropped.add(b.len - fit);
        }
        used.push({ id: chain.id, len: 0 });
      }
      q.push(used);
      c.f.txChains.add(n);
      any = true;
    }
    this.view.countAccess(reads, readBytes, 0, 0);
    if (any && q.shouldNotify()) this.ctx.raiseQueueInterrupt(CONSOLE_TRANSMITQ);
  }

  /** RX: fills the guest's receive buffers from the FIFO while it has bytes. */
  private serveRx(): void {
    const q = this.rx;
    const f = this.toGuest;
    if (!q) return;
    let any = false;
    while (f.length > 0) {
      const chain = popOne(q);
      if (!chain) break;
      let wrote = 0;
      for (const b of chain.writable) {
        const len = Math.min(b.len, f.length);
        if (len === 0) break;
        this.view.core.dma_copy(b.linear, f.at + f.rd, len);
        this.view.countAccess(0, 0, 1, len);
        f.rd += len;
        wrote += len;
      }
      q.push([{ id: chain.id, len: wrote }]);
      this.stats.f.rxBytes.add(wrote);
      this.stats.f.rxChains.add();
      any = true;
    }
    if (any && q.shouldNotify()) this.ctx.raiseQueueInterrupt(CONSOLE_RECEIVEQ);
  }
}

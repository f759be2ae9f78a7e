// A guest virtio-console driver for port 0, after Linux's virtio_console.c:
// probe (F_SIZE read under the generation counter), receive buffers posted
// and re-posted (add_inbuf), writes through the transmit queue (one chain per
// write, mapped TO_DEVICE and unmapped when the device has used it), reads
// from used receive buffers. Like Linux, a used length above the buffer is
// clamped (buf->len = min(len, buf->size)); the naive mode takes it as is.
import { DmaDirection } from '../../dma/types.js';
import { DmaError } from '../../dma/errors.js';
import type { DmaApi } from '../../dma/api.js';
import { ConfigError, VqsimError, type FaultSide } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { probeDevice, readConfigStable } from '../probe.js';
import { Status } from '../../spec/config.js';
import type { TransportAccess } from '../transport-access.js';
import { Feature } from '../../spec/features.js';
import { hasFeature } from '../../virtqueue/features.js';
import type { Virtqueue } from '../../virtqueue/queue.js';
import {
  CONSOLE_RECEIVEQ,
  CONSOLE_TRANSMITQ,
  ConsoleConfig,
  ConsoleFeature,
  VIRTIO_ID_CONSOLE,
} from '../../spec/console.js';

export interface ConsoleDriverOptions {
  features?: bigint;
  queueSize?: number;
  /** Bytes per receive buffer (Linux: PAGE_SIZE). Default 4096. */
  rxBufferBytes?: number;
  /** Largest write in one chain; longer writes are split. Default 4096. */
  txBufferBytes?: number;
  hardened?: boolean;
  /**
   * Receive buffers one read() takes at most (NAPI's netdev_budget, 300 per
   * softirq round): a device that fills buffers as fast as they are posted
   * again cannot keep read() from returning. The rest waits for the next
   * read(). Default 300.
   */
  rxBudget?: number;
}

/** Default receive buffers per read() (net.core.netdev_budget). */
export const CONSOLE_RX_BUDGET = 300;

export const CONSOLE_DRIVER_FEATURES = [
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  ConsoleFeature.SIZE,
  ConsoleFeature.EMERG_WRITE,
].reduce((f, b) => f | (1n << BigInt(b)), 0n);

/**
 * The console driver refused what it found. Codes: CONSOLE_NOT_CONSOLE (the
 * access given to probe is not a console: side 'user').
 */
export class ConsoleDriverError extends VqsimError {
  constructor(code: string, message: string, side: FaultSide = 'device') {
    super(code, message, side);
    this.name = 'ConsoleDriverError';
  }
}

export class ConsoleDriver {
  readonly rxq: Virtqueue;
  readonly txq: Virtqueue;
  readonly hardened: boolean;
  cols = 0;
  rows = 0;
  private readonly rxBytes: number;
  private readonly txBytes: number;
  private readonly rxPool: number;
  private readonly txPool: number;
  /** The DMA address map() returned for each receive and transmit buffer in flight. */
  private readonly rxDma: number[] = [];
  private readonly txDma: number[] = [];
  private readonly txLen: number[] = [];
  private readonly txFree: number[] = [];
  private readonly received: Uint8Array[] = [];
  /** Receive buffers whose mapping failed (a full swiotlb pool), posted again at the next read. */
  private readonly rxUnposted: number[] = [];
  /** Buffers that could not be mapped (DMA_MAPPING_ERROR): a write queued less, or a receive buffer waits. */
  mapErrors = 0;
  /** Used lengths above the receive buffer, clamped to it (hardened; Linux's buf->len = min(len, buf->size)). */
  rxLenClamped = 0;
  /** read()/readCount() calls that stopped at rxBudget with buffers possibly left. */
  budgetStops = 0;
  /** recover() calls that led to this driver. */
  resets = 0;
  readonly rxBudget: number;

  private constructor(
    readonly access: TransportAccess,
    readonly mem: GuestMemory,
    readonly dma: DmaApi,
    readonly features: bigint,
    queues: Virtqueue[],
    private readonly options: ConsoleDriverOptions,
  ) {
    this.hardened = options.hardened ?? true;
    this.rxq = queues[CONSOLE_RECEIVEQ]!;
    this.txq = queues[CONSOLE_TRANSMITQ]!;
    this.rxBytes = options.rxBufferBytes ?? 4096;
    this.txBytes = options.txBufferBytes ?? 4096;
    this.rxBudget = options.rxBudget ?? CONSOLE_RX_BUDGET;
    if (!Number.isInteger(this.rxBudget) || this.rxBudget < 1) {
      throw new ConfigError(`console rxBudget ${this.rxBudget}: must be a whole number of at least 1`);
    }
    // Guest kernel memory: private in a confidential VM (the DMA API bounces it there).
    this.rxPool = mem.alloc(this.rxq.size * this.rxBytes);
    this.rxMapped = new Uint8Array(this.rxq.size);
    this.txPool = mem.alloc(this.txq.size * this.txBytes);
    for (let k = this.txq.size - 1; k >= 0; k--) this.txFree.push(k);
    this.readSize();
    access.onConfigInterrupt(() => this.readSize());
    // fill_queue: every receive buffer posted; those a full pool refuses wait for the first read.
    for (let k = 0; k < this.rxq.size; k++) {
      if (!this.postRx(k)) {
        for (let j = k + 1; j < this.rxq.size; j++) this.rxUnposted.push(j);
        break;
      }
    }
    if (this.rxq.driver.kick()) access.notify(CONSOLE_RECEIVEQ);
  }

  static probe(
    access: TransportAccess,
    mem: GuestMemory,
    dma: DmaApi,
    options: ConsoleDriverOptions = {},
  ): ConsoleDriver {
    if (access.deviceId() !== VIRTIO_ID_CONSOLE) {
      throw new ConsoleDriverError(
        'CONSOLE_NOT_CONSOLE',
        `virtio_console: device ${access.deviceId()} is not a console`,
        'user',
      );
    }
    const dev = probeDevice(access, mem, {
      features: (options.features ?? CONSOLE_DRIVER_FEATURES) & ~(1n << BigInt(ConsoleFeature.MULTIPORT)),
      queueSize: options.queueSize,
      queues: 2,
      dma: dma.driverDma(),
    });
    const drv = new ConsoleDriver(access, mem, dma, dev.features, dev.queues, options);
    drv.releaseRings = dev.release;
    return drv;
  }

  private readSize(): void {
    if (!hasFeature(this.features, ConsoleFeature.SIZE)) return;
    [this.cols, this.rows] = readConfigStable(this.access, () => [
      this.access.readConfig(ConsoleConfig.COLS, 2),
      this.access.readConfig(ConsoleConfig.ROWS, 2),
    ]);
  }

  /** Maps and adds receive buffer k; one that cannot be mapped now waits in rxUnposted. */
  private postRx(k: number): boolean {
    const gpa = this.rxPool + k * this.rxBytes;
    let addr: number;
    try {
      addr = this.dma.map(gpa, this.rxBytes, DmaDirection.FROM_DEVICE);
    } catch (e) {
      if (!isMappingError(e)) throw e;
      this.mapErrors++;
      this.rxUnposted.push(k);
      return false;
    }
    this.rxDma[k] = addr;
    this.rxMapped[k] = 1;
    this.rxq.driver.add([], [{ addr, len: this.rxBytes }], k);
    return true;
  }

  /** Posts the receive buffers a full pool held back, as long as they map. */
  private repostRx(): void {
    if (this.rxUnposted.length === 0) return;
    const waiting = this.rxUnposted.splice(0);
    let posted = false;
    for (let i = 0; i < waiting.length; i++) {
      if (!this.postRx(waiting[i]!)) {
        this.rxUnposted.push(...waiting.slice(i + 1));
        break;
      }
      posted = true;
    }
    if (posted && this.rxq.driver.kick()) this.access.notify(CONSOLE_RECEIVEQ);
  }

  /** Ends receive buffer k's mapping, with the address map() returned. */
  private unmapRx(k: number): void {
    this.rxMapped[k] = 0;
    this.dma.unmap(this.rxDma[k]!, this.rxBytes, DmaDirection.FROM_DEVICE);
  }

  /** Which receive buffers are mapped now (a read that failed half-way leaves one unmapped and not posted). */
  private rxMapped = new Uint8Array(0);

  /** Emergency write of one byte through config space (F_EMERG_WRITE). */
  emergencyWrite(byte: number): void {
    this.access.writeConfig(ConsoleConfig.EMERG_WR, 4, byte & 0xff);
  }

  /** Reclaims transmitted buffers. */
  private reclaimTx(): void {
    const d = this.txq.driver;
    const n = d.reap();
    for (let i = 0; i < n; i++) {
      const k = d.completions[2 * i]!;
      this.dma.unmap(this.txDma[k]!, this.txLen[k]!, DmaDirection.TO_DEVICE);
      this.txFree.push(k);
    }
  }
  private txAddr(k: number): number {
    return this.txPool + k * this.txBytes;
  }

  /**
   * Sends `bytes` in chains of `chunk` bytes (at most txBufferBytes), one
   * kick for all; returns the bytes queued (fewer when the ring is full or
   * a buffer cannot be mapped now).
   */
  writeChunks(bytes: Uint8Array, chunk: number): number {
    this.reclaimTx();
    const size = Math.min(chunk, this.txBytes);
    let done = 0;
    while (done < bytes.length && this.txFree.length > 0) {
      const k = this.txFree.pop()!;
      const n = Math.min(size, bytes.length - done);
      const gpa = this.txAddr(k);
      this.mem.write(gpa, bytes.subarray(done, done + n));
      let addr: number;
      try {
        // Map what is sent, as virtio_console's sg_init_one(buf, count) does:
        // a bouncing backend then copies only those bytes.
        addr = this.dma.map(gpa, n, DmaDirection.TO_DEVICE);
      } catch (e) {
        // A full pool queues less: what is queued goes out, the caller sends the rest later.
        this.txFree.push(k);
        if (!isMappingError(e)) throw e;
        this.mapErrors++;
        break;
      }
      this.txDma[k] = addr;
      this.txLen[k] = n;
      this.txq.driver.add([{ addr, len: n }], [], k);
      done += n;
    }
    if (this.txq.driver.kick()) this.access.notify(CONSOLE_TRANSMITQ);
    this.reclaimTx();
    return done;
  }

  /**
   * Sends `bytes` (split into chains of txBufferBytes) and kicks once.
   * Returns the bytes queued: fewer when the transmit ring is full.
   */
  write(bytes: Uint8Array): number {
    return this.writeChunks(bytes, this.txBytes);
  }

  /** The device set NEEDS_RESET after DRIVER_OK (virtio_error on its side): it serves nothing until reset. */
  needsReset(): boolean {
    return (this.access.getStatus() & Status.NEEDS_RESET) !== 0;
  }

  /**
   * Resets the device (it then owns no buffer), unmaps every buffer in
   * flight and frees the pools (remove_vqs / virtcons_remove).
   */
  remove(options: { surprise?: boolean } = {}): void {
    if (this.removed) return;
    this.removed = true;
    // A surprise-removed device can neither be reset nor reach memory any more.
    if (!options.surprise) this.access.reset();
    const unposted = new Set(this.rxUnposted);
    for (let k = 0; k < this.rxq.size; k++) if (!unposted.has(k) && this.rxMapped[k]) this.unmapRx(k);
    const free = new Set(this.txFree);
    for (let k = 0; k < this.txq.size; k++) {
      if (!free.has(k)) this.dma.unmap(this.txDma[k]!, this.txLen[k]!, DmaDirection.TO_DEVICE);
    }
    this.rxUnposted.length = 0;
    this.txFree.length = 0;
    this.mem.free(this.rxPool);
    this.mem.free(this.txPool);
    this.releaseRings();
  }

  /** Frees the rings the probe allocated (del_vqs), once the device is reset. */
  releaseRings: () => void = () => {};
  /** remove() ran (a second one does nothing). */
  private removed = false;

  /**
   * Brings a device that needs a reset back (virtcons_freeze /
   * virtcons_restore around a reset): remove(), then a fresh probe with the
   * same options, which posts every receive buffer again. Bytes in flight
   * are lost, as on a line reset. Returns the new driver; this one is done.
   */
  recover(): ConsoleDriver {
    this.remove();
    const next = ConsoleDriver.probe(this.access, this.mem, this.dma, this.options);
    next.resets = this.resets + 1;
    return next;
  }

  /** Counts the bytes delivered so far without copying them out, and posts the buffers again (benchmarks). */
  readCount(): number {
    let total = 0;
    this.drainRx((k, len) => {
      total += len;
    });
    return total;
  }

  /** Takes the bytes the device delivered so far (at most rxBudget buffers), and posts their buffers again. */
  read(): Uint8Array {
    let total = 0;
    this.drainRx((k, len) => {
      this.received.push(this.mem.read(this.rxPool + k * this.rxBytes, len));
      total += len;
    });
    const out = new Uint8Array(total);
    let at = 0;
    for (const r of this.received) {
      out.set(r, at);
      at += r.length;
    }
    this.received.length = 0;
    return out;
  }

  /**
   * Reaps used receive buffers, at most rxBudget of them (NAPI's budget:
   * virtnet_poll stops at its weight and napi_complete_done only when under
   * it), hands each to `take` with its length (hardened: clamped to the
   * buffer, counted) and posts it again.
   */
  private drainRx(take: (k: number, len: number) => void): void {
    this.repostRx();
    const d = this.rxq.driver;
    let left = this.rxBudget;
    for (
      let n = d.reap(Math.min(left, this.rxq.size));
      n > 0;
      n = left > 0 ? d.reap(Math.min(left, this.rxq.size)) : 0
    ) {
      left -= n;
      for (let i = 0; i < n; i++) {
        const k = d.completions[2 * i]!;
        let len = d.completions[2 * i + 1]!;
        this.unmapRx(k);
        if (len > this.rxBytes && this.hardened) {
          len = this.rxBytes;
          this.rxLenClamped++;
        }
        take(k, len);
        this.postRx(k);
      }
      if (d.kick()) this.access.notify(CONSOLE_RECEIVEQ);
    }
    if (left === 0) this.budgetStops++;
  }
}

/** A mapping the DMA API refused for want of room (a full swiotlb pool): the driver retries later. */
function isMappingError(e: unknown): boolean {
  return e instanceof DmaError && e.code === 'DMA_MAPPING_ERROR';
}

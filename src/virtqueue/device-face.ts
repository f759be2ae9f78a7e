import * as L from '../../assembly/layout.js';
import { getAddr } from './buffers.js';
import type { DeviceFaceOwner } from './device-host.js';
import { VirtqueueError } from './errors.js';
import { readStats, type QueueStats } from './stats.js';

/** Where a device's state lives: enough to attach to it from another thread. */
export interface DeviceAddrs {
  /** Linear address of the state block (host memory). */
  state: number;
  /** Linear address of the pop output: chain records, then elements. */
  popOut: number;
  popChains: number;
  popElements: number;
  /** Linear address of the push input used by push(). */
  pushIn: number;
  /** Linear address of the stats block the device side counts in. */
  statsBlock: number;
}

/**
 * A buffer of a popped chain: one iovec the device's DMA context made. `addr`
 * is its DMA address (a number: exact below 2^53); `linear` where the
 * context placed it, for the Wasm copies on host blocks.
 */
export interface PoppedBuffer {
  addr: number;
  len: number;
  linear: number;
}

/** A chain the device popped: its head (or buffer) id and its buffers, readable ones first. */
export interface Chain {
  id: number;
  readable: PoppedBuffer[];
  writable: PoppedBuffer[];
  readBytes: number;
  writeBytes: number;
}

/** A used element to push: the chain's id and the bytes the device wrote. */
export interface UsedElem {
  id: number;
  len: number;
}

/** Offsets of the fields every device state block has, whatever the ring kind. */
export interface DeviceStateOffsets {
  broken: number;
  inflight: number;
  errA: number;
  errB: number;
  batchDone: number;
}

/**
 * The device's face of a virtqueue, after QEMU's virtqueue_pop/push: what is
 * the same for every ring kind. popBatch leaves chain records and their
 * buffers in host memory (POP_* records, then ELEM_* elements), so a device
 * model works through them without a call per descriptor, and pushPopped hands
 * the records back as used elements. A ring kind supplies the engine calls.
 */
export abstract class DeviceFace {
  readonly state: number;
  readonly popOut: number;
  readonly popChains: number;
  readonly popElements: number;
  protected readonly pushIn: number;
  /** The record count the last popBatch laid out: its elements start after that many records. */
  private recordsOfLastPop: number;

  /** Linear address of the stats block the device side counts in. */
  readonly statsBlock: number;

  constructor(
    protected readonly q: DeviceFaceOwner<unknown>,
    readonly addrs: DeviceAddrs,
    private readonly off: DeviceStateOffsets,
  ) {
    this.statsBlock = addrs.statsBlock;
    this.state = addrs.state;
    this.popOut = addrs.popOut;
    this.popChains = addrs.popChains;
    this.popElements = addrs.popElements;
    this.pushIn = addrs.pushIn;
    this.recordsOfLastPop = addrs.popChains;
  }

  protected abstract popRaw(out: number, max: number, elemCap: number): number;
  protected abstract pushRaw(entries: number, n: number, stride: number): number;
  protected abstract useRaw(out: number, max: number, elemCap: number): number;
  protected abstract shouldNotifyRaw(): number;
  protected abstract setNotifyRaw(enable: number): number;

  protected u32(off: number): number {
    return this.q.mem.view.getUint32(this.state + off, true);
  }

  private error(rc: number): VirtqueueError {
    const o = this.off;
    return new VirtqueueError(
      this.q.name,
      -rc,
      this.u32(o.errA),
      this.u32(o.errB),
      this.u32(o.batchDone),
      [],
      'device',
    );
  }

  /** True once the driver broke the protocol: pops return nothing, pushes fail. */
  get broken(): boolean {
    return this.u32(this.off.broken) !== 0;
  }

  /** Chains popped and not yet pushed back. */
  get inflight(): number {
    return this.u32(this.off.inflight);
  }

  /** The counters of the stats block this side writes (the device half: chainsPopped and on). */
  stats(): QueueStats {
    return readStats(this.q.mem.view, this.statsBlock);
  }

  /**
   * Pops up to `max` available chains into the pop output and returns how
   * many. Throws VirtqueueError when the driver broke the protocol (the queue
   * is then broken; error.done chains before the bad one stay popped).
   */
  popBatch(max = this.popChains): number {
    this.recordsOfLastPop = Math.min(max, this.popChains);
    const rc = this.popRaw(this.popOut, this.recordsOfLastPop, this.popElements);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** Linear address of the element array of the last popBatch (ELEM_* records). */
  get popElementsAt(): number {
    return this.popOut + this.recordsOfLastPop * L.POP_SIZE;
  }

  /** The k-th chain of the last popBatch, as an object. */
  chain(k: number): Chain {
    const v = this.q.mem.view;
    const r = this.popOut + k * L.POP_SIZE;
    const elems = this.popElementsAt;
    const start = k === 0 ? 0 : v.getUint32(r - L.POP_SIZE + L.POP_ELEM_END, true);
    const end = v.getUint32(r + L.POP_ELEM_END, true);
    const chain: Chain = {
      id: v.getUint32(r + L.POP_ID, true),
      readable: [],
      writable: [],
      readBytes: v.getUint32(r + L.POP_READ_BYTES, true),
      writeBytes: v.getUint32(r + L.POP_WRITE_BYTES, true),
    };
    for (let e = start; e < end; e++) {
      const at = elems + e * L.ELEM_SIZE;
      const buf = {
        addr: getAddr(v, at + L.ELEM_ADDR),
        len: v.getUint32(at + L.ELEM_LEN, true),
        linear: v.getUint32(at + L.ELEM_LINEAR, true),
      };
      // Both ring kinds record the device-writable bit as VRING_DESC_F_WRITE (2).
      if (v.getUint32(at + L.ELEM_FLAGS, true) & L.VRING_DESC_F_WRITE) chain.writable.push(buf);
      else chain.readable.push(buf);
    }
    return chain;
  }

  /** Pops and returns the available chains as objects. */
  pop(max = this.popChains): Chain[] {
    const n = this.popBatch(max);
    const out: Chain[] = [];
    for (let k = 0; k < n; k++) out.push(this.chain(k));
    return out;
  }

  private pushAt(ptr: number, n: number, stride: number): number {
    const rc = this.pushRaw(ptr, n, stride);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** Pushes the first n chains of the last pop back as used, each with len = its writable bytes. */
  pushPopped(n: number): number {
    return this.pushAt(this.popOut, n, L.POP_SIZE);
  }

  /**
   * A loopback device's turn, as ringtest's use_buf() in a loop: up to `max`
   * available chains, each popped and pushed back used (len = its writable
   * bytes) before the next is read, in one engine call. Returns how many;
   * chain(0) is then the last one used. Throws VirtqueueError for the chain
   * that broke the protocol (error.done: the chains used before it).
   */
  useBatch(max = this.popChains): number {
    this.recordsOfLastPop = 1;
    const rc = this.useRaw(this.popOut, max, this.popElements);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** Pushes used elements, publishing once per queue-size worth. */
  push(elems: readonly UsedElem[]): number {
    const v = this.q.mem.view;
    let done = 0;
    for (let k = 0; k < elems.length; k += this.q.size) {
      const part = elems.slice(k, k + this.q.size);
      part.forEach((e, j) => {
        v.setUint32(this.pushIn + 8 * j + L.PUSH_ID, e.id >>> 0, true);
        v.setUint32(this.pushIn + 8 * j + L.PUSH_LEN, e.len >>> 0, true);
      });
      done += this.pushAt(this.pushIn, part.length, 8);
    }
    return done;
  }

  /** virtio_should_notify(): true when the driver wants an interrupt for what was pushed. */
  shouldNotify(): boolean {
    return this.shouldNotifyRaw() === 1;
  }

  /** virtio_queue_set_notification(); returns true when chains are already waiting. */
  setNotify(enable: boolean): boolean {
    return this.setNotifyRaw(enable ? 1 : 0) === 1;
  }
}

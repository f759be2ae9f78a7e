import * as L from '../../../assembly/layout.js';
import { getAddr, type GuestBuffer } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { SplitQueue } from './queue.js';

/** A chain the device popped: its head id and its buffers, readable ones first. */
export interface Chain {
  id: number;
  readable: GuestBuffer[];
  writable: GuestBuffer[];
  readBytes: number;
  writeBytes: number;
}

/** Where a device's state lives: enough to attach to it from another thread. */
export interface SplitDeviceAddrs {
  /** Linear address of the state block (host memory). */
  state: number;
  /** Linear address of the pop output: chain records, then elements. */
  popOut: number;
  popChains: number;
  popElements: number;
  /** Linear address of the push input used by push(). */
  pushIn: number;
}

/** A used element to push: the chain's head id and the bytes the device wrote. */
export interface UsedElem {
  id: number;
  len: number;
}

/**
 * The device's face of a split queue, after QEMU's virtqueue_pop/push. popBatch
 * leaves chain records and their buffers in host memory (`records`,
 * `elements`), so a device model can work through them without a call per
 * descriptor, and pushPopped hands the records back as used elements.
 */
export class SplitDevice {
  /** Linear address of the device's state block (host memory). */
  readonly state: number;
  /** Linear address of the pop output: chain records, then elements. */
  readonly popOut: number;
  readonly popChains: number;
  readonly popElements: number;
  private readonly pushIn: number;

  constructor(
    private readonly q: SplitQueue,
    readonly addrs: SplitDeviceAddrs,
  ) {
    this.state = addrs.state;
    this.popOut = addrs.popOut;
    this.popChains = addrs.popChains;
    this.popElements = addrs.popElements;
    this.pushIn = addrs.pushIn;
  }

  /** Lays out and initialises the device's host-side state for queue `q`. */
  static create(q: SplitQueue, ring: number, flags: number, popElements: number): SplitDevice {
    const { mem, size, layout } = q;
    const v = mem.view;
    const state = mem.hostAlloc(L.DEV_SIZE);
    const s = (off: number, val: number) => v.setUint32(state + off, val, true);
    s(L.DEV_NUM, size);
    s(L.DEV_FEATURES, flags);
    s(L.DEV_DESC, ring + layout.desc);
    s(L.DEV_AVAIL, ring + layout.avail);
    s(L.DEV_USED, ring + layout.used);
    s(L.DEV_STATS, q.statsBlock);
    s(L.DEV_NOTIFY_ENABLED, 1);
    return new SplitDevice(q, {
      state,
      popOut: mem.hostAlloc(size * L.POP_SIZE + popElements * L.ELEM_SIZE),
      popChains: size,
      popElements,
      pushIn: mem.hostAlloc(size * 8),
    });
  }

  private u32(off: number): number {
    return this.q.mem.view.getUint32(this.state + off, true);
  }

  private error(rc: number): VirtqueueError {
    return new VirtqueueError(
      this.q.name,
      -rc,
      this.u32(L.DEV_ERR_A),
      this.u32(L.DEV_ERR_B),
      this.u32(L.DEV_BATCH_DONE),
    );
  }

  /** True once the driver broke the protocol: pops return nothing, pushes fail. */
  get broken(): boolean {
    return this.u32(L.DEV_BROKEN) !== 0;
  }

  /** Chains popped and not yet pushed back. */
  get inflight(): number {
    return this.u32(L.DEV_INFLIGHT);
  }

  /**
   * Pops up to `max` available chains into the pop output and returns how
   * many. Throws VirtqueueError when the driver broke the protocol (the queue
   * is then broken; error.done chains before the bad one stay popped).
   */
  popBatch(max = this.popChains): number {
    const rc = this.q.engine.split_dev_pop(this.state, this.popOut, Math.min(max, this.popChains), this.popElements);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** The k-th chain of the last popBatch, as an object. */
  chain(k: number): Chain {
    const v = this.q.mem.view;
    const r = this.popOut + k * L.POP_SIZE;
    const elems = this.popOut + this.popChains * L.POP_SIZE;
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
      const buf = { addr: getAddr(v, at + L.ELEM_ADDR), len: v.getUint32(at + L.ELEM_LEN, true) };
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
    const rc = this.q.engine.split_dev_push(this.state, ptr, n, stride);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** Pushes the first n chains of the last pop back as used, each with len = its writable bytes. */
  pushPopped(n: number): number {
    return this.pushAt(this.popOut, n, L.POP_SIZE);
  }

  /** Pushes used elements and publishes used->idx once. */
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
    return this.q.engine.split_dev_should_notify(this.state) === 1;
  }

  /** virtio_queue_set_notification(); returns true when chains are already waiting. */
  setNotify(enable: boolean): boolean {
    return this.q.engine.split_dev_set_notify(this.state, enable ? 1 : 0) === 1;
  }
}

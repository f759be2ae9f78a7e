import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import { getAddr } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { QueueDevice } from '../queue.js';
import type { Chain, UsedElem } from '../split/device.js';
import type { PackedQueue } from './queue.js';

/** Where a packed device's state lives: enough to attach to it from another thread. */
export interface PackedDeviceAddrs {
  /** Linear address of the state block (host memory). */
  state: number;
  /** Linear address of the pop output: chain records, then elements. */
  popOut: number;
  popChains: number;
  popElements: number;
  /** Linear address of the push input used by push(). */
  pushIn: number;
}

/**
 * The device's face of a packed queue, after QEMU's virtqueue_packed_pop and
 * virtqueue_packed_flush. Pop output and push input have the split ring's
 * format, so a device model works on either ring unchanged.
 */
export class PackedDevice implements QueueDevice {
  readonly state: number;
  readonly popOut: number;
  readonly popChains: number;
  readonly popElements: number;
  private readonly pushIn: number;

  constructor(
    private readonly q: PackedQueue,
    readonly addrs: PackedDeviceAddrs,
  ) {
    this.state = addrs.state;
    this.popOut = addrs.popOut;
    this.popChains = addrs.popChains;
    this.popElements = addrs.popElements;
    this.pushIn = addrs.pushIn;
  }

  /** Lays out and initialises the device's host-side state for queue `q`. */
  static create(q: PackedQueue, ring: number, flags: number, popElements: number): PackedDevice {
    const { mem, size, layout } = q;
    const v = mem.view;
    const state = mem.hostAlloc(P.PDEV_SIZE);
    const s = (off: number, val: number) => v.setUint32(state + off, val, true);
    s(P.PDEV_NUM, size);
    s(P.PDEV_FEATURES, flags);
    s(P.PDEV_DESC, ring + layout.desc);
    s(P.PDEV_DRIVER_AREA, ring + layout.driver);
    s(P.PDEV_DEVICE_AREA, ring + layout.device);
    s(P.PDEV_STATS, q.statsBlock);
    s(P.PDEV_IDS, mem.hostAlloc(size * 2));
    q.engine.packed_dev_init(state);
    return new PackedDevice(q, {
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
      this.u32(P.PDEV_ERR_A),
      this.u32(P.PDEV_ERR_B),
      this.u32(P.PDEV_BATCH_DONE),
      [],
      'device',
    );
  }

  /** True once the driver broke the protocol: pops return nothing, pushes fail. */
  get broken(): boolean {
    return this.u32(P.PDEV_BROKEN) !== 0;
  }

  /** Buffers popped and not yet pushed back. */
  get inflight(): number {
    return this.u32(P.PDEV_INFLIGHT);
  }

  /** The device's avail wrap counter (the lap it expects at its next descriptor). */
  get availWrapCounter(): number {
    return this.u32(P.PDEV_AVAIL_WRAP);
  }

  /** The device ring wrap counter used for the next used descriptor. */
  get usedWrapCounter(): number {
    return this.u32(P.PDEV_USED_WRAP);
  }

  /**
   * Pops up to `max` available buffers into the pop output and returns how
   * many. Throws VirtqueueError when the driver broke the protocol (the queue
   * is then broken; error.done buffers before the bad one stay popped).
   */
  popBatch(max = this.popChains): number {
    const rc = this.q.engine.packed_dev_pop(this.state, this.popOut, Math.min(max, this.popChains), this.popElements);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** The k-th chain of the last popBatch, as an object (its id is the buffer id). */
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
      if (v.getUint32(at + L.ELEM_FLAGS, true) & P.PDESC_F_WRITE) chain.writable.push(buf);
      else chain.readable.push(buf);
    }
    return chain;
  }

  /** Pops and returns the available buffers as objects. */
  pop(max = this.popChains): Chain[] {
    const n = this.popBatch(max);
    const out: Chain[] = [];
    for (let k = 0; k < n; k++) out.push(this.chain(k));
    return out;
  }

  private pushAt(ptr: number, n: number, stride: number): number {
    const rc = this.q.engine.packed_dev_push(this.state, ptr, n, stride);
    if (rc < 0) throw this.error(rc);
    return rc;
  }

  /** Pushes the first n buffers of the last pop back as used, each with len = its writable bytes. */
  pushPopped(n: number): number {
    return this.pushAt(this.popOut, n, L.POP_SIZE);
  }

  /** Writes used descriptors for these buffers; the first one's flags last. */
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

  /** virtio_packed_should_notify(): true when the driver wants an interrupt for what was pushed. */
  shouldNotify(): boolean {
    return this.q.engine.packed_dev_should_notify(this.state) === 1;
  }

  /** virtio_queue_packed_set_notification(); returns true when a buffer is already waiting. */
  setNotify(enable: boolean): boolean {
    return this.q.engine.packed_dev_set_notify(this.state, enable ? 1 : 0) === 1;
  }
}

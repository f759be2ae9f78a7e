import * as L from '../../../assembly/layout.js';
import { getAddr } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { DeviceFaceOwner, DeviceHost, DeviceRingOptions, ProgrammedRing } from '../device-host.js';
import { splitEngineFor } from '../device-host.js';
import type { SplitEngine } from '../engine.js';
import { readStats, type QueueStats } from '../stats.js';
import type { SplitQueue } from './queue.js';
import { checkQueueSize } from './layout.js';

/** A buffer of a popped chain; the address is a number (exact for any guest RAM). */
export interface PoppedBuffer {
  addr: number;
  len: number;
}

/** A chain the device popped: its head id and its buffers, readable ones first. */
export interface Chain {
  id: number;
  readable: PoppedBuffer[];
  writable: PoppedBuffer[];
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
    private readonly q: DeviceFaceOwner<SplitEngine>,
    readonly addrs: SplitDeviceAddrs,
    /** Linear address of the stats block the device side counts in. */
    readonly statsBlock: number,
  ) {
    this.state = addrs.state;
    this.popOut = addrs.popOut;
    this.popChains = addrs.popChains;
    this.popElements = addrs.popElements;
    this.pushIn = addrs.pushIn;
  }

  /** Lays out and initialises the device's host-side state for queue `q`. */
  static create(q: SplitQueue, ring: number, flags: number, popElements: number): SplitDevice {
    const { layout } = q;
    const rings = { desc: ring + layout.desc, avail: ring + layout.avail, used: ring + layout.used };
    return new SplitDevice(q, SplitDevice.layOut(q.mem, q.size, rings, flags, q.statsBlock, popElements), q.statsBlock);
  }

  private static layOut(
    host: { view: DataView; hostAlloc(bytes: number, align?: number): number },
    size: number,
    rings: { desc: number; avail: number; used: number },
    flags: number,
    statsBlock: number,
    popElements: number,
  ): SplitDeviceAddrs {
    const state = host.hostAlloc(L.DEV_SIZE);
    const s = (off: number, val: number) => host.view.setUint32(state + off, val, true);
    s(L.DEV_NUM, size);
    s(L.DEV_FEATURES, flags);
    s(L.DEV_DESC, rings.desc);
    s(L.DEV_AVAIL, rings.avail);
    s(L.DEV_USED, rings.used);
    s(L.DEV_STATS, statsBlock);
    s(L.DEV_NOTIFY_ENABLED, 1);
    return {
      state,
      popOut: host.hostAlloc(size * L.POP_SIZE + popElements * L.ELEM_SIZE),
      popChains: size,
      popElements,
      pushIn: host.hostAlloc(size * 8),
    };
  }

  /**
   * The device's own face of a split ring that a driver programmed through the
   * transport. The three areas are reached through the device's checked DMA
   * translation once, here (a fault if the driver pointed them outside what the
   * device may reach); state, stats and pop output live in the device's host
   * memory. Nothing of the driver's side is shared but the ring itself.
   */
  static fromAreas(host: DeviceHost, ring: ProgrammedRing, options: DeviceRingOptions = {}): SplitDevice {
    const { size } = ring;
    checkQueueSize(size);
    const rings = {
      desc: host.linear(ring.desc, size * L.VRING_DESC_SIZE, false),
      avail: host.linear(ring.driver, L.VRING_AVAIL_RING + 2 * size + 2, false),
      used: host.linear(ring.device, L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * size + 2, true),
    };
    const flags = (ring.eventIdx ? L.QF_EVENT_IDX : 0) | (ring.indirect ? L.QF_INDIRECT : 0);
    const popElements = options.popElements ?? Math.max(4 * size, 1024);
    const statsBlock = host.hostAlloc(L.ST_SIZE);
    const mem = { view: host.hostView, hostAlloc: (b: number, a?: number) => host.hostAlloc(b, a) };
    const owner: DeviceFaceOwner<SplitEngine> = {
      mem,
      engine: splitEngineFor(host, options.engine ?? 'wasm'),
      name: options.name ?? 'vq0',
      size,
    };
    return new SplitDevice(owner, SplitDevice.layOut(mem, size, rings, flags, statsBlock, popElements), statsBlock);
  }

  /** The counters of the stats block this side writes (shared with the driver when one queue object holds both). */
  stats(): QueueStats {
    return readStats(this.q.mem.view, this.statsBlock);
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
      [],
      'device',
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

import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import { getAddr } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { QueueDevice } from '../queue.js';
import type { Chain, UsedElem } from '../split/device.js';
import type { DeviceFaceOwner, DeviceHost, DeviceRingOptions, ProgrammedRing } from '../device-host.js';
import type { PackedEngine } from '../engine.js';
import { ReferencePackedEngine } from '../reference/packed.js';
import { readStats, type QueueStats } from '../stats.js';
import { checkPackedQueueSize } from './layout.js';
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
    private readonly q: DeviceFaceOwner<PackedEngine>,
    readonly addrs: PackedDeviceAddrs,
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
  static create(q: PackedQueue, ring: number, flags: number, popElements: number): PackedDevice {
    const { layout } = q;
    const areas = { desc: ring + layout.desc, driver: ring + layout.driver, device: ring + layout.device };
    const addrs = PackedDevice.layOut(q.mem, q.engine, q.size, areas, flags, q.statsBlock, popElements);
    return new PackedDevice(q, addrs, q.statsBlock);
  }

  private static layOut(
    host: { view: DataView; hostAlloc(bytes: number, align?: number): number },
    engine: PackedEngine,
    size: number,
    areas: { desc: number; driver: number; device: number },
    flags: number,
    statsBlock: number,
    popElements: number,
  ): PackedDeviceAddrs {
    const state = host.hostAlloc(P.PDEV_SIZE);
    const s = (off: number, val: number) => host.view.setUint32(state + off, val, true);
    s(P.PDEV_NUM, size);
    s(P.PDEV_FEATURES, flags);
    s(P.PDEV_DESC, areas.desc);
    s(P.PDEV_DRIVER_AREA, areas.driver);
    s(P.PDEV_DEVICE_AREA, areas.device);
    s(P.PDEV_STATS, statsBlock);
    s(P.PDEV_IDS, host.hostAlloc(size * 2));
    engine.packed_dev_init(state);
    return {
      state,
      popOut: host.hostAlloc(size * L.POP_SIZE + popElements * L.ELEM_SIZE),
      popChains: size,
      popElements,
      pushIn: host.hostAlloc(size * 8),
    };
  }

  /**
   * The device's own face of a packed ring a driver programmed through the
   * transport (see SplitDevice.fromAreas): the areas are reached through the
   * device's checked DMA translation; state and stats live in its host memory.
   */
  static fromAreas(host: DeviceHost, ring: ProgrammedRing, options: DeviceRingOptions = {}): PackedDevice {
    const { size } = ring;
    checkPackedQueueSize(size);
    const areas = {
      desc: host.linear(ring.desc, size * P.PDESC_SIZE, false),
      driver: host.linear(ring.driver, P.PEVENT_SIZE, false),
      device: host.linear(ring.device, P.PEVENT_SIZE, true),
    };
    const flags = (ring.eventIdx ? L.QF_EVENT_IDX : 0) | (ring.indirect ? L.QF_INDIRECT : 0);
    const popElements = options.popElements ?? Math.max(4 * size, 1024);
    const statsBlock = host.hostAlloc(L.ST_SIZE);
    const mem = { view: host.hostView, hostAlloc: (b: number, a?: number) => host.hostAlloc(b, a) };
    const engine: PackedEngine = options.engine === 'reference' ? new ReferencePackedEngine(host.memory) : host.core;
    const owner: DeviceFaceOwner<PackedEngine> = { mem, engine, name: options.name ?? 'vq0', size };
    return new PackedDevice(
      owner,
      PackedDevice.layOut(mem, engine, size, areas, flags, statsBlock, popElements),
      statsBlock,
    );
  }

  /** The counters of the stats block this side writes. */
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

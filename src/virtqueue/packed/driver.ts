import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import type { GuestBuffer } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { QueueDriver } from '../queue.js';
import type { Completion } from '../split/driver.js';
import { RequestBatch } from '../split/request-batch.js';
import type { PackedQueue } from './queue.js';

/** Where a packed driver's state lives: enough to attach to it from another thread. */
export interface PackedDriverAddrs {
  /** Linear address of the private state block. */
  state: number;
  /** Linear address of the reap output. */
  reapOut: number;
}

/**
 * The guest driver's face of a packed queue, after Linux's virtio_ring.c. The
 * same methods, batch formats and errors as SplitDriver: requests are a
 * RequestBatch, reap() leaves {token, len} pairs in `completions`.
 */
export class PackedDriver implements QueueDriver {
  readonly state: number;
  readonly completions: Uint32Array;
  private readonly reapOut: number;
  private single: RequestBatch | undefined;

  constructor(
    private readonly q: PackedQueue,
    readonly addrs: PackedDriverAddrs,
  ) {
    this.state = addrs.state;
    this.reapOut = addrs.reapOut;
    this.completions = new Uint32Array(q.mem.memory.buffer, this.reapOut, q.size * 2);
  }

  /** Lays out and initialises the driver's private memory for queue `q`. */
  static create(q: PackedQueue, ring: number, flags: number, indirectMax: number): PackedDriver {
    const { mem, size, layout } = q;
    const v = mem.view;
    // Private guest pages: the state block, desc_extra[size], desc_state[size].
    const privBytes = P.PDRV_SIZE + size * (L.EXTRA_SIZE + P.PSTATE_SIZE);
    const priv = mem.linear(mem.alloc(privBytes), privBytes);
    const s = (off: number, val: number) => v.setUint32(priv + off, val, true);
    s(P.PDRV_NUM, size);
    s(P.PDRV_FEATURES, flags);
    s(P.PDRV_DESC, ring + layout.desc);
    s(P.PDRV_DRIVER_AREA, ring + layout.driver);
    s(P.PDRV_DEVICE_AREA, ring + layout.device);
    s(P.PDRV_EXTRA, priv + P.PDRV_SIZE);
    s(P.PDRV_STATE, priv + P.PDRV_SIZE + size * L.EXTRA_SIZE);
    s(P.PDRV_STATS, q.statsBlock);
    if (indirectMax > 0) {
      // Indirect tables are read by the device: shared pages, one slot per id.
      const bytes = size * indirectMax * P.PDESC_SIZE;
      s(P.PDRV_INDIR_POOL, mem.linear(mem.alloc(bytes, { shared: true }), bytes));
      s(P.PDRV_INDIR_CAP, indirectMax);
    }
    q.engine.packed_drv_init(priv);
    const outBytes = size * L.REAP_SIZE;
    return new PackedDriver(q, { state: priv, reapOut: mem.linear(mem.alloc(outBytes), outBytes) });
  }

  private u32(off: number): number {
    return this.q.mem.view.getUint32(this.state + off, true);
  }

  private error(rc: number, done: number, partial?: readonly unknown[]): VirtqueueError {
    return new VirtqueueError(this.q.name, -rc, this.u32(P.PDRV_ERR_A), this.u32(P.PDRV_ERR_B), done, partial);
  }

  /** Free descriptors. */
  get numFree(): number {
    return this.u32(P.PDRV_NUM_FREE);
  }

  /** True once the device broke the protocol: adds fail, reaps return nothing. */
  get broken(): boolean {
    return this.u32(P.PDRV_BROKEN) !== 0;
  }

  /** The driver ring wrap counter (1 at start, flips each time the avail index passes the ring end). */
  get availWrapCounter(): number {
    return this.u32(P.PDRV_AVAIL_WRAP);
  }

  /** Index of the next descriptor the driver will make available. */
  get nextAvail(): number {
    return this.u32(P.PDRV_NEXT_AVAIL);
  }

  /** The used wrap counter the driver expects at its next used descriptor. */
  get usedWrapCounter(): number {
    return this.u32(P.PDRV_LAST_USED) >>> P.PEVENT_WRAP_SHIFT;
  }

  /** Index of the next used descriptor the driver will read. */
  get lastUsed(): number {
    return this.u32(P.PDRV_LAST_USED) & P.PEVENT_OFF_MASK;
  }

  /**
   * Adds every chain of the batch it has room for; the first head's flags are
   * written last, so the device sees the batch at once. Returns how many were
   * added. Throws VirtqueueError for a malformed request or a broken queue.
   */
  addBatch(batch: RequestBatch): number {
    const rc = this.q.engine.packed_drv_add(this.state, batch.ptr, batch.count);
    if (rc < 0) throw this.error(rc, this.u32(P.PDRV_BATCH_DONE));
    return rc;
  }

  /** Adds one chain; false when the ring has no room for it (Linux's -ENOSPC). */
  add(
    out: readonly GuestBuffer[],
    inBufs: readonly GuestBuffer[] = [],
    token = 0,
    opts: { indirect?: boolean } = {},
  ): boolean {
    // A chain longer than the queue never fits the one-chain batch: name it as the core would.
    const total = out.length + inBufs.length;
    if (total > this.q.size) throw new VirtqueueError(this.q.name, L.E_REQ_TOO_LONG, 0, total, 0);
    this.single ??= new RequestBatch(this.q.mem, 1, this.q.size);
    this.single.clear().add(out, inBufs, token, opts.indirect ?? this.q.indirect);
    return this.addBatch(this.single) === 1;
  }

  /** virtqueue_kick_prepare_packed(): true when the device asked to be notified. */
  kick(): boolean {
    return this.q.engine.packed_drv_kick_prepare(this.state) === 1;
  }

  /**
   * Reaps up to `max` used buffers into `completions` and returns how many.
   * Throws VirtqueueError when the device broke the protocol (the queue is
   * then broken; error.done entries before it were reaped).
   */
  reap(max = this.q.size): number {
    const rc = this.q.engine.packed_drv_get_used(this.state, this.reapOut, Math.min(max, this.q.size));
    if (rc < 0) {
      const done = this.u32(P.PDRV_BATCH_DONE);
      throw this.error(rc, done, this.collect(done));
    }
    return rc;
  }

  /** Reaps and returns the used buffers as objects. */
  getUsed(max = this.q.size): Completion[] {
    return this.collect(this.reap(max));
  }

  private collect(n: number): Completion[] {
    const out: Completion[] = [];
    for (let k = 0; k < n; k++) out.push({ token: this.completions[2 * k]!, len: this.completions[2 * k + 1]! });
    return out;
  }

  /** virtqueue_disable_cb_packed(): ask the device not to interrupt. */
  disableCallbacks(): void {
    this.q.engine.packed_drv_disable_cb(this.state);
  }

  /** virtqueue_enable_cb(): re-enable interrupts; false when used buffers are already waiting. */
  enableCallbacks(): boolean {
    return this.q.engine.packed_drv_enable_cb(this.state) === 1;
  }
}

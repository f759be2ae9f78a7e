import * as L from '../../../assembly/layout.js';
import type { GuestBuffer } from '../buffers.js';
import { VirtqueueError } from '../errors.js';
import type { SplitQueue } from './queue.js';
import { RequestBatch } from './request-batch.js';

/** Where a driver's state lives: enough to attach to it from another thread. */
export interface SplitDriverAddrs {
  /** Linear address of the private state block. */
  state: number;
  /** Linear address of the reap output. */
  reapOut: number;
}

/** A chain the device has finished: the token it was added with, and the bytes written. */
export interface Completion {
  token: number;
  len: number;
}

/**
 * The guest driver's face of a split queue, after Linux's virtio_ring.c.
 * Batch calls (addBatch, reap) cross into the engine once per batch; the
 * one-chain helpers (add, getUsed) are built on them for small simulations.
 */
export class SplitDriver {
  /** Linear address of the driver's private state block. */
  readonly state: number;
  /** Reap output: reap() leaves {token, len} pairs here. */
  readonly completions: Uint32Array;
  private readonly reapOut: number;
  private single: RequestBatch | undefined;

  constructor(
    private readonly q: SplitQueue,
    readonly addrs: SplitDriverAddrs,
  ) {
    this.state = addrs.state;
    this.reapOut = addrs.reapOut;
    this.completions = new Uint32Array(q.mem.memory.buffer, this.reapOut, q.size * 2);
  }

  /** Lays out and initialises the driver's private memory for queue `q`. */
  static create(q: SplitQueue, ring: number, flags: number, indirectMax: number): SplitDriver {
    const { mem, size, layout } = q;
    const v = mem.view;
    // Private guest pages: the state block, desc_extra[size], desc_state[size].
    const privBytes = L.DRV_SIZE + size * (L.EXTRA_SIZE + L.STATE_SIZE);
    const priv = mem.linear(mem.alloc(privBytes), privBytes);
    const s = (off: number, val: number) => v.setUint32(priv + off, val, true);
    s(L.DRV_NUM, size);
    s(L.DRV_FEATURES, flags);
    s(L.DRV_DESC, ring + layout.desc);
    s(L.DRV_AVAIL, ring + layout.avail);
    s(L.DRV_USED, ring + layout.used);
    s(L.DRV_EXTRA, priv + L.DRV_SIZE);
    s(L.DRV_STATE, priv + L.DRV_SIZE + size * L.EXTRA_SIZE);
    s(L.DRV_STATS, q.statsBlock);
    if (indirectMax > 0) {
      // Indirect tables are read by the device, so they sit in shared pages:
      // one slot per head, as a head has at most one table outstanding.
      const bytes = size * indirectMax * L.VRING_DESC_SIZE;
      s(L.DRV_INDIR_POOL, mem.linear(mem.alloc(bytes, { shared: true }), bytes));
      s(L.DRV_INDIR_CAP, indirectMax);
    }
    q.engine.split_drv_init(priv);
    const outBytes = size * L.REAP_SIZE;
    return new SplitDriver(q, { state: priv, reapOut: mem.linear(mem.alloc(outBytes), outBytes) });
  }

  private u32(off: number): number {
    return this.q.mem.view.getUint32(this.state + off, true);
  }

  private error(rc: number, done: number, partial?: readonly unknown[]): VirtqueueError {
    return new VirtqueueError(this.q.name, -rc, this.u32(L.DRV_ERR_A), this.u32(L.DRV_ERR_B), done, partial);
  }

  /** Free descriptors. */
  get numFree(): number {
    return this.u32(L.DRV_NUM_FREE);
  }

  /** True once the device broke the protocol: adds fail, reaps return nothing. */
  get broken(): boolean {
    return this.u32(L.DRV_BROKEN) !== 0;
  }

  /**
   * Adds every chain of the batch it has room for and publishes them with one
   * avail->idx store. Returns how many were added (fewer when descriptors ran
   * out). Throws VirtqueueError for a malformed request or a broken queue.
   */
  addBatch(batch: RequestBatch): number {
    const rc = this.q.engine.split_drv_add(this.state, batch.ptr, batch.count);
    if (rc < 0) throw this.error(rc, this.u32(L.DRV_BATCH_DONE));
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

  /** virtqueue_kick_prepare(): true when the device asked to be notified of what was added. */
  kick(): boolean {
    return this.q.engine.split_drv_kick_prepare(this.state) === 1;
  }

  /**
   * Reaps up to `max` used chains into `completions` ({token, len} pairs) and
   * returns how many. Throws VirtqueueError when the device returned a bad id
   * (the queue is then broken; error.done entries before it were reaped).
   */
  reap(max = this.q.size): number {
    const rc = this.q.engine.split_drv_get_used(this.state, this.reapOut, Math.min(max, this.q.size));
    if (rc < 0) {
      const done = this.u32(L.DRV_BATCH_DONE);
      throw this.error(rc, done, this.collect(done));
    }
    return rc;
  }

  /** Reaps and returns the used chains as objects. */
  getUsed(max = this.q.size): Completion[] {
    return this.collect(this.reap(max));
  }

  private collect(n: number): Completion[] {
    const out: Completion[] = [];
    for (let k = 0; k < n; k++) out.push({ token: this.completions[2 * k]!, len: this.completions[2 * k + 1]! });
    return out;
  }

  /** virtqueue_disable_cb(): ask the device not to interrupt. */
  disableCallbacks(): void {
    this.q.engine.split_drv_disable_cb(this.state);
  }

  /** virtqueue_enable_cb(): re-enable interrupts; false when used chains are already waiting. */
  enableCallbacks(): boolean {
    return this.q.engine.split_drv_enable_cb(this.state) === 1;
  }
}

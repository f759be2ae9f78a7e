import * as L from '../../assembly/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { GuestBuffer } from './buffers.js';
import { VirtqueueError } from './errors.js';
import { RequestBatch } from './split/request-batch.js';

/** Where a driver's state lives: enough to attach to it from another thread. */
export interface DriverAddrs {
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

/** Offsets of the fields every driver state block has, whatever the ring kind. */
export interface DriverStateOffsets {
  numFree: number;
  broken: number;
  errA: number;
  errB: number;
  batchDone: number;
}

/** What a driver face needs from the queue that owns it. */
export interface DriverFaceOwner {
  readonly mem: GuestMemory;
  readonly name: string;
  readonly size: number;
  readonly indirect: boolean;
}

/**
 * The guest driver's face of a virtqueue, after Linux's virtio_ring.c: what is
 * the same for every ring kind. Batch calls (addBatch, reap) cross into the
 * engine once per batch; the one-chain helpers (add, getUsed) are built on
 * them for small simulations. A ring kind supplies the four engine calls.
 */
export abstract class DriverFace {
  /** Linear address of the driver's private state block. */
  readonly state: number;
  /** Reap output: reap() leaves {token, len} pairs here. */
  readonly completions: Uint32Array;
  protected readonly reapOut: number;
  private single: RequestBatch | undefined;

  constructor(
    protected readonly q: DriverFaceOwner,
    readonly addrs: DriverAddrs,
    private readonly off: DriverStateOffsets,
  ) {
    this.state = addrs.state;
    this.reapOut = addrs.reapOut;
    this.completions = new Uint32Array(q.mem.memory.buffer, this.reapOut, q.size * 2);
  }

  /**
   * Gives back the guest pages the driver allocated for itself (the private
   * state block with desc_extra and desc_state, the reap output, the
   * one-chain batch), as vring_free does for a queue torn down (a probe that
   * failed). Rings and indirect tables came from the DMA API and go back
   * through it. The face must not be used afterwards.
   */
  freePrivate(): void {
    const mem = this.q.mem;
    const base = mem.linear(0);
    mem.free(this.state - base);
    mem.free(this.reapOut - base);
    if (this.single) mem.free(this.single.ptr - base);
    this.single = undefined;
  }

  protected abstract addRaw(req: number, n: number): number;
  protected abstract kickRaw(): number;
  protected abstract getUsedRaw(out: number, max: number): number;
  protected abstract disableRaw(): void;
  protected abstract enableRaw(): number;

  protected u32(off: number): number {
    return this.q.mem.view.getUint32(this.state + off, true);
  }

  private error(rc: number, done: number, partial?: readonly unknown[]): VirtqueueError {
    return new VirtqueueError(this.q.name, -rc, this.u32(this.off.errA), this.u32(this.off.errB), done, partial);
  }

  /** Free descriptors. */
  get numFree(): number {
    return this.u32(this.off.numFree);
  }

  /** True once the device broke the protocol: adds fail, reaps return nothing. */
  get broken(): boolean {
    return this.u32(this.off.broken) !== 0;
  }

  /**
   * Adds every chain of the batch it has room for and publishes them at once.
   * Returns how many were added (fewer when descriptors ran out). Throws
   * VirtqueueError for a malformed request or a broken queue.
   */
  addBatch(batch: RequestBatch): number {
    const rc = this.addRaw(batch.ptr, batch.count);
    if (rc < 0) throw this.error(rc, this.u32(this.off.batchDone));
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
    return this.kickRaw() === 1;
  }

  /**
   * Reaps up to `max` used chains into `completions` ({token, len} pairs) and
   * returns how many. Throws VirtqueueError when the device broke the protocol
   * (the queue is then broken; error.done entries before it were reaped and
   * are in error.partial).
   */
  reap(max = this.q.size): number {
    const rc = this.getUsedRaw(this.reapOut, Math.min(max, this.q.size));
    if (rc < 0) {
      const done = this.u32(this.off.batchDone);
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
    this.disableRaw();
  }

  /** virtqueue_enable_cb(): re-enable interrupts; false when used chains are already waiting. */
  enableCallbacks(): boolean {
    return this.enableRaw() === 1;
  }
}

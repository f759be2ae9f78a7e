import * as L from '../../../assembly/layout.js';
import { ConfigError } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { setAddr, type GuestBuffer } from '../buffers.js';

/**
 * Chains waiting to be added in one batch, in the driver's private memory:
 * for each chain a header {out, in, token, flags} then its buffers. Build it
 * once and add it as often as you like: the driver only reads it.
 */
export class RequestBatch {
  /** Linear address of the first request. */
  readonly ptr: number;
  /** Number of chains in the batch. */
  count = 0;
  private end: number;
  private readonly limit: number;

  constructor(
    private readonly mem: GuestMemory,
    readonly maxChains: number,
    readonly maxBuffers: number,
  ) {
    if (!Number.isInteger(maxChains) || maxChains < 1)
      throw new ConfigError(`batch chains ${maxChains}: must be at least 1`);
    if (!Number.isInteger(maxBuffers) || maxBuffers < 1)
      throw new ConfigError(`batch buffers ${maxBuffers}: must be at least 1`);
    const bytes = maxChains * L.REQ_HDR_SIZE + maxBuffers * L.SG_SIZE;
    this.ptr = mem.linear(mem.alloc(bytes), bytes);
    this.end = this.ptr;
    this.limit = this.ptr + bytes;
  }

  clear(): this {
    this.count = 0;
    this.end = this.ptr;
    return this;
  }

  /** Whether one more chain of `buffers` buffers fits. */
  fits(buffers: number): boolean {
    return this.count < this.maxChains && this.end + L.REQ_HDR_SIZE + buffers * L.SG_SIZE <= this.limit;
  }

  /**
   * Appends a chain of device-readable (`out`) then device-writable (`in`)
   * buffers, like Linux's virtqueue_add_sgs(). `token` comes back when the
   * chain is used; `indirect` asks for an indirect table where the queue has one.
   */
  add(out: readonly GuestBuffer[], inBufs: readonly GuestBuffer[], token = 0, indirect = false): this {
    const total = out.length + inBufs.length;
    if (!this.fits(total)) {
      throw new ConfigError(`request batch full: it holds ${this.maxChains} chains and ${this.maxBuffers} buffers`);
    }
    const v = this.mem.view;
    const h = this.end;
    v.setUint32(h + L.REQ_OUT, out.length, true);
    v.setUint32(h + L.REQ_IN, inBufs.length, true);
    v.setUint32(h + L.REQ_TOKEN, token >>> 0, true);
    v.setUint32(h + L.REQ_FLAGS, indirect ? L.REQ_F_INDIRECT : 0, true);
    let e = h + L.REQ_HDR_SIZE;
    for (const b of out.concat(inBufs)) {
      setAddr(v, e + L.SG_ADDR, b.addr);
      v.setUint32(e + L.SG_LEN, b.len >>> 0, true);
      v.setUint32(e + L.SG_LEN + 4, 0, true);
      e += L.SG_SIZE;
    }
    this.end = e;
    this.count++;
    return this;
  }
}

// The device's view of guest memory. A device model never holds GuestMemory
// or a view of guest RAM: it gets a DmaView, whose every access translates
// through the device's DMA context in Wasm (assembly/mem/dma.ts) and is
// counted in the context's shared stats block (design.md: "A device never
// holds a raw view of guest RAM"). On the hot path the device works on the
// iovecs its queues' pops made through the same context.

import { ELEM_LEN, ELEM_LINEAR, ELEM_SIZE } from '../../assembly/layout.js';
import { DmaContext, DmaError, dmaFaultMessage, type DmaContextCounters } from './dma-context.js';
import type { GuestMemory } from './guest-memory.js';
import type { WasmCore } from './wasm-core.js';

/**
 * The Wasm functions a device model may call: its rings' device sides, its
 * per-packet work, and copies between iovecs its pops made and its own host
 * blocks. None takes a guest address: guest memory is reached only through
 * the DMA context.
 */
export type DeviceCore = Pick<
  WasmCore,
  | 'split_dev_pop'
  | 'split_dev_push'
  | 'split_dev_should_notify'
  | 'split_dev_set_notify'
  | 'packed_dev_init'
  | 'packed_dev_pop'
  | 'packed_dev_push'
  | 'packed_dev_should_notify'
  | 'packed_dev_set_notify'
  | 'packed_dev_pop_in_order'
  | 'packed_dev_push_in_order'
  | 'dma_copy'
  | 'dma_copy_batch'
  | 'dma_count'
  | 'net_stash'
  | 'net_run'
>;

/**
 * What a device needs to run its side of a queue: its DMA context (the DMA
 * view implements this), which translates every access it makes, and host
 * memory of its own for state, stats and pop output. A device never gets
 * GuestMemory, nor any view of guest RAM.
 */
export interface DeviceHost {
  /**
   * Linear address of a range the device keeps using (a ring area), which
   * must translate to one contiguous run; or a thrown DMA fault.
   */
  linear(dma: number, len: number, write: boolean): number;
  /** Reserves zeroed host memory (outside guest RAM); returns its linear address. */
  hostAlloc(bytes: number, align?: number): number;
  /** A view of the host area only (below guest RAM), for the device's own blocks. */
  readonly hostView: DataView;
  readonly core: DeviceCore;
  /** Linear address of the DMA context block every pop translates through. */
  readonly dmaContext: number;
  /**
   * The bytes at linear [at, at + len): an iovec the device's pops or its
   * context made (ELEM_LINEAR), or one of its own host blocks. Where a device
   * model in TypeScript touches guest data, it is through this on an iovec,
   * as QEMU's devices work on the iovecs virtqueue_pop mapped.
   */
  bytesAt(at: number, len: number): Uint8Array;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** iovecs the view's scratch holds: a TypeScript access spans at most this many discontiguous runs at once. */
const SCRATCH_IOVS = 64;
/** Bytes of the view's host bounce buffer for scalar and small accesses. */
const BOUNCE = 4096;

export class DmaView implements DeviceHost {
  /** The view of the linear memory a device may use: its own host-area blocks, nothing of guest RAM. */
  readonly hostView: DataView;
  /** The Wasm functions a device model may call (on iovecs and host blocks only). */
  readonly core: DeviceCore;
  /** Linear address of the DMA context block (the Wasm pops translate through it). */
  readonly dmaContext: number;
  private readonly wasm: WasmCore;
  private readonly bytes: Uint8Array;
  private readonly scratch: number;
  private readonly bounce: number;

  constructor(
    private readonly mem: GuestMemory,
    readonly context: DmaContext,
    /** The DMA backend's name, for messages. */
    readonly backendName: string,
  ) {
    this.wasm = mem.core;
    this.core = mem.core;
    this.dmaContext = context.block;
    this.bytes = mem.bytes;
    this.hostView = mem.hostView;
    this.scratch = mem.hostAlloc(SCRATCH_IOVS * ELEM_SIZE);
    this.bounce = mem.hostAlloc(BOUNCE);
  }

  bytesAt(at: number, len: number): Uint8Array {
    if (!Number.isInteger(at) || !Number.isInteger(len) || at < 0 || len < 0 || at + len > this.bytes.length) {
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: linear ${String(at)} + ${String(len)} bytes is outside the machine's memory`,
      );
    }
    return this.bytes.subarray(at, at + len);
  }

  /** Host memory of the device's own, outside guest RAM (GuestMemory.hostAlloc). */
  hostAlloc(bytes: number, align?: number): number {
    return this.mem.hostAlloc(bytes, align);
  }

  /** The context's counters (every device access, from TypeScript or Wasm). */
  counters(): DmaContextCounters {
    return this.context.counters();
  }

  private fault(rc: number, dma: number, len: number, write: boolean): never {
    throw new DmaError(
      'DMA_FAULT',
      `DMA fault: device ${write ? 'write' : 'read'} of ${len} bytes at ${hex(dma)}: ${dmaFaultMessage(-rc, this.backendName)}`,
    );
  }

  private args(dma: number, len: number, write: boolean): void {
    if (!Number.isSafeInteger(dma) || dma < 0 || !Number.isInteger(len) || len < 1 || len > 0xffffffff) {
      this.context.countFault();
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: device ${write ? 'write' : 'read'} of ${String(len)} bytes at ${String(dma)}: not a DMA address and length`,
      );
    }
  }

  /** Translates [dma, dma + len) into iovecs at the scratch; returns how many. */
  private iovs(dma: number, len: number, write: boolean): number {
    this.args(dma, len, write);
    const n = this.wasm.dma_map(
      this.dmaContext,
      dma >>> 0,
      Math.floor(dma / 2 ** 32),
      len,
      write ? 1 : 0,
      this.scratch,
      SCRATCH_IOVS,
    );
    if (n < 0) this.fault(n, dma, len, write);
    if (n === 0) {
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: ${hex(dma)} + ${len} bytes spans more than ${SCRATCH_IOVS} discontiguous runs`,
      );
    }
    return n;
  }

  /**
   * The linear address of a range the device will keep using (a ring area,
   * QEMU's vring caches): it must translate to one contiguous run.
   */
  linear(dma: number, len: number, write: boolean): number {
    const n = this.iovs(dma, len, write);
    if (n !== 1) {
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: ${hex(dma)} + ${len} bytes is not contiguous in guest memory (Cannot map descriptor ring)`,
      );
    }
    return this.hostView.getUint32(this.scratch + ELEM_LINEAR, true);
  }

  /** Copies guest [dma, dma + len) into host linear `dst`, through the iovecs. */
  private gather(dma: number, len: number, dst: number): void {
    const n = this.iovs(dma, len, false);
    for (let k = 0, at = dst; k < n; k++) {
      const e = this.scratch + k * ELEM_SIZE;
      const l = this.hostView.getUint32(e + ELEM_LEN, true);
      this.wasm.dma_copy(at, this.hostView.getUint32(e + ELEM_LINEAR, true), l);
      at += l;
    }
    this.wasm.dma_count(this.dmaContext, 1, len, 0, 0);
  }

  /** Copies host linear [src, src + len) to guest [dma, dma + len), through the iovecs. */
  private scatter(dma: number, len: number, src: number): void {
    const n = this.iovs(dma, len, true);
    for (let k = 0, at = src; k < n; k++) {
      const e = this.scratch + k * ELEM_SIZE;
      const l = this.hostView.getUint32(e + ELEM_LEN, true);
      this.wasm.dma_copy(this.hostView.getUint32(e + ELEM_LINEAR, true), at, l);
      at += l;
    }
    // A write to a private page under an encryption model went to its staged
    // ciphertext: apply it now, as a push would.
    this.wasm.dma_commit(this.dmaContext);
    this.wasm.dma_count(this.dmaContext, 0, 0, 1, len);
  }

  readU8(dma: number): number {
    this.gather(dma, 1, this.bounce);
    return this.hostView.getUint8(this.bounce);
  }
  readU16(dma: number): number {
    this.gather(dma, 2, this.bounce);
    return this.hostView.getUint16(this.bounce, true);
  }
  readU32(dma: number): number {
    this.gather(dma, 4, this.bounce);
    return this.hostView.getUint32(this.bounce, true);
  }
  readU64(dma: number): bigint {
    this.gather(dma, 8, this.bounce);
    return this.hostView.getBigUint64(this.bounce, true);
  }
  writeU8(dma: number, v: number): void {
    this.hostView.setUint8(this.bounce, v);
    this.scatter(dma, 1, this.bounce);
  }
  writeU16(dma: number, v: number): void {
    this.hostView.setUint16(this.bounce, v, true);
    this.scatter(dma, 2, this.bounce);
  }
  writeU32(dma: number, v: number): void {
    this.hostView.setUint32(this.bounce, v, true);
    this.scatter(dma, 4, this.bounce);
  }
  writeU64(dma: number, v: bigint | number): void {
    this.hostView.setBigUint64(this.bounce, BigInt(v), true);
    this.scatter(dma, 8, this.bounce);
  }

  /** A copy of `len` guest bytes at `dma` (for headers and small fields, not payload). */
  read(dma: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let off = 0; off < len; off += BOUNCE) {
      const n = Math.min(BOUNCE, len - off);
      this.gather(dma + off, n, this.bounce);
      out.set(this.bytes.subarray(this.bounce, this.bounce + n), off);
    }
    if (len === 0) this.args(dma, len, false);
    return out;
  }

  /** Writes `data` (small fields, status bytes, headers) at `dma`. */
  write(dma: number, data: Uint8Array): void {
    if (data.length === 0) this.args(dma, 0, true);
    for (let off = 0; off < data.length; off += BOUNCE) {
      const n = Math.min(BOUNCE, data.length - off);
      this.bytes.set(data.subarray(off, off + n), this.bounce);
      this.scatter(dma + off, n, this.bounce);
    }
  }

  fill(dma: number, len: number, value: number): void {
    this.args(dma, len, true);
    const rc = this.wasm.dma_fill(
      this.dmaContext,
      dma >>> 0,
      Math.floor(dma / 2 ** 32),
      len,
      value & 0xff,
      this.scratch,
      SCRATCH_IOVS,
    );
    if (rc < 0) this.fault(rc, dma, len, true);
    if (rc > 0)
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: ${hex(dma)} + ${len} bytes spans more than ${SCRATCH_IOVS} discontiguous runs`,
      );
  }

  /** A host-side buffer must lie in the host area: never a way around the context into guest RAM. */
  private hostRange(at: number, len: number): void {
    const why = this.mem.hostRangeError(at, len);
    if (why) this.context.countFault();
    if (why) throw new DmaError('DMA_FAULT', `DMA fault: ${why}`);
  }

  /** Copies `len` bytes from guest `srcDma` to guest `dstDma` (e.g. a loopback TX buffer into an RX buffer). */
  copy(dstDma: number, srcDma: number, len: number): void {
    for (let off = 0; off < len; off += BOUNCE) {
      const n = Math.min(BOUNCE, len - off);
      this.gather(srcDma + off, n, this.bounce);
      this.scatter(dstDma + off, n, this.bounce);
    }
  }

  /** Copies `len` guest bytes at `dma` to host-area linear address `hostDst` (from hostAlloc). */
  copyToHost(hostDst: number, dma: number, len: number): void {
    this.hostRange(hostDst, len);
    for (let off = 0; off < len; off += BOUNCE) this.gather(dma + off, Math.min(BOUNCE, len - off), hostDst + off);
  }

  /** Copies `len` bytes from host-area linear address `hostSrc` to guest `dma`. */
  copyFromHost(dma: number, hostSrc: number, len: number): void {
    this.hostRange(hostSrc, len);
    for (let off = 0; off < len; off += BOUNCE) this.scatter(dma + off, Math.min(BOUNCE, len - off), hostSrc + off);
  }

  /**
   * Counts accesses a device made through iovecs of its pops (which the
   * context translated already), once per batch: `reads` reads of
   * `readBytes` bytes, `writes` writes of `writtenBytes`.
   */
  countAccess(reads: number, readBytes: number, writes: number, writtenBytes: number): void {
    this.wasm.dma_count(this.dmaContext, reads, readBytes, writes, writtenBytes);
  }
}

const directViews = new WeakMap<GuestMemory, DmaView>();

/**
 * A device view of `mem` through a direct DMA context of its own, made once
 * per memory: what a queue pair built without a DMA API uses for its device
 * face (a traditional VM's device, which reaches all of guest RAM).
 */
export function directDeviceView(mem: GuestMemory): DmaView {
  let v = directViews.get(mem);
  if (!v) {
    v = new DmaView(mem, DmaContext.direct(mem), 'direct');
    directViews.set(mem, v);
  }
  return v;
}

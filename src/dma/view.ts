// The device's view of guest memory. A device model never holds GuestMemory:
// it gets a DmaView, and every access it makes to guest RAM goes through the
// one checked translation here (design.md: "A device never holds a raw view of
// guest RAM"). For the direct backend the check is a bounds check; swiotlb and
// the IOMMU plug in through DmaBackend.translate().

import { GUEST_BASE, HOST_BASE } from '../../assembly/layout.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { WasmCore } from '../memory/wasm-core.js';
import type { DeviceHost } from '../virtqueue/device-host.js';
import { DmaError } from './errors.js';
import type { DmaBackend, DmaViewCounters } from './types.js';

function hex(n: number): string {
  return '0x' + n.toString(16);
}

export class DmaView implements DeviceHost {
  /** Guest RAM size in bytes (the DMA address space of the direct backend). */
  readonly size: number;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly base: number;
  private readonly c: DmaViewCounters = { reads: 0, writes: 0, copies: 0, bytesRead: 0, bytesWritten: 0, faults: 0 };

  /** The Wasm core, for the device's batch calls on linear addresses this view handed out. */
  readonly core: WasmCore;
  readonly memory: WebAssembly.Memory;
  /** A view of linear memory for the device's own host-side blocks (state, stats, pop output). */
  readonly hostView: DataView;

  constructor(
    private readonly mem: GuestMemory,
    private readonly backend: DmaBackend,
  ) {
    this.size = mem.size;
    this.core = mem.core;
    this.memory = mem.memory;
    this.hostView = mem.view;
    this.view = mem.view;
    this.bytes = mem.bytes;
    // Linear address of guest physical 0.
    this.base = mem.linear(0, 0);
  }

  /** Host memory of the device's own, outside guest RAM (GuestMemory.hostAlloc). */
  hostAlloc(bytes: number, align?: number): number {
    return this.mem.hostAlloc(bytes, align);
  }

  get backendName(): string {
    return this.backend.name;
  }

  counters(): DmaViewCounters {
    return { ...this.c };
  }

  /**
   * The checked accessor: the linear-memory address a device access of `len`
   * bytes at DMA address `dma` reaches, or a DMA_FAULT. Hand the result to
   * Wasm routines that work on linear addresses.
   */
  linear(dma: number, len: number, write: boolean): number {
    const gpa =
      Number.isInteger(dma) && Number.isInteger(len) && len >= 0 ? this.backend.translate(dma, len, write) : -1;
    if (gpa < 0) {
      this.c.faults++;
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: device ${write ? 'write' : 'read'} of ${len} bytes at ${typeof dma === 'number' ? hex(dma) : String(dma)} is outside what the ${this.backend.name} backend lets it reach`,
      );
    }
    return this.base + gpa;
  }

  private r(dma: number, len: number): number {
    const at = this.linear(dma, len, false);
    this.c.reads++;
    this.c.bytesRead += len;
    return at;
  }

  private w(dma: number, len: number): number {
    const at = this.linear(dma, len, true);
    this.c.writes++;
    this.c.bytesWritten += len;
    return at;
  }

  readU8(dma: number): number {
    return this.view.getUint8(this.r(dma, 1));
  }
  readU16(dma: number): number {
    return this.view.getUint16(this.r(dma, 2), true);
  }
  readU32(dma: number): number {
    return this.view.getUint32(this.r(dma, 4), true);
  }
  readU64(dma: number): bigint {
    return this.view.getBigUint64(this.r(dma, 8), true);
  }
  writeU8(dma: number, v: number): void {
    this.view.setUint8(this.w(dma, 1), v);
  }
  writeU16(dma: number, v: number): void {
    this.view.setUint16(this.w(dma, 2), v, true);
  }
  writeU32(dma: number, v: number): void {
    this.view.setUint32(this.w(dma, 4), v, true);
  }
  writeU64(dma: number, v: bigint | number): void {
    this.view.setBigUint64(this.w(dma, 8), BigInt(v), true);
  }

  /** A copy of `len` guest bytes at `dma` (for headers and small fields, not payload). */
  read(dma: number, len: number): Uint8Array {
    const at = this.r(dma, len);
    return this.bytes.slice(at, at + len);
  }

  /** Writes `data` (small fields, status bytes, headers) at `dma`. */
  write(dma: number, data: Uint8Array): void {
    this.bytes.set(data, this.w(dma, data.length));
  }

  fill(dma: number, len: number, value: number): void {
    const at = this.w(dma, len);
    this.bytes.fill(value, at, at + len);
  }

  /** A host-side buffer must lie in the host area: never a way around the check into guest RAM. */
  private hostRange(at: number, len: number): void {
    if (!Number.isInteger(at) || !Number.isInteger(len) || at < HOST_BASE || at + len > GUEST_BASE) {
      this.c.faults++;
      throw new DmaError(
        'DMA_FAULT',
        `DMA fault: host buffer ${String(at)} + ${len} bytes is outside the host area [${hex(HOST_BASE)}, ${hex(GUEST_BASE)})`,
      );
    }
  }

  /** Copies `len` bytes from guest `srcDma` to guest `dstDma` (e.g. a loopback TX buffer into an RX buffer). */
  copy(dstDma: number, srcDma: number, len: number): void {
    const src = this.r(srcDma, len);
    const dst = this.w(dstDma, len);
    this.c.copies++;
    this.core.dma_copy(dst, src, len);
  }

  /** Copies `len` guest bytes at `dma` to host-area linear address `hostDst` (from GuestMemory.hostAlloc). */
  copyToHost(hostDst: number, dma: number, len: number): void {
    this.hostRange(hostDst, len);
    const src = this.r(dma, len);
    this.c.copies++;
    this.core.dma_copy(hostDst, src, len);
  }

  /** Copies `len` bytes from host-area linear address `hostSrc` to guest `dma`. */
  copyFromHost(dma: number, hostSrc: number, len: number): void {
    this.hostRange(hostSrc, len);
    const dst = this.w(dma, len);
    this.c.copies++;
    this.core.dma_copy(dst, hostSrc, len);
  }
}

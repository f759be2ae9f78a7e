import * as L from '../../../assembly/layout.js';

// vring_need_event() from linux/virtio_ring.h (VIRTIO 1.2 §2.7.10), in 16-bit arithmetic.
export function needEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/**
 * Little-endian access to the machine's linear memory for the reference
 * models: what the Wasm core does with load/store, in plain TypeScript. 64-bit
 * values are numbers (exact below 2^53, and a guest address above that is far
 * outside guest RAM anyway), not BigInt, so the reference is a fair
 * plain-TypeScript baseline.
 */
export class ReferenceMemory {
  protected readonly v: DataView;

  constructor(memory: WebAssembly.Memory) {
    this.v = new DataView(memory.buffer);
  }

  protected u16(at: number): number {
    return this.v.getUint16(at, true);
  }
  protected u32(at: number): number {
    return this.v.getUint32(at, true);
  }
  protected u64(at: number): number {
    return this.v.getUint32(at, true) + this.v.getUint32(at + 4, true) * 2 ** 32;
  }
  protected set16(at: number, x: number): void {
    this.v.setUint16(at, x & 0xffff, true);
  }
  protected set32(at: number, x: number): void {
    this.v.setUint32(at, x >>> 0, true);
  }
  protected set64(at: number, x: number): void {
    this.v.setUint32(at, x % 2 ** 32, true);
    this.v.setUint32(at + 4, Math.floor(x / 2 ** 32), true);
  }
  /** Copies a 64-bit field as it is (a descriptor address from a request). */
  protected copy64(to: number, from: number): void {
    this.v.setUint32(to, this.v.getUint32(from, true), true);
    this.v.setUint32(to + 4, this.v.getUint32(from + 4, true), true);
  }
  /** Adds to a u64 counter of a stats block (exact up to 2^53 events). */
  protected bump(stats: number, off: number, by: number): void {
    this.set64(stats + off, this.u64(stats + off) + by);
  }
  /** [addr, addr + len) inside guest RAM (assembly/guest.ts inRam). */
  protected inRam(addr: number, len: number): boolean {
    const ram = this.u32(L.CONFIG_BASE + L.CFG_RAM_SIZE);
    return addr <= ram && len <= ram - addr;
  }

  /**
   * Checks one request of a RequestBatch (the format both ring kinds share):
   * returns [error code, detail, total bytes], code 0 when it is well formed.
   */
  protected checkRequest(req: number, num: number): [number, number, number] {
    const total = this.u32(req + L.REQ_OUT) + this.u32(req + L.REQ_IN);
    if (total === 0) return [L.E_REQ_EMPTY, 0, 0];
    // VIRTIO 1.2 §2.7.5.3.1: no chain longer than the queue, indirect or not.
    if (total > num) return [L.E_REQ_TOO_LONG, total, 0];
    let bytes = 0;
    for (let k = 0; k < total; k++) {
      const e = req + L.REQ_HDR_SIZE + k * L.SG_SIZE;
      const len = this.u32(e + L.SG_LEN);
      if (len === 0) return [L.E_REQ_ZERO_LEN, k, 0];
      if (!this.inRam(this.u64(e + L.SG_ADDR), len)) return [L.E_REQ_ADDR, k, 0];
      bytes += len;
    }
    return [0, 0, bytes];
  }
}

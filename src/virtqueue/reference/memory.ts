import * as L from '../../../assembly/layout.js';
import * as C from '../../../assembly/mem/layout.js';
import { ConfigError } from '../../errors.js';
import { guestLinear } from '../../memory/guest-memory.js';

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
  /** [addr, addr + len) inside [base, base + size) (assembly/ring.ts inWindow). */
  protected inWindow(addr: number, len: number, base: number, size: number): boolean {
    return addr >= base && addr - base <= size && len <= size - (addr - base);
  }

  // ---- The DMA context (assembly/mem/dma.ts), modelled in TypeScript ----

  /** A direct context with no restriction: the pops' inline translation applies. */
  protected dmaPlain(ctx: number): boolean {
    return (this.u32(ctx + C.CTX_MODE) | this.u32(ctx + C.CTX_FLAGS) | this.u32(ctx + C.CTX_ENC)) === C.DMA_MODE_DIRECT;
  }

  private dmaCount(ctx: number, off: number, by: number): void {
    this.bump(this.u32(ctx + C.CTX_STATS), off, by);
  }

  protected dmaFault(ctx: number, code: number, addr: number, len: number, write: number): number {
    this.set64(ctx + C.CTX_FAULT_ADDR, addr);
    this.set32(ctx + C.CTX_FAULT_LEN, len);
    this.set32(ctx + C.CTX_FAULT_CODE, code);
    this.set32(ctx + C.CTX_FAULT_WRITE, write !== 0 ? 1 : 0);
    this.dmaCount(ctx, C.DST_FAULTS, 1);
    return -code;
  }

  private allShared(gpa: number, len: number): boolean {
    for (let p = Math.floor(gpa / L.GUEST_PAGE_SIZE); p <= Math.floor((gpa + len - 1) / L.GUEST_PAGE_SIZE); p++) {
      if (this.v.getUint8(L.PAGE_MAP_BASE + p) === L.PAGE_PRIVATE) return false;
    }
    return true;
  }

  protected storeIov(e: number, dma: number, len: number, write: number, lin: number): void {
    this.set64(e + L.ELEM_ADDR, dma);
    this.set32(e + L.ELEM_LEN, len);
    this.set32(e + L.ELEM_FLAGS, write);
    this.set32(e + L.ELEM_LINEAR, lin);
  }

  /** dmaMapIov(): iovecs written, 0 when they do not fit in `cap`, or -code. */
  protected mapIov(ctx: number, addr: number, len: number, write: number, out: number, cap: number): number {
    // The reference models the ring, not the memory controller: encryption
    // models and blocked contexts are the Wasm core's alone.
    if (this.u32(ctx + C.CTX_ENC) !== C.ENC_NONE || this.u32(ctx + C.CTX_FLAGS) & C.DMA_F_BLOCKED) {
      throw new ConfigError('reference engine: DMA contexts with an encryption model or blocked DMA are not modelled');
    }
    const sharedOnly = (this.u32(ctx + C.CTX_FLAGS) & C.DMA_F_SHARED_ONLY) !== 0;
    const limit = this.u64(ctx + C.CTX_LIMIT);
    if (this.u32(ctx + C.CTX_MODE) === C.DMA_MODE_DIRECT) {
      if (!this.inWindow(addr, len, 0, limit)) return this.dmaFault(ctx, L.E_ADDR_RANGE, addr, len, write);
      if (sharedOnly && !this.allShared(addr, len)) return this.dmaFault(ctx, L.E_DMA_PRIVATE, addr, len, write);
      if (cap === 0) return 0;
      this.storeIov(out, addr, len, write, guestLinear(addr));
      return 1;
    }
    const base = this.u64(ctx + C.CTX_BASE);
    if (!this.inWindow(addr, len, base, limit)) return this.dmaFault(ctx, L.E_ADDR_RANGE, addr, len, write);
    const pt = this.u32(ctx + C.CTX_PT);
    const tlb = this.u32(ctx + C.CTX_IOTLB);
    const mask = this.u32(ctx + C.CTX_IOTLB_MASK);
    const need = write !== 0 ? C.PTE_WRITE : C.PTE_READ;
    let n = 0;
    let lastEnd = 0;
    // The IOTLB's lookups, counted on every way out (assembly/mem/dma.ts).
    let hits = 0;
    let misses = 0;
    const tally = (): void => {
      if (hits > 0) this.dmaCount(ctx, C.DST_IOTLB_HITS, hits);
      if (misses > 0) this.dmaCount(ctx, C.DST_IOTLB_MISSES, misses);
    };
    const fault = (code: number, at: number, left: number): number => {
      tally();
      return this.dmaFault(ctx, code, at, left, write);
    };
    for (let done = 0; done < len;) {
      const off = addr - base + done;
      const page = Math.floor(off / L.GUEST_PAGE_SIZE);
      let pte: number;
      if (tlb !== 0) {
        const slot = tlb + (page & mask) * C.IOTLB_ENTRY_SIZE;
        if (this.u32(slot + C.IOTLB_TAG) === page + 1) {
          pte = this.u32(slot + C.IOTLB_PTE);
          hits++;
        } else {
          misses++;
          pte = this.u32(pt + page * 4);
          if ((pte & C.PTE_PERM_MASK) !== 0) {
            this.set32(slot + C.IOTLB_TAG, page + 1);
            this.set32(slot + C.IOTLB_PTE, pte);
          }
        }
      } else {
        pte = this.u32(pt + page * 4);
      }
      const perm = pte & C.PTE_PERM_MASK;
      if (perm === 0) return fault(L.E_DMA_UNMAPPED, addr + done, len - done);
      if ((perm & need) === 0) return fault(L.E_DMA_PERM, addr + done, len - done);
      const inPage = off % L.GUEST_PAGE_SIZE;
      const chunk = Math.min(len - done, L.GUEST_PAGE_SIZE - inPage);
      const gpa = ((pte & ~C.PTE_PERM_MASK) >>> 0) + inPage;
      if (sharedOnly && !this.allShared(gpa, chunk)) return fault(L.E_DMA_PRIVATE, addr + done, len - done);
      const lin = guestLinear(gpa);
      if (n > 0 && lin === lastEnd) {
        const prev = out + (n - 1) * L.ELEM_SIZE + L.ELEM_LEN;
        this.set32(prev, this.u32(prev) + chunk);
      } else {
        if (n >= cap) {
          tally();
          return 0;
        }
        this.storeIov(out + n * L.ELEM_SIZE, addr + done, chunk, write, lin);
        n++;
      }
      lastEnd = lin + chunk;
      done += chunk;
    }
    tally();
    if (n > 1) this.dmaCount(ctx, C.DST_SPLITS, n - 1);
    return n;
  }

  /** mapDesc(): one descriptor into iovecs at element `at`: count, 0 when full, or -code. */
  protected mapDesc(
    ctx: number,
    addr: number,
    len: number,
    write: number,
    elems: number,
    at: number,
    cap: number,
  ): number {
    if (this.dmaPlain(ctx)) {
      if (!this.inWindow(addr, len, 0, this.u64(ctx + C.CTX_LIMIT))) {
        return this.dmaFault(ctx, L.E_ADDR_RANGE, addr, len, write);
      }
      if (at >= cap) return 0;
      this.storeIov(elems + at * L.ELEM_SIZE, addr, len, write, guestLinear(addr));
      return 1;
    }
    return this.mapIov(ctx, addr, len, write, elems + at * L.ELEM_SIZE, cap - at);
  }

  /** mapTable(): an indirect table's linear address, or -code (E_INDIRECT_MAP when not contiguous). */
  protected mapTable(ctx: number, taddr: number, tlen: number, scratch: number): number {
    let lin: number;
    if (this.dmaPlain(ctx)) {
      if (!this.inWindow(taddr, tlen, 0, this.u64(ctx + C.CTX_LIMIT))) {
        return this.dmaFault(ctx, L.E_ADDR_RANGE, taddr, tlen, 0);
      }
      lin = guestLinear(taddr);
    } else {
      const n = this.mapIov(ctx, taddr, tlen, 0, scratch, 1);
      if (n < 0) return n;
      if (n === 0) return -L.E_INDIRECT_MAP;
      lin = this.u32(scratch + L.ELEM_LINEAR);
    }
    this.countMaps(ctx, 1);
    return lin;
  }

  /**
   * A device's use of up to maxChains buffers one at a time (the engines'
   * *_dev_use): pop one, push it back used, until none is available; the
   * buffers used are stored at `batchDone`. Returns them, or the -code of the
   * pop or push that failed.
   */
  protected useEach(maxChains: number, batchDone: number, pop: () => number, push: () => number): number {
    let k = 0;
    while (k < maxChains) {
      const n = pop();
      if (n === 0) break;
      const rc = n < 0 ? n : push();
      if (rc < 0) {
        this.set32(batchDone, k);
        return rc;
      }
      k++;
    }
    this.set32(batchDone, k);
    return k;
  }

  protected countMaps(ctx: number, n: number): void {
    if (n > 0) this.dmaCount(ctx, C.DST_MAPS, n);
  }

  /**
   * Checks one request of a RequestBatch (the format both ring kinds share):
   * returns [error code, detail, total bytes], code 0 when it is well formed.
   */
  protected checkRequest(req: number, num: number, base: number, size: number): [number, number, number] {
    const total = this.u32(req + L.REQ_OUT) + this.u32(req + L.REQ_IN);
    if (total === 0) return [L.E_REQ_EMPTY, 0, 0];
    // VIRTIO 1.2 §2.7.5.3.1: no chain longer than the queue, indirect or not.
    if (total > num) return [L.E_REQ_TOO_LONG, total, 0];
    let bytes = 0;
    for (let k = 0; k < total; k++) {
      const e = req + L.REQ_HDR_SIZE + k * L.SG_SIZE;
      const len = this.u32(e + L.SG_LEN);
      if (len === 0) return [L.E_REQ_ZERO_LEN, k, 0];
      if (!this.inWindow(this.u64(e + L.SG_ADDR), len, base, size)) return [L.E_REQ_ADDR, k, 0];
      bytes += len;
    }
    return [0, 0, bytes];
  }
}

import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import type { PackedEngine } from '../engine.js';
import { needEvent, ReferenceMemory } from './memory.js';

const WRAP_BIT = 1 << P.PEVENT_WRAP_SHIFT;

/** The AVAIL and USED bits of a descriptor's flags, as 0 or 1. */
function wrapBits(flags: number): { avail: number; used: number } {
  return { avail: (flags >> P.PDESC_F_AVAIL_SHIFT) & 1, used: (flags >> P.PDESC_F_USED_SHIFT) & 1 };
}

/**
 * The packed ring (VIRTIO 1.2 §2.8) in plain TypeScript, written from the spec,
 * Linux's virtio_ring.c (driver) and QEMU's virtio.c (device). It works on the
 * same state blocks, ring and records as the Wasm core (assembly/packed) and
 * leaves the same bytes in memory: the oracle of the differential tests and
 * the plain-TypeScript baseline. Clarity over speed.
 *
 * The rules in a few lines: both sides start with wrap counters at 1. The
 * driver marks a descriptor available with AVAIL = its wrap counter and USED =
 * the inverse; the device marks one used with AVAIL = USED = its wrap counter.
 * Each counter flips when its index passes the end of the ring.
 */
export class ReferencePackedEngine extends ReferenceMemory implements PackedEngine {
  // =========================== driver side ===========================

  packed_drv_init(drv: number): void {
    const num = this.u32(drv + P.PDRV_NUM);
    const extra = this.u32(drv + P.PDRV_EXTRA);
    for (let i = 0; i < num; i++) this.set16(extra + i * L.EXTRA_SIZE + L.EXTRA_NEXT, (i + 1) % num);
    this.set32(drv + P.PDRV_FREE_HEAD, 0);
    this.set32(drv + P.PDRV_NUM_FREE, num);
    this.set32(drv + P.PDRV_NEXT_AVAIL, 0);
    this.set32(drv + P.PDRV_AVAIL_WRAP, 1);
    this.set32(drv + P.PDRV_LAST_USED, WRAP_BIT);
    // VIRTIO_F_IN_ORDER: no batch pending (Linux's batch_last.id = num).
    if (this.u32(drv + P.PDRV_FEATURES) & L.QF_IN_ORDER) this.set32(drv + P.PDRV_BATCH_LAST_ID, num);
    if (this.u32(drv + P.PDRV_FEATURES) & L.QF_EVENT_IDX) {
      // Ask for an interrupt at the first used descriptor (index 0, lap 1).
      const area = this.u32(drv + P.PDRV_DRIVER_AREA);
      this.set32(drv + P.PDRV_EVENT_FLAGS_SHADOW, P.PEVENT_FLAG_DESC);
      this.set16(area + P.PEVENT_OFF_WRAP, WRAP_BIT);
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_DESC);
    } else {
      this.set32(drv + P.PDRV_EVENT_FLAGS_SHADOW, P.PEVENT_FLAG_ENABLE);
    }
  }

  private drvFail(drv: number, code: number, a: number, b: number, breaks: boolean): number {
    this.set32(drv + P.PDRV_ERR_CODE, code);
    this.set32(drv + P.PDRV_ERR_A, a);
    this.set32(drv + P.PDRV_ERR_B, b);
    if (breaks) {
      this.set32(drv + P.PDRV_BROKEN, 1);
      this.bump(this.u32(drv + P.PDRV_STATS), L.ST_DRIVER_CHECKS_FAILED, 1);
    }
    return -code;
  }

  packed_drv_add(drv: number, req: number, n: number): number {
    this.set32(drv + P.PDRV_BATCH_DONE, 0);
    if (this.u32(drv + P.PDRV_BROKEN) !== 0) return this.drvFail(drv, L.E_BROKEN, 0, 0, false);
    const num = this.u32(drv + P.PDRV_NUM);
    const ring = this.u32(drv + P.PDRV_DESC);
    const extra = this.u32(drv + P.PDRV_EXTRA);
    const state = this.u32(drv + P.PDRV_STATE);
    const hasIndirect = (this.u32(drv + P.PDRV_FEATURES) & L.QF_INDIRECT) !== 0;
    const indirPool = this.u32(drv + P.PDRV_INDIR_POOL);
    const indirCap = this.u32(drv + P.PDRV_INDIR_CAP);
    let freeHead = this.u32(drv + P.PDRV_FREE_HEAD);
    let numFree = this.u32(drv + P.PDRV_NUM_FREE);
    let i = this.u32(drv + P.PDRV_NEXT_AVAIL);
    let wrap = this.u32(drv + P.PDRV_AVAIL_WRAP);
    // The head flags of the batch's first buffer are written last of all.
    let first: { at: number; flags: number } | undefined;
    let added = 0;
    let descs = 0;
    let bytes = 0;
    let indirects = 0;
    let err = 0;
    let errA = 0;
    const availBits = () => (wrap ? P.PDESC_F_AVAIL : P.PDESC_F_USED);
    const advance = () => {
      i++;
      if (i >= num) {
        i = 0;
        wrap ^= 1;
      }
    };
    let p = req;
    for (; added < n; added++) {
      const [code, detail, chainBytes] = this.checkRequest(
        p,
        num,
        this.u64(drv + P.PDRV_DMA_BASE),
        this.u64(drv + P.PDRV_DMA_SIZE),
      );
      if (code !== 0) {
        err = code;
        errA = detail;
        break;
      }
      const outN = this.u32(p + L.REQ_OUT);
      const total = outN + this.u32(p + L.REQ_IN);
      const sg = p + L.REQ_HDR_SIZE;
      const useIndirect =
        hasIndirect && (this.u32(p + L.REQ_FLAGS) & L.REQ_F_INDIRECT) !== 0 && total > 1 && total <= indirCap;
      const need = useIndirect ? 1 : total;
      if (numFree < need) break;
      const id = freeHead;
      const head = ring + i * P.PDESC_SIZE;
      let headFlags: number;
      let last = id;
      if (useIndirect) {
        const table = indirPool + id * indirCap * P.PDESC_SIZE;
        for (let k = 0; k < total; k++) {
          const e = sg + k * L.SG_SIZE;
          const d = table + k * P.PDESC_SIZE;
          this.copy64(d + P.PDESC_ADDR, e + L.SG_ADDR);
          this.set32(d + P.PDESC_LEN, this.u32(e + L.SG_LEN));
          this.set16(d + P.PDESC_ID, 0);
          this.set16(d + P.PDESC_FLAGS, k < outN ? 0 : P.PDESC_F_WRITE);
        }
        // A coherent pool: the table's DMA address is the pool's plus its offset.
        const tableAddr = this.u64(drv + P.PDRV_INDIR_DMA) + (table - indirPool);
        const tableLen = total * P.PDESC_SIZE;
        this.set64(head + P.PDESC_ADDR, tableAddr);
        this.set32(head + P.PDESC_LEN, tableLen);
        this.set16(head + P.PDESC_ID, id);
        headFlags = P.PDESC_F_INDIRECT | availBits();
        const x = extra + id * L.EXTRA_SIZE;
        this.set64(x + L.EXTRA_ADDR, tableAddr);
        this.set32(x + L.EXTRA_LEN, tableLen);
        this.set16(x + L.EXTRA_FLAGS, P.PDESC_F_INDIRECT);
        freeHead = this.u16(x + L.EXTRA_NEXT);
        advance();
        indirects++;
      } else {
        let curr = id;
        headFlags = 0;
        for (let k = 0; k < total; k++) {
          const e = sg + k * L.SG_SIZE;
          let flags = availBits() | (k < outN ? 0 : P.PDESC_F_WRITE);
          if (k + 1 < total) flags |= P.PDESC_F_NEXT;
          const d = ring + i * P.PDESC_SIZE;
          this.copy64(d + P.PDESC_ADDR, e + L.SG_ADDR);
          this.set32(d + P.PDESC_LEN, this.u32(e + L.SG_LEN));
          this.set16(d + P.PDESC_ID, id);
          if (k === 0) headFlags = flags;
          else this.set16(d + P.PDESC_FLAGS, flags);
          const x = extra + curr * L.EXTRA_SIZE;
          this.copy64(x + L.EXTRA_ADDR, e + L.SG_ADDR);
          this.set32(x + L.EXTRA_LEN, this.u32(e + L.SG_LEN));
          this.set16(x + L.EXTRA_FLAGS, flags & (P.PDESC_F_NEXT | P.PDESC_F_WRITE));
          last = curr;
          curr = this.u16(x + L.EXTRA_NEXT);
          // The wrap counter flips whenever the index passes the ring end,
          // also for a chain exactly as long as the ring.
          advance();
        }
        freeHead = curr;
      }
      const st = state + id * P.PSTATE_SIZE;
      this.set32(st + P.PSTATE_TOKEN, this.u32(p + L.REQ_TOKEN));
      this.set16(st + P.PSTATE_NUM, need);
      this.set16(st + P.PSTATE_LAST, last);
      let writeBytes = 0;
      for (let k = outN; k < total; k++) writeBytes += this.u32(sg + k * L.SG_SIZE + L.SG_LEN);
      this.set32(st + P.PSTATE_WLEN, writeBytes >>> 0);
      if (first === undefined) first = { at: head, flags: headFlags };
      else this.set16(head + P.PDESC_FLAGS, headFlags);
      numFree -= need;
      descs += need;
      bytes += chainBytes;
      p = sg + total * L.SG_SIZE;
    }
    if (first !== undefined) {
      this.set16(first.at + P.PDESC_FLAGS, first.flags);
      this.set32(drv + P.PDRV_NEXT_AVAIL, i);
      this.set32(drv + P.PDRV_AVAIL_WRAP, wrap);
      this.set32(drv + P.PDRV_NUM_ADDED, this.u32(drv + P.PDRV_NUM_ADDED) + descs);
      this.set32(drv + P.PDRV_FREE_HEAD, freeHead);
      this.set32(drv + P.PDRV_NUM_FREE, numFree);
      const stats = this.u32(drv + P.PDRV_STATS);
      this.bump(stats, L.ST_CHAINS_ADDED, added);
      this.bump(stats, L.ST_DESCS_ADDED, descs);
      this.bump(stats, L.ST_BYTES_ADDED, bytes);
      this.bump(stats, L.ST_INDIRECT_ADDED, indirects);
    }
    this.set32(drv + P.PDRV_BATCH_DONE, added);
    if (err !== 0) return this.drvFail(drv, err, added, errA, false);
    return added;
  }

  packed_drv_kick_prepare(drv: number): number {
    const num = this.u32(drv + P.PDRV_NUM);
    const newIdx = this.u32(drv + P.PDRV_NEXT_AVAIL);
    const oldIdx = newIdx - this.u32(drv + P.PDRV_NUM_ADDED);
    this.set32(drv + P.PDRV_NUM_ADDED, 0);
    const area = this.u32(drv + P.PDRV_DEVICE_AREA);
    const flags = this.u16(area + P.PEVENT_FLAGS);
    let kick: boolean;
    if (flags !== P.PEVENT_FLAG_DESC) {
      kick = flags !== P.PEVENT_FLAG_DISABLE;
    } else {
      const offWrap = this.u16(area + P.PEVENT_OFF_WRAP);
      let event = offWrap & P.PEVENT_OFF_MASK;
      if (offWrap >> P.PEVENT_WRAP_SHIFT !== this.u32(drv + P.PDRV_AVAIL_WRAP)) event -= num;
      kick = needEvent(event, newIdx, oldIdx);
    }
    this.bump(this.u32(drv + P.PDRV_STATS), kick ? L.ST_KICKS : L.ST_KICKS_SUPPRESSED, 1);
    return kick ? 1 : 0;
  }

  packed_drv_get_used(drv: number, out: number, max: number): number {
    this.set32(drv + P.PDRV_BATCH_DONE, 0);
    if (this.u32(drv + P.PDRV_BROKEN) !== 0) return 0;
    const num = this.u32(drv + P.PDRV_NUM);
    const ring = this.u32(drv + P.PDRV_DESC);
    const extra = this.u32(drv + P.PDRV_EXTRA);
    const state = this.u32(drv + P.PDRV_STATE);
    // Hardened only (the queue refuses QF_NAIVE on the reference model).
    const lenCheck = (this.u32(drv + P.PDRV_FEATURES) & L.QF_USED_LEN_RING) !== 0;
    const lastUsedIdx = this.u32(drv + P.PDRV_LAST_USED);
    let pos = lastUsedIdx & P.PEVENT_OFF_MASK;
    let wrap = lastUsedIdx >>> P.PEVENT_WRAP_SHIFT;
    let freeHead = this.u32(drv + P.PDRV_FREE_HEAD);
    let numFree = this.u32(drv + P.PDRV_NUM_FREE);
    let count = 0;
    let bytes = 0;
    let err = 0;
    let errA = 0;
    let errB = 0;
    while (count < max) {
      const d = ring + pos * P.PDESC_SIZE;
      const flags = this.u16(d + P.PDESC_FLAGS);
      const { avail, used } = wrapBits(flags);
      if (avail !== used || used !== wrap) {
        // Not used yet: with buffers outstanding, the only legal pattern here
        // is the driver's own available one of this lap.
        const driversOwn = avail === wrap && used !== wrap;
        if (numFree < num && !driversOwn) {
          err = P.E_USED_WRAP;
          errA = pos;
          errB = flags;
        }
        break;
      }
      const id = this.u16(d + P.PDESC_ID);
      const len = this.u32(d + P.PDESC_LEN);
      if (id >= num) {
        err = L.E_USED_ID_RANGE;
        errA = id;
        break;
      }
      const st = state + id * P.PSTATE_SIZE;
      const descs = this.u16(st + P.PSTATE_NUM);
      if (descs === 0) {
        err = L.E_USED_ID_NOT_HEAD;
        errA = id;
        break;
      }
      if (lenCheck && len > this.u32(st + P.PSTATE_WLEN)) {
        err = L.E_USED_LEN;
        errA = len;
        errB = this.u32(st + P.PSTATE_WLEN);
        break;
      }
      // detach_buf_packed(), from the private state only.
      this.set16(st + P.PSTATE_NUM, 0);
      this.set16(extra + this.u16(st + P.PSTATE_LAST) * L.EXTRA_SIZE + L.EXTRA_NEXT, freeHead);
      freeHead = id;
      numFree += descs;
      const o = out + count * L.REAP_SIZE;
      this.set32(o + L.REAP_TOKEN, this.u32(st + P.PSTATE_TOKEN));
      this.set32(o + L.REAP_LEN, len);
      bytes += len;
      pos += descs;
      if (pos >= num) {
        pos -= num;
        wrap ^= 1;
      }
      count++;
    }
    if (count > 0) {
      const lastUsed = pos | (wrap << P.PEVENT_WRAP_SHIFT);
      this.set32(drv + P.PDRV_LAST_USED, lastUsed);
      this.set32(drv + P.PDRV_FREE_HEAD, freeHead);
      this.set32(drv + P.PDRV_NUM_FREE, numFree);
      if (this.u32(drv + P.PDRV_EVENT_FLAGS_SHADOW) === P.PEVENT_FLAG_DESC) {
        this.set16(this.u32(drv + P.PDRV_DRIVER_AREA) + P.PEVENT_OFF_WRAP, lastUsed);
      }
      const stats = this.u32(drv + P.PDRV_STATS);
      this.bump(stats, L.ST_CHAINS_COMPLETED, count);
      this.bump(stats, L.ST_BYTES_COMPLETED, bytes);
    }
    this.set32(drv + P.PDRV_BATCH_DONE, count);
    if (err !== 0) return this.drvFail(drv, err, errA, errB, true);
    return count;
  }

  packed_drv_disable_cb(drv: number): void {
    if (this.u32(drv + P.PDRV_EVENT_FLAGS_SHADOW) === P.PEVENT_FLAG_DISABLE) return;
    this.set32(drv + P.PDRV_EVENT_FLAGS_SHADOW, P.PEVENT_FLAG_DISABLE);
    this.set16(this.u32(drv + P.PDRV_DRIVER_AREA) + P.PEVENT_FLAGS, P.PEVENT_FLAG_DISABLE);
  }

  packed_drv_enable_cb(drv: number): number {
    const area = this.u32(drv + P.PDRV_DRIVER_AREA);
    const lastUsed = this.u32(drv + P.PDRV_LAST_USED);
    const event = (this.u32(drv + P.PDRV_FEATURES) & L.QF_EVENT_IDX) !== 0;
    if (event) this.set16(area + P.PEVENT_OFF_WRAP, lastUsed);
    if (this.u32(drv + P.PDRV_EVENT_FLAGS_SHADOW) === P.PEVENT_FLAG_DISABLE) {
      const shadow = event ? P.PEVENT_FLAG_DESC : P.PEVENT_FLAG_ENABLE;
      this.set32(drv + P.PDRV_EVENT_FLAGS_SHADOW, shadow);
      this.set16(area + P.PEVENT_FLAGS, shadow);
    }
    // VIRTIO_F_IN_ORDER: a batch whose used descriptor was read is still being reaped.
    if (
      this.u32(drv + P.PDRV_FEATURES) & L.QF_IN_ORDER &&
      this.u32(drv + P.PDRV_BATCH_LAST_ID) !== this.u32(drv + P.PDRV_NUM)
    ) {
      return 0;
    }
    const ring = this.u32(drv + P.PDRV_DESC);
    const wrap = lastUsed >>> P.PEVENT_WRAP_SHIFT;
    const { avail, used } = wrapBits(this.u16(ring + (lastUsed & P.PEVENT_OFF_MASK) * P.PDESC_SIZE + P.PDESC_FLAGS));
    return avail === used && used === wrap ? 0 : 1;
  }

  // =========================== device side ===========================

  packed_dev_init(dev: number): void {
    this.set32(dev + P.PDEV_AVAIL_WRAP, 1);
    this.set32(dev + P.PDEV_USED_WRAP, 1);
    this.set32(dev + P.PDEV_NOTIFY_ENABLED, 1);
    const area = this.u32(dev + P.PDEV_DEVICE_AREA);
    if (this.u32(dev + P.PDEV_FEATURES) & L.QF_EVENT_IDX) {
      this.set16(area + P.PEVENT_OFF_WRAP, WRAP_BIT);
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_DESC);
    } else {
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_ENABLE);
    }
  }

  private devFail(dev: number, code: number, a: number, b: number): number {
    this.set32(dev + P.PDEV_ERR_CODE, code);
    this.set32(dev + P.PDEV_ERR_A, a);
    this.set32(dev + P.PDEV_ERR_B, b);
    return -code;
  }

  private devBroken(dev: number, code: number, a: number, b: number): number {
    this.set32(dev + P.PDEV_BROKEN, 1);
    this.bump(this.u32(dev + P.PDEV_STATS), L.ST_DEVICE_CHECKS_FAILED, 1);
    return this.devFail(dev, code, a, b);
  }

  private static isAvail(flags: number, wrap: number): boolean {
    const { avail, used } = wrapBits(flags);
    return avail === wrap && used !== wrap;
  }

  packed_dev_pop(dev: number, out: number, maxChains: number, elemCap: number): number {
    this.set32(dev + P.PDEV_BATCH_DONE, 0);
    if (this.u32(dev + P.PDEV_BROKEN) !== 0) return 0;
    const num = this.u32(dev + P.PDEV_NUM);
    const ring = this.u32(dev + P.PDEV_DESC);
    const ids = this.u32(dev + P.PDEV_IDS);
    const features = this.u32(dev + P.PDEV_FEATURES);
    const elems = out + maxChains * L.POP_SIZE;
    let lastAvail = this.u32(dev + P.PDEV_LAST_AVAIL);
    let wrap = this.u32(dev + P.PDEV_AVAIL_WRAP);
    let inflight = this.u32(dev + P.PDEV_INFLIGHT);
    let count = 0;
    let elemEnd = 0;
    let descs = 0;
    let err = 0;
    let errA = 0;
    let errB = 0;
    const ctx = this.u32(dev + P.PDEV_DMA_CTX);
    const fault = (code: number, a: number, b = 0) => {
      err = code;
      errA = a >>> 0;
      errB = b >>> 0;
    };

    while (count < maxChains) {
      const headDesc = ring + lastAvail * P.PDESC_SIZE;
      const headFlags = this.u16(headDesc + P.PDESC_FLAGS);
      if (!ReferencePackedEngine.isAvail(headFlags, wrap)) break;
      const chainStart = elemEnd;
      let id = 0;
      let ndescs = 0;
      let seenWrite = false;
      let readBytes = 0;
      let writeBytes = 0;
      let full = false;
      let chainDescs = 0;

      /** Checks one buffer descriptor and records it; false stops the walk. */
      const take = (d: number, flags: number, where: number): boolean => {
        const addr = this.u64(d + P.PDESC_ADDR);
        const len = this.u32(d + P.PDESC_LEN);
        if (len === 0) {
          fault(L.E_ZERO_LEN, where);
          return false;
        }
        const got = this.mapDesc(ctx, addr, len, flags & P.PDESC_F_WRITE, elems, elemEnd, elemCap);
        if (got < 0) {
          fault(-got, this.u32(d + P.PDESC_ADDR), this.u32(d + P.PDESC_ADDR + 4));
          return false;
        }
        if (flags & P.PDESC_F_WRITE) {
          seenWrite = true;
          writeBytes += len;
        } else {
          if (seenWrite) {
            fault(L.E_DESC_ORDER, where);
            return false;
          }
          readBytes += len;
        }
        if (got === 0) {
          full = true;
          return false;
        }
        elemEnd += got;
        chainDescs++;
        return true;
      };

      if (headFlags & P.PDESC_F_INDIRECT) {
        if ((features & L.QF_INDIRECT) === 0) {
          fault(L.E_INDIRECT_NOT_NEGOTIATED, lastAvail);
          break;
        }
        const tlen = this.u32(headDesc + P.PDESC_LEN);
        if (tlen === 0 || tlen % P.PDESC_SIZE !== 0) {
          fault(L.E_INDIRECT_LEN, tlen);
          break;
        }
        if (tlen / P.PDESC_SIZE > num) {
          fault(L.E_INDIRECT_TOO_BIG, tlen);
          break;
        }
        const taddr = this.u64(headDesc + P.PDESC_ADDR);
        if (elemEnd >= elemCap) {
          if (count === 0) err = L.E_POP_OUTPUT;
          break;
        }
        const table = this.mapTable(ctx, taddr, tlen, elems + elemEnd * L.ELEM_SIZE);
        if (table < 0) {
          fault(-table, this.u32(headDesc + P.PDESC_ADDR), this.u32(headDesc + P.PDESC_ADDR + 4));
          break;
        }
        // QEMU virtqueue_map_desc(): at most VIRTQUEUE_MAX_SIZE s/g entries.
        if (tlen / P.PDESC_SIZE > 1024) {
          fault(L.E_TOO_MANY_WRITE_DESCS, lastAvail, tlen / P.PDESC_SIZE);
          break;
        }
        id = this.u16(headDesc + P.PDESC_ID);
        ndescs = 1;
        // All entries belong to the buffer; NEXT means nothing in a table.
        for (let k = 0; k < tlen / P.PDESC_SIZE; k++) {
          const t = table + k * P.PDESC_SIZE;
          const flags = this.u16(t + P.PDESC_FLAGS);
          if (flags & P.PDESC_F_INDIRECT) {
            fault(L.E_INDIRECT_NESTED, k);
            break;
          }
          if (!take(t, flags, k)) break;
        }
      } else {
        // Consecutive ring descriptors while NEXT is set; the id is on the last.
        let i = lastAvail;
        for (;;) {
          if (ndescs >= num) {
            fault(L.E_DESC_LOOP, lastAvail);
            break;
          }
          if (ndescs >= 1024) {
            fault(L.E_TOO_MANY_WRITE_DESCS, lastAvail, ndescs);
            break;
          }
          const d = ring + i * P.PDESC_SIZE;
          const flags = this.u16(d + P.PDESC_FLAGS);
          if (ndescs > 0 && flags & P.PDESC_F_INDIRECT) {
            fault(L.E_INDIRECT_NESTED, i);
            break;
          }
          if (!take(d, flags, i)) break;
          ndescs++;
          if ((flags & P.PDESC_F_NEXT) === 0) {
            id = this.u16(d + P.PDESC_ID);
            break;
          }
          i = i + 1 >= num ? 0 : i + 1;
        }
      }
      if (err !== 0) break;
      if (full) {
        elemEnd = chainStart;
        if (count === 0) err = L.E_POP_OUTPUT;
        break;
      }
      if (id >= num) {
        fault(L.E_AVAIL_HEAD_RANGE, id);
        break;
      }
      if (this.u16(ids + id * 2) !== 0) {
        fault(P.E_AVAIL_ID_IN_USE, id);
        break;
      }
      if (readBytes + writeBytes > 0xffffffff) {
        fault(L.E_CHAIN_LEN_OVERFLOW, id);
        break;
      }
      this.set16(ids + id * 2, ndescs);
      const r = out + count * L.POP_SIZE;
      this.set32(r + L.POP_ID, id);
      this.set32(r + L.POP_WRITE_BYTES, writeBytes);
      this.set32(r + L.POP_READ_BYTES, readBytes);
      this.set32(r + L.POP_ELEM_END, elemEnd);
      lastAvail += ndescs;
      if (lastAvail >= num) {
        lastAvail -= num;
        wrap ^= 1;
      }
      inflight++;
      count++;
      descs += chainDescs;
    }
    this.set32(dev + P.PDEV_LAST_AVAIL, lastAvail);
    this.set32(dev + P.PDEV_AVAIL_WRAP, wrap);
    this.set32(dev + P.PDEV_INFLIGHT, inflight);
    if (count > 0) {
      const stats = this.u32(dev + P.PDEV_STATS);
      this.bump(stats, L.ST_CHAINS_POPPED, count);
      this.bump(stats, L.ST_DESCS_POPPED, descs);
      this.countMaps(ctx, elemEnd);
      if (features & L.QF_EVENT_IDX && this.u32(dev + P.PDEV_NOTIFY_ENABLED) !== 0) {
        this.set16(this.u32(dev + P.PDEV_DEVICE_AREA) + P.PEVENT_OFF_WRAP, lastAvail | (wrap << P.PEVENT_WRAP_SHIFT));
      }
    }
    this.set32(dev + P.PDEV_BATCH_DONE, count);
    if (err === L.E_POP_OUTPUT) return this.devFail(dev, err, elemCap, 0);
    if (err !== 0) return this.devBroken(dev, err, errA, errB);
    return count;
  }

  /** packed_dev_use: up to maxChains buffers, each popped and pushed back used (len = its writable bytes) before the next. */
  packed_dev_use(dev: number, out: number, maxChains: number, elemCap: number): number {
    const inOrder = (this.u32(dev + P.PDEV_FEATURES) & L.QF_IN_ORDER) !== 0;
    const pop = (): number =>
      inOrder ? this.packed_dev_pop_in_order(dev, out, 1, elemCap) : this.packed_dev_pop(dev, out, 1, elemCap);
    const push = (): number =>
      inOrder ? this.packed_dev_push_in_order(dev, out, 1, L.POP_SIZE) : this.packed_dev_push(dev, out, 1, L.POP_SIZE);
    return this.useEach(maxChains, dev + P.PDEV_BATCH_DONE, pop, push);
  }

  packed_dev_push(dev: number, entries: number, n: number, stride: number): number {
    this.set32(dev + P.PDEV_BATCH_DONE, 0);
    if (this.u32(dev + P.PDEV_BROKEN) !== 0) return this.devFail(dev, L.E_BROKEN, 0, 0);
    const num = this.u32(dev + P.PDEV_NUM);
    const ring = this.u32(dev + P.PDEV_DESC);
    const ids = this.u32(dev + P.PDEV_IDS);
    let usedIdx = this.u32(dev + P.PDEV_USED_IDX);
    let wrap = this.u32(dev + P.PDEV_USED_WRAP);
    let wrapped = false;
    let first: { at: number; flags: number } | undefined;
    let bytes = 0;
    let k = 0;
    let err = 0;
    let errA = 0;
    for (; k < n; k++) {
      const p = entries + k * stride;
      const id = this.u32(p + L.PUSH_ID);
      const len = this.u32(p + L.PUSH_LEN);
      if (id >= num) {
        err = L.E_PUSH_ID_RANGE;
        errA = id;
        break;
      }
      const ndescs = this.u16(ids + id * 2);
      if (ndescs === 0) {
        err = P.E_PUSH_NOT_INFLIGHT;
        errA = id;
        break;
      }
      this.set16(ids + id * 2, 0);
      let flags = wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0;
      if (len !== 0) flags |= P.PDESC_F_WRITE;
      const d = ring + usedIdx * P.PDESC_SIZE;
      this.set16(d + P.PDESC_ID, id);
      this.set32(d + P.PDESC_LEN, len);
      if (first === undefined) first = { at: d, flags };
      else this.set16(d + P.PDESC_FLAGS, flags);
      usedIdx += ndescs;
      if (usedIdx >= num) {
        usedIdx -= num;
        wrap ^= 1;
        wrapped = true;
      }
      bytes += len;
    }
    if (first !== undefined) {
      this.set16(first.at + P.PDESC_FLAGS, first.flags);
      this.set32(dev + P.PDEV_USED_IDX, usedIdx);
      this.set32(dev + P.PDEV_USED_WRAP, wrap);
      if (wrapped) this.set32(dev + P.PDEV_SIGNALLED_VALID, 0);
      const inflight = this.u32(dev + P.PDEV_INFLIGHT);
      this.set32(dev + P.PDEV_INFLIGHT, inflight > k ? inflight - k : 0);
      const stats = this.u32(dev + P.PDEV_STATS);
      this.bump(stats, L.ST_CHAINS_USED, k);
      this.bump(stats, L.ST_BYTES_USED, bytes);
    }
    this.set32(dev + P.PDEV_BATCH_DONE, k);
    if (err !== 0) return this.devFail(dev, err, errA, k);
    return k;
  }

  packed_dev_should_notify(dev: number): number {
    const area = this.u32(dev + P.PDEV_DRIVER_AREA);
    const flags = this.u16(area + P.PEVENT_FLAGS);
    const offWrap = this.u16(area + P.PEVENT_OFF_WRAP);
    const valid = this.u32(dev + P.PDEV_SIGNALLED_VALID) !== 0;
    const oldIdx = this.u32(dev + P.PDEV_SIGNALLED_USED);
    const newIdx = this.u32(dev + P.PDEV_USED_IDX);
    this.set32(dev + P.PDEV_SIGNALLED_USED, newIdx);
    this.set32(dev + P.PDEV_SIGNALLED_VALID, 1);
    let notify: boolean;
    if (flags === P.PEVENT_FLAG_DISABLE) {
      notify = false;
    } else if (flags === P.PEVENT_FLAG_DESC && this.u32(dev + P.PDEV_FEATURES) & L.QF_EVENT_IDX) {
      let event = offWrap & P.PEVENT_OFF_MASK;
      if (offWrap >> P.PEVENT_WRAP_SHIFT !== this.u32(dev + P.PDEV_USED_WRAP)) event -= this.u32(dev + P.PDEV_NUM);
      notify = !valid || needEvent(event, newIdx, oldIdx);
    } else {
      notify = true;
    }
    this.bump(this.u32(dev + P.PDEV_STATS), notify ? L.ST_INTERRUPTS : L.ST_INTERRUPTS_SUPPRESSED, 1);
    return notify ? 1 : 0;
  }

  packed_dev_set_notify(dev: number, enable: number): number {
    this.set32(dev + P.PDEV_NOTIFY_ENABLED, enable !== 0 ? 1 : 0);
    const area = this.u32(dev + P.PDEV_DEVICE_AREA);
    const lastAvail = this.u32(dev + P.PDEV_LAST_AVAIL);
    const wrap = this.u32(dev + P.PDEV_AVAIL_WRAP);
    if (enable === 0) {
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_DISABLE);
    } else if (this.u32(dev + P.PDEV_FEATURES) & L.QF_EVENT_IDX) {
      this.set16(area + P.PEVENT_OFF_WRAP, lastAvail | (wrap << P.PEVENT_WRAP_SHIFT));
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_DESC);
    } else {
      this.set16(area + P.PEVENT_FLAGS, P.PEVENT_FLAG_ENABLE);
    }
    const flags = this.u16(this.u32(dev + P.PDEV_DESC) + lastAvail * P.PDESC_SIZE + P.PDESC_FLAGS);
    return ReferencePackedEngine.isAvail(flags, wrap) ? 1 : 0;
  }

  // ====================== VIRTIO_F_IN_ORDER (§2.8.9) ======================
  // A buffer's id is the ring index of its first descriptor (as in Linux's
  // virtqueue_add_packed_in_order): the free list keeps its initial links
  // i -> i + 1 because the in-order reap never relinks it, so the id add
  // takes is always next_avail, and the next outstanding buffer is found at
  // last_used itself.

  /** packed_drv_add, then total_len[id] of each chain added (readable and writable bytes, as Linux). */
  packed_drv_add_in_order(drv: number, req: number, n: number): number {
    let id = this.u32(drv + P.PDRV_NEXT_AVAIL);
    const rc = this.packed_drv_add(drv, req, n);
    const done = this.u32(drv + P.PDRV_BATCH_DONE);
    const num = this.u32(drv + P.PDRV_NUM);
    const hasIndirect = (this.u32(drv + P.PDRV_FEATURES) & L.QF_INDIRECT) !== 0;
    const indirCap = this.u32(drv + P.PDRV_INDIR_CAP);
    const totals = this.u32(drv + P.PDRV_TOTAL_LEN);
    let p = req;
    for (let c = 0; c < done; c++) {
      const total = this.u32(p + L.REQ_OUT) + this.u32(p + L.REQ_IN);
      let bytes = 0;
      for (let k = 0; k < total; k++) bytes += this.u32(p + L.REQ_HDR_SIZE + k * L.SG_SIZE + L.SG_LEN);
      this.set32(totals + id * 4, bytes);
      const useIndirect =
        hasIndirect && (this.u32(p + L.REQ_FLAGS) & L.REQ_F_INDIRECT) !== 0 && total > 1 && total <= indirCap;
      id = (id + (useIndirect ? 1 : total)) % num;
      p += L.REQ_HDR_SIZE + total * L.SG_SIZE;
    }
    return rc;
  }

  /**
   * virtqueue_get_buf_ctx_packed_in_order(): the used descriptor at last_used
   * names the batch's last buffer X (in range, outstanding); every buffer from
   * last_used up to X completes in order, X with the used len, the others with
   * their total_len ("assumed to have been used (read or written) by the
   * device completely"). A batch may be reaped over several calls.
   */
  packed_drv_get_used_in_order(drv: number, out: number, max: number): number {
    this.set32(drv + P.PDRV_BATCH_DONE, 0);
    if (this.u32(drv + P.PDRV_BROKEN) !== 0) return 0;
    const num = this.u32(drv + P.PDRV_NUM);
    const ring = this.u32(drv + P.PDRV_DESC);
    const state = this.u32(drv + P.PDRV_STATE);
    const totals = this.u32(drv + P.PDRV_TOTAL_LEN);
    const lenCheck = (this.u32(drv + P.PDRV_FEATURES) & L.QF_USED_LEN_RING) !== 0;
    const lastUsedIdx = this.u32(drv + P.PDRV_LAST_USED);
    let pos = lastUsedIdx & P.PEVENT_OFF_MASK;
    let wrap = lastUsedIdx >>> P.PEVENT_WRAP_SHIFT;
    let batchId = this.u32(drv + P.PDRV_BATCH_LAST_ID);
    let batchLen = this.u32(drv + P.PDRV_BATCH_LAST_LEN);
    let numFree = this.u32(drv + P.PDRV_NUM_FREE);
    let count = 0;
    let bytes = 0;
    let err = 0;
    let errA = 0;
    let errB = 0;
    while (count < max) {
      if (batchId === num) {
        const d = ring + pos * P.PDESC_SIZE;
        const flags = this.u16(d + P.PDESC_FLAGS);
        const { avail, used } = wrapBits(flags);
        if (avail !== used || used !== wrap) {
          const driversOwn = avail === wrap && used !== wrap;
          if (numFree < num && !driversOwn) {
            err = P.E_USED_WRAP;
            errA = pos;
            errB = flags;
          }
          break;
        }
        const id = this.u16(d + P.PDESC_ID);
        if (id >= num) {
          err = L.E_USED_ID_RANGE;
          errA = id;
          break;
        }
        if (this.u16(state + id * P.PSTATE_SIZE + P.PSTATE_NUM) === 0) {
          err = L.E_USED_ID_NOT_HEAD;
          errA = id;
          break;
        }
        if (lenCheck && this.u32(d + P.PDESC_LEN) > this.u32(state + id * P.PSTATE_SIZE + P.PSTATE_WLEN)) {
          err = L.E_USED_LEN;
          errA = this.u32(d + P.PDESC_LEN);
          errB = this.u32(state + id * P.PSTATE_SIZE + P.PSTATE_WLEN);
          break;
        }
        batchId = id;
        batchLen = this.u32(d + P.PDESC_LEN);
      }
      // The next buffer in order; its id is its ring index.
      const st = state + pos * P.PSTATE_SIZE;
      const descs = this.u16(st + P.PSTATE_NUM);
      if (descs === 0) {
        err = L.E_USED_ID_NOT_HEAD;
        errA = pos;
        errB = batchId;
        break;
      }
      const len = pos === batchId ? batchLen : this.u32(totals + pos * 4);
      const o = out + count * L.REAP_SIZE;
      this.set32(o + L.REAP_TOKEN, this.u32(st + P.PSTATE_TOKEN));
      this.set32(o + L.REAP_LEN, len);
      bytes += len;
      numFree += descs;
      this.set16(st + P.PSTATE_NUM, 0);
      if (pos === batchId) batchId = num;
      pos += descs;
      if (pos >= num) {
        pos -= num;
        wrap ^= 1;
      }
      count++;
    }
    this.set32(drv + P.PDRV_BATCH_LAST_ID, batchId);
    this.set32(drv + P.PDRV_BATCH_LAST_LEN, batchLen);
    if (count > 0) {
      const lastUsed = pos | (wrap << P.PEVENT_WRAP_SHIFT);
      this.set32(drv + P.PDRV_LAST_USED, lastUsed);
      this.set32(drv + P.PDRV_NUM_FREE, numFree);
      if (this.u32(drv + P.PDRV_EVENT_FLAGS_SHADOW) === P.PEVENT_FLAG_DESC) {
        this.set16(this.u32(drv + P.PDRV_DRIVER_AREA) + P.PEVENT_OFF_WRAP, lastUsed);
      }
      const stats = this.u32(drv + P.PDRV_STATS);
      this.bump(stats, L.ST_CHAINS_COMPLETED, count);
      this.bump(stats, L.ST_BYTES_COMPLETED, bytes);
    }
    this.set32(drv + P.PDRV_BATCH_DONE, count);
    if (err !== 0) return this.drvFail(drv, err, errA, errB, true);
    return count;
  }

  /** packed_dev_pop, then order[pos] = the id popped with its first descriptor at pos. */
  packed_dev_pop_in_order(dev: number, out: number, maxChains: number, elemCap: number): number {
    let pos = this.u32(dev + P.PDEV_LAST_AVAIL);
    const rc = this.packed_dev_pop(dev, out, maxChains, elemCap);
    const count = this.u32(dev + P.PDEV_BATCH_DONE);
    const num = this.u32(dev + P.PDEV_NUM);
    const ids = this.u32(dev + P.PDEV_IDS);
    const order = this.u32(dev + P.PDEV_ORDER);
    for (let k = 0; k < count; k++) {
      const id = this.u32(out + k * L.POP_SIZE + L.POP_ID);
      this.set16(order + pos * 2, id);
      pos = (pos + this.u16(ids + id * 2)) % num;
    }
    return rc;
  }

  /**
   * One push is one batch: every id must be the next one popped (else
   * E_PUSH_OUT_OF_ORDER, a caller error; the entries before it form the
   * batch). One used descriptor, the batch's last {id, len}, goes at the
   * batch's first descriptor; the used index skips the whole batch.
   */
  packed_dev_push_in_order(dev: number, entries: number, n: number, stride: number): number {
    this.set32(dev + P.PDEV_BATCH_DONE, 0);
    if (this.u32(dev + P.PDEV_BROKEN) !== 0) return this.devFail(dev, L.E_BROKEN, 0, 0);
    if (n === 0) return 0;
    const num = this.u32(dev + P.PDEV_NUM);
    const ring = this.u32(dev + P.PDEV_DESC);
    const ids = this.u32(dev + P.PDEV_IDS);
    const order = this.u32(dev + P.PDEV_ORDER);
    const start = this.u32(dev + P.PDEV_USED_IDX);
    const startWrap = this.u32(dev + P.PDEV_USED_WRAP);
    let pos = start;
    let wrap = startWrap;
    let wrapped = false;
    let bytes = 0;
    let last: { id: number; len: number } | undefined;
    let k = 0;
    let err = 0;
    let errA = 0;
    let errB = 0;
    for (; k < n; k++) {
      const p = entries + k * stride;
      const id = this.u32(p + L.PUSH_ID);
      const len = this.u32(p + L.PUSH_LEN);
      if (id >= num) {
        [err, errA, errB] = [L.E_PUSH_ID_RANGE, id, k];
        break;
      }
      const ndescs = this.u16(ids + id * 2);
      if (ndescs === 0) {
        [err, errA, errB] = [P.E_PUSH_NOT_INFLIGHT, id, k];
        break;
      }
      const expected = this.u16(order + pos * 2);
      if (id !== expected) {
        [err, errA, errB] = [P.E_PUSH_OUT_OF_ORDER, id, expected];
        break;
      }
      this.set16(ids + id * 2, 0);
      bytes += len;
      last = { id, len };
      pos += ndescs;
      if (pos >= num) {
        pos -= num;
        wrap ^= 1;
        wrapped = true;
      }
    }
    if (last !== undefined) {
      const d = ring + start * P.PDESC_SIZE;
      this.set16(d + P.PDESC_ID, last.id);
      this.set32(d + P.PDESC_LEN, last.len);
      let flags = startWrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0;
      if (last.len !== 0) flags |= P.PDESC_F_WRITE;
      this.set16(d + P.PDESC_FLAGS, flags);
      this.set32(dev + P.PDEV_USED_IDX, pos);
      this.set32(dev + P.PDEV_USED_WRAP, wrap);
      if (wrapped) this.set32(dev + P.PDEV_SIGNALLED_VALID, 0);
      const inflight = this.u32(dev + P.PDEV_INFLIGHT);
      this.set32(dev + P.PDEV_INFLIGHT, inflight > k ? inflight - k : 0);
      const stats = this.u32(dev + P.PDEV_STATS);
      this.bump(stats, L.ST_CHAINS_USED, k);
      this.bump(stats, L.ST_BYTES_USED, bytes);
    }
    this.set32(dev + P.PDEV_BATCH_DONE, k);
    if (err !== 0) return this.devFail(dev, err, errA, errB);
    return k;
  }
}

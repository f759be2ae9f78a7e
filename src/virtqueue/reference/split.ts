import * as L from '../../../assembly/layout.js';
import type { SplitEngine } from '../engine.js';
import { needEvent, ReferenceMemory } from './memory.js';

/**
 * The split ring in plain TypeScript, written from VIRTIO 1.2 §2.7, Linux's
 * virtio_ring.c (driver) and QEMU's virtio.c (device). It works on the same
 * state blocks, rings and records as the Wasm core and leaves the same bytes
 * in memory, so it serves as the oracle of the differential tests and as the
 * "plain TypeScript" baseline of the benchmark. Clarity over speed; it is not
 * used on any hot path.
 */
export class ReferenceSplitEngine extends ReferenceMemory implements SplitEngine {
  // =========================== driver side ===========================

  split_drv_init(drv: number): void {
    const num = this.u32(drv + L.DRV_NUM);
    const extra = this.u32(drv + L.DRV_EXTRA);
    for (let i = 0; i < num; i++) this.set16(extra + i * L.EXTRA_SIZE + L.EXTRA_NEXT, (i + 1) % num);
    this.set32(drv + L.DRV_FREE_HEAD, 0);
    this.set32(drv + L.DRV_NUM_FREE, num);
  }

  private drvFail(drv: number, code: number, a: number, b: number, breaks: boolean): number {
    this.set32(drv + L.DRV_ERR_CODE, code);
    this.set32(drv + L.DRV_ERR_A, a);
    this.set32(drv + L.DRV_ERR_B, b);
    if (breaks) {
      this.set32(drv + L.DRV_BROKEN, 1);
      this.bump(this.u32(drv + L.DRV_STATS), L.ST_DRIVER_CHECKS_FAILED, 1);
    }
    return -code;
  }

  /** Writes one descriptor {addr, len, flags, next}. */
  private writeDesc(d: number, addr: number, len: number, flags: number, next: number): void {
    this.set64(d + L.VRING_DESC_ADDR, addr);
    this.set32(d + L.VRING_DESC_LEN, len);
    this.set16(d + L.VRING_DESC_FLAGS, flags);
    this.set16(d + L.VRING_DESC_NEXT, next);
  }

  split_drv_add(drv: number, req: number, n: number): number {
    this.set32(drv + L.DRV_BATCH_DONE, 0);
    if (this.u32(drv + L.DRV_BROKEN) !== 0) return this.drvFail(drv, L.E_BROKEN, 0, 0, false);
    const num = this.u32(drv + L.DRV_NUM);
    const desc = this.u32(drv + L.DRV_DESC);
    const avail = this.u32(drv + L.DRV_AVAIL);
    const extra = this.u32(drv + L.DRV_EXTRA);
    const state = this.u32(drv + L.DRV_STATE);
    const hasIndirect = (this.u32(drv + L.DRV_FEATURES) & L.QF_INDIRECT) !== 0;
    const indirCap = this.u32(drv + L.DRV_INDIR_CAP);
    let freeHead = this.u32(drv + L.DRV_FREE_HEAD);
    let numFree = this.u32(drv + L.DRV_NUM_FREE);
    let availIdx = this.u32(drv + L.DRV_AVAIL_IDX_SHADOW);
    let added = 0;
    let descs = 0;
    let bytes = 0;
    let indirects = 0;
    let err = 0;
    let errA = 0;
    let p = req;
    for (; added < n; added++) {
      const outN = this.u32(p + L.REQ_OUT);
      const total = outN + this.u32(p + L.REQ_IN);
      const [code, where, chainBytes] = this.checkRequest(
        p,
        num,
        this.u64(drv + L.DRV_DMA_BASE),
        this.u64(drv + L.DRV_DMA_SIZE),
      );
      if (code !== 0) {
        err = code;
        errA = where;
        break;
      }
      const sg = (k: number) => p + L.REQ_HDR_SIZE + k * L.SG_SIZE;
      // virtqueue_use_indirect(): a table only for more than one buffer.
      const useIndirect =
        hasIndirect && (this.u32(p + L.REQ_FLAGS) & L.REQ_F_INDIRECT) !== 0 && total > 1 && total <= indirCap;
      const need = useIndirect ? 1 : total;
      if (numFree < need) break; // -ENOSPC
      const head = freeHead;
      const st = state + head * L.STATE_SIZE;
      if (useIndirect) {
        const table = this.u32(drv + L.DRV_INDIR_POOL) + head * indirCap * L.VRING_DESC_SIZE;
        for (let k = 0; k < total; k++) {
          const flags = (k < outN ? 0 : L.VRING_DESC_F_WRITE) | (k + 1 < total ? L.VRING_DESC_F_NEXT : 0);
          this.writeDesc(table + k * 16, this.u64(sg(k) + L.SG_ADDR), this.u32(sg(k) + L.SG_LEN), flags, k + 1);
        }
        const x = extra + head * L.EXTRA_SIZE;
        const next = this.u16(x + L.EXTRA_NEXT);
        // A coherent pool: the table's DMA address is the pool's plus its offset.
        const tableAddr = this.u64(drv + L.DRV_INDIR_DMA) + (table - this.u32(drv + L.DRV_INDIR_POOL));
        this.writeDesc(desc + head * 16, tableAddr, total * 16, L.VRING_DESC_F_INDIRECT, next);
        this.set64(x + L.EXTRA_ADDR, tableAddr);
        this.set32(x + L.EXTRA_LEN, total * 16);
        this.set16(x + L.EXTRA_FLAGS, L.VRING_DESC_F_INDIRECT);
        freeHead = next;
        this.set32(st + L.STATE_HEAD, table);
        indirects++;
      } else {
        // Each descriptor's next comes from the private free list (desc_extra).
        let i = head;
        let prev = head;
        for (let k = 0; k < total; k++) {
          const flags = (k < outN ? 0 : L.VRING_DESC_F_WRITE) | L.VRING_DESC_F_NEXT;
          const x = extra + i * L.EXTRA_SIZE;
          const next = this.u16(x + L.EXTRA_NEXT);
          const addr = this.u64(sg(k) + L.SG_ADDR);
          const len = this.u32(sg(k) + L.SG_LEN);
          this.writeDesc(desc + i * 16, addr, len, flags, next);
          this.set64(x + L.EXTRA_ADDR, addr);
          this.set32(x + L.EXTRA_LEN, len);
          this.set16(x + L.EXTRA_FLAGS, flags);
          prev = i;
          i = next;
        }
        const dl = desc + prev * 16 + L.VRING_DESC_FLAGS;
        this.set16(dl, this.u16(dl) & ~L.VRING_DESC_F_NEXT);
        const xl = extra + prev * L.EXTRA_SIZE + L.EXTRA_FLAGS;
        this.set16(xl, this.u16(xl) & ~L.VRING_DESC_F_NEXT);
        freeHead = i;
        this.set32(st + L.STATE_HEAD, L.STATE_DIRECT);
      }
      this.set32(st + L.STATE_TOKEN, this.u32(p + L.REQ_TOKEN));
      // The chain's writable bytes (buflen), for the ring-level used-len check.
      let writeBytes = 0;
      for (let k = outN; k < total; k++) writeBytes += this.u32(sg(k) + L.SG_LEN);
      this.set32(st + L.STATE_WLEN, writeBytes >>> 0);
      numFree -= need;
      this.set16(avail + L.VRING_AVAIL_RING + (availIdx & (num - 1)) * 2, head);
      availIdx = (availIdx + 1) & 0xffff;
      descs += total;
      bytes += chainBytes;
      p = sg(total);
    }
    if (added > 0) {
      this.set16(avail + L.VRING_AVAIL_IDX, availIdx);
      this.set32(drv + L.DRV_AVAIL_IDX_SHADOW, availIdx);
      // virtqueue_add_split(): a kick decided at 65535 chains added, owed to kick_prepare.
      const before = this.u32(drv + L.DRV_NUM_ADDED);
      let numAdded = before + added;
      if (numAdded >= 0xffff) {
        const at = (availIdx - (numAdded - 0xffff)) & 0xffff;
        if (this.kickWanted(drv, at, (at - 0xffff) & 0xffff)) this.set32(drv + L.DRV_KICK_OWED, 1);
        numAdded -= 0xffff;
      }
      this.set32(drv + L.DRV_NUM_ADDED, numAdded);
      this.set32(drv + L.DRV_FREE_HEAD, freeHead);
      this.set32(drv + L.DRV_NUM_FREE, numFree);
      const stats = this.u32(drv + L.DRV_STATS);
      this.bump(stats, L.ST_CHAINS_ADDED, added);
      this.bump(stats, L.ST_DESCS_ADDED, descs);
      this.bump(stats, L.ST_BYTES_ADDED, bytes);
      this.bump(stats, L.ST_INDIRECT_ADDED, indirects);
    }
    this.set32(drv + L.DRV_BATCH_DONE, added);
    if (err !== 0) return this.drvFail(drv, err, added, errA, false);
    return added;
  }

  private kickWanted(drv: number, newIdx: number, oldIdx: number): boolean {
    const used = this.u32(drv + L.DRV_USED);
    if ((this.u32(drv + L.DRV_FEATURES) & L.QF_EVENT_IDX) !== 0) {
      const num = this.u32(drv + L.DRV_NUM);
      return needEvent(this.u16(used + L.VRING_USED_RING + num * L.VRING_USED_ELEM_SIZE), newIdx, oldIdx);
    }
    return (this.u16(used + L.VRING_USED_FLAGS) & L.VRING_USED_F_NO_NOTIFY) === 0;
  }

  split_drv_kick_prepare(drv: number): number {
    const newIdx = this.u32(drv + L.DRV_AVAIL_IDX_SHADOW);
    const oldIdx = (newIdx - this.u32(drv + L.DRV_NUM_ADDED)) & 0xffff;
    this.set32(drv + L.DRV_NUM_ADDED, 0);
    const owed = this.u32(drv + L.DRV_KICK_OWED) !== 0;
    this.set32(drv + L.DRV_KICK_OWED, 0);
    const kick = this.kickWanted(drv, newIdx, oldIdx) || owed;
    this.bump(this.u32(drv + L.DRV_STATS), kick ? L.ST_KICKS : L.ST_KICKS_SUPPRESSED, 1);
    return kick ? 1 : 0;
  }

  split_drv_get_used(drv: number, out: number, max: number): number {
    this.set32(drv + L.DRV_BATCH_DONE, 0);
    if (this.u32(drv + L.DRV_BROKEN) !== 0) return 0;
    const num = this.u32(drv + L.DRV_NUM);
    const used = this.u32(drv + L.DRV_USED);
    const extra = this.u32(drv + L.DRV_EXTRA);
    const state = this.u32(drv + L.DRV_STATE);
    let lastUsed = this.u32(drv + L.DRV_LAST_USED);
    const usedIdx = this.u16(used + L.VRING_USED_IDX);
    const features = this.u32(drv + L.DRV_FEATURES);
    // The reference model is the hardened driver only (the queue refuses
    // QF_NAIVE on it); QF_NOSPEC changes nothing it computes.
    // More used entries than chains in flight: the first in-flight ones are
    // reaped (and checked), then the reap stops with USED_IDX_JUMP.
    const inFlight = (this.u32(drv + L.DRV_AVAIL_IDX_SHADOW) - lastUsed) & 0xffff;
    const jump = ((usedIdx - lastUsed) & 0xffff) > inFlight;
    const end = jump ? (lastUsed + inFlight) & 0xffff : usedIdx;
    const lastUsed0 = lastUsed;
    let freeHead = this.u32(drv + L.DRV_FREE_HEAD);
    let numFree = this.u32(drv + L.DRV_NUM_FREE);
    let count = 0;
    let bytes = 0;
    let err = 0;
    let errA = 0;
    let errB = 0;
    while (count < max) {
      if (lastUsed === end) {
        if (jump) {
          err = L.E_USED_IDX_JUMP;
          errA = lastUsed0;
          errB = usedIdx;
        }
        break;
      }
      const u = used + L.VRING_USED_RING + (lastUsed & (num - 1)) * L.VRING_USED_ELEM_SIZE;
      const id = this.u32(u);
      const len = this.u32(u + 4);
      if (id >= num) {
        err = L.E_USED_ID_RANGE;
        errA = id;
        break;
      }
      const st = state + id * L.STATE_SIZE;
      if (this.u32(st + L.STATE_HEAD) === 0) {
        err = L.E_USED_ID_NOT_HEAD;
        errA = id;
        break;
      }
      if (features & L.QF_USED_LEN_RING && len > this.u32(st + L.STATE_WLEN)) {
        err = L.E_USED_LEN;
        errA = len;
        errB = this.u32(st + L.STATE_WLEN);
        break;
      }
      // detach_buf_split(): follow the chain through the private shadow.
      this.set32(st + L.STATE_HEAD, 0);
      let i = id;
      numFree++;
      while (this.u16(extra + i * L.EXTRA_SIZE + L.EXTRA_FLAGS) & L.VRING_DESC_F_NEXT) {
        i = this.u16(extra + i * L.EXTRA_SIZE + L.EXTRA_NEXT);
        numFree++;
      }
      this.set16(extra + i * L.EXTRA_SIZE + L.EXTRA_NEXT, freeHead);
      freeHead = id;
      this.set32(out + count * L.REAP_SIZE + L.REAP_TOKEN, this.u32(st + L.STATE_TOKEN));
      this.set32(out + count * L.REAP_SIZE + L.REAP_LEN, len);
      bytes += len;
      lastUsed = (lastUsed + 1) & 0xffff;
      count++;
    }
    if (count > 0) {
      this.set32(drv + L.DRV_LAST_USED, lastUsed);
      this.set32(drv + L.DRV_FREE_HEAD, freeHead);
      this.set32(drv + L.DRV_NUM_FREE, numFree);
      if ((this.u32(drv + L.DRV_AVAIL_FLAGS_SHADOW) & L.VRING_AVAIL_F_NO_INTERRUPT) === 0) {
        this.set16(this.u32(drv + L.DRV_AVAIL) + L.VRING_AVAIL_RING + num * 2, lastUsed);
      }
      const stats = this.u32(drv + L.DRV_STATS);
      this.bump(stats, L.ST_CHAINS_COMPLETED, count);
      this.bump(stats, L.ST_BYTES_COMPLETED, bytes);
    }
    this.set32(drv + L.DRV_BATCH_DONE, count);
    if (err !== 0) {
      return this.drvFail(drv, err, errA, err === L.E_USED_LEN || err === L.E_USED_IDX_JUMP ? errB : count, true);
    }
    return count;
  }

  split_drv_disable_cb(drv: number): void {
    const shadow = this.u32(drv + L.DRV_AVAIL_FLAGS_SHADOW);
    if (shadow & L.VRING_AVAIL_F_NO_INTERRUPT) return;
    this.set32(drv + L.DRV_AVAIL_FLAGS_SHADOW, shadow | L.VRING_AVAIL_F_NO_INTERRUPT);
    const avail = this.u32(drv + L.DRV_AVAIL);
    if (this.u32(drv + L.DRV_FEATURES) & L.QF_EVENT_IDX) {
      this.set16(avail + L.VRING_AVAIL_RING + this.u32(drv + L.DRV_NUM) * 2, 0);
    } else {
      this.set16(avail + L.VRING_AVAIL_FLAGS, shadow | L.VRING_AVAIL_F_NO_INTERRUPT);
    }
  }

  split_drv_enable_cb(drv: number): number {
    const shadow = this.u32(drv + L.DRV_AVAIL_FLAGS_SHADOW);
    const avail = this.u32(drv + L.DRV_AVAIL);
    if (shadow & L.VRING_AVAIL_F_NO_INTERRUPT) {
      const cleared = shadow & ~L.VRING_AVAIL_F_NO_INTERRUPT;
      this.set32(drv + L.DRV_AVAIL_FLAGS_SHADOW, cleared);
      if ((this.u32(drv + L.DRV_FEATURES) & L.QF_EVENT_IDX) === 0) this.set16(avail + L.VRING_AVAIL_FLAGS, cleared);
    }
    const lastUsed = this.u32(drv + L.DRV_LAST_USED);
    this.set16(avail + L.VRING_AVAIL_RING + this.u32(drv + L.DRV_NUM) * 2, lastUsed);
    return this.u16(this.u32(drv + L.DRV_USED) + L.VRING_USED_IDX) === lastUsed ? 1 : 0;
  }

  // =========================== device side ===========================

  private devFail(dev: number, code: number, a: number, b: number): number {
    this.set32(dev + L.DEV_ERR_CODE, code);
    this.set32(dev + L.DEV_ERR_A, a);
    this.set32(dev + L.DEV_ERR_B, b);
    return -code;
  }

  private devBroken(dev: number, code: number, a: number, b: number): number {
    this.set32(dev + L.DEV_BROKEN, 1);
    this.bump(this.u32(dev + L.DEV_STATS), L.ST_DEVICE_CHECKS_FAILED, 1);
    return this.devFail(dev, code, a, b);
  }

  split_dev_pop(dev: number, out: number, maxChains: number, elemCap: number): number {
    this.set32(dev + L.DEV_BATCH_DONE, 0);
    if (this.u32(dev + L.DEV_BROKEN) !== 0) return 0;
    const num = this.u32(dev + L.DEV_NUM);
    const ring = this.u32(dev + L.DEV_DESC);
    const avail = this.u32(dev + L.DEV_AVAIL);
    const features = this.u32(dev + L.DEV_FEATURES);
    const ctx = this.u32(dev + L.DEV_DMA_CTX);
    const elems = out + maxChains * L.POP_SIZE;
    let lastAvail = this.u32(dev + L.DEV_LAST_AVAIL);
    let inflight = this.u32(dev + L.DEV_INFLIGHT);
    const availIdx = this.u16(avail + L.VRING_AVAIL_IDX);
    let count = 0;
    let elemEnd = 0;
    let descs = 0;
    // [code, a, b] of the first failed check.
    let err: [number, number, number] = [0, 0, 0];
    if (((availIdx - lastAvail) & 0xffff) > num) err = [L.E_AVAIL_IDX_JUMP, lastAvail, availIdx];
    while (err[0] === 0 && count < maxChains && lastAvail !== availIdx) {
      if (inflight >= num) {
        err = [L.E_INFLIGHT, inflight, 0];
        break;
      }
      const head = this.u16(avail + L.VRING_AVAIL_RING + (lastAvail & (num - 1)) * 2);
      if (head >= num) {
        err = [L.E_AVAIL_HEAD_RANGE, head, 0];
        break;
      }
      const chainStart = elemEnd;
      let table = ring;
      let max = num;
      let i = head;
      const hd = ring + head * 16;
      if (this.u16(hd + L.VRING_DESC_FLAGS) & L.VRING_DESC_F_INDIRECT) {
        const tlen = this.u32(hd + L.VRING_DESC_LEN);
        const taddr = this.u64(hd + L.VRING_DESC_ADDR);
        if ((features & L.QF_INDIRECT) === 0) err = [L.E_INDIRECT_NOT_NEGOTIATED, head, 0];
        else if (tlen === 0 || tlen % 16 !== 0) err = [L.E_INDIRECT_LEN, tlen, 0];
        else if (tlen / 16 > num) err = [L.E_INDIRECT_TOO_BIG, tlen, 0];
        if (err[0] !== 0) break;
        if (elemEnd >= elemCap) {
          if (count === 0) err = [L.E_POP_OUTPUT, elemCap, 0];
          break;
        }
        const t = this.mapTable(ctx, taddr, tlen, elems + elemEnd * L.ELEM_SIZE);
        if (t < 0) {
          err = [-t, this.u32(hd), this.u32(hd + 4)];
          break;
        }
        table = t;
        max = tlen / 16;
        i = 0;
      }
      let n = 0;
      let seenWrite = false;
      let readBytes = 0;
      let writeBytes = 0;
      let full = false;
      for (;;) {
        // A chain visits at most `max` descriptors: a cycle ends here; and
        // maps at most VIRTQUEUE_MAX_SIZE (1024) of them (QEMU).
        if (n >= max) {
          err = [L.E_DESC_LOOP, head, n];
          break;
        }
        if (n >= 1024) {
          err = [L.E_TOO_MANY_WRITE_DESCS, head, n];
          break;
        }
        const d = table + i * 16;
        const addr = this.u64(d + L.VRING_DESC_ADDR);
        const len = this.u32(d + L.VRING_DESC_LEN);
        const flags = this.u16(d + L.VRING_DESC_FLAGS);
        if (flags & L.VRING_DESC_F_INDIRECT) err = [L.E_INDIRECT_NESTED, i, 0];
        else if (len === 0) err = [L.E_ZERO_LEN, i, 0];
        if (err[0] !== 0) break;
        // QEMU virtqueue_split_pop: the order first, then the mapping.
        if (!(flags & L.VRING_DESC_F_WRITE) && seenWrite) err = [L.E_DESC_ORDER, i, 0];
        if (err[0] !== 0) break;
        const got = this.mapDesc(ctx, addr, len, flags & L.VRING_DESC_F_WRITE, elems, elemEnd, elemCap);
        if (got < 0) err = [-got, this.u32(d), this.u32(d + 4)];
        if (err[0] !== 0) break;
        if (flags & L.VRING_DESC_F_WRITE) {
          seenWrite = true;
          writeBytes += len;
        } else {
          readBytes += len;
        }
        if (got === 0) {
          full = true;
          break;
        }
        elemEnd += got;
        n++;
        if (!(flags & L.VRING_DESC_F_NEXT)) break;
        i = this.u16(d + L.VRING_DESC_NEXT);
        if (i >= max) {
          err = [L.E_DESC_NEXT_RANGE, i, 0];
          break;
        }
      }
      if (err[0] !== 0) break;
      if (full) {
        // Leave the chain for the next call; if it cannot fit even alone, the
        // caller's output is too small.
        elemEnd = chainStart;
        if (count === 0) err = [L.E_POP_OUTPUT, elemCap, 0];
        break;
      }
      if (readBytes + writeBytes > 0xffffffff) {
        err = [L.E_CHAIN_LEN_OVERFLOW, head, 0];
        break;
      }
      const r = out + count * L.POP_SIZE;
      this.set32(r + L.POP_ID, head);
      this.set32(r + L.POP_WRITE_BYTES, writeBytes);
      this.set32(r + L.POP_READ_BYTES, readBytes);
      this.set32(r + L.POP_ELEM_END, elemEnd);
      lastAvail = (lastAvail + 1) & 0xffff;
      inflight++;
      count++;
      descs += n;
    }
    this.set32(dev + L.DEV_LAST_AVAIL, lastAvail);
    this.set32(dev + L.DEV_INFLIGHT, inflight);
    if (count > 0) {
      const stats = this.u32(dev + L.DEV_STATS);
      this.bump(stats, L.ST_CHAINS_POPPED, count);
      this.bump(stats, L.ST_DESCS_POPPED, descs);
      this.countMaps(ctx, elemEnd);
      if (features & L.QF_EVENT_IDX && this.u32(dev + L.DEV_NOTIFY_ENABLED) !== 0) {
        this.set16(this.u32(dev + L.DEV_USED) + L.VRING_USED_RING + num * L.VRING_USED_ELEM_SIZE, lastAvail);
      }
    }
    this.set32(dev + L.DEV_BATCH_DONE, count);
    const [code, a, b] = err;
    if (code === L.E_POP_OUTPUT) return this.devFail(dev, code, a, b);
    if (code !== 0) return this.devBroken(dev, code, a, b);
    return count;
  }

  /** split_dev_use: up to maxChains buffers, each popped and pushed back used (len = its writable bytes) before the next. */
  split_dev_use(dev: number, out: number, maxChains: number, elemCap: number): number {
    const pop = (): number => this.split_dev_pop(dev, out, 1, elemCap);
    const push = (): number => this.split_dev_push(dev, out, 1, L.POP_SIZE);
    return this.useEach(maxChains, dev + L.DEV_BATCH_DONE, pop, push);
  }

  split_dev_push(dev: number, entries: number, n: number, stride: number): number {
    this.set32(dev + L.DEV_BATCH_DONE, 0);
    if (this.u32(dev + L.DEV_BROKEN) !== 0) return this.devFail(dev, L.E_BROKEN, 0, 0);
    const num = this.u32(dev + L.DEV_NUM);
    const used = this.u32(dev + L.DEV_USED);
    let usedIdx = this.u32(dev + L.DEV_USED_IDX);
    let bytes = 0;
    let k = 0;
    let badId = -1;
    for (; k < n; k++) {
      const id = this.u32(entries + k * stride + L.PUSH_ID);
      const len = this.u32(entries + k * stride + L.PUSH_LEN);
      if (id >= num) {
        badId = id;
        break;
      }
      const u = used + L.VRING_USED_RING + (usedIdx & (num - 1)) * L.VRING_USED_ELEM_SIZE;
      this.set32(u, id);
      this.set32(u + 4, len);
      usedIdx = (usedIdx + 1) & 0xffff;
      bytes += len;
    }
    if (k > 0) {
      this.set16(used + L.VRING_USED_IDX, usedIdx);
      // virtqueue_split_flush(): forget a signalled index the used index has lapped.
      const oldIdx = this.u32(dev + L.DEV_USED_IDX);
      const since = (((usedIdx - this.u32(dev + L.DEV_SIGNALLED_USED)) & 0xffff) << 16) >> 16;
      if (since < ((usedIdx - oldIdx) & 0xffff)) this.set32(dev + L.DEV_SIGNALLED_VALID, 0);
      this.set32(dev + L.DEV_USED_IDX, usedIdx);
      const inflight = this.u32(dev + L.DEV_INFLIGHT);
      this.set32(dev + L.DEV_INFLIGHT, inflight > k ? inflight - k : 0);
      const stats = this.u32(dev + L.DEV_STATS);
      this.bump(stats, L.ST_CHAINS_USED, k);
      this.bump(stats, L.ST_BYTES_USED, bytes);
    }
    this.set32(dev + L.DEV_BATCH_DONE, k);
    if (badId >= 0) return this.devFail(dev, L.E_PUSH_ID_RANGE, badId, k);
    return k;
  }

  split_dev_should_notify(dev: number): number {
    const avail = this.u32(dev + L.DEV_AVAIL);
    let notify: boolean;
    if ((this.u32(dev + L.DEV_FEATURES) & L.QF_EVENT_IDX) === 0) {
      notify = (this.u16(avail + L.VRING_AVAIL_FLAGS) & L.VRING_AVAIL_F_NO_INTERRUPT) === 0;
    } else {
      const valid = this.u32(dev + L.DEV_SIGNALLED_VALID) !== 0;
      const oldIdx = this.u32(dev + L.DEV_SIGNALLED_USED);
      const newIdx = this.u32(dev + L.DEV_USED_IDX);
      this.set32(dev + L.DEV_SIGNALLED_VALID, 1);
      this.set32(dev + L.DEV_SIGNALLED_USED, newIdx);
      const usedEvent = this.u16(avail + L.VRING_AVAIL_RING + this.u32(dev + L.DEV_NUM) * 2);
      notify = !valid || needEvent(usedEvent, newIdx, oldIdx);
    }
    this.bump(this.u32(dev + L.DEV_STATS), notify ? L.ST_INTERRUPTS : L.ST_INTERRUPTS_SUPPRESSED, 1);
    return notify ? 1 : 0;
  }

  split_dev_set_notify(dev: number, enable: number): number {
    this.set32(dev + L.DEV_NOTIFY_ENABLED, enable !== 0 ? 1 : 0);
    const num = this.u32(dev + L.DEV_NUM);
    const avail = this.u32(dev + L.DEV_AVAIL);
    const used = this.u32(dev + L.DEV_USED);
    if (this.u32(dev + L.DEV_FEATURES) & L.QF_EVENT_IDX) {
      this.set16(used + L.VRING_USED_RING + num * L.VRING_USED_ELEM_SIZE, this.u16(avail + L.VRING_AVAIL_IDX));
    } else {
      const flags = this.u16(used + L.VRING_USED_FLAGS);
      const next = enable !== 0 ? flags & ~L.VRING_USED_F_NO_NOTIFY : flags | L.VRING_USED_F_NO_NOTIFY;
      this.set16(used + L.VRING_USED_FLAGS, next);
    }
    return this.u16(avail + L.VRING_AVAIL_IDX) !== this.u32(dev + L.DEV_LAST_AVAIL) ? 1 : 0;
  }
}

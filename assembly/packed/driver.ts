// Driver side of the packed virtqueue (VIRTIO 1.2 §2.8), following Linux
// drivers/virtio/virtio_ring.c (virtqueue_add_packed, virtqueue_kick_prepare_
// packed, virtqueue_get_buf_ctx_packed, detach_buf_packed, enable/disable_cb).
// Free ids, desc_extra and desc_state live in the driver-private block at
// `drv`; what the driver frees or how far it skips is never read back from
// the shared ring.
import {
  EXTRA_ADDR,
  EXTRA_FLAGS,
  EXTRA_LEN,
  EXTRA_NEXT,
  EXTRA_SIZE,
  E_BROKEN,
  E_REQ_ADDR,
  E_REQ_EMPTY,
  E_REQ_TOO_LONG,
  E_REQ_ZERO_LEN,
  E_USED_ID_NOT_HEAD,
  E_USED_ID_RANGE,
  E_USED_LEN,
  QF_EVENT_IDX,
  QF_IN_ORDER,
  QF_INDIRECT,
  QF_NAIVE,
  QF_NOSPEC,
  QF_USED_LEN_RING,
  REAP_LEN,
  REAP_SIZE,
  REAP_TOKEN,
  REQ_F_INDIRECT,
  REQ_FLAGS,
  REQ_HDR_SIZE,
  REQ_IN,
  REQ_OUT,
  REQ_TOKEN,
  SG_ADDR,
  SG_LEN,
  SG_SIZE,
  ST_BYTES_ADDED,
  ST_BYTES_COMPLETED,
  ST_CHAINS_ADDED,
  ST_CHAINS_COMPLETED,
  ST_DESCS_ADDED,
  ST_DRIVER_CHECKS_FAILED,
  ST_INDIRECT_ADDED,
  ST_KICKS,
  ST_KICKS_SUPPRESSED,
} from "../layout";
import {
  E_USED_WRAP,
  PDESC_ADDR,
  PDESC_F_AVAIL,
  PDESC_F_AVAIL_SHIFT,
  PDESC_F_INDIRECT,
  PDESC_F_NEXT,
  PDESC_F_USED,
  PDESC_F_USED_SHIFT,
  PDESC_F_WRITE,
  PDESC_FLAGS,
  PDESC_ID,
  PDESC_LEN,
  PDESC_SIZE,
  PDRV_AVAIL_WRAP,
  PDRV_BATCH_DONE,
  PDRV_BATCH_LAST_ID,
  PDRV_BATCH_LAST_LEN,
  PDRV_BROKEN,
  PDRV_DESC,
  PDRV_DEVICE_AREA,
  PDRV_DRIVER_AREA,
  PDRV_ERR_A,
  PDRV_ERR_B,
  PDRV_ERR_CODE,
  PDRV_EVENT_FLAGS_SHADOW,
  PDRV_EXTRA,
  PDRV_FEATURES,
  PDRV_FREE_HEAD,
  PDRV_DMA_BASE,
  PDRV_DMA_SIZE,
  PDRV_INDIR_CAP,
  PDRV_INDIR_DMA,
  PDRV_INDIR_POOL,
  PDRV_LAST_USED,
  PDRV_NEXT_AVAIL,
  PDRV_NUM,
  PDRV_NUM_ADDED,
  PDRV_NUM_FREE,
  PDRV_STATE,
  PDRV_STATS,
  PDRV_TOTAL_LEN,
  PEVENT_FLAG_DESC,
  PEVENT_FLAG_DISABLE,
  PEVENT_FLAG_ENABLE,
  PEVENT_FLAGS,
  PEVENT_OFF_MASK,
  PEVENT_OFF_WRAP,
  PEVENT_WRAP_SHIFT,
  PSTATE_LAST,
  PSTATE_NUM,
  PSTATE_SIZE,
  PSTATE_TOKEN,
  PSTATE_WLEN,
} from "./layout";
import { bump, inWindow, mbAfterPublish, needEvent, storeRelease16 } from "../ring";
import { nospecMask } from "../split/nospec";

// Both wrap bits of a descriptor's flags: AVAIL (bit 7) and USED (bit 15).
const WRAP_BITS: u32 = PDESC_F_AVAIL | PDESC_F_USED;

// The AVAIL/USED bits of a descriptor the driver makes available in lap `wrap`.
@inline
function availBits(wrap: u32): u32 {
  return wrap != 0 ? PDESC_F_AVAIL : PDESC_F_USED;
}

// {len u32, id u16, flags u16} of a descriptor as one little-endian u64.
@inline
function packDesc(len: u32, id: u32, flags: u32): u64 {
  return <u64>len | (<u64>id << 32) | (<u64>flags << 48);
}

// {len u32, flags u16, next u16} of a desc_extra entry as one little-endian u64.
@inline
function packShadow(len: u32, flags: u32, next: u32): u64 {
  return <u64>len | (<u64>flags << 32) | (<u64>next << 48);
}

// vring_alloc_desc_extra() and virtqueue_vring_init_packed(): every id on one
// free list, both wrap counters at 1. With event idx the driver asks for an
// interrupt at the first used descriptor (what Linux does on the first
// virtqueue_enable_cb()), so event suppression works from the start.
export function packed_drv_init(drv: usize): void {
  const num = load<u32>(drv + PDRV_NUM);
  const extra = <usize>load<u32>(drv + PDRV_EXTRA);
  for (let i: u32 = 0; i < num; i++) {
    store<u16>(extra + <usize>i * EXTRA_SIZE + EXTRA_NEXT, <u16>((i + 1) % num));
  }
  store<u32>(drv + PDRV_FREE_HEAD, 0);
  store<u32>(drv + PDRV_NUM_FREE, num);
  store<u32>(drv + PDRV_NEXT_AVAIL, 0);
  store<u32>(drv + PDRV_AVAIL_WRAP, 1);
  store<u32>(drv + PDRV_LAST_USED, 1 << PEVENT_WRAP_SHIFT);
  // No in-order batch pending (Linux: batch_last.id = num).
  if ((load<u32>(drv + PDRV_FEATURES) & QF_IN_ORDER) != 0) store<u32>(drv + PDRV_BATCH_LAST_ID, num);
  if ((load<u32>(drv + PDRV_FEATURES) & QF_EVENT_IDX) != 0) {
    const area = <usize>load<u32>(drv + PDRV_DRIVER_AREA);
    store<u32>(drv + PDRV_EVENT_FLAGS_SHADOW, PEVENT_FLAG_DESC);
    store<u16>(area + PEVENT_OFF_WRAP, <u16>(<u32>1 << <u32>PEVENT_WRAP_SHIFT));
    store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_DESC);
  } else {
    store<u32>(drv + PDRV_EVENT_FLAGS_SHADOW, PEVENT_FLAG_ENABLE);
  }
}

function fail(drv: usize, code: i32, a: u32, b: u32, breaks: bool): i32 {
  store<u32>(drv + PDRV_ERR_CODE, code);
  store<u32>(drv + PDRV_ERR_A, a);
  store<u32>(drv + PDRV_ERR_B, b);
  if (breaks) {
    // BAD_RING(): the device broke the protocol, trust nothing more from it.
    store<u32>(drv + PDRV_BROKEN, 1);
    bump(<usize>load<u32>(drv + PDRV_STATS), ST_DRIVER_CHECKS_FAILED, 1);
  }
  return -code;
}

// virtqueue_add_packed() / virtqueue_add_indirect_packed() for up to n requests
// laid out as for the split ring. Returns the number of chains added (fewer
// than n when descriptors ran out), or -code for a malformed request
// (PDRV_BATCH_DONE chains before it stay added). Every descriptor but the
// batch's first head is written with plain stores; the first head's flags are
// stored last, atomically (release), so the device sees the batch at once.
//
// Two passes over the requests: the first checks them and counts what fits
// (it stops where the one-pass loop of Linux would: at the first malformed
// request, or at the first that does not fit), the second writes exactly
// those. The writer then keeps few values live, so the free-list walk and
// the ring index stay in registers (one loop doing both spilled them).
export function packed_drv_add(drv: usize, req: usize, n: u32): i32 {
  store<u32>(drv + PDRV_BATCH_DONE, 0);
  if (load<u32>(drv + PDRV_BROKEN) != 0) return fail(drv, E_BROKEN, 0, 0, false);
  const num = load<u32>(drv + PDRV_NUM);
  const indirect = (load<u32>(drv + PDRV_FEATURES) & QF_INDIRECT) != 0;
  const indirCap = load<u32>(drv + PDRV_INDIR_CAP);
  const dmaBase = load<u64>(drv + PDRV_DMA_BASE);
  const dmaSize = load<u64>(drv + PDRV_DMA_SIZE);
  // The leading one-buffer requests first, in one pass (see addOneBuffers).
  const ones = addOneBuffers(drv, req, n, dmaBase, dmaSize);
  const numFree = load<u32>(drv + PDRV_NUM_FREE);
  // ---- Pass 1: checks, and how many chains fit. ----
  let free = numFree;
  let added: u32 = ones;
  let bytes: u64 = 0;
  let indirects: u64 = 0;
  let err: i32 = 0;
  let errA: u32 = 0;
  let p = req + <usize>ones * (REQ_HDR_SIZE + SG_SIZE);
  for (; added < n; added++) {
    const outN = load<u32>(p + REQ_OUT);
    const total = outN + load<u32>(p + REQ_IN);
    const sg = p + REQ_HDR_SIZE;
    if (total == 0) {
      err = E_REQ_EMPTY;
      break;
    }
    // VIRTIO 1.2 §2.8.5: a list holds at most queue-size descriptors.
    if (total > num) {
      err = E_REQ_TOO_LONG;
      errA = total;
      break;
    }
    // Every buffer: not empty, inside guest RAM. The first one outside the
    // loop, so a one-buffer request runs no loop.
    const len0 = load<u32>(sg + SG_LEN);
    if (len0 == 0) {
      err = E_REQ_ZERO_LEN;
      break;
    }
    if (!inWindow(load<u64>(sg + SG_ADDR), len0, dmaBase, dmaSize)) {
      err = E_REQ_ADDR;
      break;
    }
    let chainBytes: u64 = len0;
    // (Guarded: V8 runs a loop's header, stack check included, even for no
    // iteration.)
    if (total > 1) {
      const sgEnd = sg + <usize>total * SG_SIZE;
      for (let e = sg + SG_SIZE; e < sgEnd; e += SG_SIZE) {
        const len = load<u32>(e + SG_LEN);
        if (len == 0) {
          err = E_REQ_ZERO_LEN;
          errA = <u32>((e - sg) / SG_SIZE);
          break;
        }
        if (!inWindow(load<u64>(e + SG_ADDR), len, dmaBase, dmaSize)) {
          err = E_REQ_ADDR;
          errA = <u32>((e - sg) / SG_SIZE);
          break;
        }
        chainBytes += len;
      }
    }
    if (err != 0) break;
    const useIndirect = useIndirectFor(p, total, indirect, indirCap);
    const need: u32 = useIndirect ? 1 : total;
    if (free < need) break;
    free -= need;
    bytes += chainBytes;
    if (useIndirect) indirects++;
    p = sg + <usize>total * SG_SIZE;
  }
  if (added > ones) {
    const descs = packedWrite(drv, req + <usize>ones * (REQ_HDR_SIZE + SG_SIZE), added - ones, indirect, indirCap);
    store<u32>(drv + PDRV_NUM_ADDED, load<u32>(drv + PDRV_NUM_ADDED) + descs);
    store<u32>(drv + PDRV_NUM_FREE, free);
    const stats = <usize>load<u32>(drv + PDRV_STATS);
    bump(stats, ST_CHAINS_ADDED, added - ones);
    bump(stats, ST_DESCS_ADDED, descs);
    bump(stats, ST_BYTES_ADDED, bytes);
    bump(stats, ST_INDIRECT_ADDED, indirects);
  }
  store<u32>(drv + PDRV_BATCH_DONE, added);
  if (err != 0) return fail(drv, err, added, errA, false);
  return <i32>added;
}

// The leading run of one-buffer requests (virtqueue_add_outbuf/inbuf with
// one sg: every virtio-net buffer) in one pass: checked and written at once,
// with the stores packedWrite makes for a chain of one, in a loop of its own
// with few live values, which V8 keeps in registers. Stops before a
// request of more buffers, one that fails a check (the general passes then
// report it), or when no descriptor is free. The run is a batch of its own:
// its first head's flags are stored last, with release ordering. Saves the
// ring position, wrap counter and free list, counts the run in the stats, and
// returns the requests added.
//
// Written for few instructions: the first request is taken before the loop
// (its flags wait for the end), so the loop writes every descriptor alike;
// the loop runs to the end of the ring at most, so it carries the descriptor
// pointer and no wrap test; the checks are branches, not materialised
// booleans; and 16- and 32-bit fields are stored one by one (combining them
// into one 64-bit store costs the shifts and ors that build it).
function addOneBuffers(drv: usize, req: usize, n: u32, dmaBase: u64, dmaSize: u64): u32 {
  const numFree = load<u32>(drv + PDRV_NUM_FREE);
  const end = n < numFree ? n : numFree;
  if (end == 0 || !isOneBuffer(req, dmaBase, dmaSize)) return 0;
  const num = load<u32>(drv + PDRV_NUM);
  const ring = <usize>load<u32>(drv + PDRV_DESC);
  const extra = <usize>load<u32>(drv + PDRV_EXTRA);
  const state = <usize>load<u32>(drv + PDRV_STATE);
  const start = load<u32>(drv + PDRV_NEXT_AVAIL);
  // AVAIL = wrap, USED = !wrap: both bits are carried as a pattern.
  let pat: u32 = load<u32>(drv + PDRV_AVAIL_WRAP) != 0 ? PDESC_F_AVAIL : PDESC_F_USED;
  // The first request: its descriptor without the flags.
  const id0 = load<u32>(drv + PDRV_FREE_HEAD);
  const addr0 = load<u64>(req + REQ_HDR_SIZE + SG_ADDR);
  const len0 = load<u32>(req + REQ_HDR_SIZE + SG_LEN);
  const write0: u32 = load<u32>(req + REQ_OUT) == 0 ? PDESC_F_WRITE : 0;
  const firstFlags = pat | write0;
  const d0 = ring + <usize>start * PDESC_SIZE;
  store<u64>(d0 + PDESC_ADDR, addr0);
  store<u32>(d0 + PDESC_LEN, len0);
  store<u16>(d0 + PDESC_ID, <u16>id0);
  let freeHead = oneShadow(extra, id0, addr0, len0, write0);
  oneState(state, id0, load<u32>(req + REQ_TOKEN), write0 != 0 ? len0 : 0);
  let bytes: u64 = len0;
  let i = start + 1;
  if (i >= num) {
    i = 0;
    pat ^= WRAP_BITS;
  }
  let p = req + REQ_HDR_SIZE + SG_SIZE;
  const pEnd = req + <usize>end * (REQ_HDR_SIZE + SG_SIZE);
  while (p < pEnd) {
    // The run up to the end of the ring.
    const left = <u32>((pEnd - p) / (REQ_HDR_SIZE + SG_SIZE));
    const room = num - i;
    const stop = p + <usize>(left < room ? left : room) * (REQ_HDR_SIZE + SG_SIZE);
    let d = ring + <usize>i * PDESC_SIZE;
    while (p < stop) {
      const outN = load<u32>(p + REQ_OUT);
      if (outN + load<u32>(p + REQ_IN) != 1) break;
      const addr = load<u64>(p + REQ_HDR_SIZE + SG_ADDR);
      const len = load<u32>(p + REQ_HDR_SIZE + SG_LEN);
      if (len == 0) break;
      // inWindow(addr, len, dmaBase, dmaSize), as three branches.
      if (addr < dmaBase) break;
      const off = addr - dmaBase;
      if (off > dmaSize) break;
      if (<u64>len > dmaSize - off) break;
      const id = freeHead;
      const write: u32 = outN == 0 ? PDESC_F_WRITE : 0;
      store<u64>(d + PDESC_ADDR, addr);
      store<u32>(d + PDESC_LEN, len);
      store<u16>(d + PDESC_ID, <u16>id);
      store<u16>(d + PDESC_FLAGS, <u16>(pat | write));
      freeHead = oneShadow(extra, id, addr, len, write);
      oneState(state, id, load<u32>(p + REQ_TOKEN), write != 0 ? len : 0);
      bytes += len;
      d += PDESC_SIZE;
      p += REQ_HDR_SIZE + SG_SIZE;
    }
    i = <u32>((d - ring) / PDESC_SIZE);
    if (i == num) {
      i = 0;
      pat ^= WRAP_BITS;
    }
    if (p < stop) break;
  }
  const k = <u32>((p - req) / (REQ_HDR_SIZE + SG_SIZE));
  // virtio_wmb() then the first head's flags.
  storeRelease16(d0 + PDESC_FLAGS, firstFlags, load<u32>(drv + PDRV_FEATURES));
  store<u32>(drv + PDRV_NEXT_AVAIL, i);
  store<u32>(drv + PDRV_AVAIL_WRAP, pat == PDESC_F_AVAIL ? 1 : 0);
  store<u32>(drv + PDRV_FREE_HEAD, freeHead);
  store<u32>(drv + PDRV_NUM_FREE, numFree - k);
  store<u32>(drv + PDRV_NUM_ADDED, load<u32>(drv + PDRV_NUM_ADDED) + k);
  const stats = <usize>load<u32>(drv + PDRV_STATS);
  bump(stats, ST_CHAINS_ADDED, k);
  bump(stats, ST_DESCS_ADDED, k);
  bump(stats, ST_BYTES_ADDED, bytes);
  return k;
}

// The request at p holds one buffer that passes packed_drv_add's checks.
@inline
function isOneBuffer(p: usize, dmaBase: u64, dmaSize: u64): bool {
  if (load<u32>(p + REQ_OUT) + load<u32>(p + REQ_IN) != 1) return false;
  const len = load<u32>(p + REQ_HDR_SIZE + SG_LEN);
  return len != 0 && inWindow(load<u64>(p + REQ_HDR_SIZE + SG_ADDR), len, dmaBase, dmaSize);
}

// desc_extra[id] of a one-descriptor buffer (see shadow): {addr, len,
// flags}, the free-list link left as it is. Returns that link.
@inline
function oneShadow(extra: usize, id: u32, addr: u64, len: u32, write: u32): u32 {
  const x = extra + <usize>id * EXTRA_SIZE;
  store<u64>(x + EXTRA_ADDR, addr);
  store<u32>(x + EXTRA_LEN, len);
  store<u16>(x + EXTRA_FLAGS, <u16>write);
  return <u32>load<u16>(x + EXTRA_NEXT);
}

// desc_state[id] = {token, num 1, last id} of a one-descriptor buffer.
@inline
function oneState(state: usize, id: u32, token: u32, writeBytes: u32): void {
  const st = state + <usize>id * PSTATE_SIZE;
  store<u32>(st + PSTATE_TOKEN, token);
  store<u32>(st + PSTATE_WLEN, writeBytes);
  store<u16>(st + PSTATE_NUM, 1);
  store<u16>(st + PSTATE_LAST, <u16>id);
}

// virtqueue_use_indirect(): only for more than one buffer, and only when the
// per-id table slot can hold the chain (else Linux falls back to direct).
@inline
function useIndirectFor(p: usize, total: u32, indirect: bool, indirCap: u32): bool {
  return indirect && (load<u32>(p + REQ_FLAGS) & REQ_F_INDIRECT) != 0 && total > 1 && total <= indirCap;
}

// Linux's desc_extra shadow of descriptor `at`: {addr}, then {len, flags,
// next} in one store, the free-list link read first and stored back
// unchanged. Returns that link: the next free id.
@inline
function shadow(extra: usize, at: u32, addr: u64, len: u32, flags: u32): u32 {
  const x = extra + <usize>at * EXTRA_SIZE;
  const next = <u32>load<u16>(x + EXTRA_NEXT);
  store<u64>(x + EXTRA_ADDR, addr);
  store<u64>(x + EXTRA_LEN, packShadow(len, flags & (PDESC_F_NEXT | PDESC_F_WRITE), next));
  return next;
}

// Pass 2 of packed_drv_add: writes the first m requests, which were checked
// and fit. Updates next_avail, the avail wrap counter and the free head, and
// publishes the batch; returns the ring descriptors taken.
function packedWrite(drv: usize, req: usize, m: u32, indirect: bool, indirCap: u32): u32 {
  const num = load<u32>(drv + PDRV_NUM);
  const ring = <usize>load<u32>(drv + PDRV_DESC);
  const extra = <usize>load<u32>(drv + PDRV_EXTRA);
  const state = <usize>load<u32>(drv + PDRV_STATE);
  const start = load<u32>(drv + PDRV_NEXT_AVAIL);
  let freeHead = load<u32>(drv + PDRV_FREE_HEAD);
  let i = start;
  let wrap = load<u32>(drv + PDRV_AVAIL_WRAP);
  let firstFlags: u32 = 0;
  let descs: u32 = 0;
  let p = req;
  for (let c: u32 = 0; c < m; c++) {
    const outN = load<u32>(p + REQ_OUT);
    const total = outN + load<u32>(p + REQ_IN);
    const sg = p + REQ_HDR_SIZE;
    const id = freeHead;
    const head = ring + <usize>i * PDESC_SIZE;
    let headFlags: u32;
    let last = id;
    let need: u32;
    if (useIndirectFor(p, total, indirect, indirCap)) {
      // The table: WRITE is its only flag (§2.8.7); ids are reserved, left 0.
      const poolOff = <usize>id * <usize>indirCap * PDESC_SIZE;
      const table = <usize>load<u32>(drv + PDRV_INDIR_POOL) + poolOff;
      const sgEnd = sg + <usize>total * SG_SIZE;
      const sgIn = sg + <usize>outN * SG_SIZE;
      for (let e = sg, d = table; e < sgEnd; e += SG_SIZE, d += PDESC_SIZE) {
        store<u64>(d + PDESC_ADDR, load<u64>(e + SG_ADDR));
        store<u64>(d + PDESC_LEN, packDesc(load<u32>(e + SG_LEN), 0, e < sgIn ? 0 : PDESC_F_WRITE));
      }
      // A coherent pool: the table's DMA address is the pool's plus its offset.
      const tableAddr = load<u64>(drv + PDRV_INDIR_DMA) + <u64>poolOff;
      const tableLen = total * PDESC_SIZE;
      headFlags = PDESC_F_INDIRECT | availBits(wrap);
      store<u64>(head + PDESC_ADDR, tableAddr);
      if (c == 0) {
        store<u32>(head + PDESC_LEN, tableLen);
        store<u16>(head + PDESC_ID, <u16>id);
      } else {
        // A later head carries its flags at once (see the direct case below).
        store<u64>(head + PDESC_LEN, packDesc(tableLen, id, headFlags));
      }
      const x = extra + <usize>id * EXTRA_SIZE;
      // The free-list link is read before the shadow is written and stored
      // back unchanged with {len, flags}: one 64-bit store (see packShadow).
      freeHead = load<u16>(x + EXTRA_NEXT);
      store<u64>(x + EXTRA_ADDR, tableAddr);
      store<u64>(x + EXTRA_LEN, packShadow(tableLen, PDESC_F_INDIRECT, freeHead));
      i++;
      if (i >= num) {
        i = 0;
        wrap ^= 1;
      }
      need = 1;
    } else {
      // Every descriptor carries the id (Linux does; the device reads it from
      // the last one). The wrap counter flips whenever the index passes the
      // ring end, inside the chain too: a chain as long as the ring still
      // flips it. The head is written outside the loop (it alone may be the
      // batch's first head), so a one-descriptor chain runs no loop at all.
      const wflags: u32 = outN == 0 ? PDESC_F_WRITE : 0;
      headFlags = availBits(wrap) | wflags | (total > 1 ? PDESC_F_NEXT : 0);
      const addr0 = load<u64>(sg + SG_ADDR);
      const len0 = load<u32>(sg + SG_LEN);
      store<u64>(head + PDESC_ADDR, addr0);
      if (c == 0) {
        // The batch's first head: its flags are published last (below).
        store<u32>(head + PDESC_LEN, len0);
        store<u16>(head + PDESC_ID, <u16>id);
      } else {
        // {len u32, id u16, flags u16} are contiguous: one little-endian
        // store. A later head may carry its flags at once: the device reads
        // on from a head only after it saw the batch's first head available
        // (§2.8.6, is_desc_avail() in QEMU's virtqueue_packed_pop), and that
        // head's flags are stored last with release ordering.
        store<u64>(head + PDESC_LEN, packDesc(len0, id, headFlags));
      }
      let curr = shadow(extra, id, addr0, len0, headFlags);
      i++;
      if (i >= num) {
        i = 0;
        wrap ^= 1;
      }
      if (total > 1) {
        // The rest of the chain, with pointers rather than indices (fewer
        // live values, so the loop's state stays in registers): WRITE from
        // the first device-writable buffer on, NEXT on all but the last, which
        // is written after the loop (so the loop need not track it).
        const sgLast = sg + <usize>(total - 1) * SG_SIZE;
        const sgIn = sg + <usize>outN * SG_SIZE;
        const idBits = <u64>id << 32;
        let pat = availBits(wrap);
        for (let e = sg + SG_SIZE; e < sgLast; e += SG_SIZE) {
          const addr = load<u64>(e + SG_ADDR);
          const len = load<u32>(e + SG_LEN);
          const flags: u32 = pat | PDESC_F_NEXT | (e < sgIn ? 0 : PDESC_F_WRITE);
          const d = ring + <usize>i * PDESC_SIZE;
          store<u64>(d + PDESC_ADDR, addr);
          store<u64>(d + PDESC_LEN, <u64>len | idBits | (<u64>flags << 48));
          curr = shadow(extra, curr, addr, len, flags);
          i++;
          if (i >= num) {
            i = 0;
            pat ^= PDESC_F_AVAIL | PDESC_F_USED;
          }
        }
        const addr = load<u64>(sgLast + SG_ADDR);
        const len = load<u32>(sgLast + SG_LEN);
        const flags: u32 = pat | (sgLast < sgIn ? 0 : PDESC_F_WRITE);
        const d = ring + <usize>i * PDESC_SIZE;
        store<u64>(d + PDESC_ADDR, addr);
        store<u64>(d + PDESC_LEN, <u64>len | idBits | (<u64>flags << 48));
        last = curr;
        curr = shadow(extra, curr, addr, len, flags);
        i++;
        if (i >= num) {
          i = 0;
          pat ^= PDESC_F_AVAIL | PDESC_F_USED;
        }
        wrap = pat == PDESC_F_AVAIL ? 1 : 0;
      }
      freeHead = curr;
      need = total;
    }
    // desc_state[id] = {token u32, num u16, last u16}: one 64-bit store.
    const st = state + <usize>id * PSTATE_SIZE;
    store<u64>(st + PSTATE_TOKEN, <u64>load<u32>(p + REQ_TOKEN) | (<u64>need << 32) | (<u64>last << 48));
    // The chain's writable bytes (the used-len check's buflen), from the request.
    let writeBytes: u32 = 0;
    const sgEnd = sg + <usize>total * SG_SIZE;
    for (let e = sg + <usize>outN * SG_SIZE; e < sgEnd; e += SG_SIZE) writeBytes += load<u32>(e + SG_LEN);
    store<u32>(st + PSTATE_WLEN, writeBytes);
    if (c == 0) firstFlags = headFlags;
    descs += need;
    p = sg + <usize>total * SG_SIZE;
  }
  // virtio_wmb() then the first head's flags.
  storeRelease16(ring + <usize>start * PDESC_SIZE + PDESC_FLAGS, firstFlags, load<u32>(drv + PDRV_FEATURES));
  store<u32>(drv + PDRV_NEXT_AVAIL, i);
  store<u32>(drv + PDRV_AVAIL_WRAP, wrap);
  store<u32>(drv + PDRV_FREE_HEAD, freeHead);
  return descs;
}

// virtqueue_kick_prepare_packed(): 1 when the device asked to be notified of
// the descriptors made available since the last call.
export function packed_drv_kick_prepare(drv: usize): i32 {
  // virtio_mb() between packed_drv_add's flag store and the loads below.
  mbAfterPublish(drv + PDRV_FEATURES);
  const num = load<u32>(drv + PDRV_NUM);
  const newIdx = load<u32>(drv + PDRV_NEXT_AVAIL);
  const oldIdx = newIdx - load<u32>(drv + PDRV_NUM_ADDED);
  store<u32>(drv + PDRV_NUM_ADDED, 0);
  const area = <usize>load<u32>(drv + PDRV_DEVICE_AREA);
  // One 32-bit snapshot of {off_wrap, flags}, as Linux reads it.
  const snap = atomic.load<u32>(area + PEVENT_OFF_WRAP);
  const flags = snap >>> 16;
  let kick: bool;
  if (flags != PEVENT_FLAG_DESC) {
    kick = flags != PEVENT_FLAG_DISABLE;
  } else {
    const offWrap = snap & 0xffff;
    let event = offWrap & PEVENT_OFF_MASK;
    // An event in the previous lap sits num descriptors behind this one.
    if (offWrap >>> PEVENT_WRAP_SHIFT != load<u32>(drv + PDRV_AVAIL_WRAP)) event -= num;
    kick = needEvent(event, newIdx, oldIdx);
  }
  const stats = <usize>load<u32>(drv + PDRV_STATS);
  bump(stats, kick ? ST_KICKS : ST_KICKS_SUPPRESSED, 1);
  return kick ? 1 : 0;
}

// virtqueue_get_buf_ctx_packed() for up to max used buffers, written to `out`
// as {token, len}. Returns the count, 0 on a broken queue, or -code when the
// device broke the protocol (the queue is then broken; PDRV_BATCH_DONE
// entries before it were delivered).
//
// The loop carries only the output pointer, descriptor pointer, wrap
// pattern, free head, free count and byte count; error details go to the
// state block where they are found, so they take no registers (with more
// live values the register allocator spilled loop-carried ones to the
// stack). The descriptor pointer is carried instead of the ring index (no
// shift and add per entry), and 16- and 32-bit fields are loaded and stored
// one by one (a combined 64-bit access costs the shifts and ors that split or
// build it).
//
// There is no twin of the split ring's USED_IDX_JUMP to check: a used
// descriptor moves last_used by the descriptor count of the outstanding id it
// names, and every id counts once (its desc_state is cleared), so a reap
// frees at most the descriptors outstanding and last_used never passes
// next_avail. A surplus used descriptor names an id that is not outstanding
// (USED_ID_NOT_A_HEAD) or sits in a slot with the wrong wrap bits
// (USED_WRAP_MISMATCH).
//
// With QF_NAIVE none of the checks runs (see split_drv_get_used): an id past
// the ring is reduced mod num (desc_state wraps), an id not outstanding is
// detached as it stands (its stale count, 0 for one never used, moves
// last_used by that much), a slot in the wrong lap is taken as "not used".
export function packed_drv_get_used(drv: usize, out: usize, max: u32): i32 {
  store<u32>(drv + PDRV_BATCH_DONE, 0);
  if (load<u32>(drv + PDRV_BROKEN) != 0) return 0;
  const num = load<u32>(drv + PDRV_NUM);
  const features = load<u32>(drv + PDRV_FEATURES);
  const naive = (features & QF_NAIVE) != 0;
  const lenCheck = !naive && (features & QF_USED_LEN_RING) != 0;
  const nospec = (features & QF_NOSPEC) != 0;
  const ring = <usize>load<u32>(drv + PDRV_DESC);
  const ringEnd = ring + <usize>num * PDESC_SIZE;
  const extra = <usize>load<u32>(drv + PDRV_EXTRA);
  const state = <usize>load<u32>(drv + PDRV_STATE);
  const lastUsedIdx = load<u32>(drv + PDRV_LAST_USED);
  const pos0 = lastUsedIdx & PEVENT_OFF_MASK;
  let d = ring + <usize>pos0 * PDESC_SIZE;
  // is_used_desc_packed(): AVAIL and USED both equal the used wrap counter.
  // The pattern of both bits is carried instead of the counter.
  const usedPat0: u32 = lastUsedIdx >>> PEVENT_WRAP_SHIFT != 0 ? WRAP_BITS : 0;
  let usedPat = usedPat0;
  let freeHead = load<u32>(drv + PDRV_FREE_HEAD);
  // Not carried: the descriptors freed so far are those last_used moved
  // over (see freedSince), which the loop carries anyway.
  const numFree0 = load<u32>(drv + PDRV_NUM_FREE);
  let o = out;
  const end = out + <usize>max * REAP_SIZE;
  let bytes: u64 = 0;
  let err: i32 = 0;
  while (o < end) {
    // virtio_rmb() after the flags: an acquire load.
    const flags = <u32>atomic.load<u16>(d + PDESC_FLAGS);
    if ((flags & WRAP_BITS) != usedPat) {
      // Not used. While buffers are outstanding the slot holds what the driver
      // wrote in this lap (AVAIL = wrap, USED = !wrap) until the device marks
      // it used; any other pattern is a used descriptor from the wrong lap.
      const pos = <u32>((d - ring) / PDESC_SIZE);
      const numFree = numFree0 + freedSince(pos0, usedPat0, pos, usedPat, num);
      if (!naive && numFree < num && (flags & WRAP_BITS) != (usedPat ^ PDESC_F_USED)) {
        err = E_USED_WRAP;
        errDetail(drv, pos, flags);
      }
      break;
    }
    // {len, id} after the acquire load of the flags.
    let id = <u32>load<u16>(d + PDESC_ID);
    const len = load<u32>(d + PDESC_LEN);
    if (id >= num) {
      if (!naive) {
        err = E_USED_ID_RANGE;
        errDetail(drv, id, 0);
        break;
      }
      id %= num;
    }
    if (nospec) id &= nospecMask(id, num);
    // desc_state[id] = {token u32, num u16, last u16, buflen u32}.
    const st = state + <usize>id * PSTATE_SIZE;
    const n = <u32>load<u16>(st + PSTATE_NUM);
    if (n == 0 && !naive) {
      err = E_USED_ID_NOT_HEAD;
      errDetail(drv, id, 0);
      break;
    }
    // Linux 939779f5152d: "used len %d is larger than in buflen %u".
    if (lenCheck && len > load<u32>(st + PSTATE_WLEN)) {
      err = E_USED_LEN;
      errDetail(drv, len, load<u32>(st + PSTATE_WLEN));
      break;
    }
    store<u32>(o + REAP_TOKEN, load<u32>(st + PSTATE_TOKEN));
    store<u32>(o + REAP_LEN, len);
    o += REAP_SIZE;
    bytes += len;
    // Most buffers take one descriptor. A branch the CPU predicts lets it run
    // ahead to the next used descriptor instead of waiting for the load of n
    // (with `d += n` alone, every iteration waits on the one before).
    if (n == 1) {
      d += PDESC_SIZE;
      if (d == ringEnd) {
        d = ring;
        usedPat ^= WRAP_BITS;
      }
    } else {
      d += <usize>n * PDESC_SIZE;
      if (d >= ringEnd) {
        d -= <usize>num * PDESC_SIZE;
        usedPat ^= WRAP_BITS;
      }
    }
    // detach_buf_packed(): the chain's ids go back on the free list, from the
    // private desc_state only. Stored last in the iteration, so the next
    // entry's loads need not wait on them.
    store<u16>(st + PSTATE_NUM, 0);
    store<u16>(extra + <usize>load<u16>(st + PSTATE_LAST) * EXTRA_SIZE + EXTRA_NEXT, <u16>freeHead);
    freeHead = id;
  }
  // From ringEnd: V8 computes a value where its uses meet, and does not
  // hoist it out of a loop that can be left before the use (here, by a
  // break); with its only use in the loop, ringEnd was computed in every
  // iteration.
  const pos = num - <u32>((ringEnd - d) / PDESC_SIZE);
  const count = <u32>((o - out) / REAP_SIZE);
  if (count > 0) {
    const lastUsed = pos | ((usedPat >>> PDESC_F_USED_SHIFT) << PEVENT_WRAP_SHIFT);
    store<u32>(drv + PDRV_LAST_USED, lastUsed);
    store<u32>(drv + PDRV_FREE_HEAD, freeHead);
    store<u32>(drv + PDRV_NUM_FREE, numFree0 + freedSince(pos0, usedPat0, pos, usedPat, num));
    // With event idx, ask for the interrupt at the next used descriptor
    // (after every get_buf in Linux; once per batch here).
    if (load<u32>(drv + PDRV_EVENT_FLAGS_SHADOW) == PEVENT_FLAG_DESC) {
      const area = <usize>load<u32>(drv + PDRV_DRIVER_AREA);
      atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>lastUsed);
    }
    const stats = <usize>load<u32>(drv + PDRV_STATS);
    bump(stats, ST_CHAINS_COMPLETED, count);
    bump(stats, ST_BYTES_COMPLETED, bytes);
  }
  store<u32>(drv + PDRV_BATCH_DONE, count);
  if (err != 0) {
    // fail(..., breaks = true), with ERR_A and ERR_B already written.
    store<u32>(drv + PDRV_ERR_CODE, err);
    store<u32>(drv + PDRV_BROKEN, 1);
    bump(<usize>load<u32>(drv + PDRV_STATS), ST_DRIVER_CHECKS_FAILED, 1);
    return -err;
  }
  return <i32>count;
}

// The descriptors a reap freed: those last_used moved over, from (pos0, lap
// pattern usedPat0) to (pos, usedPat). Every reaped buffer's descriptors
// were outstanding, and no more than num are, so last_used moves at most
// one lap: a changed pattern means it passed the end of the ring once.
@inline
function freedSince(pos0: u32, usedPat0: u32, pos: u32, usedPat: u32, num: u32): u32 {
  return pos - pos0 + (usedPat != usedPat0 ? num : 0);
}

// The details of a protocol error, written where it is found.
@inline
function errDetail(drv: usize, a: u32, b: u32): void {
  store<u32>(drv + PDRV_ERR_A, a);
  store<u32>(drv + PDRV_ERR_B, b);
}

// virtqueue_disable_cb_packed().
export function packed_drv_disable_cb(drv: usize): void {
  if (load<u32>(drv + PDRV_EVENT_FLAGS_SHADOW) == PEVENT_FLAG_DISABLE) return;
  store<u32>(drv + PDRV_EVENT_FLAGS_SHADOW, PEVENT_FLAG_DISABLE);
  const area = <usize>load<u32>(drv + PDRV_DRIVER_AREA);
  atomic.store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_DISABLE);
}

// virtqueue_enable_cb_prepare_packed() + virtqueue_poll_packed(): re-enables
// interrupts and returns 1 when nothing is pending, 0 when used descriptors
// arrived meanwhile (the caller must reap them).
export function packed_drv_enable_cb(drv: usize): i32 {
  const area = <usize>load<u32>(drv + PDRV_DRIVER_AREA);
  const lastUsed = load<u32>(drv + PDRV_LAST_USED);
  const event = (load<u32>(drv + PDRV_FEATURES) & QF_EVENT_IDX) != 0;
  if (event) atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>lastUsed);
  if (load<u32>(drv + PDRV_EVENT_FLAGS_SHADOW) == PEVENT_FLAG_DISABLE) {
    const shadow: u32 = event ? PEVENT_FLAG_DESC : PEVENT_FLAG_ENABLE;
    store<u32>(drv + PDRV_EVENT_FLAGS_SHADOW, shadow);
    atomic.store<u16>(area + PEVENT_FLAGS, <u16>shadow);
  }
  // VIRTIO_F_IN_ORDER: buffers of a batch whose used descriptor was already
  // read are waiting (Linux's more_used_packed_in_order()).
  if ((load<u32>(drv + PDRV_FEATURES) & QF_IN_ORDER) != 0) {
    if (load<u32>(drv + PDRV_BATCH_LAST_ID) != load<u32>(drv + PDRV_NUM)) return 0;
  }
  // virtio_mb(), then is_used_desc_packed() at last_used.
  const ring = <usize>load<u32>(drv + PDRV_DESC);
  const wrap = lastUsed >>> PEVENT_WRAP_SHIFT;
  const flags = <u32>atomic.load<u16>(ring + <usize>(lastUsed & PEVENT_OFF_MASK) * PDESC_SIZE + PDESC_FLAGS);
  const a = (flags >>> PDESC_F_AVAIL_SHIFT) & 1;
  const u = (flags >>> PDESC_F_USED_SHIFT) & 1;
  return a == u && u == wrap ? 0 : 1;
}

// ---- VIRTIO_F_IN_ORDER (VIRTIO 1.2 §2.8.9 "In-order use of descriptors";
// Linux virtqueue_add_packed_in_order / virtqueue_get_buf_ctx_packed_in_order).
// The device uses buffers in the order they were made available and may
// write one used descriptor for a whole batch: the last buffer's id, at the
// batch's first descriptor. Here a buffer's id is the ring index of its first
// descriptor, as in Linux: packed_drv_add hands out ids from the free list,
// whose links stay in their initial order i -> i + 1 (mod num) because the
// in-order reap never relinks them, so the id it takes is always next_avail.
// The driver then finds the next outstanding buffer at last_used itself. ----

// packed_drv_add, then total_len[id] of each chain added (Linux stores it in
// desc_state at add time): what a skipped buffer completes with. The chains
// were checked by packed_drv_add; this walk reads the caller's requests again.
export function packed_drv_add_in_order(drv: usize, req: usize, n: u32): i32 {
  let id = load<u32>(drv + PDRV_NEXT_AVAIL);
  const rc = packed_drv_add(drv, req, n);
  const done = load<u32>(drv + PDRV_BATCH_DONE);
  const num = load<u32>(drv + PDRV_NUM);
  const indirect = (load<u32>(drv + PDRV_FEATURES) & QF_INDIRECT) != 0;
  const indirCap = load<u32>(drv + PDRV_INDIR_CAP);
  const totals = <usize>load<u32>(drv + PDRV_TOTAL_LEN);
  let p = req;
  for (let c: u32 = 0; c < done; c++) {
    const total = load<u32>(p + REQ_OUT) + load<u32>(p + REQ_IN);
    const sg = p + REQ_HDR_SIZE;
    const sgEnd = sg + <usize>total * SG_SIZE;
    let bytes: u32 = 0;
    for (let e = sg; e < sgEnd; e += SG_SIZE) bytes += load<u32>(e + SG_LEN);
    store<u32>(totals + <usize>id * 4, bytes);
    id += useIndirectFor(p, total, indirect, indirCap) ? 1 : total;
    if (id >= num) id -= num;
    p = sgEnd;
  }
  return rc;
}

// virtqueue_get_buf_ctx_packed_in_order() for up to max buffers. When no
// batch is pending, the used descriptor at last_used names the batch's last
// buffer X (checked: in range, outstanding); then every outstanding buffer
// from last_used up to and including X completes in order, X with the used
// len, the others with their total_len (§2.8.9: "assumed to have been used
// (read or written) by the device completely"). A batch may be reaped over
// several calls (PDRV_BATCH_LAST_*). Returns as packed_drv_get_used does.
export function packed_drv_get_used_in_order(drv: usize, out: usize, max: u32): i32 {
  store<u32>(drv + PDRV_BATCH_DONE, 0);
  if (load<u32>(drv + PDRV_BROKEN) != 0) return 0;
  const num = load<u32>(drv + PDRV_NUM);
  const ring = <usize>load<u32>(drv + PDRV_DESC);
  const state = <usize>load<u32>(drv + PDRV_STATE);
  const totals = <usize>load<u32>(drv + PDRV_TOTAL_LEN);
  const features = load<u32>(drv + PDRV_FEATURES);
  const naive = (features & QF_NAIVE) != 0;
  const lenCheck = !naive && (features & QF_USED_LEN_RING) != 0;
  const nospec = (features & QF_NOSPEC) != 0;
  const lastUsedIdx = load<u32>(drv + PDRV_LAST_USED);
  let pos = lastUsedIdx & PEVENT_OFF_MASK;
  let usedPat: u32 = lastUsedIdx >>> PEVENT_WRAP_SHIFT != 0 ? WRAP_BITS : 0;
  let batchId = load<u32>(drv + PDRV_BATCH_LAST_ID);
  let batchLen = load<u32>(drv + PDRV_BATCH_LAST_LEN);
  let numFree = load<u32>(drv + PDRV_NUM_FREE);
  let o = out;
  const end = out + <usize>max * REAP_SIZE;
  let bytes: u64 = 0;
  let err: i32 = 0;
  while (o < end) {
    if (batchId == num) {
      const d = ring + <usize>pos * PDESC_SIZE;
      const flags = <u32>atomic.load<u16>(d + PDESC_FLAGS);
      if ((flags & WRAP_BITS) != usedPat) {
        if (!naive && numFree < num && (flags & WRAP_BITS) != (usedPat ^ PDESC_F_USED)) {
          err = E_USED_WRAP;
          errDetail(drv, pos, flags);
        }
        break;
      }
      const lenId = load<u64>(d + PDESC_LEN);
      let id = <u32>(lenId >> 32) & 0xffff;
      if (id >= num) {
        if (!naive) {
          err = E_USED_ID_RANGE;
          errDetail(drv, id, 0);
          break;
        }
        id %= num;
      }
      if (nospec) id &= nospecMask(id, num);
      // Outstanding ids lie from last_used on, in the order they were made
      // available, so an outstanding X completes only buffers ahead of it.
      if (!naive && load<u16>(state + <usize>id * PSTATE_SIZE + PSTATE_NUM) == 0) {
        err = E_USED_ID_NOT_HEAD;
        errDetail(drv, id, 0);
        break;
      }
      if (lenCheck && <u32>lenId > load<u32>(state + <usize>id * PSTATE_SIZE + PSTATE_WLEN)) {
        err = E_USED_LEN;
        errDetail(drv, <u32>lenId, load<u32>(state + <usize>id * PSTATE_SIZE + PSTATE_WLEN));
        break;
      }
      batchId = id;
      batchLen = <u32>lenId;
    }
    // The next buffer in order: its id is pos.
    const st = state + <usize>pos * PSTATE_SIZE;
    const s = load<u64>(st + PSTATE_TOKEN);
    const n = <u32>(s >> 32) & 0xffff;
    if (n == 0) {
      // Unreachable while the ids are ring indices (see above); kept so a
      // broken invariant stops the walk instead of completing garbage.
      err = E_USED_ID_NOT_HEAD;
      errDetail(drv, pos, batchId);
      break;
    }
    const len = pos == batchId ? batchLen : load<u32>(totals + <usize>pos * 4);
    store<u64>(o + REAP_TOKEN, (s & 0xffffffff) | (<u64>len << 32));
    o += REAP_SIZE;
    bytes += len;
    numFree += n;
    store<u16>(st + PSTATE_NUM, 0);
    if (pos == batchId) batchId = num;
    pos += n;
    if (pos >= num) {
      pos -= num;
      usedPat ^= WRAP_BITS;
    }
  }
  store<u32>(drv + PDRV_BATCH_LAST_ID, batchId);
  store<u32>(drv + PDRV_BATCH_LAST_LEN, batchLen);
  const count = <u32>((o - out) / REAP_SIZE);
  if (count > 0) {
    const lastUsed = pos | ((usedPat >>> PDESC_F_USED_SHIFT) << PEVENT_WRAP_SHIFT);
    store<u32>(drv + PDRV_LAST_USED, lastUsed);
    store<u32>(drv + PDRV_NUM_FREE, numFree);
    if (load<u32>(drv + PDRV_EVENT_FLAGS_SHADOW) == PEVENT_FLAG_DESC) {
      const area = <usize>load<u32>(drv + PDRV_DRIVER_AREA);
      atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>lastUsed);
    }
    const stats = <usize>load<u32>(drv + PDRV_STATS);
    bump(stats, ST_CHAINS_COMPLETED, count);
    bump(stats, ST_BYTES_COMPLETED, bytes);
  }
  store<u32>(drv + PDRV_BATCH_DONE, count);
  if (err != 0) {
    store<u32>(drv + PDRV_ERR_CODE, err);
    store<u32>(drv + PDRV_BROKEN, 1);
    bump(<usize>load<u32>(drv + PDRV_STATS), ST_DRIVER_CHECKS_FAILED, 1);
    return -err;
  }
  return <i32>count;
}

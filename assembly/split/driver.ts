// Driver side of the split virtqueue (VIRTIO 1.2 §2.7), following Linux
// drivers/virtio/virtio_ring.c. All bookkeeping (free list, desc_extra,
// desc_state) lives in the driver-private block at `drv`; nothing that decides
// what to free or unmap is ever read back from the shared ring.
import {
  DRV_AVAIL,
  DRV_AVAIL_FLAGS_SHADOW,
  DRV_AVAIL_IDX_SHADOW,
  DRV_BATCH_DONE,
  DRV_BROKEN,
  DRV_DESC,
  DRV_ERR_A,
  DRV_ERR_B,
  DRV_ERR_CODE,
  DRV_EXTRA,
  DRV_FEATURES,
  DRV_FREE_HEAD,
  DRV_DMA_BASE,
  DRV_DMA_SIZE,
  DRV_INDIR_CAP,
  DRV_INDIR_DMA,
  DRV_INDIR_POOL,
  DRV_LAST_USED,
  DRV_NUM,
  DRV_KICK_OWED,
  DRV_NUM_ADDED,
  DRV_NUM_FREE,
  DRV_STATE,
  DRV_STATS,
  DRV_USED,
  E_BROKEN,
  E_REQ_ADDR,
  E_REQ_EMPTY,
  E_REQ_TOO_LONG,
  E_REQ_ZERO_LEN,
  E_USED_ID_NOT_HEAD,
  E_USED_ID_RANGE,
  E_USED_IDX_JUMP,
  E_USED_LEN,
  EXTRA_ADDR,
  EXTRA_FLAGS,
  EXTRA_LEN,
  EXTRA_NEXT,
  EXTRA_SIZE,
  QF_EVENT_IDX,
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
  STATE_DIRECT,
  STATE_HEAD,
  STATE_SIZE,
  STATE_TOKEN,
  STATE_WLEN,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_AVAIL_FLAGS,
  VRING_AVAIL_IDX,
  VRING_AVAIL_RING,
  VRING_DESC_ADDR,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_DESC_FLAGS,
  VRING_DESC_LEN,
  VRING_DESC_NEXT,
  VRING_DESC_SIZE,
  VRING_USED_ELEM_SIZE,
  VRING_USED_F_NO_NOTIFY,
  VRING_USED_FLAGS,
  VRING_USED_IDX,
  VRING_USED_RING,
} from "../layout";
import { bump, inWindow, mbAfterPublish, needEvent, storeRelease16 } from "../ring";
import { nospecMask } from "./nospec";

// Linux's vring_alloc_desc_extra(): every descriptor on one free list, in order.
export function split_drv_init(drv: usize): void {
  const num = load<u32>(drv + DRV_NUM);
  const extra = <usize>load<u32>(drv + DRV_EXTRA);
  for (let i: u32 = 0; i < num; i++) {
    store<u16>(extra + <usize>i * EXTRA_SIZE + EXTRA_NEXT, <u16>((i + 1) % num));
  }
  store<u32>(drv + DRV_FREE_HEAD, 0);
  store<u32>(drv + DRV_NUM_FREE, num);
}

function fail(drv: usize, code: i32, a: u32, b: u32, breaks: bool): i32 {
  store<u32>(drv + DRV_ERR_CODE, code);
  store<u32>(drv + DRV_ERR_A, a);
  store<u32>(drv + DRV_ERR_B, b);
  if (breaks) {
    // BAD_RING(): the device broke the protocol, trust nothing more from it.
    store<u32>(drv + DRV_BROKEN, 1);
    bump(<usize>load<u32>(drv + DRV_STATS), ST_DRIVER_CHECKS_FAILED, 1);
  }
  return -code;
}

// virtqueue_add_split() for the leading run of one-buffer requests
// (virtqueue_add_outbuf/inbuf with one sg: every virtio-net buffer): the
// stores of the general loop in split_drv_add for a chain of one, in a loop
// of its own with few live values, which V8 keeps in registers (binaryen may
// inline the function; the loop stays apart).
// Stops before a request of more buffers, one that fails a check (the
// general loop then reports it), or when no descriptor is free. Saves the
// free list and the avail shadow, adds the bytes to the stats, and returns
// the requests added; split_drv_add publishes avail->idx for the batch.
function addOneBuffers(drv: usize, req: usize, n: u32, dmaBase: u64, dmaSize: u64): u32 {
  const numFree = load<u32>(drv + DRV_NUM_FREE);
  const end = n < numFree ? n : numFree;
  const mask = load<u32>(drv + DRV_NUM) - 1;
  const desc = <usize>load<u32>(drv + DRV_DESC);
  const ring = <usize>load<u32>(drv + DRV_AVAIL) + VRING_AVAIL_RING;
  const extra = <usize>load<u32>(drv + DRV_EXTRA);
  const state = <usize>load<u32>(drv + DRV_STATE);
  let freeHead = load<u32>(drv + DRV_FREE_HEAD);
  let availIdx = load<u32>(drv + DRV_AVAIL_IDX_SHADOW);
  let bytes: u64 = 0;
  let k: u32 = 0;
  for (let p = req; k < end; k++, p += REQ_HDR_SIZE + SG_SIZE) {
    const outN = load<u32>(p + REQ_OUT);
    if (outN + load<u32>(p + REQ_IN) != 1) break;
    const addr = load<u64>(p + REQ_HDR_SIZE + SG_ADDR);
    const len = load<u32>(p + REQ_HDR_SIZE + SG_LEN);
    if (len == 0 || !inWindow(addr, len, dmaBase, dmaSize)) break;
    const head = freeHead;
    const flags: u32 = outN != 0 ? 0 : VRING_DESC_F_WRITE;
    const x = extra + <usize>head * EXTRA_SIZE;
    freeHead = load<u16>(x + EXTRA_NEXT);
    const d = desc + <usize>head * VRING_DESC_SIZE;
    store<u64>(d + VRING_DESC_ADDR, addr);
    store<u32>(d + VRING_DESC_LEN, len);
    store<u16>(d + VRING_DESC_FLAGS, <u16>flags);
    store<u16>(d + VRING_DESC_NEXT, <u16>freeHead);
    store<u64>(x + EXTRA_ADDR, addr);
    store<u32>(x + EXTRA_LEN, len);
    store<u16>(x + EXTRA_FLAGS, <u16>flags);
    const st = state + <usize>head * STATE_SIZE;
    store<u32>(st + STATE_HEAD, STATE_DIRECT);
    store<u32>(st + STATE_TOKEN, load<u32>(p + REQ_TOKEN));
    store<u32>(st + STATE_WLEN, outN != 0 ? 0 : len);
    store<u16>(ring + <usize>(availIdx & mask) * 2, <u16>head);
    availIdx = (availIdx + 1) & 0xffff;
    bytes += len;
  }
  if (k > 0) {
    store<u32>(drv + DRV_FREE_HEAD, freeHead);
    store<u32>(drv + DRV_NUM_FREE, numFree - k);
    store<u32>(drv + DRV_AVAIL_IDX_SHADOW, availIdx);
    bump(<usize>load<u32>(drv + DRV_STATS), ST_BYTES_ADDED, bytes);
  }
  return k;
}

// virtqueue_add_split() for up to n requests laid out back to back at `req`
// (REQ header, then out + in SG entries). Returns the number of chains added:
// fewer than n when descriptors ran out (Linux's -ENOSPC), or -code when a
// request is malformed (the chains before it stay added; DRV_BATCH_DONE says
// how many). avail->idx is published once, after the whole batch.
export function split_drv_add(drv: usize, req: usize, n: u32): i32 {
  store<u32>(drv + DRV_BATCH_DONE, 0);
  if (load<u32>(drv + DRV_BROKEN) != 0) return fail(drv, E_BROKEN, 0, 0, false);
  const num = load<u32>(drv + DRV_NUM);
  const mask = num - 1;
  const desc = <usize>load<u32>(drv + DRV_DESC);
  const avail = <usize>load<u32>(drv + DRV_AVAIL);
  const extra = <usize>load<u32>(drv + DRV_EXTRA);
  const state = <usize>load<u32>(drv + DRV_STATE);
  const indirect = (load<u32>(drv + DRV_FEATURES) & QF_INDIRECT) != 0;
  const indirPool = <usize>load<u32>(drv + DRV_INDIR_POOL);
  const indirCap = load<u32>(drv + DRV_INDIR_CAP);
  const dmaBase = load<u64>(drv + DRV_DMA_BASE);
  const dmaSize = load<u64>(drv + DRV_DMA_SIZE);
  // The leading one-buffer requests first, in their own loop (see addOneBuffers).
  const ones = addOneBuffers(drv, req, n, dmaBase, dmaSize);
  let freeHead = load<u32>(drv + DRV_FREE_HEAD);
  let numFree = load<u32>(drv + DRV_NUM_FREE);
  let availIdx = load<u32>(drv + DRV_AVAIL_IDX_SHADOW);
  let added: u32 = ones;
  let descs: u64 = ones;
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
    // VIRTIO 1.2 §2.7.5.3.1: no chain longer than the queue, indirect or not.
    if (total > num) {
      err = E_REQ_TOO_LONG;
      errA = total;
      break;
    }
    let chainBytes: u64 = 0;
    // The chain's writable bytes, for the used-len check (u32: Linux's buflen).
    let writeBytes: u32 = 0;
    for (let k: u32 = 0; k < total; k++) {
      const e = sg + <usize>k * SG_SIZE;
      const len = load<u32>(e + SG_LEN);
      if (len == 0) {
        err = E_REQ_ZERO_LEN;
        errA = k;
        break;
      }
      if (!inWindow(load<u64>(e + SG_ADDR), len, dmaBase, dmaSize)) {
        err = E_REQ_ADDR;
        errA = k;
        break;
      }
      chainBytes += len;
      if (k >= outN) writeBytes += len;
    }
    if (err != 0) break;
    // virtqueue_use_indirect(): only for more than one buffer, and only when the
    // per-head table slot can hold the chain (else Linux falls back to direct).
    const useIndirect =
      indirect && (load<u32>(p + REQ_FLAGS) & REQ_F_INDIRECT) != 0 && total > 1 && total <= indirCap;
    const need: u32 = useIndirect ? 1 : total;
    if (numFree < need) break;
    const head = freeHead;
    const st = state + <usize>head * STATE_SIZE;
    if (useIndirect) {
      // alloc_indirect_split(): table entries chain by position (next = i + 1).
      const table = indirPool + <usize>head * <usize>indirCap * VRING_DESC_SIZE;
      for (let k: u32 = 0; k < total; k++) {
        const e = sg + <usize>k * SG_SIZE;
        const d = table + <usize>k * VRING_DESC_SIZE;
        let flags: u32 = k < outN ? 0 : VRING_DESC_F_WRITE;
        if (k + 1 < total) flags |= VRING_DESC_F_NEXT;
        store<u64>(d + VRING_DESC_ADDR, load<u64>(e + SG_ADDR));
        store<u32>(d + VRING_DESC_LEN, load<u32>(e + SG_LEN));
        store<u16>(d + VRING_DESC_FLAGS, <u16>flags);
        store<u16>(d + VRING_DESC_NEXT, <u16>(k + 1));
      }
      const x = extra + <usize>head * EXTRA_SIZE;
      const next = load<u16>(x + EXTRA_NEXT);
      const d = desc + <usize>head * VRING_DESC_SIZE;
      // The table came from dma_alloc_coherent with the pool: its DMA address
      // is the pool's plus its offset (Linux maps each table with
      // vring_map_single(); a coherent pool needs no per-add mapping).
      const tableAddr = load<u64>(drv + DRV_INDIR_DMA) + <u64>(table - indirPool);
      const tableLen = total * VRING_DESC_SIZE;
      store<u64>(d + VRING_DESC_ADDR, tableAddr);
      store<u32>(d + VRING_DESC_LEN, tableLen);
      store<u16>(d + VRING_DESC_FLAGS, VRING_DESC_F_INDIRECT);
      store<u16>(d + VRING_DESC_NEXT, next);
      store<u64>(x + EXTRA_ADDR, tableAddr);
      store<u32>(x + EXTRA_LEN, tableLen);
      store<u16>(x + EXTRA_FLAGS, VRING_DESC_F_INDIRECT);
      freeHead = next;
      store<u32>(st + STATE_HEAD, <u32>table);
      indirects++;
    } else {
      // virtqueue_add_desc_split(): desc.next comes from the private free list.
      let i = head;
      let prev = head;
      for (let k: u32 = 0; k < total; k++) {
        const e = sg + <usize>k * SG_SIZE;
        const addr = load<u64>(e + SG_ADDR);
        const len = load<u32>(e + SG_LEN);
        const flags: u32 = (k < outN ? 0 : VRING_DESC_F_WRITE) | VRING_DESC_F_NEXT;
        const x = extra + <usize>i * EXTRA_SIZE;
        const next = load<u16>(x + EXTRA_NEXT);
        const d = desc + <usize>i * VRING_DESC_SIZE;
        store<u64>(d + VRING_DESC_ADDR, addr);
        store<u32>(d + VRING_DESC_LEN, len);
        store<u16>(d + VRING_DESC_FLAGS, <u16>flags);
        store<u16>(d + VRING_DESC_NEXT, next);
        store<u64>(x + EXTRA_ADDR, addr);
        store<u32>(x + EXTRA_LEN, len);
        store<u16>(x + EXTRA_FLAGS, <u16>flags);
        prev = i;
        i = next;
      }
      const dl = desc + <usize>prev * VRING_DESC_SIZE + VRING_DESC_FLAGS;
      store<u16>(dl, load<u16>(dl) & ~VRING_DESC_F_NEXT);
      const xl = extra + <usize>prev * EXTRA_SIZE + EXTRA_FLAGS;
      store<u16>(xl, load<u16>(xl) & ~VRING_DESC_F_NEXT);
      freeHead = i;
      store<u32>(st + STATE_HEAD, STATE_DIRECT);
    }
    store<u32>(st + STATE_TOKEN, load<u32>(p + REQ_TOKEN));
    store<u32>(st + STATE_WLEN, writeBytes);
    numFree -= need;
    store<u16>(avail + VRING_AVAIL_RING + <usize>(availIdx & mask) * 2, <u16>head);
    availIdx = (availIdx + 1) & 0xffff;
    descs += total;
    bytes += chainBytes;
    p = sg + <usize>total * SG_SIZE;
  }
  if (added > 0) {
    // virtio_wmb() then avail->idx: the device must see the ring entries first.
    storeRelease16(avail + VRING_AVAIL_IDX, availIdx, load<u32>(drv + DRV_FEATURES));
    store<u32>(drv + DRV_AVAIL_IDX_SHADOW, availIdx);
    // virtqueue_add_split(): once 65535 chains were added since the last
    // kick decision, Linux kicks at once, because kick_prepare's window
    // (new - num_added, new] is 16 bits wide and a 65536th chain would empty
    // it. The batch API decides here, for the avail index the 65535th chain
    // published, and owes the kick to the next kick_prepare.
    const before = load<u32>(drv + DRV_NUM_ADDED);
    let numAdded = before + added;
    if (numAdded >= 0xffff) {
      const at = (availIdx - (numAdded - 0xffff)) & 0xffff;
      if (kickWanted(drv, at, (at - 0xffff) & 0xffff)) store<u32>(drv + DRV_KICK_OWED, 1);
      numAdded -= 0xffff;
    }
    store<u32>(drv + DRV_NUM_ADDED, numAdded);
    store<u32>(drv + DRV_FREE_HEAD, freeHead);
    store<u32>(drv + DRV_NUM_FREE, numFree);
    const stats = <usize>load<u32>(drv + DRV_STATS);
    bump(stats, ST_CHAINS_ADDED, added);
    bump(stats, ST_DESCS_ADDED, descs);
    bump(stats, ST_BYTES_ADDED, bytes);
    bump(stats, ST_INDIRECT_ADDED, indirects);
  }
  store<u32>(drv + DRV_BATCH_DONE, added);
  if (err != 0) return fail(drv, err, added, errA, false);
  return <i32>added;
}

// Whether the device asked for a notification for the chains that moved
// avail->idx from oldIdx to newIdx (vring_need_event on avail_event, or the
// NO_NOTIFY flag without event idx).
function kickWanted(drv: usize, newIdx: u32, oldIdx: u32): bool {
  // virtio_mb() between the avail->idx store and the loads below.
  mbAfterPublish(drv + DRV_FEATURES);
  const used = <usize>load<u32>(drv + DRV_USED);
  if ((load<u32>(drv + DRV_FEATURES) & QF_EVENT_IDX) != 0) {
    const num = load<u32>(drv + DRV_NUM);
    // avail_event sits after the used ring (VIRTIO 1.2 §2.7.8).
    const availEvent = <u32>atomic.load<u16>(used + VRING_USED_RING + <usize>num * VRING_USED_ELEM_SIZE);
    return needEvent(availEvent, newIdx, oldIdx);
  }
  return (atomic.load<u16>(used + VRING_USED_FLAGS) & VRING_USED_F_NO_NOTIFY) == 0;
}

// virtqueue_kick_prepare_split(): 1 when the device wants a notification for the
// chains added since the last call (or a forced decision owed one).
export function split_drv_kick_prepare(drv: usize): i32 {
  // virtio_mb(): the avail idx store must be visible before we read what the
  // device asked for. Wasm atomics are sequentially consistent, so the atomic
  // store of avail->idx followed by atomic loads here is that full barrier.
  const newIdx = load<u32>(drv + DRV_AVAIL_IDX_SHADOW);
  const oldIdx = (newIdx - load<u32>(drv + DRV_NUM_ADDED)) & 0xffff;
  store<u32>(drv + DRV_NUM_ADDED, 0);
  const owed = load<u32>(drv + DRV_KICK_OWED) != 0;
  store<u32>(drv + DRV_KICK_OWED, 0);
  const kick = kickWanted(drv, newIdx, oldIdx) || owed;
  const stats = <usize>load<u32>(drv + DRV_STATS);
  bump(stats, kick ? ST_KICKS : ST_KICKS_SUPPRESSED, 1);
  return kick ? 1 : 0;
}

// virtqueue_get_buf_ctx_split() for up to max used entries, written to `out` as
// {token, len}. Returns the count, 0 on a broken queue, or -code when the
// device broke the protocol (the queue is then broken; DRV_BATCH_DONE entries
// before it were delivered, and the in-flight accounting counts exactly them).
//
// Hardened (the default), every value the device wrote is checked before it
// is used: used->idx against the chains in flight, each id against the queue
// size and desc_state, and with QF_USED_LEN_RING each len against the chain's
// writable bytes. With QF_NAIVE none is: the driver believes the device, as a
// driver without these checks does (see the naive branches for where the
// simulator keeps an unchecked id inside the driver's own desc_state).
export function split_drv_get_used(drv: usize, out: usize, max: u32): i32 {
  store<u32>(drv + DRV_BATCH_DONE, 0);
  if (load<u32>(drv + DRV_BROKEN) != 0) return 0;
  const num = load<u32>(drv + DRV_NUM);
  const mask = num - 1;
  const features = load<u32>(drv + DRV_FEATURES);
  const naive = (features & QF_NAIVE) != 0;
  const lenCheck = !naive && (features & QF_USED_LEN_RING) != 0;
  // All ones unless QF_NOSPEC: then ids are masked after their check.
  const nospec = (features & QF_NOSPEC) != 0;
  const used = <usize>load<u32>(drv + DRV_USED);
  const extra = <usize>load<u32>(drv + DRV_EXTRA);
  const state = <usize>load<u32>(drv + DRV_STATE);
  let lastUsed = load<u32>(drv + DRV_LAST_USED);
  // virtio_load_acquire of used->idx: entries below it are complete.
  const usedIdx = <u32>atomic.load<u16>(used + VRING_USED_IDX);
  // The device can have used at most the chains in flight: every added chain
  // moved the avail shadow by one and every reaped one last_used, so their
  // distance is that number. A used->idx further ahead makes the driver read
  // slots the device never wrote for this lap: stale elements naming heads
  // that are free, or were reused by chains the device has not popped, whose
  // buffers the driver would free while the device may still write them.
  // The reap takes the first in-flight entries (checked as usual, so the
  // completions before the lie are delivered) and stops there. Linux checks
  // nothing here; this follows QEMU's virtqueue_num_heads(), the device-side
  // twin for avail->idx.
  let end = usedIdx;
  let jump = false;
  if (!naive) {
    const inFlight = (load<u32>(drv + DRV_AVAIL_IDX_SHADOW) - lastUsed) & 0xffff;
    if (((usedIdx - lastUsed) & 0xffff) > inFlight) {
      jump = true;
      end = (lastUsed + inFlight) & 0xffff;
    }
  }
  let freeHead = load<u32>(drv + DRV_FREE_HEAD);
  let numFree = load<u32>(drv + DRV_NUM_FREE);
  let count: u32 = 0;
  let bytes: u64 = 0;
  let err: i32 = 0;
  let errA: u32 = 0;
  let errB: u32 = 0;
  while (count < max) {
    if (lastUsed == end) {
      if (jump) {
        err = E_USED_IDX_JUMP;
        errA = load<u32>(drv + DRV_LAST_USED);
        errB = usedIdx;
      }
      break;
    }
    const u = used + VRING_USED_RING + <usize>(lastUsed & mask) * VRING_USED_ELEM_SIZE;
    let id = load<u32>(u);
    const len = load<u32>(u + 4);
    if (id >= num) {
      if (!naive) {
        err = E_USED_ID_RANGE;
        errA = id;
        break;
      }
      // Naive: the kernel would index desc_state[id] past the array. The
      // array ends the driver's private block here, so the simulator wraps
      // the index instead of reading the next allocation: the read lands in
      // the driver's own desc_state, in the slot id mod num.
      id &= mask;
    }
    if (nospec) id &= nospecMask(id, num);
    const st = state + <usize>id * STATE_SIZE;
    if (!naive && load<u32>(st + STATE_HEAD) == 0) {
      err = E_USED_ID_NOT_HEAD;
      errA = id;
      break;
    }
    // Linux 939779f5152d: "used len %d is larger than in buflen %u".
    if (lenCheck && len > load<u32>(st + STATE_WLEN)) {
      err = E_USED_LEN;
      errA = len;
      errB = load<u32>(st + STATE_WLEN);
      break;
    }
    // detach_buf_split(): walk the chain through the private shadow only. A
    // chain has at most num descriptors; the bound also ends the walk when a
    // naive driver detaches a descriptor that is not a head (its stale links).
    store<u32>(st + STATE_HEAD, 0);
    let i = id;
    let walked: u32 = 1;
    numFree++;
    while ((load<u16>(extra + <usize>i * EXTRA_SIZE + EXTRA_FLAGS) & VRING_DESC_F_NEXT) != 0 && walked < num) {
      i = load<u16>(extra + <usize>i * EXTRA_SIZE + EXTRA_NEXT);
      numFree++;
      walked++;
    }
    store<u16>(extra + <usize>i * EXTRA_SIZE + EXTRA_NEXT, <u16>freeHead);
    freeHead = id;
    const o = out + <usize>count * REAP_SIZE;
    store<u32>(o + REAP_TOKEN, load<u32>(st + STATE_TOKEN));
    store<u32>(o + REAP_LEN, len);
    bytes += len;
    lastUsed = (lastUsed + 1) & 0xffff;
    count++;
  }
  if (count > 0) {
    store<u32>(drv + DRV_LAST_USED, lastUsed);
    store<u32>(drv + DRV_FREE_HEAD, freeHead);
    store<u32>(drv + DRV_NUM_FREE, numFree);
    // If we expect an interrupt for the next entry, say so in used_event
    // (written after every get_buf in Linux; once per batch here).
    if ((load<u32>(drv + DRV_AVAIL_FLAGS_SHADOW) & VRING_AVAIL_F_NO_INTERRUPT) == 0) {
      const avail = <usize>load<u32>(drv + DRV_AVAIL);
      atomic.store<u16>(avail + VRING_AVAIL_RING + <usize>num * 2, <u16>lastUsed);
    }
    const stats = <usize>load<u32>(drv + DRV_STATS);
    bump(stats, ST_CHAINS_COMPLETED, count);
    bump(stats, ST_BYTES_COMPLETED, bytes);
  }
  store<u32>(drv + DRV_BATCH_DONE, count);
  if (err != 0) return fail(drv, err, errA, err == E_USED_LEN || err == E_USED_IDX_JUMP ? errB : count, true);
  return <i32>count;
}

// virtqueue_disable_cb_split().
export function split_drv_disable_cb(drv: usize): void {
  const shadow = load<u32>(drv + DRV_AVAIL_FLAGS_SHADOW);
  if ((shadow & VRING_AVAIL_F_NO_INTERRUPT) != 0) return;
  store<u32>(drv + DRV_AVAIL_FLAGS_SHADOW, shadow | VRING_AVAIL_F_NO_INTERRUPT);
  const avail = <usize>load<u32>(drv + DRV_AVAIL);
  if ((load<u32>(drv + DRV_FEATURES) & QF_EVENT_IDX) != 0) {
    // Linux writes 0 ("a hack"): with event idx the flag is not used, and an
    // event index far behind suppresses interrupts until re-enabled.
    const num = load<u32>(drv + DRV_NUM);
    store<u16>(avail + VRING_AVAIL_RING + <usize>num * 2, 0);
  } else {
    store<u16>(avail + VRING_AVAIL_FLAGS, <u16>(shadow | VRING_AVAIL_F_NO_INTERRUPT));
  }
}

// virtqueue_enable_cb_prepare_split() + virtqueue_poll_split(): re-enables
// interrupts and returns 1 when nothing is pending, 0 when used entries arrived
// meanwhile (the caller must reap them, as with Linux's virtqueue_enable_cb()).
export function split_drv_enable_cb(drv: usize): i32 {
  const shadow = load<u32>(drv + DRV_AVAIL_FLAGS_SHADOW);
  const avail = <usize>load<u32>(drv + DRV_AVAIL);
  const num = load<u32>(drv + DRV_NUM);
  if ((shadow & VRING_AVAIL_F_NO_INTERRUPT) != 0) {
    const cleared = shadow & ~VRING_AVAIL_F_NO_INTERRUPT;
    store<u32>(drv + DRV_AVAIL_FLAGS_SHADOW, cleared);
    if ((load<u32>(drv + DRV_FEATURES) & QF_EVENT_IDX) == 0) {
      store<u16>(avail + VRING_AVAIL_FLAGS, <u16>cleared);
    }
  }
  const lastUsed = load<u32>(drv + DRV_LAST_USED);
  // virtio_mb() in virtqueue_poll(): used_event must be visible before idx is
  // re-read; a seq-cst store then a seq-cst load orders the two.
  atomic.store<u16>(avail + VRING_AVAIL_RING + <usize>num * 2, <u16>lastUsed);
  const used = <usize>load<u32>(drv + DRV_USED);
  return <u32>atomic.load<u16>(used + VRING_USED_IDX) == lastUsed ? 1 : 0;
}

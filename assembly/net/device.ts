// virtio-net device, per-packet work (VIRTIO 1.2 §5.1.6): popped TX and RX
// chains wait in pools in host memory; one call moves every packet it can
// (loopback: TX pool to RX pool; source: a host frame template to the RX
// pool; sink: read the frame into a device buffer, as a NIC's DMA does, and
// drop it), copies the bytes, sets num_buffers, and leaves
// the used records where the queue's pushPopped() reads them. No state of its
// own: everything lives at the addresses TypeScript passes in. The device
// touches guest memory only through the iovecs its queues' pops made with its
// DMA context (their linear addresses), and counts those accesses there.
import { ELEM_ADDR, ELEM_FLAGS, ELEM_LEN, ELEM_LINEAR, ELEM_SIZE, POP_ELEM_END, POP_ID, POP_SIZE, POP_WRITE_BYTES, PUSH_ID, PUSH_LEN, VRING_DESC_F_WRITE } from "../layout";
import { dmaCount } from "../mem/dma";
import { copyBytes } from "../copy";
import {
  NET_FLAG_MRG,
  NET_MODE_LOOPBACK,
  NET_MODE_SOURCE,
  NS_CTX,
  NS_DROPS,
  NS_FLAGS,
  NS_MODE,
  NS_RX_BUFS,
  NS_RX_BYTES,
  NS_RX_PKTS,
  NS_RX_USED,
  NS_RX_USED_CAP,
  NS_RX_USED_N,
  NS_RXPOOL,
  NS_SINK_BUF,
  NS_SINK_CAP,
  NS_SINK_PKTS,
  NS_SRC_ELEM,
  NS_SRC_LEFT,
  NS_SRC_SEQ,
  NS_TX_BYTES,
  NS_TX_ERRORS,
  NS_TX_PKTS,
  NS_TX_USED,
  NS_TX_USED_CAP,
  NS_TX_USED_N,
  NS_TXIN_CHAINS,
  NS_TXIN_N,
  NS_TXPOOL,
  PE_ADDR,
  PE_LEN,
  PE_LINEAR,
  PE_SIZE,
  POOL_ELEM,
  POOL_ELEM_CAP,
  POOL_ELEMS,
  POOL_HEAD,
  POOL_N,
  POOL_REC,
  POOL_REC_CAP,
  PR_BYTES,
  PR_END,
  PR_ID,
  PR_SIZE,
  PR_START,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_HDR_NUM_BUFFERS,
} from "./layout";

const HDR: u32 = <u32>VIRTIO_NET_HDR_LEN;

// A frame copy of up to 128 bytes with 16-byte vector moves and no loop
// (V8 runs a stack check on every loop back edge): a head run and a tail run
// that may overlap each other; memory.copy beyond, or when the two ranges
// overlap.
@inline
function frameCopy(dst: usize, src: usize, len: u32): void {
  const n = <usize>len;
  if (n >= 16 && n <= 128 && (dst + n <= src || src + n <= dst)) {
    if (n <= 32) {
      const a = v128.load(src);
      const b = v128.load(src + n - 16);
      v128.store(dst, a);
      v128.store(dst + n - 16, b);
    } else if (n <= 64) {
      v128.store(dst, v128.load(src));
      v128.store(dst + 16, v128.load(src + 16));
      v128.store(dst + n - 32, v128.load(src + n - 32));
      v128.store(dst + n - 16, v128.load(src + n - 16));
    } else {
      v128.store(dst, v128.load(src));
      v128.store(dst + 16, v128.load(src + 16));
      v128.store(dst + 32, v128.load(src + 32));
      v128.store(dst + 48, v128.load(src + 48));
      v128.store(dst + n - 64, v128.load(src + n - 64));
      v128.store(dst + n - 48, v128.load(src + n - 48));
      v128.store(dst + n - 32, v128.load(src + n - 32));
      v128.store(dst + n - 16, v128.load(src + n - 16));
    }
  } else {
    copyBytes(dst, src, n);
  }
}

@inline
function add64(p: usize, by: u64): void {
  store<u64>(p, load<u64>(p) + by);
}

// A sink's DMA read of one TX frame: the guest element run [s0, s1) (stride
// ELEM_SIZE, which is also PE_SIZE) into the device buffer, up to its size.
function sinkRead(st: usize, elems: usize, s0: u32, s1: u32): void {
  const buf = <usize>load<u32>(st + NS_SINK_BUF);
  let room = load<u32>(st + NS_SINK_CAP);
  let off: usize = 0;
  for (let x = s0; x < s1 && room > 0; x++) {
    const el = elems + <usize>x * ELEM_SIZE;
    const len = load<u32>(el + ELEM_LEN);
    const n = len < room ? len : room;
    frameCopy(buf + off, <usize>load<u32>(el + ELEM_LINEAR), n);
    off += <usize>n;
    room -= n;
  }
}

// Moves the unconsumed records to the front of the pool.
function compact(pool: usize): void {
  const head = load<u32>(pool + POOL_HEAD);
  if (head == 0) return;
  const n = load<u32>(pool + POOL_N);
  const rec = <usize>load<u32>(pool + POOL_REC);
  const elem = <usize>load<u32>(pool + POOL_ELEM);
  const left = n - head;
  if (left == 0) {
    store<u32>(pool + POOL_N, 0);
    store<u32>(pool + POOL_HEAD, 0);
    store<u32>(pool + POOL_ELEMS, 0);
    return;
  }
  const e0 = load<u32>(rec + <usize>head * PR_SIZE + PR_START);
  const elems = load<u32>(pool + POOL_ELEMS);
  memory.copy(elem, elem + <usize>e0 * PE_SIZE, <usize>(elems - e0) * PE_SIZE);
  memory.copy(rec, rec + <usize>head * PR_SIZE, <usize>left * PR_SIZE);
  for (let k: u32 = 0; k < left; k++) {
    const r = rec + <usize>k * PR_SIZE;
    store<u32>(r + PR_START, load<u32>(r + PR_START) - e0);
    store<u32>(r + PR_END, load<u32>(r + PR_END) - e0);
  }
  store<u32>(pool + POOL_N, left);
  store<u32>(pool + POOL_HEAD, 0);
  store<u32>(pool + POOL_ELEMS, elems - e0);
}

// Appends the n chains of a pop output to the pool, keeping the buffers of
// one direction (writable for RX, readable for TX). Returns 0, or -1 when the
// pool is full.
export function net_stash(pool: usize, popOut: usize, n: u32, popChains: u32, wantWrite: u32): i32 {
  compact(pool);
  return stashRange(pool, popOut, 0, n, popChains, wantWrite, 0);
}

// Appends chains [from, n) of a pop output to the pool; `e` is the first element of chain `from`.
function stashRange(pool: usize, popOut: usize, from: u32, n: u32, popChains: u32, wantWrite: u32, e: u32): i32 {
  const rec = <usize>load<u32>(pool + POOL_REC);
  const elem = <usize>load<u32>(pool + POOL_ELEM);
  const recCap = load<u32>(pool + POOL_REC_CAP);
  const elemCap = load<u32>(pool + POOL_ELEM_CAP);
  let count = load<u32>(pool + POOL_N);
  let elems = load<u32>(pool + POOL_ELEMS);
  const src = popOut + <usize>popChains * POP_SIZE;
  const want: u32 = wantWrite != 0 ? VRING_DESC_F_WRITE : 0;
  for (let k: u32 = from; k < n; k++) {
    const p = popOut + <usize>k * POP_SIZE;
    const end = load<u32>(p + POP_ELEM_END);
    if (count >= recCap) return -1;
    const start = elems;
    let bytes: u32 = 0;
    for (; e < end; e++) {
      const s = src + <usize>e * ELEM_SIZE;
      if ((load<u32>(s + ELEM_FLAGS) & VRING_DESC_F_WRITE) != want) continue;
      const len = load<u32>(s + ELEM_LEN);
      if (elems >= elemCap) return -1;
      const d = elem + <usize>elems * PE_SIZE;
      store<u64>(d + PE_ADDR, load<u64>(s + ELEM_ADDR));
      store<u32>(d + PE_LEN, len);
      store<u32>(d + PE_LINEAR, load<u32>(s + ELEM_LINEAR));
      elems++;
      bytes += len;
    }
    const r = rec + <usize>count * PR_SIZE;
    store<u32>(r + PR_ID, load<u32>(p + POP_ID));
    store<u32>(r + PR_BYTES, bytes);
    store<u32>(r + PR_START, start);
    store<u32>(r + PR_END, elems);
    count++;
  }
  store<u32>(pool + POOL_N, count);
  store<u32>(pool + POOL_ELEMS, elems);
  return 0;
}

// Copies `total` bytes from the element run [s, s1) to the element run [d, d1).
function sgCopy(dst: usize, d: u32, d1: u32, src: usize, s: u32, s1: u32, total: u32): void {
  let doff: u32 = 0;
  let soff: u32 = 0;
  let left = total;
  while (left > 0 && d < d1 && s < s1) {
    const da = dst + <usize>d * PE_SIZE;
    const sa = src + <usize>s * PE_SIZE;
    const dl = load<u32>(da + PE_LEN);
    const sl = load<u32>(sa + PE_LEN);
    let n = dl - doff;
    if (sl - soff < n) n = sl - soff;
    if (left < n) n = left;
    copyBytes(<usize>load<u32>(da + PE_LINEAR) + doff, <usize>load<u32>(sa + PE_LINEAR) + soff, n);
    doff += n;
    soff += n;
    left -= n;
    if (doff == dl) {
      d++;
      doff = 0;
    }
    if (soff == sl) {
      s++;
      soff = 0;
    }
  }
}

// The common case of place(), with fewer live values: the first element of
// RX record `head` holds the whole frame (`len` bytes from host linear
// `src`). Copies it, sets num_buffers to 1 and writes used record usedN;
// returns false, having written nothing, when the frame does not fit there.
@inline
function placeInFirst(rec: usize, elem: usize, head: u32, used: usize, usedN: u32, src: usize, len: u32): bool {
  const r = rec + <usize>head * PR_SIZE;
  const fStart = load<u32>(r + PR_START);
  if (fStart == load<u32>(r + PR_END)) return false;
  const fe = elem + <usize>fStart * PE_SIZE;
  if (load<u32>(fe + PE_LEN) < len) return false;
  const dst = <usize>load<u32>(fe + PE_LINEAR);
  frameCopy(dst, src, len);
  store<u16>(dst + VIRTIO_NET_HDR_NUM_BUFFERS, 1);
  const u = used + <usize>usedN * POP_SIZE;
  store<u32>(u + PUSH_ID, load<u32>(r + PR_ID));
  store<u32>(u + PUSH_LEN, len);
  return true;
}

// Places one frame of `len` bytes (header included) from the element run
// [s0, s1) into the RX pool's buffers from record
// `head` on, and writes their used records at used[usedN...]. Returns the
// buffers used, 0 when the pool has too few (the frame waits), or -1 when the
// frame is dropped (a big-mode buffer too small, or a first buffer that cannot
// hold the header).
@inline
function place(
  rec: usize,
  elem: usize,
  head: u32,
  n: u32,
  mrg: bool,
  used: usize,
  usedN: u32,
  usedCap: u32,
  src: usize,
  s0: u32,
  s1: u32,
  len: u32,
): i32 {
  if (head >= n) return 0;
  const first = rec + <usize>head * PR_SIZE;
  const fStart = load<u32>(first + PR_START);
  if (fStart == load<u32>(first + PR_END)) return -1;
  const firstElem = elem + <usize>fStart * PE_SIZE;
  const fLen = load<u32>(firstElem + PE_LEN);
  if (fLen < HDR) return -1;
  const fBytes = load<u32>(first + PR_BYTES);
  let j = head + 1;
  if (fBytes < len) {
    if (!mrg) return -1;
    let room = fBytes;
    while (room < len && j < n) {
      room += load<u32>(rec + <usize>j * PR_SIZE + PR_BYTES);
      j++;
    }
    // A frame that all the ring's buffers cannot hold is dropped; otherwise it waits for more.
    if (room < len) return j - head >= usedCap ? -1 : 0;
  }
  const nb = j - head;
  if (usedN + nb > usedCap) return 0;
  const dst0 = <usize>load<u32>(firstElem + PE_LINEAR);
  if (s1 - s0 == 1 && fLen >= len) {
    frameCopy(dst0, <usize>load<u32>(src + <usize>s0 * PE_SIZE + PE_LINEAR), len);
  } else {
    sgCopy(elem, fStart, load<u32>(rec + <usize>(j - 1) * PR_SIZE + PR_END), src, s0, s1, len);
  }
  store<u16>(dst0 + VIRTIO_NET_HDR_NUM_BUFFERS, <u16>nb);
  let left = len;
  for (let k: u32 = 0; k < nb; k++) {
    const r = rec + <usize>(head + k) * PR_SIZE;
    const cap = load<u32>(r + PR_BYTES);
    const w = left < cap ? left : cap;
    left -= w;
    const u = used + <usize>(usedN + k) * POP_SIZE;
    store<u32>(u + PUSH_ID, load<u32>(r + PR_ID));
    store<u32>(u + PUSH_LEN, w);
  }
  return <i32>nb;
}

// Moves every packet it can: first the TX chains held in the pool, then the
// NS_TXIN_N chains of the TX pop output straight from there (no stash) when
// the pool is empty; chains that cannot go yet (no RX room, or a chain with a
// device-writable buffer) are stashed for a later run. Sets NS_TX_USED_N and
// NS_RX_USED_N (the counts of used records left for pushPopped). Returns the
// packets handled, or -1 (the TX pool is full) as net_stash does, before any
// counter or pool head moves.
export function net_run(st: usize): i32 {
  const inN = load<u32>(st + NS_TXIN_N);
  const inChains = load<u32>(st + NS_TXIN_CHAINS);
  store<u32>(st + NS_TXIN_N, 0);
  if (inN != 0) {
    const pool = <usize>load<u32>(st + NS_TXPOOL);
    // Chains held from an earlier run go first: queue the new ones behind them.
    if (load<u32>(pool + POOL_HEAD) < load<u32>(pool + POOL_N)) {
      compact(pool);
      const rc = stashRange(pool, <usize>load<u32>(st + NS_TX_USED), 0, inN, inChains, 0, 0);
      if (rc < 0) return rc;
      return runPool(st, 0, 0);
    }
  }
  return runPool(st, inN, inChains);
}

@inline
function runPool(st: usize, inN: u32, inChains: u32): i32 {
  const mode = load<u32>(st + NS_MODE);
  const mrg = (load<u32>(st + NS_FLAGS) & NET_FLAG_MRG) != 0;
  const rxPool = <usize>load<u32>(st + NS_RXPOOL);
  const rxRec = <usize>load<u32>(rxPool + POOL_REC);
  const rxElem = <usize>load<u32>(rxPool + POOL_ELEM);
  const rxN = load<u32>(rxPool + POOL_N);
  let rxHead = load<u32>(rxPool + POOL_HEAD);
  const rxUsed = <usize>load<u32>(st + NS_RX_USED);
  const rxCap = load<u32>(st + NS_RX_USED_CAP);
  let rxUsedN: u32 = 0;
  let txUsedN: u32 = 0;
  let txPkts: u64 = 0;
  let txBytes: u64 = 0;
  let rxPkts: u64 = 0;
  let rxBytes: u64 = 0;
  let rxBufs: u64 = 0;
  let drops: u64 = 0;
  let txErrors: u64 = 0;
  let sink: u64 = 0;
  let done: i32 = 0;
  {
    // TX: loopback delivers each frame to the RX pool; sink and source count and drop it.
    const pool = <usize>load<u32>(st + NS_TXPOOL);
    const rec = <usize>load<u32>(pool + POOL_REC);
    const elem = <usize>load<u32>(pool + POOL_ELEM);
    const n = load<u32>(pool + POOL_N);
    const txUsed = <usize>load<u32>(st + NS_TX_USED);
    const cap = load<u32>(st + NS_TX_USED_CAP);
    let i = load<u32>(pool + POOL_HEAD);
    for (; i < n && txUsedN < cap; i++) {
      const r = rec + <usize>i * PR_SIZE;
      const len = load<u32>(r + PR_BYTES);
      if (len < HDR) {
        txErrors++;
      } else if (mode != NET_MODE_LOOPBACK) {
        sinkRead(st, elem, load<u32>(r + PR_START), load<u32>(r + PR_END));
        sink++;
        txPkts++;
        txBytes += <u64>(len - HDR);
      } else {
        const nb = place(rxRec, rxElem, rxHead, rxN, mrg, rxUsed, rxUsedN, rxCap, elem, load<u32>(r + PR_START), load<u32>(r + PR_END), len);
        if (nb == 0) break;
        if (nb < 0) {
          drops++;
        } else {
          rxHead += <u32>nb;
          rxUsedN += <u32>nb;
          rxPkts++;
          rxBytes += <u64>(len - HDR);
          rxBufs += <u64>nb;
        }
        txPkts++;
        txBytes += <u64>(len - HDR);
      }
      const u = txUsed + <usize>txUsedN * POP_SIZE;
      store<u32>(u + PUSH_ID, load<u32>(r + PR_ID));
      store<u32>(u + PUSH_LEN, 0);
      txUsedN++;
      done++;
    }
    store<u32>(pool + POOL_HEAD, i);
    if (inN != 0) {
      // Straight from the pop output (the pool is empty, so txUsedN starts at 0
      // and the used record k never overtakes pop record k before it is read).
      const popElem = txUsed + <usize>inChains * POP_SIZE;
      let k: u32 = 0;
      let e: u32 = 0;
      // Fast path for the common shape (a one-buffer TX chain, and for
      // loopback a first RX buffer that holds the whole frame), as DPDK's
      // simple Rx/Tx paths are: the same checks, copy and used records as
      // the general loop below, with fewer live values. Any other shape, or a
      // short frame, leaves it for the general loop at the same chain.
      const loop = mode == NET_MODE_LOOPBACK;
      const sinkBuf = <usize>load<u32>(st + NS_SINK_BUF);
      const sinkCap = load<u32>(st + NS_SINK_CAP);
      let fast: u32 = 0;
      let fastBytes: u64 = 0;
      while (k < inN && txUsedN < cap) {
        const p = txUsed + <usize>k * POP_SIZE;
        const end = load<u32>(p + POP_ELEM_END);
        if (end != e + 1 || load<u32>(p + POP_WRITE_BYTES) != 0) break;
        const el = popElem + <usize>e * ELEM_SIZE;
        const frame = <usize>load<u32>(el + ELEM_LINEAR);
        const len = load<u32>(el + ELEM_LEN);
        if (len < HDR) break;
        if (loop) {
          if (rxHead >= rxN || rxUsedN >= rxCap) break;
          if (!placeInFirst(rxRec, rxElem, rxHead, rxUsed, rxUsedN, frame, len)) break;
          rxHead++;
          rxUsedN++;
        } else {
          frameCopy(sinkBuf, frame, len < sinkCap ? len : sinkCap);
        }
        // Record k is read before used record txUsedN (<= k) overwrites it.
        const id = load<u32>(p + POP_ID);
        const u = txUsed + <usize>txUsedN * POP_SIZE;
        store<u32>(u + PUSH_ID, id);
        store<u32>(u + PUSH_LEN, 0);
        txUsedN++;
        fast++;
        fastBytes += <u64>(len - HDR);
        e = end;
        k++;
      }
      txPkts += fast;
      txBytes += fastBytes;
      if (loop) {
        rxPkts += fast;
        rxBytes += fastBytes;
        rxBufs += fast;
      } else {
        sink += fast;
      }
      done += <i32>fast;
      for (; k < inN && txUsedN < cap; k++) {
        const p = txUsed + <usize>k * POP_SIZE;
        const end = load<u32>(p + POP_ELEM_END);
        // A TX chain with a device-writable buffer takes the stash path, which drops those buffers.
        if (load<u32>(p + POP_WRITE_BYTES) != 0) break;
        let len: u32 = 0;
        for (let x = e; x < end; x++) {
          len += load<u32>(popElem + <usize>x * ELEM_SIZE + ELEM_LEN);
        }
        const id = load<u32>(p + POP_ID);
        if (len < HDR) {
          txErrors++;
        } else if (mode != NET_MODE_LOOPBACK) {
          sinkRead(st, popElem, e, end);
          sink++;
          txPkts++;
          txBytes += <u64>(len - HDR);
        } else {
          const nb = place(rxRec, rxElem, rxHead, rxN, mrg, rxUsed, rxUsedN, rxCap, popElem, e, end, len);
          if (nb == 0) break;
          if (nb < 0) {
            drops++;
          } else {
            rxHead += <u32>nb;
            rxUsedN += <u32>nb;
            rxPkts++;
            rxBytes += <u64>(len - HDR);
            rxBufs += <u64>nb;
          }
          txPkts++;
          txBytes += <u64>(len - HDR);
        }
        const u = txUsed + <usize>txUsedN * POP_SIZE;
        store<u32>(u + PUSH_ID, id);
        store<u32>(u + PUSH_LEN, 0);
        txUsedN++;
        done++;
        e = end;
      }
      if (k < inN) {
        // The rest waits in the pool (empty, so nothing to compact but its head).
        store<u32>(pool + POOL_N, 0);
        store<u32>(pool + POOL_HEAD, 0);
        store<u32>(pool + POOL_ELEMS, 0);
        const rc = stashRange(pool, txUsed, k, inN, inChains, 0, e);
        if (rc < 0) return rc;
      }
    }
  }
  if (mode == NET_MODE_SOURCE) {
    // Source: frames from the template at NS_SRC_ELEM (a host linear address).
    const src = st + NS_SRC_ELEM;
    const len = load<u32>(src + PE_LEN);
    const tmpl = <usize>load<u32>(src + PE_LINEAR);
    let left = load<u32>(st + NS_SRC_LEFT);
    let seq = load<u32>(st + NS_SRC_SEQ);
    while (left != 0) {
      if (len >= HDR + 4) store<u32>(tmpl + HDR, seq);
      if (rxHead < rxN && rxUsedN < rxCap) {
        // Fast path: the next RX buffer's first element holds the frame (what
        // place() does for that case, with fewer live values).
        if (placeInFirst(rxRec, rxElem, rxHead, rxUsed, rxUsedN, tmpl, len)) {
          rxHead++;
          rxUsedN++;
          rxPkts++;
          rxBytes += <u64>(len - HDR);
          rxBufs++;
          seq++;
          if (left != 0xffffffff) left--;
          done++;
          continue;
        }
      }
      const nb = place(rxRec, rxElem, rxHead, rxN, mrg, rxUsed, rxUsedN, rxCap, src, 0, 1, len);
      if (nb == 0) break;
      if (nb < 0) {
        // The source stops rather than drop forever.
        drops++;
        break;
      }
      rxHead += <u32>nb;
      rxUsedN += <u32>nb;
      rxPkts++;
      rxBytes += <u64>(len - HDR);
      rxBufs += <u64>nb;
      seq++;
      if (left != 0xffffffff) left--;
      done++;
    }
    store<u32>(st + NS_SRC_LEFT, left);
    store<u32>(st + NS_SRC_SEQ, seq);
  }
  store<u32>(rxPool + POOL_HEAD, rxHead);
  store<u32>(st + NS_TX_USED_N, txUsedN);
  store<u32>(st + NS_RX_USED_N, rxUsedN);
  add64(st + NS_TX_PKTS, txPkts);
  add64(st + NS_TX_BYTES, txBytes);
  add64(st + NS_RX_PKTS, rxPkts);
  add64(st + NS_RX_BYTES, rxBytes);
  add64(st + NS_RX_BUFS, rxBufs);
  add64(st + NS_DROPS, drops);
  add64(st + NS_TX_ERRORS, txErrors);
  add64(st + NS_SINK_PKTS, sink);
  // The device's DMA accesses through its context: a read of every TX frame
  // taken in (header included), a write of every RX buffer filled. The
  // source's frames come from host memory, not the guest.
  const txRead = txPkts + txErrors;
  dmaCount(<usize>load<u32>(st + NS_CTX), <u32>txRead, txBytes + txPkts * HDR, <u32>rxBufs, rxBytes + rxPkts * HDR);
  return done;
}

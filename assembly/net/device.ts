// virtio-net device, per-packet work (VIRTIO 1.2 §5.1.6): popped TX and RX
// chains wait in pools in host memory; one call moves every packet it can
// (loopback: TX pool to RX pool; source: a host frame template to the RX
// pool; sink: count and drop), copies the bytes, sets num_buffers, and leaves
// the used records where the queue's pushPopped() reads them. No state of its
// own: everything lives at the addresses TypeScript passes in.
import { GUEST_BASE, ELEM_ADDR, ELEM_FLAGS, ELEM_LEN, ELEM_SIZE, POP_ELEM_END, POP_ID, POP_SIZE, PUSH_ID, PUSH_LEN, VRING_DESC_F_WRITE } from "../layout";
import { inRam, ramSize } from "../guest";
import { copyBytes } from "../copy";
import {
  NET_FLAG_MRG,
  NET_MODE_LOOPBACK,
  NET_MODE_SINK,
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
  NS_TXPOOL,
  PE_ADDR,
  PE_LEN,
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

@inline
function add64(p: usize, by: u64): void {
  store<u64>(p, load<u64>(p) + by);
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
// one direction (writable for RX, readable for TX). Returns 0, -1 when the
// pool is full, or -2 for a buffer outside guest RAM.
export function net_stash(pool: usize, popOut: usize, n: u32, popChains: u32, wantWrite: u32): i32 {
  compact(pool);
  const rec = <usize>load<u32>(pool + POOL_REC);
  const elem = <usize>load<u32>(pool + POOL_ELEM);
  const recCap = load<u32>(pool + POOL_REC_CAP);
  const elemCap = load<u32>(pool + POOL_ELEM_CAP);
  const ram = ramSize();
  let count = load<u32>(pool + POOL_N);
  let elems = load<u32>(pool + POOL_ELEMS);
  const src = popOut + <usize>popChains * POP_SIZE;
  let e: u32 = 0;
  const want: u32 = wantWrite != 0 ? VRING_DESC_F_WRITE : 0;
  for (let k: u32 = 0; k < n; k++) {
    const p = popOut + <usize>k * POP_SIZE;
    const end = load<u32>(p + POP_ELEM_END);
    if (count >= recCap) return -1;
    const start = elems;
    let bytes: u32 = 0;
    for (; e < end; e++) {
      const s = src + <usize>e * ELEM_SIZE;
      if ((load<u32>(s + ELEM_FLAGS) & VRING_DESC_F_WRITE) != want) continue;
      const addr = load<u64>(s + ELEM_ADDR);
      const len = load<u32>(s + ELEM_LEN);
      if (!inRam(addr, len, ram)) return -2;
      if (elems >= elemCap) return -1;
      const d = elem + <usize>elems * PE_SIZE;
      store<u64>(d + PE_ADDR, addr);
      store<u32>(d + PE_LEN, len);
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

// Copies `total` bytes from the element run [s, s1) (addresses + srcBase) to
// the guest element run [d, d1).
function sgCopy(dst: usize, d: u32, d1: u32, src: usize, s: u32, s1: u32, srcBase: usize, total: u32): void {
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
    copyBytes(
      <usize>(load<u64>(da + PE_ADDR) + <u64>GUEST_BASE) + doff,
      <usize>load<u64>(sa + PE_ADDR) + srcBase + soff,
      n,
    );
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

// Delivers one frame of `len` bytes (header included) from the element run
// [s0, s1) to the RX pool. Returns 1 when delivered, 0 when the RX pool has
// too few buffers (the packet waits), -1 when dropped.
function deliver(st: usize, src: usize, s0: u32, s1: u32, srcBase: usize, len: u32): i32 {
  const pool = <usize>load<u32>(st + NS_RXPOOL);
  const rec = <usize>load<u32>(pool + POOL_REC);
  const elem = <usize>load<u32>(pool + POOL_ELEM);
  const head = load<u32>(pool + POOL_HEAD);
  const n = load<u32>(pool + POOL_N);
  if (head >= n) return 0;
  const mrg = (load<u32>(st + NS_FLAGS) & NET_FLAG_MRG) != 0;
  const usedN = load<u32>(st + NS_RX_USED_N);
  const usedCap = load<u32>(st + NS_RX_USED_CAP);
  const first = rec + <usize>head * PR_SIZE;
  let j = head;
  if (mrg) {
    let room: u32 = 0;
    while (room < len && j < n) {
      room += load<u32>(rec + <usize>j * PR_SIZE + PR_BYTES);
      j++;
    }
    if (room < len) return 0;
  } else {
    j = head + 1;
  }
  const nb = j - head;
  if (usedN + nb > usedCap) return 0;
  const firstElem = elem + <usize>load<u32>(first + PR_START) * PE_SIZE;
  // The header, num_buffers included, must fit the first buffer; a big-mode
  // buffer must hold the whole frame. Otherwise the frame is dropped.
  if (load<u32>(first + PR_START) == load<u32>(first + PR_END) || load<u32>(firstElem + PE_LEN) < HDR) return -1;
  if (!mrg && load<u32>(first + PR_BYTES) < len) return -1;
  sgCopy(elem, load<u32>(first + PR_START), load<u32>(rec + <usize>(j - 1) * PR_SIZE + PR_END), src, s0, s1, srcBase, len);
  store<u16>(<usize>(load<u64>(firstElem + PE_ADDR) + <u64>GUEST_BASE) + VIRTIO_NET_HDR_NUM_BUFFERS, <u16>nb);
  const used = <usize>load<u32>(st + NS_RX_USED);
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
  store<u32>(st + NS_RX_USED_N, usedN + nb);
  store<u32>(pool + POOL_HEAD, j);
  add64(st + NS_RX_PKTS, 1);
  add64(st + NS_RX_BYTES, <u64>(len - HDR));
  add64(st + NS_RX_BUFS, <u64>nb);
  return 1;
}

// Completes TX chain `r` (used len 0: the device wrote nothing).
@inline
function txDone(st: usize, pool: usize, r: usize, usedN: u32): void {
  const u = <usize>load<u32>(st + NS_TX_USED) + <usize>usedN * POP_SIZE;
  store<u32>(u + PUSH_ID, load<u32>(r + PR_ID));
  store<u32>(u + PUSH_LEN, 0);
  store<u32>(pool + POOL_HEAD, load<u32>(pool + POOL_HEAD) + 1);
}

// Moves every packet it can. Sets NS_TX_USED_N and NS_RX_USED_N (the counts
// of used records left for pushPopped). Returns the packets handled.
export function net_run(st: usize): i32 {
  store<u32>(st + NS_TX_USED_N, 0);
  store<u32>(st + NS_RX_USED_N, 0);
  const mode = load<u32>(st + NS_MODE);
  let done: i32 = 0;
  if (mode == NET_MODE_SINK || mode == NET_MODE_LOOPBACK) {
    const pool = <usize>load<u32>(st + NS_TXPOOL);
    const rec = <usize>load<u32>(pool + POOL_REC);
    const elem = <usize>load<u32>(pool + POOL_ELEM);
    const n = load<u32>(pool + POOL_N);
    const cap = load<u32>(st + NS_TX_USED_CAP);
    let usedN: u32 = 0;
    for (let i = load<u32>(pool + POOL_HEAD); i < n && usedN < cap; i++) {
      const r = rec + <usize>i * PR_SIZE;
      const len = load<u32>(r + PR_BYTES);
      if (len < HDR) {
        add64(st + NS_TX_ERRORS, 1);
      } else if (mode == NET_MODE_SINK) {
        add64(st + NS_SINK_PKTS, 1);
        add64(st + NS_TX_PKTS, 1);
        add64(st + NS_TX_BYTES, <u64>(len - HDR));
      } else {
        const rc = deliver(st, elem, load<u32>(r + PR_START), load<u32>(r + PR_END), GUEST_BASE, len);
        if (rc == 0) break;
        if (rc < 0) add64(st + NS_DROPS, 1);
        add64(st + NS_TX_PKTS, 1);
        add64(st + NS_TX_BYTES, <u64>(len - HDR));
      }
      txDone(st, pool, r, usedN);
      usedN++;
      done++;
    }
    store<u32>(st + NS_TX_USED_N, usedN);
    return done;
  }
  // Source: frames from the template at NS_SRC_ELEM (a host linear address).
  const src = st + NS_SRC_ELEM;
  const len = load<u32>(src + PE_LEN);
  const tmpl = <usize>load<u64>(src + PE_ADDR);
  let left = load<u32>(st + NS_SRC_LEFT);
  while (left != 0) {
    if (len >= HDR + 4) store<u32>(tmpl + HDR, load<u32>(st + NS_SRC_SEQ));
    const rc = deliver(st, src, 0, 1, 0, len);
    if (rc == 0) break;
    if (rc < 0) {
      // A buffer that cannot take the frame is returned empty-handed only by
      // the loopback; the source stops rather than drop forever.
      add64(st + NS_DROPS, 1);
      break;
    }
    store<u32>(st + NS_SRC_SEQ, load<u32>(st + NS_SRC_SEQ) + 1);
    if (left != 0xffffffff) left--;
    done++;
  }
  store<u32>(st + NS_SRC_LEFT, left);
  return done;
}

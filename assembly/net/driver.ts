// virtio-net guest driver, per-packet RX work: walks the reap output of an RX
// queue once, applies the checks Linux's virtio_net does on what the device
// says (receive_small/receive_big/receive_mergeable), groups mergeable
// buffers by num_buffers, and writes the refill request batch that reposts
// every buffer. Errors are counted and the first one's details kept; a bad
// packet is dropped and its buffers reposted, as Linux does.
import { REQ_FLAGS, REQ_HDR_SIZE, REQ_IN, REQ_OUT, REQ_TOKEN, SG_ADDR, SG_LEN, SG_SIZE } from "../layout";
import {
  DR_BYTES,
  DR_CNT_LEN,
  DR_CNT_MISSING,
  DR_CNT_SHORT,
  DR_COMPL,
  DR_ERR_A,
  DR_ERR_B,
  DR_ERR_C,
  DR_ERR_CODE,
  DR_ERRS,
  DR_FLAGS,
  DR_N,
  DR_NSLOTS,
  DR_PKT_OUT,
  DR_PKTS,
  DR_REFILL,
  DR_REQ,
  DR_SLOTS,
  DRF_HARDENED,
  DRF_MRG,
  DT_COMPL,
  DT_FREE,
  DT_LENS,
  DT_NFREE,
  DT_NSLOTS,
  DT_REQ,
  DT_SLOTS,
  NE_BUFS_MISSING,
  NE_LEN_EXCEEDS,
  NE_SHORT,
  NE_TRUESIZE,
  PK_FIRST,
  PK_LEN,
  PK_NBUFS,
  PK_SIZE,
  SLOT_CPU,
  SLOT_DMA,
  SLOT_LEN,
  SLOT_SIZE,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_HDR_NUM_BUFFERS,
} from "./layout";

const HDR: u32 = <u32>VIRTIO_NET_HDR_LEN;

function err(st: usize, code: u32, a: u32, b: u32, token: u32, counter: usize): void {
  if (load<u32>(st + DR_ERRS) == 0) {
    store<u32>(st + DR_ERR_CODE, code);
    store<u32>(st + DR_ERR_A, a);
    store<u32>(st + DR_ERR_B, b);
    store<u32>(st + DR_ERR_C, token);
  }
  store<u32>(st + DR_ERRS, load<u32>(st + DR_ERRS) + 1);
  store<u32>(st + counter, load<u32>(st + counter) + 1);
}

// Reposts the buffer of completion k: one device-writable descriptor, its token the slot.
@inline
function refill(req: usize, k: u32, slots: usize, token: u32): void {
  const h = req + <usize>k * (REQ_HDR_SIZE + SG_SIZE);
  const s = slots + <usize>token * SLOT_SIZE;
  store<u32>(h + REQ_OUT, 0);
  store<u32>(h + REQ_IN, 1);
  store<u32>(h + REQ_TOKEN, token);
  store<u32>(h + REQ_FLAGS, 0);
  store<u64>(h + REQ_HDR_SIZE + SG_ADDR, load<u64>(s + SLOT_DMA));
  store<u64>(h + REQ_HDR_SIZE + SG_LEN, <u64>load<u32>(s + SLOT_LEN));
}

// Returns the packets received; DR_* fields hold the counts and the first error.
export function net_drv_rx(st: usize): i32 {
  const compl = <usize>load<u32>(st + DR_COMPL);
  const n = load<u32>(st + DR_N);
  const slots = <usize>load<u32>(st + DR_SLOTS);
  const nslots = load<u32>(st + DR_NSLOTS);
  const flags = load<u32>(st + DR_FLAGS);
  const hardened = (flags & DRF_HARDENED) != 0;
  const mrg = (flags & DRF_MRG) != 0;
  const req = <usize>load<u32>(st + DR_REQ);
  const out = <usize>load<u32>(st + DR_PKT_OUT);
  store<u32>(st + DR_ERRS, 0);
  let pkts: u32 = 0;
  let bytes: u32 = 0;
  let k: u32 = 0;
  while (k < n) {
    const token = load<u32>(compl + <usize>k * 8);
    const len = load<u32>(compl + <usize>k * 8 + 4);
    // Tokens come from the driver's private desc_state: always a slot.
    const slot = slots + <usize>(token < nslots ? token : <u32>0) * SLOT_SIZE;
    const max = load<u32>(slot + SLOT_LEN);
    if (hardened && len > max) {
      err(st, NE_LEN_EXCEEDS, len, max, token, DR_CNT_LEN);
      refill(req, k, slots, token);
      k++;
      continue;
    }
    if (hardened && len < HDR) {
      err(st, NE_SHORT, len, HDR, token, DR_CNT_SHORT);
      refill(req, k, slots, token);
      k++;
      continue;
    }
    let nb: u32 = 1;
    if (mrg) {
      nb = <u32>load<u16>(<usize>load<u32>(slot + SLOT_CPU) + VIRTIO_NET_HDR_NUM_BUFFERS);
      if (hardened && (nb == 0 || nb > n - k)) {
        // receive_mergeable: "%d buffers out of %d missing"; what is there is dropped.
        const end = nb == 0 ? k + 1 : n;
        err(st, NE_BUFS_MISSING, nb == 0 ? 1 : nb - (n - k), nb, token, DR_CNT_MISSING);
        for (; k < end; k++) refill(req, k, slots, load<u32>(compl + <usize>k * 8));
        continue;
      }
      if (nb == 0) nb = 1;
      if (nb > n - k) nb = n - k;
    }
    if (nb == 1) {
      // One buffer (every 64-byte frame): the general code below without its loops.
      refill(req, k, slots, token);
      if (out != 0) {
        const p = out + <usize>pkts * PK_SIZE;
        store<u32>(p + PK_FIRST, k);
        store<u32>(p + PK_NBUFS, 1);
        store<u32>(p + PK_LEN, len);
      }
      pkts++;
      bytes += len - (len >= HDR ? HDR : len);
      k++;
      continue;
    }
    let total = len;
    let bad = false;
    for (let j: u32 = 1; j < nb; j++) {
      const t = load<u32>(compl + <usize>(k + j) * 8);
      const l = load<u32>(compl + <usize>(k + j) * 8 + 4);
      const m = load<u32>(slots + <usize>(t < nslots ? t : <u32>0) * SLOT_SIZE + SLOT_LEN);
      if (hardened && l > m && !bad) {
        err(st, NE_TRUESIZE, l, m, t, DR_CNT_LEN);
        bad = true;
      }
      total += l;
    }
    for (let j: u32 = 0; j < nb; j++) refill(req, k + j, slots, load<u32>(compl + <usize>(k + j) * 8));
    if (!bad) {
      if (out != 0) {
        const p = out + <usize>pkts * PK_SIZE;
        store<u32>(p + PK_FIRST, k);
        store<u32>(p + PK_NBUFS, nb);
        store<u32>(p + PK_LEN, total);
      }
      pkts++;
      bytes += total - (total >= HDR ? HDR : total);
    }
    k += nb;
  }
  store<u32>(st + DR_PKTS, pkts);
  store<u32>(st + DR_BYTES, bytes);
  store<u32>(st + DR_REFILL, n);
  return <i32>pkts;
}


// TX: returns the n reaped completions' slots to the free stack. Returns the free count.
export function net_drv_tx_reclaim(st: usize, n: u32): i32 {
  const compl = <usize>load<u32>(st + DT_COMPL);
  const free = <usize>load<u32>(st + DT_FREE);
  const nslots = load<u32>(st + DT_NSLOTS);
  let nfree = load<u32>(st + DT_NFREE);
  for (let k: u32 = 0; k < n; k++) {
    const token = load<u32>(compl + <usize>k * 8);
    if (token < nslots && nfree < nslots) {
      store<u32>(free + <usize>nfree * 4, token);
      nfree++;
    }
  }
  store<u32>(st + DT_NFREE, nfree);
  return <i32>nfree;
}

// TX: takes up to n free slots (top of the stack first) and writes one
// one-descriptor request per frame: header and frame in the slot, `len` bytes
// (or DT_LENS[k]). Returns the requests written.
export function net_drv_tx_build(st: usize, n: u32, len: u32): i32 {
  const free = <usize>load<u32>(st + DT_FREE);
  const slots = <usize>load<u32>(st + DT_SLOTS);
  const req = <usize>load<u32>(st + DT_REQ);
  const lens = <usize>load<u32>(st + DT_LENS);
  let nfree = load<u32>(st + DT_NFREE);
  let k: u32 = 0;
  for (; k < n && nfree > 0; k++) {
    nfree--;
    const token = load<u32>(free + <usize>nfree * 4);
    const s = slots + <usize>token * SLOT_SIZE;
    const h = req + <usize>k * (REQ_HDR_SIZE + SG_SIZE);
    const l = lens != 0 ? load<u32>(lens + <usize>k * 4) : len;
    store<u32>(h + REQ_OUT, 1);
    store<u32>(h + REQ_IN, 0);
    store<u32>(h + REQ_TOKEN, token);
    store<u32>(h + REQ_FLAGS, 0);
    store<u64>(h + REQ_HDR_SIZE + SG_ADDR, load<u64>(s + SLOT_DMA));
    store<u64>(h + REQ_HDR_SIZE + SG_LEN, <u64>l);
  }
  store<u32>(st + DT_NFREE, nfree);
  return <i32>k;
}

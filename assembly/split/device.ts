// Device side of the split virtqueue (VIRTIO 1.2 §2.7), following QEMU
// hw/virtio/virtio.c (virtqueue_split_pop, virtqueue_flush, virtio_split_should_
// notify) with the checks of QEMU, vhost and rust-vmm's virtio-queue. Every
// value read from the ring is checked where it is read; a failed check marks
// the queue broken, as QEMU's virtio_error() does.
import {
  DEV_AVAIL,
  DEV_BATCH_DONE,
  DEV_BROKEN,
  DEV_DESC,
  DEV_DMA_CTX,
  DEV_ERR_A,
  DEV_ERR_B,
  DEV_ERR_CODE,
  DEV_FEATURES,
  DEV_INFLIGHT,
  DEV_LAST_AVAIL,
  DEV_NOTIFY_ENABLED,
  DEV_NUM,
  DEV_SIGNALLED_USED,
  DEV_SIGNALLED_VALID,
  DEV_STATS,
  DEV_USED,
  DEV_USED_IDX,
  E_ADDR_RANGE,
  E_AVAIL_HEAD_RANGE,
  E_AVAIL_IDX_JUMP,
  E_BROKEN,
  E_CHAIN_LEN_OVERFLOW,
  E_DESC_LOOP,
  E_DESC_NEXT_RANGE,
  E_DESC_ORDER,
  E_INDIRECT_LEN,
  E_INDIRECT_NESTED,
  E_INDIRECT_NOT_NEGOTIATED,
  E_INDIRECT_TOO_BIG,
  E_INFLIGHT,
  E_NAIVE_BUDGET,
  E_POP_OUTPUT,
  E_PUSH_ID_RANGE,
  E_TOO_MANY_WRITE_DESCS,
  E_ZERO_LEN,
  ELEM_SIZE,
  POP_ELEM_END,
  POP_ID,
  POP_READ_BYTES,
  POP_SIZE,
  POP_WRITE_BYTES,
  PUSH_ID,
  PUSH_LEN,
  QF_EVENT_IDX,
  QF_INDIRECT,
  QF_NAIVE,
  QF_NOSPEC,
  ST_BYTES_USED,
  ST_CHAINS_POPPED,
  ST_CHAINS_USED,
  ST_DESCS_POPPED,
  ST_DEVICE_CHECKS_FAILED,
  ST_INTERRUPTS,
  ST_INTERRUPTS_SUPPRESSED,
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
import { bump, mbAfterPublish, needEvent, storeRelease16, within } from "../ring";
import { nospecMask } from "./nospec";

// QEMU's VIRTQUEUE_MAX_SIZE: the most s/g entries one element maps
// (virtqueue_map_desc's max_num_sg).
const VIRTQUEUE_MAX_SIZE: u32 = 1024;
// How many descriptors a naive (unchecked) walk visits before the simulator
// stops it: the real code would loop on a cycle for ever.
const NAIVE_WALK_BUDGET: u32 = 65536;
import { dmaCommitPending, dmaCountMaps, dmaFastLimit, mapDescSlow, mapTable, plainLinear, storeIov } from "../mem/dma";

function fail(dev: usize, code: i32, a: u32, b: u32): i32 {
  store<u32>(dev + DEV_ERR_CODE, code);
  store<u32>(dev + DEV_ERR_A, a);
  store<u32>(dev + DEV_ERR_B, b);
  return -code;
}

// virtio_error(): the driver broke the protocol; the device stops using the queue.
function broken(dev: usize, code: i32, a: u32, b: u32): i32 {
  store<u32>(dev + DEV_BROKEN, 1);
  bump(<usize>load<u32>(dev + DEV_STATS), ST_DEVICE_CHECKS_FAILED, 1);
  return fail(dev, code, a, b);
}

// The leading run of chains of one descriptor (every virtio-net buffer
// without indirect): the general walk in split_dev_pop for a chain of one, in
// a loop of its own with few live values, which V8 keeps in registers
// (binaryen may inline the function; the loop stays apart). It runs only for
// a plain direct DMA context (the caller checks), whose translation is the
// bounds check against `limit` and one add.
// It stops, leaving the chain available, at anything else: a chain that is
// not one direct descriptor, or one that fails a check (the general loop then
// reads it again and reports it), or a full pop output. Saves last_avail_idx
// and the in-flight count and returns the chains popped; their records and
// elements are in place (element k belongs to chain k).
function popOneBuffers(dev: usize, out: usize, maxChains: u32, elemCap: u32, availIdx: u32, limit: u64): u32 {
  const num = load<u32>(dev + DEV_NUM);
  const mask = num - 1;
  const ring = <usize>load<u32>(dev + DEV_DESC);
  const availRing = <usize>load<u32>(dev + DEV_AVAIL) + VRING_AVAIL_RING;
  const elems = out + <usize>maxChains * POP_SIZE;
  const end = maxChains < elemCap ? maxChains : elemCap;
  let lastAvail = load<u32>(dev + DEV_LAST_AVAIL);
  let inflight = load<u32>(dev + DEV_INFLIGHT);
  const nospec = (load<u32>(dev + DEV_FEATURES) & QF_NOSPEC) != 0;
  let k: u32 = 0;
  while (k < end && lastAvail != availIdx && inflight < num) {
    let head = <u32>load<u16>(availRing + <usize>(lastAvail & mask) * 2);
    if (head >= num) break;
    if (nospec) head &= nospecMask(head, num);
    const d = ring + <usize>head * VRING_DESC_SIZE;
    const flags = <u32>load<u16>(d + VRING_DESC_FLAGS);
    if ((flags & (VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT)) != 0) break;
    const addr = load<u64>(d + VRING_DESC_ADDR);
    const len = load<u32>(d + VRING_DESC_LEN);
    if (len == 0 || !within(addr, len, limit)) break;
    const write = flags & VRING_DESC_F_WRITE;
    storeIov(elems + <usize>k * ELEM_SIZE, addr, len, write, plainLinear(addr));
    const r = out + <usize>k * POP_SIZE;
    store<u32>(r + POP_ID, head);
    store<u32>(r + POP_WRITE_BYTES, write != 0 ? len : 0);
    store<u32>(r + POP_READ_BYTES, write != 0 ? 0 : len);
    store<u32>(r + POP_ELEM_END, k + 1);
    lastAvail = (lastAvail + 1) & 0xffff;
    inflight++;
    k++;
  }
  store<u32>(dev + DEV_LAST_AVAIL, lastAvail);
  store<u32>(dev + DEV_INFLIGHT, inflight);
  return k;
}

// Pops direct chains of any length for a plain direct DMA context, from
// where popOneBuffers stopped: the general loop below carries the context,
// the error operands and the slow translation, and V8 spills its live values
// on every descriptor; this loop keeps only what a valid direct chain needs.
// It stops, leaving the chain available, at anything else: an indirect
// chain, one that fails a check (the general loop then reads it again and
// reports it), or a full pop output. Elements it wrote for a chain it leaves
// are the ones the general loop writes again, with the same bytes. Saves
// last_avail_idx and the in-flight count and returns the chains popped
// (`count` of them were already; POP_ELEM_END of the last tells where the
// elements end).
function popPlainChains(dev: usize, out: usize, maxChains: u32, elemCap: u32, availIdx: u32, count: u32): u32 {
  const limit = dmaFastLimit(<usize>load<u32>(dev + DEV_DMA_CTX));
  const num = load<u32>(dev + DEV_NUM);
  const mask = num - 1;
  const ring = <usize>load<u32>(dev + DEV_DESC);
  const availRing = <usize>load<u32>(dev + DEV_AVAIL) + VRING_AVAIL_RING;
  const elems = out + <usize>maxChains * POP_SIZE;
  const elemsEnd = elems + <usize>elemCap * ELEM_SIZE;
  let ep = elems + (count > 0 ? <usize>load<u32>(out + <usize>(count - 1) * POP_SIZE + POP_ELEM_END) * ELEM_SIZE : 0);
  let lastAvail = load<u32>(dev + DEV_LAST_AVAIL);
  let inflight = load<u32>(dev + DEV_INFLIGHT);
  const nospec = (load<u32>(dev + DEV_FEATURES) & QF_NOSPEC) != 0;
  // A chain visits at most num descriptors (the ttl) and maps at most
  // VIRTQUEUE_MAX_SIZE of them.
  const ttl: usize = num < VIRTQUEUE_MAX_SIZE ? num : VIRTQUEUE_MAX_SIZE;
  while (count < maxChains && lastAvail != availIdx && inflight < num) {
    let head = <u32>load<u16>(availRing + <usize>(lastAvail & mask) * 2);
    if (head >= num) break;
    if (nospec) head &= nospecMask(head, num);
    // One bound for a full output, the general loop's ttl and its
    // VIRTQUEUE_MAX_SIZE (one element per descriptor): reaching it hands
    // the chain to the general loop, which tells which it was.
    const ttlEnd = ep + ttl * ELEM_SIZE;
    const stop = ttlEnd < elemsEnd ? ttlEnd : elemsEnd;
    let e = ep;
    let i = head;
    let readBytes: u64 = 0;
    // Every length is nonzero, so a write descriptor was seen once this is.
    let writeBytes: u64 = 0;
    let ok = false;
    while (e < stop) {
      const d = ring + <usize>i * VRING_DESC_SIZE;
      const flags = <u32>load<u16>(d + VRING_DESC_FLAGS);
      const addr = load<u64>(d + VRING_DESC_ADDR);
      const len = load<u32>(d + VRING_DESC_LEN);
      if ((flags & VRING_DESC_F_INDIRECT) != 0 || len == 0) break;
      const write = flags & VRING_DESC_F_WRITE;
      if (write != 0) writeBytes += len;
      else if (writeBytes != 0) break;
      else readBytes += len;
      if (!within(addr, len, limit)) break;
      storeIov(e, addr, len, write, plainLinear(addr));
      e += ELEM_SIZE;
      if ((flags & VRING_DESC_F_NEXT) == 0) {
        ok = true;
        break;
      }
      i = <u32>load<u16>(d + VRING_DESC_NEXT);
      if (i >= num) break;
      if (nospec) i &= nospecMask(i, num);
    }
    if (!ok || readBytes + writeBytes > 0xffffffff) break;
    const r = out + <usize>count * POP_SIZE;
    store<u32>(r + POP_ID, head);
    store<u32>(r + POP_WRITE_BYTES, <u32>writeBytes);
    store<u32>(r + POP_READ_BYTES, <u32>readBytes);
    store<u32>(r + POP_ELEM_END, <u32>((e - elems) / ELEM_SIZE));
    ep = e;
    lastAvail = (lastAvail + 1) & 0xffff;
    inflight++;
    count++;
  }
  store<u32>(dev + DEV_LAST_AVAIL, lastAvail);
  store<u32>(dev + DEV_INFLIGHT, inflight);
  return count;
}

// Pops up to maxChains available chains. Chain records go to `out`, the
// buffers they hold to the element array right after them (maxChains records
// long), which holds elemCap elements. Returns the number popped, 0 on a
// broken queue, or -code; DEV_BATCH_DONE then holds how many chains were
// popped (and stay popped) before the failure.
export function split_dev_pop(dev: usize, out: usize, maxChains: u32, elemCap: u32): i32 {
  store<u32>(dev + DEV_BATCH_DONE, 0);
  if (load<u32>(dev + DEV_BROKEN) != 0) return 0;
  const num = load<u32>(dev + DEV_NUM);
  const mask = num - 1;
  const ring = <usize>load<u32>(dev + DEV_DESC);
  const avail = <usize>load<u32>(dev + DEV_AVAIL);
  const features = load<u32>(dev + DEV_FEATURES);
  const ctx = <usize>load<u32>(dev + DEV_DMA_CTX);
  // The space a plain direct context translates inline, 0 for any other.
  const limit = dmaFastLimit(ctx);
  const elems = out + <usize>maxChains * POP_SIZE;
  // Naive (QF_NAIVE): the protocol checks below are skipped, as in a device
  // model that trusts its driver. An unchecked index is reduced into the
  // table it indexes (head and next mod the table size: the slot the
  // masked ring arithmetic of such a model reaches), a loop is stopped by
  // the simulator's budget, and a zero-length descriptor pops as an empty
  // buffer (nothing translated); the
  // DMA context's checks (a separate layer) and the indirect table's length
  // (the simulator must not read past the table it mapped) stay.
  const naive = (features & QF_NAIVE) != 0;
  const nospec = (features & QF_NOSPEC) != 0;
  let lastAvail = load<u32>(dev + DEV_LAST_AVAIL);
  let inflight = load<u32>(dev + DEV_INFLIGHT);
  // Acquire: ring entries below avail->idx are complete.
  const availIdx = <u32>atomic.load<u16>(avail + VRING_AVAIL_IDX);
  let count: u32 = 0;
  let elemEnd: u32 = 0;
  let descs: u32 = 0;
  let err: i32 = 0;
  let errA: u32 = 0;
  let errB: u32 = 0;
  // virtqueue_num_heads(): QEMU's message for this is the famously misworded one.
  if (!naive && ((availIdx - lastAvail) & 0xffff) > num) {
    err = E_AVAIL_IDX_JUMP;
    errA = lastAvail;
    errB = availIdx;
  } else {
    if (limit != 0) {
      count = popOneBuffers(dev, out, maxChains, elemCap, availIdx, limit);
      elemEnd = count;
      count = popPlainChains(dev, out, maxChains, elemCap, availIdx, count);
      // A plain context maps each descriptor to one element.
      if (count > 0) elemEnd = load<u32>(out + <usize>(count - 1) * POP_SIZE + POP_ELEM_END);
      descs = elemEnd;
    }
    lastAvail = load<u32>(dev + DEV_LAST_AVAIL);
    inflight = load<u32>(dev + DEV_INFLIGHT);
  }
  while (err == 0 && count < maxChains && lastAvail != availIdx) {
    if (inflight >= num && !naive) {
      err = E_INFLIGHT;
      errA = inflight;
      break;
    }
    let head = <u32>load<u16>(avail + VRING_AVAIL_RING + <usize>(lastAvail & mask) * 2);
    if (head >= num) {
      if (!naive) {
        err = E_AVAIL_HEAD_RANGE;
        errA = head;
        break;
      }
      head &= mask;
    }
    if (nospec) head &= nospecMask(head, num);
    const chainStart = elemEnd;
    let table = ring;
    let max = num;
    let i = head;
    let d = ring + <usize>head * VRING_DESC_SIZE;
    let flags = <u32>load<u16>(d + VRING_DESC_FLAGS);
    if ((flags & VRING_DESC_F_INDIRECT) != 0) {
      if ((features & QF_INDIRECT) == 0 && !naive) {
        err = E_INDIRECT_NOT_NEGOTIATED;
        errA = head;
        break;
      }
      let tlen = load<u32>(d + VRING_DESC_LEN);
      if (tlen < <u32>VRING_DESC_SIZE || ((tlen & (VRING_DESC_SIZE - 1)) != 0 && !naive)) {
        err = E_INDIRECT_LEN;
        errA = tlen;
        break;
      }
      // Naive: the partial descriptor at the end is not read.
      tlen &= ~(<u32>VRING_DESC_SIZE - 1);
      // The spec bounds any chain, indirect ones included, by the queue size.
      if (tlen / VRING_DESC_SIZE > num && !naive) {
        err = E_INDIRECT_TOO_BIG;
        errA = tlen;
        break;
      }
      // The table is read through the context too, and must translate to
      // one contiguous run (QEMU: "Cannot map indirect buffer").
      const taddr = load<u64>(d + VRING_DESC_ADDR);
      if (elemEnd >= elemCap) {
        if (count == 0) err = E_POP_OUTPUT;
        break;
      }
      const t = mapTable(ctx, limit, taddr, tlen, elems + <usize>elemEnd * ELEM_SIZE);
      if (t < 0) {
        err = <i32>-t;
        errA = <u32>taddr;
        errB = <u32>(taddr >> 32);
        break;
      }
      table = <usize>t;
      max = tlen / VRING_DESC_SIZE;
      i = 0;
    }
    // One compare per descriptor for three bounds: the ttl of rust-vmm's
    // DescriptorChain (a chain visits at most `max` descriptors, so a cycle
    // ends), QEMU's VIRTQUEUE_MAX_SIZE s/g entries, and for a naive walk,
    // which has neither, the simulator's budget.
    const hardMax = max < VIRTQUEUE_MAX_SIZE ? max : VIRTQUEUE_MAX_SIZE;
    const walkMax = naive ? (elemCap < NAIVE_WALK_BUDGET ? elemCap : NAIVE_WALK_BUDGET) : hardMax;
    let n: u32 = 0;
    let seenWrite = false;
    let readBytes: u64 = 0;
    let writeBytes: u64 = 0;
    let full = false;
    while (true) {
      if (n >= walkMax) {
        err = naive ? E_NAIVE_BUDGET : n >= max ? E_DESC_LOOP : E_TOO_MANY_WRITE_DESCS;
        errA = head;
        errB = n;
        break;
      }
      d = table + <usize>i * VRING_DESC_SIZE;
      const addr = load<u64>(d + VRING_DESC_ADDR);
      const len = load<u32>(d + VRING_DESC_LEN);
      flags = <u32>load<u16>(d + VRING_DESC_FLAGS);
      if ((flags & VRING_DESC_F_INDIRECT) != 0 && !naive) {
        err = E_INDIRECT_NESTED;
        errA = i;
        break;
      }
      const write = flags & VRING_DESC_F_WRITE;
      if (len == 0) {
        if (!naive) {
          err = E_ZERO_LEN;
          errA = i;
          break;
        }
        // Naive: an empty buffer, nothing to translate.
        if (elemEnd >= elemCap) {
          full = true;
          break;
        }
        storeIov(elems + <usize>elemEnd * ELEM_SIZE, addr, 0, write, 0);
        elemEnd++;
      } else {
        // QEMU virtqueue_split_pop checks the order, then maps the descriptor.
        if (write != 0) {
          seenWrite = true;
          writeBytes += len;
        } else {
          if (seenWrite && !naive) {
            err = E_DESC_ORDER;
            errA = i;
            break;
          }
          readBytes += len;
        }
        if (elemEnd < elemCap && within(addr, len, limit)) {
          storeIov(elems + <usize>elemEnd * ELEM_SIZE, addr, len, write, plainLinear(addr));
          elemEnd++;
        } else {
          const got = mapDescSlow(ctx, addr, len, write, elems, elemEnd, elemCap);
          if (got < 0) {
            err = -got;
            errA = <u32>addr;
            errB = <u32>(addr >> 32);
            break;
          }
          if (got == 0) {
            full = true;
            break;
          }
          elemEnd += <u32>got;
        }
      }
      n++;
      if ((flags & VRING_DESC_F_NEXT) == 0) break;
      i = <u32>load<u16>(d + VRING_DESC_NEXT);
      if (i >= max) {
        if (!naive) {
          err = E_DESC_NEXT_RANGE;
          errA = i;
          break;
        }
        i %= max;
      }
      if (nospec) i &= nospecMask(i, max);
    }
    if (err != 0) break;
    if (full) {
      // The chain stays available for the next call, unless even an empty
      // element array cannot hold it: that is the caller's sizing error.
      elemEnd = chainStart;
      if (count == 0) err = E_POP_OUTPUT;
      break;
    }
    // Total length must fit the 32-bit used.len (rust-vmm checked_add); a
    // naive device truncates it.
    if (readBytes + writeBytes > 0xffffffff && !naive) {
      err = E_CHAIN_LEN_OVERFLOW;
      errA = head;
      break;
    }
    const r = out + <usize>count * POP_SIZE;
    store<u32>(r + POP_ID, head);
    store<u32>(r + POP_WRITE_BYTES, <u32>writeBytes);
    store<u32>(r + POP_READ_BYTES, <u32>readBytes);
    store<u32>(r + POP_ELEM_END, elemEnd);
    lastAvail = (lastAvail + 1) & 0xffff;
    inflight++;
    count++;
    descs += n;
  }
  store<u32>(dev + DEV_LAST_AVAIL, lastAvail);
  store<u32>(dev + DEV_INFLIGHT, inflight);
  if (count > 0) {
    const stats = <usize>load<u32>(dev + DEV_STATS);
    bump(stats, ST_CHAINS_POPPED, count);
    bump(stats, ST_DESCS_POPPED, descs);
    dmaCountMaps(ctx, elemEnd);
    // virtqueue_split_pop(): with event idx, ask for a kick at the next
    // new entry while notifications are on.
    if ((features & QF_EVENT_IDX) != 0 && load<u32>(dev + DEV_NOTIFY_ENABLED) != 0) {
      const used = <usize>load<u32>(dev + DEV_USED);
      atomic.store<u16>(used + VRING_USED_RING + <usize>num * VRING_USED_ELEM_SIZE, <u16>lastAvail);
    }
  }
  store<u32>(dev + DEV_BATCH_DONE, count);
  if (err == E_POP_OUTPUT) return fail(dev, err, elemCap, 0);
  if (err == E_NAIVE_BUDGET) return fail(dev, err, errA, errB);
  if (err != 0) return broken(dev, err, errA, errB);
  return <i32>count;
}

// virtqueue_fill() + virtqueue_flush() for n {id, len} entries `stride` bytes
// apart (a pop output can be pushed back as it is). used->idx is published
// once, after the entries. Returns n, or -code (entries before the bad one
// are published; DEV_BATCH_DONE says how many).
export function split_dev_push(dev: usize, entries: usize, n: u32, stride: u32): i32 {
  store<u32>(dev + DEV_BATCH_DONE, 0);
  if (load<u32>(dev + DEV_BROKEN) != 0) return fail(dev, E_BROKEN, 0, 0);
  // The device's writes to staged private pages reach guest memory before
  // any completion is published (a confidential VM's encryption model).
  dmaCommitPending(<usize>load<u32>(dev + DEV_DMA_CTX));
  const num = load<u32>(dev + DEV_NUM);
  const mask = num - 1;
  const used = <usize>load<u32>(dev + DEV_USED);
  let usedIdx = load<u32>(dev + DEV_USED_IDX);
  let bytes: u64 = 0;
  let k: u32 = 0;
  let err: i32 = 0;
  let errA: u32 = 0;
  for (; k < n; k++) {
    const p = entries + <usize>k * <usize>stride;
    const id = load<u32>(p + PUSH_ID);
    const len = load<u32>(p + PUSH_LEN);
    // rust-vmm add_used(): a head the queue cannot have.
    if (id >= num) {
      err = E_PUSH_ID_RANGE;
      errA = id;
      break;
    }
    const u = used + VRING_USED_RING + <usize>(usedIdx & mask) * VRING_USED_ELEM_SIZE;
    store<u32>(u, id);
    store<u32>(u + 4, len);
    usedIdx = (usedIdx + 1) & 0xffff;
    bytes += len;
  }
  if (k > 0) {
    // smp_wmb() then used->idx (virtqueue_split_flush).
    storeRelease16(used + VRING_USED_IDX, usedIdx, load<u32>(dev + DEV_FEATURES));
    // virtqueue_split_flush(): once the used index has run so far past the
    // last index the device signalled that 16 bits cannot tell them apart,
    // forget it, so the next should_notify interrupts rather than compare
    // against a lapped value (QEMU signalled_used_valid, vhost signalled_used).
    const oldIdx = load<u32>(dev + DEV_USED_IDX);
    const sinceSignal = <i32><i16>(usedIdx - load<u32>(dev + DEV_SIGNALLED_USED));
    if (sinceSignal < <i32>((usedIdx - oldIdx) & 0xffff)) store<u32>(dev + DEV_SIGNALLED_VALID, 0);
    store<u32>(dev + DEV_USED_IDX, usedIdx);
    const inflight = load<u32>(dev + DEV_INFLIGHT);
    store<u32>(dev + DEV_INFLIGHT, inflight > k ? inflight - k : 0);
    const stats = <usize>load<u32>(dev + DEV_STATS);
    bump(stats, ST_CHAINS_USED, k);
    bump(stats, ST_BYTES_USED, bytes);
  }
  store<u32>(dev + DEV_BATCH_DONE, k);
  if (err != 0) return fail(dev, err, errA, k);
  return <i32>k;
}

// virtio_split_should_notify(): 1 when the driver wants an interrupt for what
// was pushed since the last decision.
export function split_dev_should_notify(dev: usize): i32 {
  // smp_mb() between split_dev_push's used->idx store and the loads below.
  mbAfterPublish(dev + DEV_FEATURES);
  const avail = <usize>load<u32>(dev + DEV_AVAIL);
  let notify: bool;
  if ((load<u32>(dev + DEV_FEATURES) & QF_EVENT_IDX) == 0) {
    notify = (atomic.load<u16>(avail + VRING_AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
  } else {
    const num = load<u32>(dev + DEV_NUM);
    const valid = load<u32>(dev + DEV_SIGNALLED_VALID) != 0;
    const oldIdx = load<u32>(dev + DEV_SIGNALLED_USED);
    const newIdx = load<u32>(dev + DEV_USED_IDX);
    store<u32>(dev + DEV_SIGNALLED_VALID, 1);
    store<u32>(dev + DEV_SIGNALLED_USED, newIdx);
    const usedEvent = <u32>atomic.load<u16>(avail + VRING_AVAIL_RING + <usize>num * 2);
    notify = !valid || needEvent(usedEvent, newIdx, oldIdx);
  }
  bump(<usize>load<u32>(dev + DEV_STATS), notify ? ST_INTERRUPTS : ST_INTERRUPTS_SUPPRESSED, 1);
  return notify ? 1 : 0;
}

// virtio_queue_split_set_notification(): with event idx the device asks for a
// kick at the next entry after the current avail->idx; without it, it sets or
// clears VRING_USED_F_NO_NOTIFY. Returns 1 when entries are available, so a
// device that re-enables notifications knows to poll once more.
export function split_dev_set_notify(dev: usize, enable: u32): i32 {
  store<u32>(dev + DEV_NOTIFY_ENABLED, enable != 0 ? 1 : 0);
  const num = load<u32>(dev + DEV_NUM);
  const avail = <usize>load<u32>(dev + DEV_AVAIL);
  const used = <usize>load<u32>(dev + DEV_USED);
  if ((load<u32>(dev + DEV_FEATURES) & QF_EVENT_IDX) != 0) {
    const availIdx = atomic.load<u16>(avail + VRING_AVAIL_IDX);
    atomic.store<u16>(used + VRING_USED_RING + <usize>num * VRING_USED_ELEM_SIZE, availIdx);
  } else {
    const flags = load<u16>(used + VRING_USED_FLAGS);
    atomic.store<u16>(
      used + VRING_USED_FLAGS,
      enable != 0 ? flags & ~VRING_USED_F_NO_NOTIFY : flags | VRING_USED_F_NO_NOTIFY,
    );
  }
  // smp_mb(): the request (a seq-cst store above) is ordered before the
  // seq-cst load of avail->idx.
  return <u32>atomic.load<u16>(avail + VRING_AVAIL_IDX) != load<u32>(dev + DEV_LAST_AVAIL) ? 1 : 0;
}

// A loopback device's turn, as packed_dev_use: up to maxChains buffers, each
// popped (split_dev_pop of one) and pushed back used with len = its writable
// bytes before the next is read. Returns the buffers used, or -code from the
// buffer that failed; DEV_BATCH_DONE holds the buffers used.
export function split_dev_use(dev: usize, out: usize, maxChains: u32, elemCap: u32): i32 {
  let k: u32 = 0;
  while (k < maxChains) {
    const n = split_dev_pop(dev, out, 1, elemCap);
    if (n == 0) break;
    const rc = n < 0 ? n : split_dev_push(dev, out, 1, POP_SIZE);
    if (rc < 0) {
      store<u32>(dev + DEV_BATCH_DONE, k);
      return rc;
    }
    k++;
  }
  store<u32>(dev + DEV_BATCH_DONE, k);
  return <i32>k;
}

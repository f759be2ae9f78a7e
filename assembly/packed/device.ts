// Device side of the packed virtqueue (VIRTIO 1.2 §2.8), following QEMU
// hw/virtio/virtio.c (virtqueue_packed_pop, virtqueue_packed_fill_desc,
// virtqueue_packed_flush, virtio_packed_should_notify, virtio_queue_packed_
// set_notification) with the checks of QEMU and vhost. Every value read from
// the ring is checked where it is read; a failed check marks the queue broken.
import {
  E_AVAIL_HEAD_RANGE,
  E_BROKEN,
  E_CHAIN_LEN_OVERFLOW,
  E_DESC_LOOP,
  E_DESC_ORDER,
  E_INDIRECT_LEN,
  E_INDIRECT_NESTED,
  E_INDIRECT_NOT_NEGOTIATED,
  E_INDIRECT_TOO_BIG,
  E_NAIVE_BUDGET,
  E_POP_OUTPUT,
  E_PUSH_ID_RANGE,
  E_TOO_MANY_WRITE_DESCS,
  E_ZERO_LEN,
  ELEM_SIZE,
  POP_ID,
  POP_ELEM_END,
  POP_READ_BYTES,
  POP_WRITE_BYTES,
  PUSH_LEN,
  POP_SIZE,
  PUSH_ID,
  QF_EVENT_IDX,
  QF_IN_ORDER,
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
} from "../layout";
import {
  E_AVAIL_ID_IN_USE,
  E_PUSH_NOT_INFLIGHT,
  E_PUSH_OUT_OF_ORDER,
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
  PDEV_AVAIL_WRAP,
  PDEV_BATCH_DONE,
  PDEV_BROKEN,
  PDEV_DESC,
  PDEV_DEVICE_AREA,
  PDEV_DMA_CTX,
  PDEV_DRIVER_AREA,
  PDEV_ERR_A,
  PDEV_ERR_B,
  PDEV_ERR_CODE,
  PDEV_FEATURES,
  PDEV_IDS,
  PDEV_INFLIGHT,
  PDEV_LAST_AVAIL,
  PDEV_NOTIFY_ENABLED,
  PDEV_NUM,
  PDEV_ORDER,
  PDEV_SIGNALLED_USED,
  PDEV_SIGNALLED_VALID,
  PDEV_STATS,
  PDEV_USED_IDX,
  PDEV_USED_WRAP,
  PEVENT_FLAG_DESC,
  PEVENT_FLAG_DISABLE,
  PEVENT_FLAG_ENABLE,
  PEVENT_FLAGS,
  PEVENT_OFF_MASK,
  PEVENT_OFF_WRAP,
  PEVENT_WRAP_SHIFT,
} from "./layout";
import { bump, mbAfterPublish, needEvent, storeRelease16, within } from "../ring";
import { nospecMask } from "../split/nospec";

// QEMU's VIRTQUEUE_MAX_SIZE: the most s/g entries one element maps.
const VIRTQUEUE_MAX_SIZE: u32 = 1024;
import { dmaCommitPending, dmaCountMaps, dmaFastLimit, mapDesc, mapTable, plainLinear, storeIov } from "../mem/dma";

function fail(dev: usize, code: i32, a: u32, b: u32): i32 {
  store<u32>(dev + PDEV_ERR_CODE, code);
  store<u32>(dev + PDEV_ERR_A, a);
  store<u32>(dev + PDEV_ERR_B, b);
  return -code;
}

// virtio_error(): the driver broke the protocol; the device stops using the queue.
function broken(dev: usize, code: i32, a: u32, b: u32): i32 {
  store<u32>(dev + PDEV_BROKEN, 1);
  bump(<usize>load<u32>(dev + PDEV_STATS), ST_DEVICE_CHECKS_FAILED, 1);
  return fail(dev, code, a, b);
}

// Both wrap bits of a descriptor's flags: AVAIL (bit 7) and USED (bit 15).
const WRAP_BITS: u32 = PDESC_F_AVAIL | PDESC_F_USED;

// is_desc_avail(): AVAIL matches the wrap counter, USED does not.
@inline
function isAvail(flags: u32, wrap: u32): bool {
  return ((flags >>> PDESC_F_AVAIL_SHIFT) & 1) == wrap && ((flags >>> PDESC_F_USED_SHIFT) & 1) != wrap;
}

// Both wrap counters start at 1. With event idx the device asks for a kick at
// the first descriptor (so the first add kicks, as with the split ring).
export function packed_dev_init(dev: usize): void {
  store<u32>(dev + PDEV_AVAIL_WRAP, 1);
  store<u32>(dev + PDEV_USED_WRAP, 1);
  store<u32>(dev + PDEV_NOTIFY_ENABLED, 1);
  const area = <usize>load<u32>(dev + PDEV_DEVICE_AREA);
  if ((load<u32>(dev + PDEV_FEATURES) & QF_EVENT_IDX) != 0) {
    store<u16>(area + PEVENT_OFF_WRAP, <u16>(<u32>1 << <u32>PEVENT_WRAP_SHIFT));
    store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_DESC);
  } else {
    store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_ENABLE);
  }
}

// One available buffer of one descriptor at ring descriptor `d`, taken as
// packed_dev_pop would take it, for the one-buffer runs: its flags match
// `pat` (is_desc_avail() and no NEXT, no INDIRECT, in one mask test), its
// length is not 0, it lies inside the plain context's `limit`, and its id is
// in range and not in flight. Writes its chain record at `r` (elements up to
// `elemEnd`) and its element at `e`, and returns its ids[] slot; returns 0,
// writing nothing, for any other buffer (the general pop then reads it again
// and reports it). Branches rather than materialised booleans for the checks.
@inline
function takeOneBuffer(
  d: usize,
  pat: u32,
  limit: u64,
  num: u32,
  ids: usize,
  nospec: bool,
  r: usize,
  e: usize,
  elemEnd: u32,
): usize {
  // Acquire: the descriptor was written before its flags.
  const flags = <u32>atomic.load<u16>(d + PDESC_FLAGS);
  if ((flags & (WRAP_BITS | PDESC_F_INDIRECT | PDESC_F_NEXT)) != pat) return 0;
  const addr = load<u64>(d + PDESC_ADDR);
  const len = load<u32>(d + PDESC_LEN);
  const id = <u32>load<u16>(d + PDESC_ID);
  if (len == 0) return 0;
  // within(addr, len, limit), as two branches.
  if (addr > limit) return 0;
  if (<u64>len > limit - addr) return 0;
  if (id >= num) return 0;
  let at = id;
  if (nospec) at &= nospecMask(id, num);
  const slot = ids + <usize>at * 2;
  if (load<u16>(slot) != 0) return 0;
  const write = flags & PDESC_F_WRITE;
  storeIov(e, addr, len, write, plainLinear(addr));
  const writeBytes = write != 0 ? len : 0;
  store<u32>(r + POP_ID, id);
  store<u32>(r + POP_WRITE_BYTES, writeBytes);
  store<u32>(r + POP_READ_BYTES, len - writeBytes);
  store<u32>(r + POP_ELEM_END, elemEnd);
  return slot;
}

// The leading run of buffers of one descriptor (every virtio-net buffer
// without indirect): the general walk in packed_dev_pop for a buffer of one,
// checks included, in a loop of its own with few live values, which V8 keeps
// in registers (binaryen may inline the function; the loop stays apart). It
// runs only for a plain direct DMA context (the caller checks). It
// stops, leaving the buffer available, at anything
// else: a descriptor that is not available, one with NEXT or INDIRECT, one
// that fails a check (the general loop then reads it again and reports it),
// or a full pop output. Saves the ring position, wrap counter and in-flight
// count and returns the buffers popped (element k belongs to record k).
//
// Written for few instructions: one mask test of the flags (is_desc_avail()
// and "no NEXT, no INDIRECT" at once, against the pattern of the available
// bits, which is carried instead of the wrap counter), branches rather than
// materialised booleans for the checks, and 32-bit fields loaded and stored
// one by one (a combined 64-bit access costs the shifts and ors that split
// or build it).
function popOneBuffers(dev: usize, out: usize, maxChains: u32, elemCap: u32, limit: u64): u32 {
  const num = load<u32>(dev + PDEV_NUM);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const elems = out + <usize>maxChains * POP_SIZE;
  const end = maxChains < elemCap ? maxChains : elemCap;
  let lastAvail = load<u32>(dev + PDEV_LAST_AVAIL);
  // An available one-descriptor buffer: AVAIL = wrap, USED = !wrap, no NEXT, no INDIRECT.
  let pat: u32 = load<u32>(dev + PDEV_AVAIL_WRAP) != 0 ? PDESC_F_AVAIL : PDESC_F_USED;
  const nospec = (load<u32>(dev + PDEV_FEATURES) & QF_NOSPEC) != 0;
  let k: u32 = 0;
  // The run up to the end of the ring, then the wrap: the inner loop carries
  // only the descriptor pointer and k (with the wrap tested in it, the
  // register allocator kept the pattern on the stack, stored every entry).
  while (k < end) {
    const left = end - k;
    const room = num - lastAvail;
    const stop = k + (left < room ? left : room);
    let d = ring + <usize>lastAvail * PDESC_SIZE;
    // The element pointer is carried too: V8 recomputed `elems` (used only
    // in the loop) in every iteration, besides the multiply.
    let e = elems + <usize>k * ELEM_SIZE;
    while (k < stop) {
      const slot = takeOneBuffer(d, pat, limit, num, ids, nospec, out + <usize>k * POP_SIZE, e, k + 1);
      if (slot == 0) break;
      store<u16>(slot, 1);
      k++;
      d += PDESC_SIZE;
      e += ELEM_SIZE;
    }
    lastAvail = <u32>((d - ring) / PDESC_SIZE);
    if (lastAvail == num) {
      lastAvail = 0;
      pat ^= WRAP_BITS;
    }
    if (k < stop) break;
  }
  if (k > 0) {
    store<u32>(dev + PDEV_LAST_AVAIL, lastAvail);
    store<u32>(dev + PDEV_AVAIL_WRAP, pat == PDESC_F_AVAIL ? 1 : 0);
    store<u32>(dev + PDEV_INFLIGHT, load<u32>(dev + PDEV_INFLIGHT) + k);
  }
  return k;
}

// Pops direct chains of any length for a plain direct DMA context, from
// where popOneBuffers stopped: the general loop below carries the context,
// the error operands and the slow translation, and V8 spills its live values
// on every descriptor; this loop keeps only what a valid direct chain needs.
// It stops, leaving the buffer available, at anything else: a descriptor
// that is not available, an indirect one, one that fails a check (the
// general loop then reads it again and reports it), or a full pop output.
// Elements it wrote for a buffer it leaves are the ones the general loop
// writes again, with the same bytes. Saves the ring position, wrap counter
// and in-flight count and returns the buffers popped (`count` of them were
// already; POP_ELEM_END of the last tells where the elements end).
function popPlainChains(dev: usize, out: usize, maxChains: u32, elemCap: u32, count: u32): u32 {
  const limit = dmaFastLimit(<usize>load<u32>(dev + PDEV_DMA_CTX));
  const num = load<u32>(dev + PDEV_NUM);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ringEnd = ring + <usize>num * PDESC_SIZE;
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const elems = out + <usize>maxChains * POP_SIZE;
  const elemsEnd = elems + <usize>elemCap * ELEM_SIZE;
  let ep = elems + (count > 0 ? <usize>load<u32>(out + <usize>(count - 1) * POP_SIZE + POP_ELEM_END) * ELEM_SIZE : 0);
  let lastAvail = load<u32>(dev + PDEV_LAST_AVAIL);
  let wrap = load<u32>(dev + PDEV_AVAIL_WRAP);
  let inflight = load<u32>(dev + PDEV_INFLIGHT);
  const start = count;
  const nospec = (load<u32>(dev + PDEV_FEATURES) & QF_NOSPEC) != 0;
  // A buffer takes at most num descriptors and maps at most VIRTQUEUE_MAX_SIZE.
  const ttl: usize = num < VIRTQUEUE_MAX_SIZE ? num : VIRTQUEUE_MAX_SIZE;
  while (count < maxChains) {
    let d = ring + <usize>lastAvail * PDESC_SIZE;
    // Acquire: the rest of the chain was written before the head's flags.
    const flags0 = <u32>atomic.load<u16>(d + PDESC_FLAGS);
    if (!isAvail(flags0, wrap) || (flags0 & PDESC_F_INDIRECT) != 0) break;
    // One bound for both a full output and the general loop's limit of num
    // descriptors (one element each): reaching it hands the buffer to the
    // general loop, which tells which it was.
    const ttlEnd = ep + ttl * ELEM_SIZE;
    const stop = ttlEnd < elemsEnd ? ttlEnd : elemsEnd;
    let e = ep;
    let readBytes: u64 = 0;
    // Every length is nonzero, so a write descriptor was seen once this is.
    let writeBytes: u64 = 0;
    let lif: u64 = 0;
    let ok = false;
    while (e < stop) {
      // {len u32, id u16, flags u16} in one load (the head's flags are the
      // acquire load's, the same bits).
      lif = load<u64>(d + PDESC_LEN);
      const flags = <u32>(lif >> 48);
      const addr = load<u64>(d + PDESC_ADDR);
      const len = <u32>lif;
      // The head's INDIRECT was tested above; a later one is nested.
      if ((flags & PDESC_F_INDIRECT) != 0 || len == 0) break;
      if (!within(addr, len, limit)) break;
      const write = flags & PDESC_F_WRITE;
      storeIov(e, addr, len, write, plainLinear(addr));
      e += ELEM_SIZE;
      if (write != 0) writeBytes += len;
      else if (writeBytes != 0) break;
      else readBytes += len;
      if ((flags & PDESC_F_NEXT) == 0) {
        ok = true;
        break;
      }
      d += PDESC_SIZE;
      if (d == ringEnd) d = ring;
    }
    if (!ok) break;
    const id = <u32>(lif >> 32) & 0xffff;
    if (id >= num) break;
    let at = id;
    if (nospec) at &= nospecMask(id, num);
    const slot = ids + <usize>at * 2;
    if (load<u16>(slot) != 0) break;
    if (readBytes + writeBytes > 0xffffffff) break;
    const ndescs = <u32>((e - ep) / ELEM_SIZE);
    store<u16>(slot, <u16>ndescs);
    const r = out + <usize>count * POP_SIZE;
    store<u64>(r + POP_ID, <u64>id | (writeBytes << 32));
    store<u64>(r + POP_READ_BYTES, readBytes | (<u64>((e - elems) / ELEM_SIZE) << 32));
    ep = e;
    lastAvail += ndescs;
    if (lastAvail >= num) {
      lastAvail -= num;
      wrap ^= 1;
    }
    inflight++;
    count++;
  }
  if (count > start) {
    store<u32>(dev + PDEV_LAST_AVAIL, lastAvail);
    store<u32>(dev + PDEV_AVAIL_WRAP, wrap);
    store<u32>(dev + PDEV_INFLIGHT, inflight);
  }
  return count;
}

// A zero-length descriptor a naive device took (no check refused it): one
// empty element, nothing to translate (a paged context maps no page for it).
// Returns 1, or 0 when the output is full.
function emptyElem(addr: u64, write: u32, elems: usize, at: u32, cap: u32): i32 {
  if (at >= cap) return 0;
  storeIov(elems + <usize>at * ELEM_SIZE, addr, 0, write, 0);
  return 1;
}

// Pops up to maxChains available buffers into `out` exactly as split_dev_pop
// does (chain records, then elemCap elements). Returns the number popped, 0
// on a broken queue, or -code; PDEV_BATCH_DONE then holds how many were
// popped (and stay popped) before the failure.
export function packed_dev_pop(dev: usize, out: usize, maxChains: u32, elemCap: u32): i32 {
  store<u32>(dev + PDEV_BATCH_DONE, 0);
  if (load<u32>(dev + PDEV_BROKEN) != 0) return 0;
  const num = load<u32>(dev + PDEV_NUM);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const features = load<u32>(dev + PDEV_FEATURES);
  const ctx = <usize>load<u32>(dev + PDEV_DMA_CTX);
  // The space a plain direct context translates inline, 0 for any other.
  const limit = dmaFastLimit(ctx);
  const elems = out + <usize>maxChains * POP_SIZE;
  let count: u32 = 0;
  let elemEnd: u32 = 0;
  if (limit != 0) {
    count = popOneBuffers(dev, out, maxChains, elemCap, limit);
    count = popPlainChains(dev, out, maxChains, elemCap, count);
    // A plain context maps each descriptor to one element.
    if (count > 0) elemEnd = load<u32>(out + <usize>(count - 1) * POP_SIZE + POP_ELEM_END);
  }
  let descs = elemEnd;
  let lastAvail = load<u32>(dev + PDEV_LAST_AVAIL);
  let wrap = load<u32>(dev + PDEV_AVAIL_WRAP);
  let inflight = load<u32>(dev + PDEV_INFLIGHT);
  const nospec = (features & QF_NOSPEC) != 0;
  // Naive (QF_NAIVE): the protocol checks are skipped, as in a device model
  // that trusts its driver (see split_dev_pop): an id past the ring is
  // reduced mod num, an id in use is taken again (its record overwritten),
  // a zero-length descriptor maps an empty buffer, a chain that runs round
  // the ring is stopped by the simulator's budget. The DMA context's checks
  // and the indirect table's length stay.
  const naive = (features & QF_NAIVE) != 0;
  const naiveBudget: u32 = elemCap < 65536 ? elemCap : 65536;
  let err: i32 = 0;
  let errA: u32 = 0;
  let errB: u32 = 0;
  while (count < maxChains) {
    let d = ring + <usize>lastAvail * PDESC_SIZE;
    // Acquire: the rest of the chain was written before the head's flags.
    let flags = <u32>atomic.load<u16>(d + PDESC_FLAGS);
    if (!isAvail(flags, wrap)) break;
    const chainStart = elemEnd;
    let id: u32 = 0;
    let ndescs: u32 = 0;
    let readBytes: u64 = 0;
    // Device-writable bytes so far; not 0 once a writable descriptor was seen
    // (a zero length fails its own check first), which is what the order
    // check asks (§2.8.4: readable descriptors before writable ones).
    let writeBytes: u64 = 0;
    let full = false;
    let tableDescs: u32 = 0;
    if ((flags & PDESC_F_INDIRECT) != 0) {
      if ((features & QF_INDIRECT) == 0 && !naive) {
        err = E_INDIRECT_NOT_NEGOTIATED;
        errA = lastAvail;
        break;
      }
      // {len, id} of the head in one load (its flags came with acquire).
      const headLenId = load<u64>(d + PDESC_LEN);
      let tlen = <u32>headLenId;
      if (tlen < <u32>PDESC_SIZE || ((tlen & (PDESC_SIZE - 1)) != 0 && !naive)) {
        err = E_INDIRECT_LEN;
        errA = tlen;
        break;
      }
      // Naive: the partial descriptor at the end is not read.
      tlen &= ~(<u32>PDESC_SIZE - 1);
      // §2.8.5: without a device limit a list holds at most queue-size descriptors.
      if (tlen / PDESC_SIZE > num && !naive) {
        err = E_INDIRECT_TOO_BIG;
        errA = tlen;
        break;
      }
      const taddr = load<u64>(d + PDESC_ADDR);
      if (elemEnd >= elemCap) {
        if (count == 0) err = E_POP_OUTPUT;
        break;
      }
      // Read through the context as one contiguous run (see mapTable).
      const t = mapTable(ctx, limit, taddr, tlen, elems + <usize>elemEnd * ELEM_SIZE);
      if (t < 0) {
        err = <i32>-t;
        errA = <u32>taddr;
        errB = <u32>(taddr >> 32);
        break;
      }
      id = <u32>(headLenId >> 32) & 0xffff;
      ndescs = 1;
      const table = <usize>t;
      const max = tlen / PDESC_SIZE;
      // QEMU virtqueue_map_desc(): no more than VIRTQUEUE_MAX_SIZE s/g entries.
      if (max > VIRTQUEUE_MAX_SIZE && !naive) {
        err = E_TOO_MANY_WRITE_DESCS;
        errA = lastAvail;
        errB = max;
        break;
      }
      // Every entry of the table belongs to the buffer; NEXT is ignored there.
      const tableEnd = table + <usize>max * PDESC_SIZE;
      for (let t = table; t < tableEnd; t += PDESC_SIZE) {
        const k = <u32>((t - table) / PDESC_SIZE);
        const addr = load<u64>(t + PDESC_ADDR);
        // {len u32, id u16, flags u16} in one load.
        const lif = load<u64>(t + PDESC_LEN);
        const len = <u32>lif;
        const tflags = <u32>(lif >> 48);
        if ((tflags & PDESC_F_INDIRECT) != 0 && !naive) {
          err = E_INDIRECT_NESTED;
          errA = k;
          break;
        }
        if (len == 0 && !naive) {
          err = E_ZERO_LEN;
          errA = k;
          break;
        }
        const got = len != 0 ? mapDesc(ctx, limit, addr, len, tflags & PDESC_F_WRITE, elems, elemEnd, elemCap) : emptyElem(addr, tflags & PDESC_F_WRITE, elems, elemEnd, elemCap);
        if (got < 0) {
          err = -got;
          errA = <u32>addr;
          errB = <u32>(addr >> 32);
          break;
        }
        if ((tflags & PDESC_F_WRITE) != 0) {
          writeBytes += len;
        } else {
          if (writeBytes != 0 && !naive) {
            err = E_DESC_ORDER;
            errA = k;
            break;
          }
          readBytes += len;
        }
        if (got == 0) {
          full = true;
          break;
        }
        elemEnd += <u32>got;
        tableDescs++;
      }
    } else {
      // A direct chain: consecutive ring descriptors (wrapping at the end)
      // while NEXT is set; the buffer id is on the last one (§2.8.6). The
      // head's flags come from the acquire load above; {len, id, flags} of
      // every descriptor are one 64-bit load. The head is taken outside the
      // loop (no order check can fail on it), so a one-descriptor chain runs
      // no loop: V8 runs a loop's header, stack check included, per entry.
      let i = lastAvail;
      let lif = load<u64>(d + PDESC_LEN);
      const addr0 = load<u64>(d + PDESC_ADDR);
      const len0 = <u32>lif;
      if (len0 == 0 && !naive) {
        err = E_ZERO_LEN;
        errA = i;
        break;
      }
      const got0 =
        len0 != 0
          ? mapDesc(ctx, limit, addr0, len0, flags & PDESC_F_WRITE, elems, elemEnd, elemCap)
          : emptyElem(addr0, flags & PDESC_F_WRITE, elems, elemEnd, elemCap);
      if (got0 < 0) {
        err = -got0;
        errA = <u32>addr0;
        errB = <u32>(addr0 >> 32);
        break;
      }
      if ((flags & PDESC_F_WRITE) != 0) {
        writeBytes = len0;
      } else {
        readBytes = len0;
      }
      if (got0 == 0) {
        full = true;
      } else {
        elemEnd += <u32>got0;
        ndescs = 1;
        if ((flags & PDESC_F_NEXT) == 0) {
          id = <u32>(lif >> 32) & 0xffff;
        } else {
          while (true) {
            i++;
            if (i >= num) i = 0;
            // No list is longer than the ring (§2.8.5): this ends a chain that
            // would run into itself, before its (num + 1)-th descriptor is read.
            if (naive) {
              if (ndescs >= naiveBudget) {
                err = E_NAIVE_BUDGET;
                errA = lastAvail;
                errB = ndescs;
                break;
              }
            } else if (ndescs >= num) {
              err = E_DESC_LOOP;
              errA = lastAvail;
              break;
            } else if (ndescs >= VIRTQUEUE_MAX_SIZE) {
              // QEMU virtqueue_map_desc(): no more than VIRTQUEUE_MAX_SIZE s/g entries.
              err = E_TOO_MANY_WRITE_DESCS;
              errA = lastAvail;
              errB = ndescs;
              break;
            }
            d = ring + <usize>i * PDESC_SIZE;
            lif = load<u64>(d + PDESC_LEN);
            flags = <u32>(lif >> 48);
            if ((flags & PDESC_F_INDIRECT) != 0 && !naive) {
              err = E_INDIRECT_NESTED;
              errA = i;
              break;
            }
            const addr = load<u64>(d + PDESC_ADDR);
            const len = <u32>lif;
            if (len == 0 && !naive) {
              err = E_ZERO_LEN;
              errA = i;
              break;
            }
            const got = len != 0 ? mapDesc(ctx, limit, addr, len, flags & PDESC_F_WRITE, elems, elemEnd, elemCap) : emptyElem(addr, flags & PDESC_F_WRITE, elems, elemEnd, elemCap);
            if (got < 0) {
              err = -got;
              errA = <u32>addr;
              errB = <u32>(addr >> 32);
              break;
            }
            if ((flags & PDESC_F_WRITE) != 0) {
              writeBytes += len;
            } else {
              if (writeBytes != 0 && !naive) {
                err = E_DESC_ORDER;
                errA = i;
                break;
              }
              readBytes += len;
            }
            if (got == 0) {
              full = true;
              break;
            }
            elemEnd += <u32>got;
            ndescs++;
            if ((flags & PDESC_F_NEXT) == 0) {
              id = <u32>(lif >> 32) & 0xffff;
              break;
            }
          }
        }
      }
    }
    if (err != 0) break;
    if (full) {
      // The buffer stays available for the next call, unless even an empty
      // element array cannot hold it: that is the caller's sizing error.
      elemEnd = chainStart;
      if (count == 0) err = E_POP_OUTPUT;
      break;
    }
    // The device keeps one record per id in flight, so ids are ring indices.
    if (id >= num) {
      if (!naive) {
        err = E_AVAIL_HEAD_RANGE;
        errA = id;
        break;
      }
      id %= num;
    }
    if (nospec) id &= nospecMask(id, num);
    const slot = ids + <usize>id * 2;
    if (load<u16>(slot) != 0 && !naive) {
      err = E_AVAIL_ID_IN_USE;
      errA = id;
      break;
    }
    if (readBytes + writeBytes > 0xffffffff && !naive) {
      err = E_CHAIN_LEN_OVERFLOW;
      errA = id;
      break;
    }
    store<u16>(slot, <u16>ndescs);
    // The chain record {id, writeBytes, readBytes, elemEnd}: two 64-bit stores.
    const r = out + <usize>count * POP_SIZE;
    store<u64>(r + POP_ID, <u64>id | (writeBytes << 32));
    store<u64>(r + POP_READ_BYTES, readBytes | (<u64>elemEnd << 32));
    lastAvail += ndescs;
    if (lastAvail >= num) {
      lastAvail -= num;
      wrap ^= 1;
    }
    inflight++;
    count++;
    // An indirect buffer took one ring descriptor; count what its table held.
    descs += (flags & PDESC_F_INDIRECT) != 0 ? tableDescs : ndescs;
  }
  store<u32>(dev + PDEV_LAST_AVAIL, lastAvail);
  store<u32>(dev + PDEV_AVAIL_WRAP, wrap);
  store<u32>(dev + PDEV_INFLIGHT, inflight);
  if (count > 0) {
    const stats = <usize>load<u32>(dev + PDEV_STATS);
    bump(stats, ST_CHAINS_POPPED, count);
    bump(stats, ST_DESCS_POPPED, descs);
    dmaCountMaps(ctx, elemEnd);
    // As split_dev_pop does with avail_event: with event idx and
    // notifications on, ask for a kick at the next descriptor.
    if ((features & QF_EVENT_IDX) != 0 && load<u32>(dev + PDEV_NOTIFY_ENABLED) != 0) {
      const area = <usize>load<u32>(dev + PDEV_DEVICE_AREA);
      atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>(lastAvail | (wrap << PEVENT_WRAP_SHIFT)));
    }
  }
  store<u32>(dev + PDEV_BATCH_DONE, count);
  if (err == E_POP_OUTPUT) return fail(dev, err, elemCap, 0);
  if (err == E_NAIVE_BUDGET) return fail(dev, err, errA, errB);
  if (err != 0) return broken(dev, err, errA, errB);
  return <i32>count;
}

// virtqueue_packed_fill_desc() + virtqueue_packed_flush() for n {id, len}
// entries `stride` bytes apart. Each used descriptor goes where the device's
// used index is, which then skips the descriptors that buffer took. The first
// descriptor is written last, its flags with release ordering, so the driver
// sees the batch at once. Returns n, or -code (entries before the bad one are
// published).
//
// The first entry is checked before the loop and its descriptor written
// after it; the loop then treats every entry alike (the same stores) and
// keeps only what it carries from entry to entry in registers (with more
// live values the register allocator spilled the used index and the byte
// count, and each entry waited on a store-to-load round trip through the
// stack). The error is derived from the entry the loop stopped at.
export function packed_dev_push(dev: usize, entries: usize, n: u32, stride: u32): i32 {
  store<u32>(dev + PDEV_BATCH_DONE, 0);
  if (load<u32>(dev + PDEV_BROKEN) != 0) return fail(dev, E_BROKEN, 0, 0);
  // Staged writes to private pages land before anything is published.
  dmaCommitPending(<usize>load<u32>(dev + PDEV_DMA_CTX));
  if (n == 0) return 0;
  const num = load<u32>(dev + PDEV_NUM);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const start = load<u32>(dev + PDEV_USED_IDX);
  const startWrap = load<u32>(dev + PDEV_USED_WRAP);
  // {id, len} in one load.
  const first = load<u64>(entries + PUSH_ID);
  const id0 = <u32>first;
  const len0 = <u32>(first >> 32);
  const n0 = take(ids, num, id0);
  if (n0 == 0) return fail(dev, id0 >= num ? E_PUSH_ID_RANGE : E_PUSH_NOT_INFLIGHT, id0, 0);
  // AVAIL = USED = the used wrap counter: both bits are carried as a pattern.
  let usedPat: u32 = startWrap != 0 ? PDESC_F_AVAIL | PDESC_F_USED : 0;
  // The loop carries the descriptor pointer instead of the used index (no
  // shift and add per entry) and stores {len, id, flags} field by field
  // (building one 64-bit value costs more shifts and ors than the two extra
  // stores). ringEnd is used here, before the loop, too: V8 computes a value
  // where its uses meet, and does not hoist it out of a loop that can be left
  // before the use (here, by a break), so with its only use in the loop it
  // was computed anew in every iteration.
  const ringEnd = ring + <usize>num * PDESC_SIZE;
  let d = ring + <usize>(start + n0) * PDESC_SIZE;
  if (d >= ringEnd) {
    d -= <usize>num * PDESC_SIZE;
    usedPat ^= PDESC_F_AVAIL | PDESC_F_USED;
    // QEMU forgets the last signalled index when the used index wraps.
    store<u32>(dev + PDEV_SIGNALLED_VALID, 0);
  }
  let bytes: u64 = len0;
  let p = entries + <usize>stride;
  const end = entries + <usize>n * <usize>stride;
  while (p < end) {
    const id = load<u32>(p + PUSH_ID);
    const len = load<u32>(p + PUSH_LEN);
    if (id >= num) break;
    const slot = ids + <usize>id * 2;
    const ndescs = <u32>load<u16>(slot);
    if (ndescs == 0) break;
    store<u32>(d + PDESC_LEN, len);
    store<u16>(d + PDESC_ID, <u16>id);
    store<u16>(d + PDESC_FLAGS, <u16>(usedPat | (len != 0 ? PDESC_F_WRITE : 0)));
    // A predictable branch instead of a data dependency on the ids[] load
    // (see packed_drv_get_used).
    if (ndescs == 1) {
      d += PDESC_SIZE;
      if (d == ringEnd) {
        d = ring;
        usedPat ^= PDESC_F_AVAIL | PDESC_F_USED;
        store<u32>(dev + PDEV_SIGNALLED_VALID, 0);
      }
    } else {
      d += <usize>ndescs * PDESC_SIZE;
      if (d >= ringEnd) {
        d -= <usize>num * PDESC_SIZE;
        usedPat ^= PDESC_F_AVAIL | PDESC_F_USED;
        store<u32>(dev + PDEV_SIGNALLED_VALID, 0);
      }
    }
    bytes += len;
    p += stride;
    // The record is cleared last: with the store right after the load, the
    // next entry's load of ids[] waited on it (measured: 1 ns an entry).
    store<u16>(slot, 0);
  }
  const usedIdx = <u32>((d - ring) / PDESC_SIZE);
  // virtqueue_packed_flush(): the first used descriptor last, its flags with
  // release ordering.
  const d0 = ring + <usize>start * PDESC_SIZE;
  store<u16>(d0 + PDESC_ID, <u16>id0);
  store<u32>(d0 + PDESC_LEN, len0);
  storeRelease16(d0 + PDESC_FLAGS, usedFlags(startWrap, len0), load<u32>(dev + PDEV_FEATURES));
  const k = <u32>((p - entries) / <usize>stride);
  store<u32>(dev + PDEV_USED_IDX, usedIdx);
  store<u32>(dev + PDEV_USED_WRAP, usedPat >>> PDESC_F_USED_SHIFT);
  const inflight = load<u32>(dev + PDEV_INFLIGHT);
  store<u32>(dev + PDEV_INFLIGHT, inflight > k ? inflight - k : 0);
  const stats = <usize>load<u32>(dev + PDEV_STATS);
  bump(stats, ST_CHAINS_USED, k);
  bump(stats, ST_BYTES_USED, bytes);
  store<u32>(dev + PDEV_BATCH_DONE, k);
  if (k < n) {
    // The entry the loop stopped at (the caller's own input, read again): an
    // id the queue cannot have, or one the device does not hold.
    const id = load<u32>(p + PUSH_ID);
    return fail(dev, id >= num ? E_PUSH_ID_RANGE : E_PUSH_NOT_INFLIGHT, id, k);
  }
  return <i32>k;
}

// A loopback device's turn on the queue, as ringtest's use_buf() in a loop:
// up to maxChains buffers, each popped (QEMU virtqueue_pop()) and pushed
// back used with len = its writable bytes (virtqueue_push()) before the next
// is read, in one call, so a device that uses one buffer at a time crosses
// into Wasm once a buffer instead of twice. The pop output holds the last
// buffer used (record 0, its elements after one record). Returns the buffers
// used, or -code from the pop or the push of the buffer that failed (the
// ones before it stay used); PDEV_BATCH_DONE holds the buffers used.
export function packed_dev_use(dev: usize, out: usize, maxChains: u32, elemCap: u32): i32 {
  const inOrder = (load<u32>(dev + PDEV_FEATURES) & QF_IN_ORDER) != 0;
  // In order, the pop records the order its push checks: no fast path.
  const limit = inOrder ? 0 : dmaFastLimit(<usize>load<u32>(dev + PDEV_DMA_CTX));
  let k: u32 = 0;
  while (k < maxChains) {
    if (limit != 0 && load<u32>(dev + PDEV_BROKEN) == 0) {
      k += useOneBuffers(dev, out, maxChains - k, elemCap, limit);
      if (k == maxChains) break;
      // Nothing more available (how a polling device's pass usually ends):
      // done, without setting up the general pop to find the same.
      const next = <usize>load<u32>(dev + PDEV_DESC) + <usize>load<u32>(dev + PDEV_LAST_AVAIL) * PDESC_SIZE;
      if (!isAvail(<u32>atomic.load<u16>(next + PDESC_FLAGS), load<u32>(dev + PDEV_AVAIL_WRAP))) break;
    }
    // Anything else, one buffer through the general pop and push.
    const n = inOrder ? packed_dev_pop_in_order(dev, out, 1, elemCap) : packed_dev_pop(dev, out, 1, elemCap);
    if (n == 0) break;
    const rc = n < 0 ? n : inOrder ? packed_dev_push_in_order(dev, out, 1, POP_SIZE) : packed_dev_push(dev, out, 1, POP_SIZE);
    if (rc < 0) {
      store<u32>(dev + PDEV_BATCH_DONE, k);
      return rc;
    }
    k++;
  }
  store<u32>(dev + PDEV_BATCH_DONE, k);
  return <i32>k;
}

// packed_dev_use's run of one-descriptor buffers in a plain direct context:
// each is taken where popOneBuffers would take it, with the same checks, its
// record and element written where a pop of one buffer writes them, and its
// used descriptor written and published before the next is read, as
// ringtest's use_buf() does (no record in ids[]: the buffer is never in
// flight between calls). Stops, leaving the buffer available, where
// popOneBuffers stops (the general pop then reads it again and reports it).
// Leaves the state and the counters as that pop and push would, and returns
// the buffers used.
function useOneBuffers(dev: usize, out: usize, maxChains: u32, elemCap: u32, limit: u64): u32 {
  const num = load<u32>(dev + PDEV_NUM);
  const features = load<u32>(dev + PDEV_FEATURES);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ringEnd = ring + <usize>num * PDESC_SIZE;
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  // No room for an element: the general pop reports it.
  const end = elemCap != 0 ? maxChains : 0;
  const nospec = (features & QF_NOSPEC) != 0;
  let d = ring + <usize>load<u32>(dev + PDEV_LAST_AVAIL) * PDESC_SIZE;
  // An available one-descriptor buffer: AVAIL = wrap, USED = !wrap, no NEXT, no INDIRECT.
  let pat: u32 = load<u32>(dev + PDEV_AVAIL_WRAP) != 0 ? PDESC_F_AVAIL : PDESC_F_USED;
  let u = ring + <usize>load<u32>(dev + PDEV_USED_IDX) * PDESC_SIZE;
  // A used descriptor: AVAIL = USED = the used wrap counter.
  let usedPat: u32 = load<u32>(dev + PDEV_USED_WRAP) != 0 ? WRAP_BITS : 0;
  // A pop of one buffer: its record first, its element after it.
  const e = out + POP_SIZE;
  let bytes: u64 = 0;
  let k: u32 = 0;
  while (k < end) {
    if (takeOneBuffer(d, pat, limit, num, ids, nospec, out, e, 1) == 0) break;
    // Read back from the record just written (store-to-load forwarding).
    const id = load<u32>(out + POP_ID);
    const writeBytes = load<u32>(out + POP_WRITE_BYTES);
    k++;
    // virtqueue_packed_fill_desc() and virtqueue_packed_flush() for this buffer.
    store<u32>(u + PDESC_LEN, writeBytes);
    store<u16>(u + PDESC_ID, <u16>id);
    storeRelease16(u + PDESC_FLAGS, usedPat | (writeBytes != 0 ? PDESC_F_WRITE : 0), features);
    bytes += writeBytes;
    d += PDESC_SIZE;
    if (d == ringEnd) {
      d = ring;
      pat ^= WRAP_BITS;
    }
    u += PDESC_SIZE;
    if (u == ringEnd) {
      u = ring;
      usedPat ^= WRAP_BITS;
      // QEMU forgets the last signalled index when the used index wraps.
      store<u32>(dev + PDEV_SIGNALLED_VALID, 0);
    }
  }
  if (k == 0) return 0;
  const lastAvail = <u32>((d - ring) / PDESC_SIZE);
  const wrap: u32 = pat == PDESC_F_AVAIL ? 1 : 0;
  store<u32>(dev + PDEV_LAST_AVAIL, lastAvail);
  store<u32>(dev + PDEV_AVAIL_WRAP, wrap);
  store<u32>(dev + PDEV_USED_IDX, <u32>((u - ring) / PDESC_SIZE));
  store<u32>(dev + PDEV_USED_WRAP, usedPat != 0 ? 1 : 0);
  const stats = <usize>load<u32>(dev + PDEV_STATS);
  bump(stats, ST_CHAINS_POPPED, k);
  bump(stats, ST_DESCS_POPPED, k);
  bump(stats, ST_CHAINS_USED, k);
  bump(stats, ST_BYTES_USED, bytes);
  dmaCountMaps(<usize>load<u32>(dev + PDEV_DMA_CTX), k);
  // As packed_dev_pop: with event idx and notifications on, ask for a kick at the next descriptor.
  if ((features & QF_EVENT_IDX) != 0 && load<u32>(dev + PDEV_NOTIFY_ENABLED) != 0) {
    const area = <usize>load<u32>(dev + PDEV_DEVICE_AREA);
    atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>(lastAvail | (wrap << PEVENT_WRAP_SHIFT)));
  }
  return k;
}

// The device's record of buffer `id` (QEMU's VirtQueueElement.ndescs): the
// descriptors it took, 0 when the id is out of range or not in flight. The
// record is cleared (a no-op store of 0 when it was 0 already).
@inline
function take(ids: usize, num: u32, id: u32): u32 {
  if (id >= num) return 0;
  const slot = ids + <usize>id * 2;
  const ndescs = <u32>load<u16>(slot);
  store<u16>(slot, 0);
  return ndescs;
}

// The flags of a used descriptor: AVAIL = USED = the used wrap counter, WRITE
// when the device wrote data (§2.8.3, QEMU virtqueue_packed_fill_desc()).
@inline
function usedFlags(wrap: u32, len: u32): u32 {
  return (wrap != 0 ? PDESC_F_AVAIL | PDESC_F_USED : 0) | (len != 0 ? PDESC_F_WRITE : 0);
}

// virtio_packed_should_notify(): 1 when the driver wants an interrupt for what
// was pushed since the last decision.
export function packed_dev_should_notify(dev: usize): i32 {
  const area = <usize>load<u32>(dev + PDEV_DRIVER_AREA);
  // smp_mb() between the push's flag store and this load.
  mbAfterPublish(dev + PDEV_FEATURES);
  const snap = atomic.load<u32>(area + PEVENT_OFF_WRAP);
  const flags = snap >>> 16;
  const valid = load<u32>(dev + PDEV_SIGNALLED_VALID) != 0;
  const oldIdx = load<u32>(dev + PDEV_SIGNALLED_USED);
  const newIdx = load<u32>(dev + PDEV_USED_IDX);
  store<u32>(dev + PDEV_SIGNALLED_USED, newIdx);
  store<u32>(dev + PDEV_SIGNALLED_VALID, 1);
  let notify: bool;
  if (flags == PEVENT_FLAG_DISABLE) {
    notify = false;
  } else if (flags == PEVENT_FLAG_DESC && (load<u32>(dev + PDEV_FEATURES) & QF_EVENT_IDX) != 0) {
    // vring_packed_need_event(): an event in the other lap is num behind.
    const offWrap = snap & 0xffff;
    let event = offWrap & PEVENT_OFF_MASK;
    if (offWrap >>> PEVENT_WRAP_SHIFT != load<u32>(dev + PDEV_USED_WRAP)) event -= load<u32>(dev + PDEV_NUM);
    notify = !valid || needEvent(event, newIdx, oldIdx);
  } else {
    // ENABLE, the reserved value 3, or DESC without event idx negotiated.
    notify = true;
  }
  bump(<usize>load<u32>(dev + PDEV_STATS), notify ? ST_INTERRUPTS : ST_INTERRUPTS_SUPPRESSED, 1);
  return notify ? 1 : 0;
}

// virtio_queue_packed_set_notification(): DISABLE, or ENABLE, or with event
// idx DESC at the next descriptor the device will read (off_wrap before flags).
// Returns 1 when a buffer is already available, so a device that re-enables
// notifications knows to poll once more.
export function packed_dev_set_notify(dev: usize, enable: u32): i32 {
  store<u32>(dev + PDEV_NOTIFY_ENABLED, enable != 0 ? 1 : 0);
  const area = <usize>load<u32>(dev + PDEV_DEVICE_AREA);
  const lastAvail = load<u32>(dev + PDEV_LAST_AVAIL);
  const wrap = load<u32>(dev + PDEV_AVAIL_WRAP);
  if (enable == 0) {
    atomic.store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_DISABLE);
  } else if ((load<u32>(dev + PDEV_FEATURES) & QF_EVENT_IDX) != 0) {
    atomic.store<u16>(area + PEVENT_OFF_WRAP, <u16>(lastAvail | (wrap << PEVENT_WRAP_SHIFT)));
    atomic.store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_DESC);
  } else {
    atomic.store<u16>(area + PEVENT_FLAGS, PEVENT_FLAG_ENABLE);
  }
  // smp_mb(), then is the next descriptor available?
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const flags = <u32>atomic.load<u16>(ring + <usize>lastAvail * PDESC_SIZE + PDESC_FLAGS);
  return isAvail(flags, wrap) ? 1 : 0;
}

// ---- VIRTIO_F_IN_ORDER (VIRTIO 1.2 §2.8.9). The device uses buffers in the
// order they were made available and writes one used descriptor per batch:
// the batch's last buffer id and len, at the batch's first descriptor (the
// position of its used index), then skips the descriptors of every buffer of
// the batch. order[pos] records which id was popped at each ring position, so
// a push is checked against the order of the pops (host memory only). ----

// packed_dev_pop, then order[] for the buffers popped.
export function packed_dev_pop_in_order(dev: usize, out: usize, maxChains: u32, elemCap: u32): i32 {
  let pos = load<u32>(dev + PDEV_LAST_AVAIL);
  const rc = packed_dev_pop(dev, out, maxChains, elemCap);
  const count = load<u32>(dev + PDEV_BATCH_DONE);
  const num = load<u32>(dev + PDEV_NUM);
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const order = <usize>load<u32>(dev + PDEV_ORDER);
  const end = out + <usize>count * POP_SIZE;
  for (let r = out; r < end; r += POP_SIZE) {
    const id = load<u32>(r + POP_ID);
    store<u16>(order + <usize>pos * 2, <u16>id);
    pos += <u32>load<u16>(ids + <usize>id * 2);
    if (pos >= num) pos -= num;
  }
  return rc;
}

// One push of n {id, len} entries is one batch: each id must be the next one
// popped (else E_PUSH_OUT_OF_ORDER, a caller error: the queue stays usable
// and the entries before it form the batch). One used descriptor is written,
// its flags last with release ordering. Returns n, or -code.
export function packed_dev_push_in_order(dev: usize, entries: usize, n: u32, stride: u32): i32 {
  store<u32>(dev + PDEV_BATCH_DONE, 0);
  if (load<u32>(dev + PDEV_BROKEN) != 0) return fail(dev, E_BROKEN, 0, 0);
  // Staged writes to private pages land before anything is published.
  dmaCommitPending(<usize>load<u32>(dev + PDEV_DMA_CTX));
  if (n == 0) return 0;
  const num = load<u32>(dev + PDEV_NUM);
  const ring = <usize>load<u32>(dev + PDEV_DESC);
  const ids = <usize>load<u32>(dev + PDEV_IDS);
  const order = <usize>load<u32>(dev + PDEV_ORDER);
  const start = load<u32>(dev + PDEV_USED_IDX);
  const startWrap = load<u32>(dev + PDEV_USED_WRAP);
  let pos = start;
  let wrap = startWrap;
  let wrapped = false;
  let bytes: u64 = 0;
  let lastId: u32 = 0;
  let lastLen: u32 = 0;
  let k: u32 = 0;
  let err: i32 = 0;
  let errA: u32 = 0;
  let errB: u32 = 0;
  for (; k < n; k++) {
    const p = entries + <usize>k * <usize>stride;
    const id = load<u32>(p + PUSH_ID);
    const len = load<u32>(p + PUSH_LEN);
    if (id >= num) {
      err = E_PUSH_ID_RANGE;
      errA = id;
      errB = k;
      break;
    }
    const slot = ids + <usize>id * 2;
    const ndescs = <u32>load<u16>(slot);
    if (ndescs == 0) {
      err = E_PUSH_NOT_INFLIGHT;
      errA = id;
      errB = k;
      break;
    }
    const expected = <u32>load<u16>(order + <usize>pos * 2);
    if (id != expected) {
      err = E_PUSH_OUT_OF_ORDER;
      errA = id;
      errB = expected;
      break;
    }
    store<u16>(slot, 0);
    bytes += len;
    lastId = id;
    lastLen = len;
    pos += ndescs;
    if (pos >= num) {
      pos -= num;
      wrap ^= 1;
      wrapped = true;
    }
  }
  if (k > 0) {
    const d0 = ring + <usize>start * PDESC_SIZE;
    store<u16>(d0 + PDESC_ID, <u16>lastId);
    store<u32>(d0 + PDESC_LEN, lastLen);
    storeRelease16(d0 + PDESC_FLAGS, usedFlags(startWrap, lastLen), load<u32>(dev + PDEV_FEATURES));
    store<u32>(dev + PDEV_USED_IDX, pos);
    store<u32>(dev + PDEV_USED_WRAP, wrap);
    if (wrapped) store<u32>(dev + PDEV_SIGNALLED_VALID, 0);
    const inflight = load<u32>(dev + PDEV_INFLIGHT);
    store<u32>(dev + PDEV_INFLIGHT, inflight > k ? inflight - k : 0);
    const stats = <usize>load<u32>(dev + PDEV_STATS);
    bump(stats, ST_CHAINS_USED, k);
    bump(stats, ST_BYTES_USED, bytes);
  }
  store<u32>(dev + PDEV_BATCH_DONE, k);
  if (err != 0) return fail(dev, err, errA, errB);
  return <i32>k;
}

// The swiotlb bounce pool, after Linux's kernel/dma/swiotlb.c (6.12): the
// slot search (swiotlb_search_pool_area), the release that merges free runs
// (swiotlb_release_slots) and the bounce copies (swiotlb_bounce). The pool's
// slots are shared guest pages the device may reach; the slot metadata, the
// pool descriptor and the areas are the guest kernel's own, in private guest
// memory, at the linear addresses the descriptor (SWP_*) holds. Nothing here
// allocates; every hot loop is plain loads and stores.
//
// Differences from Linux, on purpose:
// - No device segment boundary: virtio devices have none (dma_get_seg_boundary
//   is ULONG_MAX without dma_parms), so iommu_is_span_boundary never refuses.
// - unmap checks that the address is the start of a mapping (Linux trusts it)
//   and returns -SWE_NOT_MAPPED instead of corrupting the free lists.
// - A copy is clamped to guest RAM as well as to the mapping, so that no
//   address can make the memory room copy outside the guest.
// - Dynamic pools (CONFIG_SWIOTLB_DYNAMIC) are not modelled: one pool.
import { copyBytes } from "../copy";
import { CFG_RAM_SIZE, CONFIG_BASE, GUEST_BASE } from "../layout";
import {
  IO_TLB_MAX_ALLOC,
  IO_TLB_SEGSIZE,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  DMA_ATTR_SKIP_CPU_SYNC,
  SW_AOFF_MASK,
  SW_HEAD,
  SW_INVALID,
  SWA_INDEX,
  SWA_LOCK,
  SWA_SIZE,
  SWA_USED,
  SWC_AREA_SEARCHES,
  SWC_BOUNCES_FROM_DEVICE,
  SWC_BOUNCES_TO_DEVICE,
  SWC_BYTES_FROM_DEVICE,
  SWC_BYTES_TO_DEVICE,
  SWC_FULL,
  SWC_LOCK_SPINS,
  SWC_MAPS,
  SWC_OVERFLOWS,
  SWC_RELEASES,
  SWC_SEARCHES,
  SWC_SIZE,
  SWC_SLOTS_SCANNED,
  SWE_FULL,
  SWE_NOT_MAPPED,
  SWE_RANGE,
  SWE_TOO_BIG,
  SWP_AOFF,
  SWP_AREA_NSLABS,
  SWP_ASIZE,
  SWP_LIST,
  SWP_NAREAS,
  SWP_NSLABS,
  SWP_ORIG,
  SWP_PAD,
  SWP_SIZE,
  SWP_START,
  SWP_STATS,
  SWS_HIWATER,
  SWS_ITEM0,
  SWS_USED,
} from "./swiotlb-layout";

// DMA directions (linux/dma-direction.h).
const DMA_BIDIRECTIONAL: u32 = 0;
const DMA_TO_DEVICE: u32 = 1;
const DMA_FROM_DEVICE: u32 = 2;
const PAGE_MASK_LOW: u32 = 4095; // PAGE_SIZE - 1

// ---- Small helpers ----

// A counter of CPU `cpu`'s item: written by that CPU's thread only.
@inline
function cpuItem(pool: usize, cpu: u32): usize {
  return <usize>load<u32>(pool + SWP_STATS) + SWS_ITEM0 + <usize>cpu * SWC_SIZE;
}

@inline
function bumpc(item: usize, off: usize, by: u64): void {
  store<u64>(item + off, load<u64>(item + off) + by);
}

@inline
function listAt(pool: usize): usize {
  return <usize>load<u32>(pool + SWP_LIST);
}

// list[i]: free slots from i to the end of its segment (0: in use).
@inline
function getList(list: usize, i: u32): u32 {
  return <u32>load<u16>(list + (<usize>i << 1));
}

@inline
function setList(list: usize, i: u32, v: u32): void {
  store<u16>(list + (<usize>i << 1), <u16>v);
}

// io_tlb_offset(): the slot's place in its segment.
@inline
function segOffset(i: u32): u32 {
  return i & (IO_TLB_SEGSIZE - 1);
}

// nr_slots(): slots covering `bytes`.
@inline
function nrSlots(bytes: u32): u32 {
  return (bytes + IO_TLB_SIZE - 1) >> IO_TLB_SHIFT;
}

@inline
function areaAt(pool: usize, a: u32): usize {
  return pool + SWP_SIZE + <usize>a * SWA_SIZE;
}

// spin_lock on an area: compare-exchange 0 -> 1; a held lock is counted and spun on.
@inline
function lockArea(area: usize, item: usize): void {
  if (atomic.cmpxchg<u32>(area + SWA_LOCK, 0, 1) != 0) lockSlow(area, item);
}

function lockSlow(area: usize, item: usize): void {
  let spins: u64 = 0;
  do {
    spins++;
    while (atomic.load<u32>(area + SWA_LOCK) != 0) spins++;
  } while (atomic.cmpxchg<u32>(area + SWA_LOCK, 0, 1) != 0);
  bumpc(item, SWC_LOCK_SPINS, spins);
}

@inline
function unlockArea(area: usize): void {
  atomic.store<u32>(area + SWA_LOCK, 0);
}

// wrap_area_index(): past the area's end goes back to 0 (not modulo).
@inline
function wrapIndex(index: u32, areaNslabs: u32): u32 {
  return index >= areaNslabs ? 0 : index;
}

// ---- Setting up ----

// swiotlb_init_io_tlb_pool(): every slot free (list[] counts down to each
// segment's end), no original address, areas empty with their cursor at 0.
// TypeScript has filled the descriptor.
export function swiotlb_init(pool: usize): void {
  const n = load<u32>(pool + SWP_NSLABS);
  const list = listAt(pool);
  const orig = <usize>load<u32>(pool + SWP_ORIG);
  for (let i: u32 = 0; i < n; i++) {
    setList(list, i, IO_TLB_SEGSIZE - segOffset(i));
    store<u32>(orig + (<usize>i << 2), SW_INVALID);
  }
  memory.fill(<usize>load<u32>(pool + SWP_ASIZE), 0, <usize>n << 2);
  memory.fill(<usize>load<u32>(pool + SWP_PAD), 0, <usize>n << 1);
  memory.fill(<usize>load<u32>(pool + SWP_AOFF), 0, <usize>n << 1);
  const nareas = load<u32>(pool + SWP_NAREAS);
  for (let a: u32 = 0; a < nareas; a++) memory.fill(areaAt(pool, a), 0, SWA_SIZE);
}

// ---- The slot search ----

// swiotlb_search_pool_area(): looks for `allocSize` bytes in area `a`, from
// its next-fit cursor, at slots whose address has the bits of
// `allocAlignMask` clear and the bits of the device's `minAlignMask` (above
// the slot) equal to those of `orig`. Returns the first slot's index, or -1.
function searchArea(
  pool: usize,
  a: u32,
  orig: u32,
  allocSize: u32,
  allocAlignMask: u32,
  minAlignMask: u32,
  item: usize,
): i32 {
  const areaNslabs = load<u32>(pool + SWP_AREA_NSLABS);
  const start = load<u32>(pool + SWP_START);
  const list = listAt(pool);
  const area = areaAt(pool, a);
  let iotlbAlignMask = minAlignMask;
  const nslots = nrSlots(allocSize);
  // swiotlb_align_offset(dev, 0, orig): the low bits kept inside the first slot.
  const offset = orig & minAlignMask & (IO_TLB_SIZE - 1);
  // Allocations of a page or more are page aligned unless the caller says
  // otherwise (streaming mappings pass no alloc_align_mask).
  let alignMask = allocAlignMask;
  if (alignMask == 0 && iotlbAlignMask == 0 && allocSize >= PAGE_MASK_LOW + 1) alignMask = PAGE_MASK_LOW;
  alignMask |= IO_TLB_SIZE - 1;
  iotlbAlignMask &= ~alignMask;
  // Aligned mappings step from one aligned slot to the next.
  const widest = alignMask > iotlbAlignMask ? alignMask : iotlbAlignMask;
  const stride = (widest >> IO_TLB_SHIFT) + 1;
  bumpc(item, SWC_AREA_SEARCHES, 1);

  lockArea(area, item);
  const used = load<u32>(area + SWA_USED);
  if (nslots > areaNslabs - used) {
    unlockArea(area);
    return -1;
  }
  const slotBase = a * areaNslabs;
  let index = load<u32>(area + SWA_INDEX);
  let checked: u32 = 0;
  let scanned: u32 = 0;
  let found: i32 = -1;
  while (checked < areaNslabs) {
    const slot = slotBase + index;
    const tlb = start + (slot << IO_TLB_SHIFT);
    scanned++;
    if ((tlb & alignMask) != 0 || (orig != 0 && (tlb & iotlbAlignMask) != (orig & iotlbAlignMask))) {
      index = wrapIndex(index + 1, areaNslabs);
      checked++;
      continue;
    }
    if (getList(list, slot) >= nslots) {
      found = <i32>slot;
      break;
    }
    index = wrapIndex(index + stride, areaNslabs);
    checked += stride;
  }
  bumpc(item, SWC_SLOTS_SCANNED, scanned);
  if (found < 0) {
    unlockArea(area);
    return -1;
  }
  // Found: the run is in use (list 0), each slot keeps the bytes left from
  // it; the free run before it, within its segment, is counted again.
  const slot = <u32>found;
  const asize = <usize>load<u32>(pool + SWP_ASIZE);
  for (let i: u32 = 0; i < nslots; i++) {
    setList(list, slot + i, 0);
    store<u32>(asize + (<usize>(slot + i) << 2), allocSize - (offset + (i << IO_TLB_SHIFT)));
  }
  let count: u32 = 0;
  for (let i = slot - 1; segOffset(i) != IO_TLB_SEGSIZE - 1 && getList(list, i) != 0; i--) setList(list, i, ++count);
  store<u32>(area + SWA_INDEX, wrapIndex(index + nslots, areaNslabs));
  store<u32>(area + SWA_USED, used + nslots);
  unlockArea(area);
  return found;
}

// inc_used_and_hiwater(): the pool-wide count, and its high-water mark.
@inline
function incUsed(pool: usize, n: u32): void {
  const stats = <usize>load<u32>(pool + SWP_STATS);
  const now = atomic.add<u64>(stats + SWS_USED, <u64>n) + <u64>n;
  let hi = atomic.load<u64>(stats + SWS_HIWATER);
  while (now > hi) {
    const seen = atomic.cmpxchg<u64>(stats + SWS_HIWATER, hi, now);
    if (seen == hi) break;
    hi = seen;
  }
}

// swiotlb_find_slots() without dynamic pools: the CPU's own area first, then
// each other one in turn.
function findSlots(pool: usize, orig: u32, allocSize: u32, allocAlignMask: u32, minAlignMask: u32, cpu: u32, item: usize): i32 {
  const nareas = load<u32>(pool + SWP_NAREAS);
  const first = cpu & (nareas - 1);
  let a = first;
  do {
    const index = searchArea(pool, a, orig, allocSize, allocAlignMask, minAlignMask, item);
    if (index >= 0) return index;
    if (++a >= nareas) a = 0;
  } while (a != first);
  return -1;
}

// ---- Bounce copies ----

// swiotlb_bounce(): copies `size` bytes between the bounce buffer at pool
// offset `tlbOff` and the original buffer its slot names, towards the device
// (original -> bounce) or back. A partial range resolves through the slot's
// own orig_addr. Returns the bytes copied (0 for a slot with no original).
function bounce(pool: usize, tlbOff: u32, size: u32, toDevice: bool, item: usize): u32 {
  const index = tlbOff >> IO_TLB_SHIFT;
  const o = load<u32>(<usize>load<u32>(pool + SWP_ORIG) + (<usize>index << 2));
  if (o == SW_INVALID) return 0;
  const aoff = <i64>(load<u16>(<usize>load<u32>(pool + SWP_AOFF) + (<usize>index << 1)) & SW_AOFF_MASK);
  // May be negative: an address within the first `offset` bytes of a later slot.
  const tlbOffset = <i64>(tlbOff & (IO_TLB_SIZE - 1)) - aoff;
  const origAt = <i64>o + tlbOffset;
  let left = <i64>load<u32>(<usize>load<u32>(pool + SWP_ASIZE) + (<usize>index << 2)) - tlbOffset;
  let n = <i64>size;
  if (n > left) {
    bumpc(item, SWC_OVERFLOWS, 1);
    n = left;
  }
  const ram = <i64>load<u32>(CONFIG_BASE + CFG_RAM_SIZE);
  if (origAt < 0 || origAt >= ram) return 0;
  if (n > ram - origAt) n = ram - origAt;
  if (n <= 0) return 0;
  const bounceLin = <usize>(GUEST_BASE + load<u32>(pool + SWP_START) + tlbOff);
  const origLin = <usize>(<i64>GUEST_BASE + origAt);
  const bytes = <u32>n;
  if (toDevice) {
    copyBytes(bounceLin, origLin, bytes);
    bumpc(item, SWC_BOUNCES_TO_DEVICE, 1);
    bumpc(item, SWC_BYTES_TO_DEVICE, <u64>bytes);
  } else {
    copyBytes(origLin, bounceLin, bytes);
    bumpc(item, SWC_BOUNCES_FROM_DEVICE, 1);
    bumpc(item, SWC_BYTES_FROM_DEVICE, <u64>bytes);
  }
  return bytes;
}

// ---- Exports ----

// swiotlb_tbl_map_single(): bounces guest physical [orig, orig + size) on
// behalf of CPU `cpu`. Returns the bounce address's offset from the pool's
// start, or -SWE_FULL / -SWE_TOO_BIG (DMA_MAPPING_ERROR), -SWE_RANGE for a
// buffer outside guest RAM. The whole buffer is copied in, whatever the
// direction (mainline since 5.16: a partial device write must not expose
// stale bounce data). `copy` 0 skips that copy: only the benchmark's
// allocator-alone figure uses it.
export function swiotlb_map(pool: usize, orig: u32, size: u32, allocAlignMask: u32, minAlignMask: u32, cpu: u32, copy: u32): i32 {
  const item = cpuItem(pool, cpu);
  const ram = load<u32>(CONFIG_BASE + CFG_RAM_SIZE);
  if (size == 0 || orig >= ram || size > ram - orig) return -SWE_RANGE;
  bumpc(item, SWC_SEARCHES, 1);
  // swiotlb_align_offset(dev, alloc_align_mask, orig): padding before the buffer.
  let offset = orig & minAlignMask & (allocAlignMask | (IO_TLB_SIZE - 1));
  // ALIGN(mapping_size + offset, alloc_align_mask + 1), in 64 bits.
  const unit = <u64>allocAlignMask + 1;
  const want = ((<u64>size + <u64>offset + unit - 1) / unit) * unit;
  if (want > <u64>IO_TLB_MAX_ALLOC) {
    bumpc(item, SWC_FULL, 1);
    return -SWE_TOO_BIG;
  }
  const allocSize = <u32>want;
  const found = findSlots(pool, orig, allocSize, allocAlignMask, minAlignMask, cpu, item);
  if (found < 0) {
    bumpc(item, SWC_FULL, 1);
    return -SWE_FULL;
  }
  const nslots = nrSlots(allocSize);
  incUsed(pool, nslots);
  // The padding slots before the data keep no original; the first data slot
  // records how many there are, and every data slot its original address.
  const pad = offset >> IO_TLB_SHIFT;
  offset &= IO_TLB_SIZE - 1;
  const index = <u32>found + pad;
  store<u16>(<usize>load<u32>(pool + SWP_PAD) + (<usize>index << 1), <u16>pad);
  const origArr = <usize>load<u32>(pool + SWP_ORIG);
  const aoffArr = <usize>load<u32>(pool + SWP_AOFF);
  const low = orig & minAlignMask & (IO_TLB_SIZE - 1);
  for (let i: u32 = 0; i < nslots - pad; i++) {
    store<u32>(origArr + (<usize>(index + i) << 2), orig + (i << IO_TLB_SHIFT));
    store<u16>(aoffArr + (<usize>(index + i) << 1), <u16>(i == 0 ? low | SW_HEAD : low));
  }
  const tlbOff = (index << IO_TLB_SHIFT) + offset;
  if (copy != 0) bounce(pool, tlbOff, size, true, item);
  bumpc(item, SWC_MAPS, 1);
  return <i32>tlbOff;
}

// swiotlb_release_slots(): gives the mapping whose first data slot is
// `index` back to its area, merging with the free run after it, then with
// the one before it (within the segment). Returns the slots freed.
function release(pool: usize, index: u32, item: usize): u32 {
  const padArr = <usize>load<u32>(pool + SWP_PAD);
  const aoff = <u32>load<u16>(<usize>load<u32>(pool + SWP_AOFF) + (<usize>index << 1)) & SW_AOFF_MASK;
  const first = index - <u32>load<u16>(padArr + (<usize>index << 1));
  const asizeArr = <usize>load<u32>(pool + SWP_ASIZE);
  const origArr = <usize>load<u32>(pool + SWP_ORIG);
  const aoffArr = <usize>load<u32>(pool + SWP_AOFF);
  const nslots = nrSlots(load<u32>(asizeArr + (<usize>first << 2)) + aoff);
  const areaNslabs = load<u32>(pool + SWP_AREA_NSLABS);
  const area = areaAt(pool, first / areaNslabs);
  const list = listAt(pool);
  lockArea(area, item);
  const end = first + nslots;
  // ALIGN(index + 1, IO_TLB_SEGSIZE): the end of the segment.
  const segEnd = (first + IO_TLB_SEGSIZE) & ~(IO_TLB_SEGSIZE - 1);
  let count: u32 = end < segEnd ? getList(list, end) : 0;
  for (let i = end; i-- > first; ) {
    setList(list, i, ++count);
    store<u32>(origArr + (<usize>i << 2), SW_INVALID);
    store<u32>(asizeArr + (<usize>i << 2), 0);
    store<u16>(padArr + (<usize>i << 1), 0);
    store<u16>(aoffArr + (<usize>i << 1), 0);
  }
  for (let i = first - 1; segOffset(i) != IO_TLB_SEGSIZE - 1 && getList(list, i) != 0; i--) setList(list, i, ++count);
  store<u32>(area + SWA_USED, load<u32>(area + SWA_USED) - nslots);
  unlockArea(area);
  atomic.sub<u64>(<usize>load<u32>(pool + SWP_STATS) + SWS_USED, <u64>nslots);
  bumpc(item, SWC_RELEASES, 1);
  return nslots;
}

// swiotlb_tbl_unmap_single(): copies the bounce buffer back for
// FROM_DEVICE and BIDIRECTIONAL mappings (unless DMA_ATTR_SKIP_CPU_SYNC),
// then releases the slots. `tlbOff` must be what swiotlb_map returned.
// Returns the slots freed, or -SWE_NOT_MAPPED / -SWE_RANGE.
export function swiotlb_unmap(pool: usize, tlbOff: u32, size: u32, dir: u32, attrs: u32, cpu: u32): i32 {
  const n = load<u32>(pool + SWP_NSLABS);
  const index = tlbOff >> IO_TLB_SHIFT;
  if (index >= n) return -SWE_RANGE;
  const aoff = <u32>load<u16>(<usize>load<u32>(pool + SWP_AOFF) + (<usize>index << 1));
  const orig = load<u32>(<usize>load<u32>(pool + SWP_ORIG) + (<usize>index << 2));
  if ((aoff & SW_HEAD) == 0 || orig == SW_INVALID || (tlbOff & (IO_TLB_SIZE - 1)) != (aoff & SW_AOFF_MASK)) {
    return -SWE_NOT_MAPPED;
  }
  const item = cpuItem(pool, cpu);
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) == 0 && (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)) {
    bounce(pool, tlbOff, size, false, item);
  }
  return <i32>release(pool, index, item);
}

// swiotlb_bounce() for a sync of [tlbOff, tlbOff + size) of a mapping, any
// part of it: towards the device (sync_single_for_device) or back
// (sync_single_for_cpu); the caller has applied the direction rules.
// Returns the bytes copied, or -SWE_RANGE.
export function swiotlb_sync(pool: usize, tlbOff: u32, size: u32, toDevice: u32, cpu: u32): i32 {
  const n = load<u32>(pool + SWP_NSLABS);
  if (tlbOff >> IO_TLB_SHIFT >= n) return -SWE_RANGE;
  return <i32>bounce(pool, tlbOff, size, toDevice != 0, cpuItem(pool, cpu));
}

// The DMA context: the one way a device reaches guest memory (design.md, "A
// device never holds a raw view of guest RAM"). Device pops translate each
// descriptor here into iovecs of linear addresses, as QEMU's
// virtqueue_map_desc() does with dma_memory_map(); device code (Wasm or
// TypeScript) then touches only those iovecs, or comes back here for a scalar
// access. This file and the guest-side conversions beside it are the only
// places that know where guest RAM sits in linear memory.
import {
  E_ADDR_RANGE,
  E_DMA_PERM,
  E_DMA_PRIVATE,
  E_DMA_UNMAPPED,
  E_INDIRECT_MAP,
  ELEM_ADDR,
  ELEM_LEN,
  ELEM_LINEAR,
  ELEM_SIZE,
  GUEST_BASE,
  GUEST_PAGE_SHIFT,
  GUEST_PAGE_SIZE,
  PAGE_MAP_BASE,
  PAGE_PRIVATE,
  VRING_DESC_F_WRITE,
} from "../layout";
import { within } from "../ring";
import {
  CTX_BASE,
  CTX_FAULT_ADDR,
  CTX_FAULT_CODE,
  CTX_FAULT_LEN,
  CTX_FAULT_WRITE,
  CTX_FLAGS,
  CTX_IOTLB,
  CTX_IOTLB_MASK,
  CTX_LIMIT,
  CTX_MODE,
  CTX_PT,
  CTX_STATS,
  DMA_F_SHARED_ONLY,
  DMA_MODE_DIRECT,
  DST_BYTES_READ,
  DST_BYTES_WRITTEN,
  DST_FAULTS,
  DST_IOTLB_HITS,
  DST_IOTLB_MISSES,
  DST_MAPS,
  DST_READS,
  DST_SPLITS,
  DST_WRITES,
  PTE_PERM_MASK,
  PTE_READ,
  PTE_WRITE,
} from "./layout";

// ---- The fast case, inlined into the pops ----

// True when the context is direct with no restriction: a descriptor then
// translates to GUEST_BASE + addr after one bounds check, which the pops do
// inline (a traditional VM must pay next to nothing for the context).
@inline
export function dmaIsPlain(ctx: usize): bool {
  return (load<u32>(ctx + CTX_MODE) | load<u32>(ctx + CTX_FLAGS)) == DMA_MODE_DIRECT;
}

@inline
export function dmaLimit(ctx: usize): u64 {
  return load<u64>(ctx + CTX_LIMIT);
}

// The linear address of DMA address `addr` in a plain context, once
// within(addr, len, dmaLimit(ctx)) held.
@inline
export function plainLinear(addr: u64): usize {
  return <usize>(addr + <u64>GUEST_BASE);
}

// One iovec {dma u64, len u32, flags u32, linear u32}: the dma and len/flags
// halves as two 64-bit stores.
@inline
export function storeIov(e: usize, dma: u64, len: u32, write: u32, lin: usize): void {
  store<u64>(e + ELEM_ADDR, dma);
  store<u64>(e + ELEM_LEN, <u64>len | (<u64>write << 32));
  store<u32>(e + ELEM_LINEAR, <u32>lin);
}

// ---- The general translation ----

// Records a refused access in the context (its last fault and the fault
// counter) and returns -code. Out of line: a fault is never the hot path.
export function dmaFault(ctx: usize, code: i32, addr: u64, len: u32, write: u32): i32 {
  store<u64>(ctx + CTX_FAULT_ADDR, addr);
  store<u32>(ctx + CTX_FAULT_LEN, len);
  store<u32>(ctx + CTX_FAULT_CODE, code);
  store<u32>(ctx + CTX_FAULT_WRITE, write != 0 ? 1 : 0);
  atomic.add<u64>(<usize>load<u32>(ctx + CTX_STATS) + DST_FAULTS, 1);
  return -code;
}

// True when every page of guest physical [gpa, gpa + len) is shared.
function allShared(gpa: u64, len: u32): bool {
  const first = <usize>(gpa >> GUEST_PAGE_SHIFT);
  const last = <usize>((gpa + <u64>len - 1) >> GUEST_PAGE_SHIFT);
  for (let p = first; p <= last; p++) {
    if (load<u8>(<usize>PAGE_MAP_BASE + p) == <u8>PAGE_PRIVATE) return false;
  }
  return true;
}

// Translates a device access of `len` (≥ 1) bytes at DMA address `addr`
// (`write`: VRING_DESC_F_WRITE for a device write, else 0) into at most `cap`
// iovecs at `out`. Returns the iovecs written; 0 when they do not fit in
// `cap` (no iovec is counted then: the caller retries with room; the IOTLB
// lookups made are, as they happened); or -code
// for a refused access (E_ADDR_RANGE outside the space, E_DMA_UNMAPPED,
// E_DMA_PERM, E_DMA_PRIVATE), recorded in the context.
export function dmaMapIov(ctx: usize, addr: u64, len: u32, write: u32, out: usize, cap: u32): i32 {
  const mode = load<u32>(ctx + CTX_MODE);
  const sharedOnly = (load<u32>(ctx + CTX_FLAGS) & DMA_F_SHARED_ONLY) != 0;
  const limit = load<u64>(ctx + CTX_LIMIT);
  if (mode == DMA_MODE_DIRECT) {
    if (!within(addr, len, limit)) return dmaFault(ctx, E_ADDR_RANGE, addr, len, write);
    if (sharedOnly && !allShared(addr, len)) return dmaFault(ctx, E_DMA_PRIVATE, addr, len, write);
    if (cap == 0) return 0;
    storeIov(out, addr, len, write, plainLinear(addr));
    return 1;
  }
  // Paged: translate a page at a time, through the IOTLB when the context
  // has one, else straight from the table, merging pages that are
  // contiguous in guest memory into one iovec. Every lookup is counted (a hit
  // or a miss), also on the way out of a fault or a full output.
  const base = load<u64>(ctx + CTX_BASE);
  if (addr < base || !within(addr - base, len, limit)) return dmaFault(ctx, E_ADDR_RANGE, addr, len, write);
  const pt = <usize>load<u32>(ctx + CTX_PT);
  const tlb = <usize>load<u32>(ctx + CTX_IOTLB);
  const mask = load<u32>(ctx + CTX_IOTLB_MASK);
  const need: u32 = write != 0 ? PTE_WRITE : PTE_READ;
  let off = addr - base;
  let left = len;
  let n: u32 = 0;
  let e = out;
  let lastEnd: usize = 0;
  let hits: u32 = 0;
  let misses: u32 = 0;
  while (left > 0) {
    const page = <u32>(off >> GUEST_PAGE_SHIFT);
    let pte: u32;
    if (tlb != 0) {
      const slot = tlb + (<usize>(page & mask) << 3);
      const ent = load<u64>(slot);
      if (<u32>ent == page + 1) {
        pte = <u32>(ent >> 32);
        hits++;
      } else {
        misses++;
        pte = load<u32>(pt + <usize>page * 4);
        if ((pte & PTE_PERM_MASK) != 0) store<u64>(slot, (<u64>pte << 32) | <u64>(page + 1));
      }
    } else {
      pte = load<u32>(pt + <usize>page * 4);
    }
    const perm = pte & PTE_PERM_MASK;
    const at = addr + <u64>(len - left);
    if (perm == 0) return pagedFault(ctx, hits, misses, E_DMA_UNMAPPED, at, left, write);
    if ((perm & need) == 0) return pagedFault(ctx, hits, misses, E_DMA_PERM, at, left, write);
    const inPage = <u32>(off & <u64>(GUEST_PAGE_SIZE - 1));
    const room = <u32>GUEST_PAGE_SIZE - inPage;
    const chunk = left < room ? left : room;
    const gpa = <u64>(pte & ~PTE_PERM_MASK) + <u64>inPage;
    if (sharedOnly && !allShared(gpa, chunk)) return pagedFault(ctx, hits, misses, E_DMA_PRIVATE, at, left, write);
    const lin = plainLinear(gpa);
    if (n > 0 && lin == lastEnd) {
      store<u32>(e - ELEM_SIZE + ELEM_LEN, load<u32>(e - ELEM_SIZE + ELEM_LEN) + chunk);
    } else {
      if (n >= cap) {
        iotlbCount(ctx, hits, misses);
        return 0;
      }
      storeIov(e, at, chunk, write, lin);
      e += ELEM_SIZE;
      n++;
    }
    lastEnd = lin + chunk;
    left -= chunk;
    off += <u64>chunk;
  }
  iotlbCount(ctx, hits, misses);
  if (n > 1) atomic.add<u64>(<usize>load<u32>(ctx + CTX_STATS) + DST_SPLITS, <u64>(n - 1));
  return <i32>n;
}

// Counts a paged translation's IOTLB lookups (once per translation).
@inline
function iotlbCount(ctx: usize, hits: u32, misses: u32): void {
  const s = <usize>load<u32>(ctx + CTX_STATS);
  if (hits > 0) atomic.add<u64>(s + DST_IOTLB_HITS, <u64>hits);
  if (misses > 0) atomic.add<u64>(s + DST_IOTLB_MISSES, <u64>misses);
}

// A refused paged access: its lookups counted, then the fault recorded.
function pagedFault(ctx: usize, hits: u32, misses: u32, code: i32, addr: u64, len: u32, write: u32): i32 {
  iotlbCount(ctx, hits, misses);
  return dmaFault(ctx, code, addr, len, write);
}

// Counts iovecs made at pop time (once per pop call).
@inline
export function dmaCountMaps(ctx: usize, n: u32): void {
  if (n > 0) atomic.add<u64>(<usize>load<u32>(ctx + CTX_STATS) + DST_MAPS, <u64>n);
}

// Counts device accesses through iovecs: `reads` reads of `readBytes`,
// `writes` writes of `writtenBytes` (once per device batch).
export function dmaCount(ctx: usize, reads: u32, readBytes: u64, writes: u32, writtenBytes: u64): void {
  const s = <usize>load<u32>(ctx + CTX_STATS);
  if (reads > 0) {
    atomic.add<u64>(s + DST_READS, <u64>reads);
    atomic.add<u64>(s + DST_BYTES_READ, readBytes);
  }
  if (writes > 0) {
    atomic.add<u64>(s + DST_WRITES, <u64>writes);
    atomic.add<u64>(s + DST_BYTES_WRITTEN, writtenBytes);
  }
}

// ---- The pops' translation of a descriptor ----

// One descriptor of a chain into iovecs at element `at` of `elems` (room up
// to elemCap): the inline translation for a plain context, else the
// context's general one (assembly/mem/dma.ts). Returns the iovecs made, 0
// when the pop output is full, or -code for a refused access.
@inline
export function mapDesc(ctx: usize, plain: bool, limit: u64, addr: u64, len: u32, write: u32, elems: usize, at: u32, elemCap: u32): i32 {
  if (plain) {
    if (!within(addr, len, limit)) return dmaFault(ctx, E_ADDR_RANGE, addr, len, write);
    if (at >= elemCap) return 0;
    storeIov(elems + <usize>at * ELEM_SIZE, addr, len, write, plainLinear(addr));
    return 1;
  }
  return dmaMapIov(ctx, addr, len, write, elems + <usize>at * ELEM_SIZE, elemCap - at);
}

// An indirect table of `tlen` bytes at DMA address `taddr`, translated for a
// device read: its linear address, or -code when it is refused or does not
// translate to one contiguous run (QEMU virtqueue_split_pop: "Cannot map
// indirect buffer").
// `scratch` is one free element of the pop output (the module has no memory
// of its own: every instance on every thread shares the static area).
export function mapTable(ctx: usize, plain: bool, limit: u64, taddr: u64, tlen: u32, scratch: usize): i64 {
  let lin: usize;
  if (plain) {
    if (!within(taddr, tlen, limit)) return <i64>dmaFault(ctx, E_ADDR_RANGE, taddr, tlen, 0);
    lin = plainLinear(taddr);
  } else {
    const n = dmaMapIov(ctx, taddr, tlen, 0, scratch, 1);
    if (n < 0) return <i64>n;
    if (n == 0) return -E_INDIRECT_MAP;
    lin = <usize>load<u32>(scratch + ELEM_LINEAR);
  }
  dmaCountMaps(ctx, 1);
  return <i64>lin;
}

// ---- Exports for TypeScript (the DmaView's scalar and bulk accessors, and
// setting up rings). 64-bit DMA addresses come as two u32 halves. ----

// Translates [addr, addr + len) into at most `cap` iovecs at `out` (host
// memory); see dmaMapIov. Counted as maps.
export function dma_map(ctx: usize, lo: u32, hi: u32, len: u32, write: u32, out: usize, cap: u32): i32 {
  const n = dmaMapIov(ctx, (<u64>hi << 32) | <u64>lo, len, write != 0 ? VRING_DESC_F_WRITE : 0, out, cap);
  if (n > 0) dmaCountMaps(ctx, <u32>n);
  return n;
}

// A device write of `len` bytes of `value` at DMA address (hi:lo), through
// iovecs laid at `scratch` (room for `cap`). Returns 0, 1 when `cap` was too
// small, or -code.
export function dma_fill(ctx: usize, lo: u32, hi: u32, len: u32, value: u32, scratch: usize, cap: u32): i32 {
  const n = dmaMapIov(ctx, (<u64>hi << 32) | <u64>lo, len, VRING_DESC_F_WRITE, scratch, cap);
  if (n <= 0) return n == 0 ? 1 : n;
  for (let k: u32 = 0; k < <u32>n; k++) {
    const e = scratch + <usize>k * ELEM_SIZE;
    memory.fill(<usize>load<u32>(e + ELEM_LINEAR), <u8>value, load<u32>(e + ELEM_LEN));
  }
  dmaCountMaps(ctx, <u32>n);
  dmaCount(ctx, 0, 0, 1, len);
  return 0;
}

// A TypeScript device's accesses through iovecs of its pops (blk, console),
// counted once per batch.
export function dma_count(ctx: usize, reads: u32, readBytes: u32, writes: u32, writtenBytes: u32): void {
  dmaCount(ctx, reads, <u64>readBytes, writes, <u64>writtenBytes);
}

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
  ELEM_FLAGS,
  ELEM_LEN,
  ELEM_LINEAR,
  ELEM_SIZE,
  GUEST_BASE,
  GUEST_PAGE_SHIFT,
  GUEST_PAGE_SIZE,
  E_DMA_BLOCKED,
  E_DMA_RMP,
  E_DMA_STAGE,
  PAGE_MAP_BASE,
  PAGE_POISONED,
  PAGE_SHARED,
  VRING_DESC_F_WRITE,
} from "../layout";
import { within } from "../ring";
import {
  CTX_BASE,
  CTX_FAULT_ADDR,
  CTX_FAULT_CODE,
  CTX_FAULT_LEN,
  CTX_FAULT_WRITE,
  CTX_ENC,
  CTX_FLAGS,
  CTX_KEY,
  CTX_IOTLB,
  CTX_IOTLB_MASK,
  CTX_LIMIT,
  CTX_MODE,
  CTX_PT,
  CTX_STAGE,
  CTX_STAGE_CAP,
  CTX_STAGE_NEXT,
  CTX_STATS,
  CTX_WB,
  CTX_WB_CAP,
  CTX_WB_N,
  DMA_F_BLOCKED,
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
  ENC_NONE,
  ENC_SNP,
  ENC_TDX,
  PTE_PERM_MASK,
  PTE_READ,
  PTE_WRITE,
  WB_GPA,
  WB_LEN,
  WB_SIZE,
  WB_STAGE,
} from "./layout";

// ---- The fast case, inlined into the pops ----

// True when the context is direct with no restriction: a descriptor then
// translates to GUEST_BASE + addr after one bounds check, which the pops do
// inline (a traditional VM must pay next to nothing for the context).
@inline
export function dmaIsPlain(ctx: usize): bool {
  return (load<u32>(ctx + CTX_MODE) | load<u32>(ctx + CTX_FLAGS) | load<u32>(ctx + CTX_ENC)) == DMA_MODE_DIRECT;
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

// One iovec {dma u64, len u32, flags u32, linear u32}, a field per store
// (building one 64-bit value of len and flags costs more than it saves).
@inline
export function storeIov(e: usize, dma: u64, len: u32, write: u32, lin: usize): void {
  store<u64>(e + ELEM_ADDR, dma);
  store<u32>(e + ELEM_LEN, len);
  store<u32>(e + ELEM_FLAGS, write);
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


// The keystream byte of guest physical byte `gpa`: a deterministic keyed
// transform standing in for the memory controller's encryption (AES-XTS with
// an address tweak in SEV and TDX; no real cryptography is needed to show
// what a device sees). Never 0, so every byte of ciphertext differs from its
// plaintext.
@inline
function keyByte(key: u32, gpa: u64): u8 {
  let x = (gpa >> 3) ^ (<u64>key << 32);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  x ^= x >> 31;
  return <u8>(x >> ((gpa & 7) << 3)) | 1;
}

// dst[i] = src[i] ^ keystream(gpa + i): encrypts plaintext and decrypts
// ciphertext alike.
function crypt(dst: usize, src: usize, gpa: u64, len: u32, key: u32): void {
  for (let i: u32 = 0; i < len; i++) {
    store<u8>(dst + <usize>i, load<u8>(src + <usize>i) ^ keyByte(key, gpa + <u64>i));
  }
}

// The linear address a device access to the private page chunk at guest
// physical [gpa, gpa + chunk) reaches under the context's encryption model,
// or -code. A read sees the page's ciphertext (staged, since guest memory
// here holds the guest's plaintext); a write lands in a staged ciphertext
// copy that the next push decrypts into the page (SEV: the guest then reads
// garbage; TDX: the page is poisoned as well); SEV-SNP refuses the write.
function privateLinear(ctx: usize, gpa: u64, chunk: u32, write: u32): i64 {
  const enc = load<u32>(ctx + CTX_ENC);
  if (write != 0 && enc == ENC_SNP) return -E_DMA_RMP;
  const cap = load<u32>(ctx + CTX_STAGE_CAP);
  if (chunk > cap) return -E_DMA_STAGE;
  let at = load<u32>(ctx + CTX_STAGE_NEXT);
  if (at + chunk > cap) at = 0;
  store<u32>(ctx + CTX_STAGE_NEXT, (at + chunk + 15) & ~15);
  const stage = <usize>load<u32>(ctx + CTX_STAGE) + <usize>at;
  crypt(stage, plainLinear(gpa), gpa, chunk, load<u32>(ctx + CTX_KEY));
  if (write != 0) {
    const n = load<u32>(ctx + CTX_WB_N);
    if (n >= load<u32>(ctx + CTX_WB_CAP)) return -E_DMA_STAGE;
    const r = <usize>load<u32>(ctx + CTX_WB) + <usize>n * WB_SIZE;
    store<u32>(r + WB_STAGE, <u32>stage);
    store<u32>(r + WB_GPA, <u32>gpa);
    store<u32>(r + WB_LEN, chunk);
    store<u32>(ctx + CTX_WB_N, n + 1);
  }
  return <i64>stage;
}

// Applies the device's writes to staged private pages (the write-back
// records) to guest memory: what it wrote, decrypted with the page's key,
// replaces the plaintext; under TDX a page whose bytes changed is poisoned.
// The pushes call it before they publish anything, so the guest never sees
// a completion before the write it reports.
export function dmaCommit(ctx: usize): void {
  const n = load<u32>(ctx + CTX_WB_N);
  const list = <usize>load<u32>(ctx + CTX_WB);
  const key = load<u32>(ctx + CTX_KEY);
  const tdx = load<u32>(ctx + CTX_ENC) == ENC_TDX;
  for (let k: u32 = 0; k < n; k++) {
    const r = list + <usize>k * WB_SIZE;
    const stage = <usize>load<u32>(r + WB_STAGE);
    const gpa = <u64>load<u32>(r + WB_GPA);
    const len = load<u32>(r + WB_LEN);
    const dst = plainLinear(gpa);
    let changed = false;
    for (let i: u32 = 0; i < len; i++) {
      const b = load<u8>(stage + <usize>i) ^ keyByte(key, gpa + <u64>i);
      if (b != load<u8>(dst + <usize>i)) changed = true;
      store<u8>(dst + <usize>i, b);
    }
    if (tdx && changed) store<u8>(<usize>PAGE_MAP_BASE + <usize>(gpa >> GUEST_PAGE_SHIFT), <u8>PAGE_POISONED);
  }
  store<u32>(ctx + CTX_WB_N, 0);
}

// Called by the pushes: commit only when a write-back is pending (one load).
@inline
export function dmaCommitPending(ctx: usize): void {
  if (load<u32>(ctx + CTX_WB_N) != 0) dmaCommit(ctx);
}

// Translates a device access of `len` (≥ 1) bytes at DMA address `addr`
// (`write`: VRING_DESC_F_WRITE for a device write, else 0) into at most `cap`
// iovecs at `out`. Returns the iovecs written; 0 when they do not fit in
// `cap` (no iovec is counted then: the caller retries with room; the IOTLB
// lookups made are, as they happened); or -code for a refused access
// (E_ADDR_RANGE outside the space, E_DMA_UNMAPPED, E_DMA_PERM,
// E_DMA_PRIVATE, E_DMA_RMP, E_DMA_BLOCKED, E_DMA_STAGE), recorded in the
// context.
export function dmaMapIov(ctx: usize, addr: u64, len: u32, write: u32, out: usize, cap: u32): i32 {
  const mode = load<u32>(ctx + CTX_MODE);
  const flags = load<u32>(ctx + CTX_FLAGS);
  if ((flags & DMA_F_BLOCKED) != 0) return dmaFault(ctx, E_DMA_BLOCKED, addr, len, write);
  // Private pages matter: the device may touch shared ones only, or sees
  // private ones through the encryption model.
  const restricted = (flags & DMA_F_SHARED_ONLY) != 0 || load<u32>(ctx + CTX_ENC) != ENC_NONE;
  const limit = load<u64>(ctx + CTX_LIMIT);
  const paged = mode != DMA_MODE_DIRECT;
  const base = paged ? load<u64>(ctx + CTX_BASE) : 0;
  if (addr < base || !within(addr - base, len, limit)) return dmaFault(ctx, E_ADDR_RANGE, addr, len, write);
  if (!paged && !restricted) {
    if (cap == 0) return 0;
    storeIov(out, addr, len, write, plainLinear(addr));
    return 1;
  }
  // A page at a time: for a paged context through the IOTLB when the
  // context has one, else straight from the table (every lookup counted, a
  // hit or a miss, also on the way out of a fault or a full output); for a
  // direct one the identity. Each page is checked against the
  // page-ownership map when private pages matter. Pages contiguous in linear
  // memory merge into one iovec.
  const pt = <usize>load<u32>(ctx + CTX_PT);
  const tlb = paged ? <usize>load<u32>(ctx + CTX_IOTLB) : 0;
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
    const at = addr + <u64>(len - left);
    const inPage = <u32>(off & <u64>(GUEST_PAGE_SIZE - 1));
    const room = <u32>GUEST_PAGE_SIZE - inPage;
    const chunk = left < room ? left : room;
    let gpa = at;
    if (paged) {
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
      if (perm == 0) return pagedFault(ctx, hits, misses, E_DMA_UNMAPPED, at, left, write);
      if ((perm & need) == 0) return pagedFault(ctx, hits, misses, E_DMA_PERM, at, left, write);
      gpa = <u64>(pte & ~PTE_PERM_MASK) + <u64>inPage;
    }
    let lin = plainLinear(gpa);
    if (restricted && (load<u8>(<usize>PAGE_MAP_BASE + <usize>(gpa >> GUEST_PAGE_SHIFT)) & <u8>PAGE_SHARED) == 0) {
      if ((flags & DMA_F_SHARED_ONLY) != 0) return pagedFault(ctx, hits, misses, E_DMA_PRIVATE, at, left, write);
      const p = privateLinear(ctx, gpa, chunk, write);
      if (p < 0) return pagedFault(ctx, hits, misses, <i32>-p, at, left, write);
      lin = <usize>p;
    }
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
  if ((hits | misses) == 0) return;
  const s = <usize>load<u32>(ctx + CTX_STATS);
  if (hits > 0) atomic.add<u64>(s + DST_IOTLB_HITS, <u64>hits);
  if (misses > 0) atomic.add<u64>(s + DST_IOTLB_MISSES, <u64>misses);
}

// A refused access: its lookups counted, then the fault recorded.
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
// to elemCap). `fastLimit` is the space of a plain direct context (0 for any
// other): a descriptor inside it translates inline, one bounds check and an
// add; anything else (another context, a fault, a full output) goes to
// mapDescSlow. Returns the iovecs made, 0 when the pop output is full, or
// -code for a refused access.
@inline
export function mapDesc(ctx: usize, fastLimit: u64, addr: u64, len: u32, write: u32, elems: usize, at: u32, elemCap: u32): i32 {
  if (at < elemCap && within(addr, len, fastLimit)) {
    storeIov(elems + <usize>at * ELEM_SIZE, addr, len, write, plainLinear(addr));
    return 1;
  }
  return mapDescSlow(ctx, addr, len, write, elems, at, elemCap);
}

export function mapDescSlow(ctx: usize, addr: u64, len: u32, write: u32, elems: usize, at: u32, elemCap: u32): i32 {
  if (dmaIsPlain(ctx)) {
    // Outside the space is a fault; inside, the output was full.
    return within(addr, len, dmaLimit(ctx)) ? 0 : dmaFault(ctx, E_ADDR_RANGE, addr, len, write);
  }
  return dmaMapIov(ctx, addr, len, write, elems + <usize>at * ELEM_SIZE, elemCap - at);
}

// The space of a plain direct context, which the pops translate inline; 0
// for any other context (everything then takes the general translation).
@inline
export function dmaFastLimit(ctx: usize): u64 {
  return dmaIsPlain(ctx) ? dmaLimit(ctx) : 0;
}

// An indirect table of `tlen` bytes at DMA address `taddr`, translated for a
// device read: its linear address, or -code when it is refused or does not
// translate to one contiguous run (QEMU virtqueue_split_pop: "Cannot map
// indirect buffer"). `fastLimit` as mapDesc's. `scratch` is one free element
// of the pop output (the module has no memory of its own: every instance on
// every thread shares the static area).
export function mapTable(ctx: usize, fastLimit: u64, taddr: u64, tlen: u32, scratch: usize): i64 {
  let lin: usize;
  if (within(taddr, tlen, fastLimit)) {
    lin = plainLinear(taddr);
  } else if (dmaIsPlain(ctx)) {
    return <i64>dmaFault(ctx, E_ADDR_RANGE, taddr, tlen, 0);
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

// Applies pending device writes to staged private pages (see dmaCommit): the
// DmaView calls it after its own writes.
export function dma_commit(ctx: usize): void {
  dmaCommitPending(ctx);
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

// Small helpers every ring side uses.
import { QF_STORE_ORDERED } from "./layout";

// VIRTIO 1.2 §2.7.10 and linux/virtio_ring.h vring_need_event(): true when
// event_idx lies in (old, new], all in 16-bit wrapping arithmetic.
@inline
export function needEvent(eventIdx: u32, newIdx: u32, oldIdx: u32): bool {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

// smp_store_release() of a publishing 16-bit store (see QF_STORE_ORDERED):
// every store before it is visible to the other side first.
@inline
export function storeRelease16(addr: usize, value: u32, features: u32): void {
  if ((features & QF_STORE_ORDERED) != 0) store<u16>(addr, <u16>value);
  else atomic.store<u16>(addr, <u16>value);
}

// virtio_mb() between a publish and the read of the other side's event index
// or flags: the seq-cst store was one; after a plain store (QF_STORE_ORDERED)
// store-load is the one order TSO does not keep, so it takes a locked
// instruction, as Linux's x86 smp_mb() (a locked add of 0 to the stack): a
// locked add of 0 to the face's own feature word at `featuresAt`, which only
// this side writes. (binaryen rejects AssemblyScript's atomic.fence.)
@inline
export function mbAfterPublish(featuresAt: usize): void {
  if ((load<u32>(featuresAt) & QF_STORE_ORDERED) != 0) atomic.add<u32>(featuresAt, 0);
}

// A counter of a single-writer stats block (each side writes only its own half).
@inline
export function bump(stats: usize, offset: usize, by: u64): void {
  store<u64>(stats + offset, load<u64>(stats + offset) + by);
}

// True when [addr, addr + len) lies inside [0, size). addr is the 64-bit value
// from a descriptor, so the sum is done in 64 bits and cannot wrap for len < 2^32.
@inline
export function within(addr: u64, len: u32, size: u64): bool {
  return addr <= size && <u64>len <= size - addr;
}

// The driver's check of a buffer it is asked to add: its DMA address must lie
// in the DMA window of the driver's domain [base, base + size) (what the
// guest's DMA API can have returned; for the direct backend, guest RAM). An
// address below base wraps addr - base past size, so one check covers both
// ends (base + size never passes 2^64).
@inline
export function inWindow(addr: u64, len: u32, base: u64, size: u64): bool {
  return within(addr - base, len, size);
}

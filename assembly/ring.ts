// Small helpers every ring side uses.

// VIRTIO 1.2 §2.7.10 and linux/virtio_ring.h vring_need_event(): true when
// event_idx lies in (old, new], all in 16-bit wrapping arithmetic.
@inline
export function needEvent(eventIdx: u32, newIdx: u32, oldIdx: u32): bool {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
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

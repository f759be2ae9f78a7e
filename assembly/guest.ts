// Guest RAM as the Wasm core sees it: guest physical address g lives at
// linear address GUEST_BASE + g. Every range that comes from the other side of
// a virtqueue goes through inRam() before it is touched.
import { CONFIG_BASE, CFG_RAM_SIZE, GUEST_BASE } from "./layout";

// The RAM size is read once per batch and kept in a local by callers.
@inline
export function ramSize(): u64 {
  return <u64>load<u32>(CONFIG_BASE + CFG_RAM_SIZE);
}

// True when [addr, addr + len) lies inside guest RAM. addr is the 64-bit value
// from a descriptor, so the sum is done in 64 bits and cannot wrap for len < 2^32.
@inline
export function inRam(addr: u64, len: u32, ram: u64): bool {
  return addr <= ram && <u64>len <= ram - addr;
}

@inline
export function linear(addr: u64): usize {
  return <usize>(addr + <u64>GUEST_BASE);
}

// VIRTIO 1.2 §2.7.10 and linux/virtio_ring.h vring_need_event(): true when
// event_idx lies in (old, new], all in 16-bit wrapping arithmetic.
@inline
export function needEvent(eventIdx: u32, newIdx: u32, oldIdx: u32): bool {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

@inline
export function bump(stats: usize, offset: usize, by: u64): void {
  store<u64>(stats + offset, load<u64>(stats + offset) + by);
}

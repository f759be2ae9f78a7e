// Speculation hardening for indices the other side supplies (both rings).

// Linux array_index_nospec_mask() (include/linux/nospec.h), generic version:
// all ones when index < size, 0 otherwise, computed without a branch, so a
// bounds check the CPU mispredicts cannot steer a dependent load out of
// bounds. Both operands are below 2^31 here (ids are u16, sizes <= 32768).
@inline
export function nospecMask(index: u32, size: u32): u32 {
  return <u32>(~<i32>(index | (size - 1 - index)) >> 31);
}

// The mask to apply, or all ones when the queue runs without QF_NOSPEC:
// `i & nospecOr(off, i, size)` with `off` all ones leaves i as it is, so the
// mode costs one OR and one AND when off and needs no branch either way.
@inline
export function nospecOr(off: u32, index: u32, size: u32): u32 {
  return nospecMask(index, size) | off;
}

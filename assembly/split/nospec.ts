// Speculation hardening for indices the other side supplies (both rings).

// Linux array_index_nospec_mask() (include/linux/nospec.h), generic version:
// all ones when index < size, 0 otherwise, computed without a branch, so a
// bounds check the CPU mispredicts cannot steer a dependent load out of
// bounds. The rings apply it after their check, under `if (nospec)`: a
// branch on the queue's mode, the same every time, so the default costs
// one predicted branch. Both operands are below 2^31 here (ids are u16,
// sizes <= 32768).
@inline
export function nospecMask(index: u32, size: u32): u32 {
  return <u32>(~<i32>(index | (size - 1 - index)) >> 31);
}

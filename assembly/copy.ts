// Byte copies on the shared memory. JavaScript typed-array copies on a
// SharedArrayBuffer are 2-3x slower than on a plain ArrayBuffer from about
// 1.5 KB up (design.md), so every payload copy comes here. Callers pass linear
// addresses they have already checked (the DMA view's translation).

// Small copies (packet headers, 64-byte frames) beat memory.copy's call setup
// with a v128 loop; larger ones use memory.copy.
const SMALL: usize = 256;

@inline
export function copyBytes(dst: usize, src: usize, len: usize): void {
  if (len <= SMALL && (dst + len <= src || src + len <= dst)) {
    let i: usize = 0;
    for (; i + 16 <= len; i += 16) v128.store(dst + i, v128.load(src + i));
    for (; i < len; i++) store<u8>(dst + i, load<u8>(src + i));
  } else {
    memory.copy(dst, src, len);
  }
}

export function dma_copy(dst: usize, src: usize, len: usize): void {
  copyBytes(dst, src, len);
}

// n copies described by {dst u32, src u32, len u32, pad u32} records at `list`:
// one call for a batch of packets.
export function dma_copy_batch(list: usize, n: u32): void {
  for (let k: u32 = 0; k < n; k++) {
    const r = list + <usize>k * 16;
    copyBytes(<usize>load<u32>(r), <usize>load<u32>(r + 4), <usize>load<u32>(r + 8));
  }
}

// Feature words: 64 bits as a bigint. The bits' names are in src/spec/features.ts
// and the device-specific ones in src/spec/<device>.ts.

/** A 64-bit feature word with the given bits set. */
export function features(...bits: number[]): bigint {
  return bits.reduce((w, b) => w | (1n << BigInt(b)), 0n);
}

export function hasFeature(word: bigint, bit: number): boolean {
  return ((word >> BigInt(bit)) & 1n) === 1n;
}

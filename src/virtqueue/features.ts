import * as L from '../../assembly/layout.js';

/** Device-independent feature bits (VIRTIO 1.2 §6), as bit numbers. */
export const Feature = {
  INDIRECT_DESC: L.VIRTIO_F_INDIRECT_DESC,
  EVENT_IDX: L.VIRTIO_F_EVENT_IDX,
  VERSION_1: L.VIRTIO_F_VERSION_1,
  ACCESS_PLATFORM: L.VIRTIO_F_ACCESS_PLATFORM,
  RING_PACKED: L.VIRTIO_F_RING_PACKED,
  IN_ORDER: L.VIRTIO_F_IN_ORDER,
} as const;

/** A 64-bit feature word with the given bits set. */
export function features(...bits: number[]): bigint {
  return bits.reduce((w, b) => w | (1n << BigInt(b)), 0n);
}

export function hasFeature(word: bigint, bit: number): boolean {
  return ((word >> BigInt(bit)) & 1n) === 1n;
}

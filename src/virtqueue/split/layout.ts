import * as L from '../../../assembly/layout.js';
import { ConfigError } from '../../errors.js';

/** Byte offsets of the three areas of a split ring laid out as Linux's vring_init(). */
export interface SplitRingLayout {
  size: number;
  align: number;
  desc: number;
  avail: number;
  /** used_event: the last u16 of the avail ring (VIRTIO 1.2 §2.7.10). */
  usedEvent: number;
  used: number;
  /** avail_event: the last u16 of the used ring. */
  availEvent: number;
  /** vring_size(num, align): bytes from desc to the end of the used ring. */
  total: number;
}

export function checkQueueSize(size: number, what = 'queue size'): void {
  if (!Number.isInteger(size) || size < 1 || size > L.VQ_MAX_SIZE || (size & (size - 1)) !== 0) {
    throw new ConfigError(`${what} ${size}: must be a power of two from 1 to ${L.VQ_MAX_SIZE}`);
  }
}

/**
 * VIRTIO 1.2 §2.7: descriptor table (16 bytes each, align 16), avail ring
 * (flags, idx, ring[size], used_event; align 2), used ring (flags, idx,
 * ring[size] of {id, len}, avail_event; align 4). As in linux/virtio_ring.h the
 * used ring starts at the next multiple of `align` after the avail ring.
 */
export function splitRingLayout(size: number, align = 4096): SplitRingLayout {
  checkQueueSize(size);
  if (!Number.isInteger(align) || align < 4 || (align & (align - 1)) !== 0) {
    throw new ConfigError(`ring alignment ${align}: must be a power of two of at least 4`);
  }
  const desc = 0;
  const avail = size * L.VRING_DESC_SIZE;
  const usedEvent = avail + L.VRING_AVAIL_RING + 2 * size;
  const used = Math.ceil((usedEvent + 2) / align) * align;
  const availEvent = used + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * size;
  return { size, align, desc, avail, usedEvent, used, availEvent, total: availEvent + 2 };
}

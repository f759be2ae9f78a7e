import * as P from '../../../assembly/packed/layout.js';
import { ConfigError } from '../../errors.js';

/** Byte offsets of the three areas of a packed ring (VIRTIO 1.2 §2.8.10.1), laid out back to back. */
export interface PackedRingLayout {
  size: number;
  /** Descriptor ring: size × 16 bytes, align 16. */
  desc: number;
  /** Driver Event Suppression (the driver writes it, the device reads it): 4 bytes, align 4. */
  driver: number;
  /** Device Event Suppression (the device writes it, the driver reads it): 4 bytes, align 4. */
  device: number;
  /** Bytes from desc to the end of the device area. */
  total: number;
}

/** A packed ring's size: any whole number from 1 to 32768 (powers of two not required). */
export function checkPackedQueueSize(size: number, what = 'queue size'): void {
  if (!Number.isInteger(size) || size < 1 || size > P.PVQ_MAX_SIZE) {
    throw new ConfigError(`${what} ${size}: must be a whole number from 1 to ${P.PVQ_MAX_SIZE} for a packed ring`);
  }
}

export function packedRingLayout(size: number): PackedRingLayout {
  checkPackedQueueSize(size);
  const desc = 0;
  const driver = size * P.PDESC_SIZE;
  const device = driver + P.PEVENT_SIZE;
  return { size, desc, driver, device, total: device + P.PEVENT_SIZE };
}

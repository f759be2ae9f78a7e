import { ConfigError } from '../errors.js';

/**
 * Memory for a ring that the caller allocated: `addr` is the guest physical
 * address the driver writes through, `dma` the address the device is given
 * (what dma_alloc_coherent returns as its dma_addr_t; the same for the direct
 * backend). Omitted, `dma` is `addr`.
 */
export interface RingMemory {
  addr: number;
  dma?: number | undefined;
}

export function checkRingMemory(rm: RingMemory, bytes: number, align: number): void {
  for (const [what, v] of [
    ['addr', rm.addr],
    ['dma', rm.dma ?? rm.addr],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v % align !== 0) {
      throw new ConfigError(`ringMemory.${what} ${v}: must be a guest address aligned to ${align} bytes`);
    }
  }
  if (!Number.isInteger(bytes) || bytes < 1) throw new ConfigError(`ring of ${bytes} bytes`);
}

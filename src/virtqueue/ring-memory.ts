import { ConfigError } from '../errors.js';
import type { DriverDma } from '../memory/dma-context.js';

export type { DriverDma } from '../memory/dma-context.js';

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

/** Direct DMA without a DMA API: the window is guest RAM and coherent memory is shared pages with dma = addr. */
export function directDriverDma(mem: {
  size: number;
  alloc(bytes: number, o: { shared: boolean; align: number }): number;
  free(gpa: number): void;
}): DriverDma {
  return {
    base: 0,
    bytes: mem.size,
    allocCoherent: (bytes, align) => ({ addr: mem.alloc(bytes, { shared: true, align }) }),
    freeCoherent: (addr) => mem.free(addr),
  };
}

/** Writes the DMA window and the indirect pool's DMA address into a driver state block. */
export function setDriverDma(
  v: DataView,
  state: number,
  off: { base: number; size: number; indirDma: number },
  dma: DriverDma,
  indirDma: number,
): void {
  const set64 = (at: number, x: number) => {
    v.setUint32(at, x % 2 ** 32, true);
    v.setUint32(at + 4, Math.floor(x / 2 ** 32), true);
  };
  set64(state + off.base, dma.base);
  set64(state + off.size, dma.bytes);
  set64(state + off.indirDma, indirDma);
}

import type { DmaContext } from '../memory/dma-context.js';
import type { StatsKind } from '../memory/stats-registry.js';

/** enum dma_data_direction (linux/dma-direction.h): the numbers are Linux's. */
export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

/**
 * DMA attributes (linux/dma-mapping.h DMA_ATTR_*, Linux's bit values), or'ed
 * into the `attrs` of a map or unmap.
 */
export const DmaAttr = {
  /** The CPU and device copies need no sync at map or unmap (the driver syncs what it needs). */
  SKIP_CPU_SYNC: 1 << 5,
  /** A mapping failure is expected: no warning. */
  NO_WARN: 1 << 8,
} as const;

export function directionName(dir: number): string {
  return dir === 0 ? 'BIDIRECTIONAL' : dir === 1 ? 'TO_DEVICE' : dir === 2 ? 'FROM_DEVICE' : `invalid (${dir})`;
}

export function isDirection(dir: unknown): dir is DmaDirection {
  return dir === 0 || dir === 1 || dir === 2;
}

/** A coherent (consistent) allocation: the CPU's guest physical address and the device's DMA address. */
export interface DmaCoherent {
  /** Guest physical address the driver uses. */
  cpu: number;
  /** DMA address the device uses (program this into queue registers and descriptors). */
  dma: number;
  bytes: number;
}

/**
 * One way of making guest memory reachable by a device. The DMA API (DmaApi)
 * checks arguments, keeps the mapping table and counts; the backend does the
 * work that differs, on both sides: on the guest side it maps, syncs and
 * allocates; on the device side it configures the device's DMA context
 * (assembly/mem/), which the Wasm core translates every device access
 * through.
 *
 * - direct: DMA address = guest physical address; nothing to do; the
 *   context is direct over guest RAM.
 * - offset (test-only, src/dma/offset.ts): DMA address = guest physical
 *   address + a large constant, in a paged context that refuses anything not
 *   mapped: proves nothing bypasses the DMA API or the context.
 * - iommu (src/dma/iommu.ts): an IOVA page table per device, with an IOTLB.
 * - vduse (src/dma/vduse.ts): VDUSE's bounce domain, page-granular bounce pages.
 * - swiotlb (src/dma/swiotlb-backend.ts): every streaming mapping bounced
 *   through the machine's swiotlb pool, slots in shared pages.
 *
 * Drivers never see a backend: they call DmaApi, so swapping the backend
 * changes no driver.
 */
export interface DmaBackend {
  readonly name: string;
  /** The device side: the DMA context this backend configures for the device. */
  readonly context: DmaContext;
  /** The window every DMA address this backend hands out lies in: [base, base + bytes). */
  readonly window: { base: number; bytes: number };
  /**
   * Whether syncs do anything (Linux's dma_need_sync()): false lets a driver
   * skip the calls on its hot path; true when the backend bounces.
   */
  readonly needSync: boolean;
  /**
   * The largest buffer one map() takes (Linux's dma_max_mapping_size());
   * absent: no limit but guest RAM. Drivers split larger buffers into
   * segments of at most this (virtio_max_dma_size()).
   */
  readonly maxMappingSize?: number;
  /** Makes [gpa, gpa + len) reachable by the device; returns its DMA address. `attrs`: DmaAttr bits. */
  map(gpa: number, len: number, dir: DmaDirection, attrs?: number): number;
  /** Ends a mapping made by map() (the API passes the original gpa). */
  unmap(dma: number, gpa: number, len: number, dir: DmaDirection, attrs?: number): void;
  /** Hands a mapped range back to the CPU (swiotlb: copy out of the bounce buffer). */
  syncForCpu(dma: number, gpa: number, len: number, dir: DmaDirection): void;
  /** Hands a mapped range to the device (swiotlb: copy into the bounce buffer). */
  syncForDevice(dma: number, gpa: number, len: number, dir: DmaDirection): void;
  /**
   * dma_map_sg for a backend that maps a scatter list as one (an IOMMU:
   * contiguous in IOVA space); without it the API maps each segment.
   */
  mapSg?(segments: readonly { gpa: number; len: number }[], dir: DmaDirection): number[];
  /** Ends a mapSg() mapping, given its first segment's DMA address. */
  unmapSg?(dma: number): void;
  /** Allocates memory both sides use without syncs (rings, indirect tables). */
  allocCoherent(bytes: number): DmaCoherent;
  freeCoherent(region: DmaCoherent): void;
  /**
   * Stats blocks of the backend's own (a bounce backend's copies), which the
   * DMA API registers beside its own as `<device>.<kind>`.
   */
  readonly statsBlocks?: readonly { kind: StatsKind; addr: number }[];
}

/** Counters of the guest DMA API (the cost model reads them): the `dma-api` block of the stats registry. */
export interface DmaCounters {
  maps: number;
  unmaps: number;
  syncsForCpu: number;
  syncsForDevice: number;
  /** Bytes passed to map(). */
  bytesMapped: number;
  coherentAllocs: number;
  coherentFrees: number;
  /** Mappings made and not yet unmapped (when tracking is on). */
  liveMappings: number;
  /** Calls that threw a DmaError. */
  errors: number;
}

/** Counters of a device's DMA view: those of its DMA context. */
export type { DmaContextCounters as DmaViewCounters } from '../memory/dma-context.js';

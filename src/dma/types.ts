/** enum dma_data_direction (linux/dma-direction.h): the numbers are Linux's. */
export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

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
 * work that differs:
 *
 * - direct (now): DMA address = guest physical address; nothing to do.
 * - swiotlb (later): map picks bounce slots in a shared pool (slot search in
 *   Wasm) and copies TO_DEVICE data in; unmap / syncForCpu copy FROM_DEVICE
 *   data out; translate() allows only the pool.
 * - iommu (later): map allocates an IOVA and fills the page table; translate()
 *   walks the IOTLB (counting misses) and faults on what is not mapped.
 *
 * Drivers never see a backend: they call DmaApi, so swapping the backend
 * changes no driver.
 */
export interface DmaBackend {
  readonly name: string;
  /** Makes [gpa, gpa + len) reachable by the device; returns its DMA address. */
  map(gpa: number, len: number, dir: DmaDirection): number;
  /** Ends a mapping made by map() (the API passes the original gpa). */
  unmap(dma: number, gpa: number, len: number, dir: DmaDirection): void;
  /** Hands a mapped range back to the CPU (swiotlb: copy out of the bounce buffer). */
  syncForCpu(dma: number, gpa: number, len: number, dir: DmaDirection): void;
  /** Hands a mapped range to the device (swiotlb: copy into the bounce buffer). */
  syncForDevice(dma: number, gpa: number, len: number, dir: DmaDirection): void;
  /** Allocates memory both sides use without syncs (rings). */
  allocCoherent(bytes: number): DmaCoherent;
  freeCoherent(region: DmaCoherent): void;
  /**
   * The device side: the guest physical address a device access of `len`
   * bytes at DMA address `dma` reaches, or -1 when the device may not reach
   * it. `write` is true for a device write. Called by DmaView only.
   */
  translate(dma: number, len: number, write: boolean): number;
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

/** Counters of a device's DMA view. */
export interface DmaViewCounters {
  /** Device reads of guest memory (scalar reads and bulk reads). */
  reads: number;
  /** Device writes to guest memory. */
  writes: number;
  /** Bulk copies (guest to guest, guest to host area, host area to guest). */
  copies: number;
  bytesRead: number;
  bytesWritten: number;
  /** Accesses refused (DMA_FAULT). */
  faults: number;
}

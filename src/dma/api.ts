// The guest DMA API, after Linux's dma_map_single / dma_unmap_single /
// dma_sync_single_for_{cpu,device} / dma_alloc_coherent. Drivers call only
// this; the backend (src/dma/backends.ts) does the rest.

import type { GuestMemory } from '../memory/guest-memory.js';
import { CounterBlock, registerStats } from '../memory/stats-registry.js';
import { createDmaBackend, type DmaBackendName } from './backends.js';
import { DmaError } from './errors.js';
import {
  DmaDirection,
  directionName,
  isDirection,
  type DmaBackend,
  type DmaCoherent,
  type DmaCounters,
} from './types.js';
import { DmaView } from '../memory/dma-view.js';
import type { DriverDma } from '../memory/dma-context.js';

export interface DmaApiOptions {
  /** Backend name (src/dma/backends.ts) or instance. Default 'direct'. */
  backend?: DmaBackendName | DmaBackend;
  /**
   * Keep a table of live mappings, like CONFIG_DMA_API_DEBUG, so that unmaps
   * and syncs of what was never mapped, or with another size or direction,
   * are named errors. Default true; off saves a Map operation per call.
   */
  track?: boolean;
  /**
   * Name of this API's counter block in the machine's stats registry (kind
   * `dma-api`). Default "dma-api"; a machine names one per device, e.g. "net0.dma-api".
   */
  name?: string;
}

interface Mapping {
  gpa: number;
  len: number;
  dir: DmaDirection;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** The guest's DMA API for one device. */
export class DmaApi {
  readonly backend: DmaBackend;
  private readonly track: boolean;
  /** Live streaming mappings by DMA address (a list: the same address may be mapped twice). */
  private readonly live = new Map<number, Mapping[]>();
  private readonly coherent = new Map<number, DmaCoherent>();
  /**
   * The counters, in a `dma-api` block in the shared memory: written by the
   * thread that owns this API (the driver's), readable by name from any thread.
   */
  private readonly c: CounterBlock<'dma-api'>;

  constructor(
    readonly mem: GuestMemory,
    options: DmaApiOptions = {},
  ) {
    const b = options.backend ?? 'direct';
    this.backend = typeof b === 'string' ? createDmaBackend(b, mem) : b;
    this.track = options.track ?? true;
    this.c = CounterBlock.alloc(mem, 'dma-api', options.name ?? 'dma-api');
    // The device side's counters: its DMA context's block, named beside this
    // API's; and the backend's own blocks, if it has any.
    const prefix = options.name?.endsWith('.dma-api') ? `${options.name.slice(0, -8)}.` : '';
    registerStats(mem.memory, 'dma-context', `${prefix}dma-context`, this.backend.context.statsBlock);
    for (const b of this.backend.statsBlocks ?? []) registerStats(mem.memory, b.kind, `${prefix}${b.kind}`, b.addr);
  }

  /**
   * The device's view of guest memory: the DMA context this API's backend
   * configures. Hand it to the device model (one view per device).
   */
  deviceView(): DmaView {
    return (this.view ??= new DmaView(this.mem, this.backend.context, this.backend.name));
  }
  private view: DmaView | undefined;

  /**
   * dma_need_sync(): whether sync calls do anything for this device. A driver
   * asks once and skips them on its hot path when they do not (Linux's
   * dma_need_sync() / the DMA_ATTR_SKIP_CPU_SYNC hot paths of page_pool).
   */
  get needSync(): boolean {
    return this.backend.needSync;
  }

  /** dma_max_mapping_size(): the largest buffer one map() takes on this backend. */
  get maxMappingSize(): number {
    return this.backend.maxMappingSize ?? this.mem.size;
  }

  /** What a queue's driver side needs from this API (see SplitQueueOptions.dma). */
  driverDma(): DriverDma {
    return {
      base: this.backend.window.base,
      bytes: this.backend.window.bytes,
      allocCoherent: (bytes) => {
        const r = this.allocCoherent(bytes);
        return { addr: r.cpu, dma: r.dma };
      },
      freeCoherent: (addr) => this.freeCoherent(this.coherent.get(addr) ?? { cpu: addr, dma: -1, bytes: 0 }),
    };
  }

  counters(): DmaCounters {
    return this.c.read();
  }

  private fail(code: string, message: string): never {
    this.c.f.errors.add();
    throw new DmaError(code, message);
  }

  private checkArgs(what: string, addr: number, len: number, dir: unknown): asserts dir is DmaDirection {
    if (!isDirection(dir))
      this.fail(
        'DMA_BAD_DIRECTION',
        `${what}: direction ${String(dir)} is not TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL`,
      );
    if (!Number.isInteger(len) || len < 1)
      this.fail('DMA_BAD_LENGTH', `${what}: length ${len} must be a whole number of at least 1`);
    if (!Number.isInteger(addr) || addr < 0 || addr + len > this.mem.size) {
      this.fail(
        'DMA_OUTSIDE_RAM',
        `${what}: ${hex(addr)} + ${len} bytes is outside guest RAM [0, ${hex(this.mem.size)})`,
      );
    }
  }

  /**
   * dma_map_single_attrs: makes [gpa, gpa + len) reachable by the device for
   * `dir`; returns the DMA address. `attrs`: DmaAttr bits (SKIP_CPU_SYNC: no
   * copy into a bounce buffer now). A backend that cannot map throws
   * DMA_MAPPING_ERROR (counted as an error).
   */
  map(gpa: number, len: number, dir: DmaDirection, attrs = 0): number {
    this.checkArgs('dma map', gpa, len, dir);
    let dma: number;
    try {
      dma = this.backend.map(gpa, len, dir, attrs);
    } catch (e) {
      this.c.f.errors.add();
      throw e;
    }
    this.record(dma, gpa, len, dir);
    return dma;
  }

  /**
   * dma_unmap_single_attrs: ends a mapping; `len` and `dir` must be those it
   * was mapped with. `attrs`: DmaAttr bits (SKIP_CPU_SYNC: no copy back).
   */
  unmap(dma: number, len: number, dir: DmaDirection, attrs = 0): void {
    const m = this.find('dma unmap', dma, len, dir, true);
    this.backend.unmap(dma, m ? m.gpa : dma, len, dir, attrs);
    this.c.f.unmaps.add();
  }

  /**
   * dma_map_sg_attrs: maps a scatter list; returns each segment's DMA
   * address. A backend with an IOMMU lays the list out contiguously in IOVA
   * space (dma-iommu's iommu_dma_map_sg); the others map each segment as
   * dma_direct_map_sg does. On a failure nothing stays mapped. Every segment
   * is a live mapping for syncs; unmapSg() ends them all.
   */
  mapSg(segments: readonly { gpa: number; len: number }[], dir: DmaDirection, attrs = 0): number[] {
    if (segments.length === 0) this.fail('DMA_BAD_LENGTH', 'dma map sg: an empty scatter list');
    for (const g of segments) this.checkArgs('dma map sg', g.gpa, g.len, dir);
    const sg = this.backend.mapSg;
    if (sg) {
      let out: number[];
      try {
        out = sg.call(this.backend, segments, dir);
      } catch (e) {
        this.c.f.errors.add();
        throw e;
      }
      segments.forEach((g, k) => this.record(out[k]!, g.gpa, g.len, dir));
      return out;
    }
    const out: number[] = [];
    try {
      for (const g of segments) out.push(this.map(g.gpa, g.len, dir, attrs));
    } catch (e) {
      out.forEach((d, k) => this.unmap(d, segments[k]!.len, dir, attrs));
      throw e;
    }
    return out;
  }

  /** dma_unmap_sg_attrs: ends a mapSg() mapping, given its segments and the addresses mapSg returned. */
  unmapSg(
    segments: readonly { gpa: number; len: number }[],
    dmas: readonly number[],
    dir: DmaDirection,
    attrs = 0,
  ): void {
    if (dmas.length !== segments.length || dmas.length === 0) {
      this.fail('DMA_BAD_LENGTH', `dma unmap sg: ${dmas.length} addresses for ${segments.length} segments`);
    }
    if (this.backend.unmapSg) {
      segments.forEach((g, k) => this.find('dma unmap sg', dmas[k]!, g.len, dir, true));
      this.backend.unmapSg(dmas[0]!);
      this.c.f.unmaps.add(segments.length);
      return;
    }
    segments.forEach((g, k) => this.unmap(dmas[k]!, g.len, dir, attrs));
  }

  private record(dma: number, gpa: number, len: number, dir: DmaDirection): void {
    this.c.f.maps.add();
    this.c.f.bytesMapped.add(len);
    if (!this.track) return;
    const list = this.live.get(dma);
    if (list) list.push({ gpa, len, dir });
    else this.live.set(dma, [{ gpa, len, dir }]);
    this.c.f.liveMappings.add();
  }

  /** dma_sync_single_for_cpu: the CPU may now read what the device wrote. */
  syncForCpu(dma: number, len: number, dir: DmaDirection): void {
    const m = this.find('dma sync for cpu', dma, len, dir, false);
    this.backend.syncForCpu(dma, m ? m.gpa : dma, len, dir);
    this.c.f.syncsForCpu.add();
  }

  /** dma_sync_single_for_device: the device may now read what the CPU wrote. */
  syncForDevice(dma: number, len: number, dir: DmaDirection): void {
    const m = this.find('dma sync for device', dma, len, dir, false);
    this.backend.syncForDevice(dma, m ? m.gpa : dma, len, dir);
    this.c.f.syncsForDevice.add();
  }

  /**
   * Looks up (and for unmap removes) the mapping at `dma`. Returns undefined
   * when tracking is off. A sync may cover the start of a mapping (len ≤ its
   * length); an unmap must name its exact length.
   */
  private find(what: string, dma: number, len: number, dir: unknown, remove: boolean): Mapping | undefined {
    if (!isDirection(dir))
      this.fail(
        'DMA_BAD_DIRECTION',
        `${what}: direction ${String(dir)} is not TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL`,
      );
    if (!Number.isInteger(len) || len < 1)
      this.fail('DMA_BAD_LENGTH', `${what}: length ${len} must be a whole number of at least 1`);
    if (!this.track) return undefined;
    const list = this.live.get(dma);
    if (!list || list.length === 0) {
      this.fail(
        'DMA_NOT_MAPPED',
        `${what}: device driver tries to free DMA memory it has not allocated [${hex(dma)}] [${len} bytes]`,
      );
    }
    const k = list.findIndex((m) => (remove ? m.len === len : m.len >= len) && m.dir === dir);
    if (k < 0) {
      const m = list[0]!;
      if (remove ? m.len !== len : m.len < len) {
        this.fail(
          'DMA_SIZE_MISMATCH',
          `${what}: device driver frees DMA memory with different size [${hex(dma)}] [map size=${m.len} bytes] [unmap size=${len} bytes]`,
        );
      }
      if (!(m.dir === DmaDirection.BIDIRECTIONAL && !remove)) {
        this.fail(
          'DMA_DIRECTION_MISMATCH',
          `${what}: device driver frees DMA memory with different direction [${hex(dma)}] [map direction=${directionName(m.dir)}] [unmap direction=${directionName(dir)}]`,
        );
      }
      return m;
    }
    const m = list[k]!;
    if (remove) {
      list.splice(k, 1);
      if (list.length === 0) this.live.delete(dma);
      this.c.f.liveMappings.add(-1);
    }
    return m;
  }

  /** dma_alloc_coherent: zeroed memory both sides use without syncs, for rings. */
  allocCoherent(bytes: number): DmaCoherent {
    if (!Number.isInteger(bytes) || bytes < 1)
      this.fail('DMA_BAD_LENGTH', `dma alloc coherent: ${bytes} bytes must be a whole number of at least 1`);
    let region: DmaCoherent;
    try {
      region = this.backend.allocCoherent(bytes);
    } catch (e) {
      this.c.f.errors.add();
      throw e;
    }
    this.coherent.set(region.cpu, region);
    this.c.f.coherentAllocs.add();
    return region;
  }

  /**
   * Ring memory from dma_alloc_coherent, in the shape the queues take
   * (`ringMemory`): the address the driver writes through and the one the
   * device is given. Pass it as probeDevice's `allocRing`.
   */
  allocRing(bytes: number): { addr: number; dma: number } {
    const r = this.allocCoherent(bytes);
    return { addr: r.cpu, dma: r.dma };
  }

  /** dma_free_coherent. */
  freeCoherent(region: DmaCoherent): void {
    const r = this.coherent.get(region.cpu);
    if (!r || r.dma !== region.dma || r.bytes !== region.bytes) {
      this.fail(
        'DMA_NOT_COHERENT',
        `dma free coherent: ${hex(region.cpu)} (dma ${hex(region.dma)}, ${region.bytes} bytes) was not allocated coherent`,
      );
    }
    this.coherent.delete(region.cpu);
    this.backend.freeCoherent(r);
    this.c.f.coherentFrees.add();
  }
}

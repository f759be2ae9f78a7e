// `vqsim study pool`: how big a swiotlb pool, and how many areas, a CVM needs
// for its queues. Each of Q queues keeps `depth` receive buffers of `size`
// bytes mapped (posted to the device, as virtio-net keeps its RX ring full)
// and, step by step, completes the oldest (unmap) and posts a new one (map)
// from its own CPU, so its area is searched first (swiotlb_find_slots). What
// the pool does under that load is counted: maps that found no room (Linux:
// "swiotlb buffer is full", DMA_MAPPING_ERROR: the packet is dropped), the
// high-water mark, and the slots each search scanned. All counts, no clocks:
// the rows are deterministic.
import { DmaAttr, GuestMemory, Swiotlb, SwiotlbFullError } from '../internal.js';
import type { Command } from 'commander';
import { int, ints, sizes } from './bench/options.js';
import { valueFlag } from './parser.js';
import { studyFlags, type StudyFlags } from './study-flags.js';
import { textTable } from './bench/report.js';
import { takeShard, type Shard } from './shard.js';

export interface PoolStudyOptions {
  slots: number[];
  areas: number[];
  queues: number[];
  sizes: number[];
  depth: number;
  steps: number;
}

export interface PoolRow {
  study: 'pool';
  slots: number;
  poolBytes: number;
  areas: number;
  queues: number;
  size: number;
  depth: number;
  /** Maps tried (the initial fill and every step). */
  maps: number;
  /** Maps that found no room. */
  full: number;
  fullShare: number;
  /** The most slots in use at once, and its share of the pool. */
  usedHiwater: number;
  hiwaterShare: number;
  /** Slots the searches scanned, per map tried. */
  slotsScannedPerMap: number;
  /** Areas searched per map tried: 1 when the CPU's own area had room, more when the search moved on. */
  areasTriedPerMap: number;
}

/** `vqsim study pool`: its help and flags. */
export function defineStudyPool(c: Command): Command {
  const counts = (flags: string, what: string, lo: number, hi: number, fallback: string) =>
    valueFlag(flags, `${what}, ${lo} to ${hi} (default: ${fallback})`, (f, v) =>
      ints(f, v, (n) => n >= lo && n <= hi, `must be ${what} from ${lo} to ${hi}`),
    );
  return studyFlags(
    c
      .description(POOL_HELP)
      .addOption(counts('--slots <n,...>', 'pool sizes in 2 KiB slots', 512, 524288, '8192,32768: 16 and 64 MiB'))
      .addOption(counts('--areas <n,...>', 'area counts', 1, 64, '1,4'))
      .addOption(counts('--queues <n,...>', 'queue counts mapping at once', 1, 64, '1,4,16,64'))
      // Byte sizes take units (1.5k, 64KiB) as every byte flag does.
      .addOption(
        valueFlag('--sizes <n,...>', 'receive buffer bytes, 1 to 262144; 1.5k, 64KiB (default: 1500,65536)', (f, v) =>
          sizes(f, v, (n) => n >= 1 && n <= 262144, 'must be buffer sizes in bytes from 1 to 262144'),
        ),
      )
      .addOption(
        valueFlag(
          '--depth <n>',
          'buffers kept mapped per queue, 1 to 4096',
          (f, v) => int(f, v, (n) => n >= 1 && n <= 4096, 'must be buffers per queue from 1 to 4096'),
          '256',
        ),
      )
      .addOption(
        valueFlag('--steps <n>', 'completions per queue, 1 to 1048576 (default: 1024; 4096 with --full)', (f, v) =>
          int(f, v, (n) => n >= 1 && n <= 1 << 20, 'must be steps per queue from 1 to 1048576'),
        ),
      ),
    'the large grid (4 pool sizes, 5 area counts, 1 to 64 queues, 4 sizes, 4096 steps)',
  ).addHelpText('after', POOL_AFTER);
}

/** The values defineStudyPool's flags give. */
export type PoolFlags = StudyFlags & {
  slots?: number[];
  areas?: number[];
  queues?: number[];
  sizes?: number[];
  depth: number;
  steps?: number;
};

/** `vqsim study pool`'s grid from its flags (--full: the large one). */
export function poolOptions(v: PoolFlags): PoolStudyOptions {
  const full = v.full === true;
  return {
    slots: v.slots ?? (full ? [2048, 8192, 32768, 131072] : [8192, 32768]),
    areas: v.areas ?? (full ? [1, 2, 4, 8, 16] : [1, 4]),
    queues: v.queues ?? (full ? [1, 2, 4, 8, 16, 32, 64] : [1, 4, 16, 64]),
    sizes: v.sizes ?? (full ? [64, 1500, 4096, 65536] : [1500, 65536]),
    depth: v.depth,
    steps: v.steps ?? (full ? 4096 : 1024),
  };
}

/** One case: Q queues of `depth` buffers on one pool, `steps` completions each. */
export function runPoolCase(
  slots: number,
  areas: number,
  queues: number,
  size: number,
  depth: number,
  steps: number,
): PoolRow {
  const mem = new GuestMemory({ size: slots * 2048 + (8 << 20) });
  const sw = new Swiotlb(mem, { slots, areas, cpus: Math.max(queues, areas), name: 'study.swiotlb' });
  const buf = mem.alloc(Math.max(size, 4096));
  const rings: number[][] = Array.from({ length: queues }, () => []);
  let maps = 0;
  let full = 0;
  const post = (q: number) => {
    maps++;
    try {
      rings[q]!.push(sw.map(buf, size, { cpu: q, attrs: DmaAttr.NO_WARN | DmaAttr.SKIP_CPU_SYNC }));
    } catch (e) {
      if (!(e instanceof SwiotlbFullError)) throw e;
      full++; // the driver drops this buffer and tries again on the next step
    }
  };
  // Fill every RX ring, queue by queue, as the probe does (try_fill_recv).
  for (let q = 0; q < queues; q++) for (let i = 0; i < depth; i++) post(q);
  for (let s = 0; s < steps; s++) {
    for (let q = 0; q < queues; q++) {
      const r = rings[q]!;
      if (r.length > 0) sw.unmap(r.shift()!, size, { cpu: q, attrs: DmaAttr.SKIP_CPU_SYNC });
      while (r.length < depth) {
        const before = r.length;
        post(q);
        if (r.length === before) break;
      }
    }
  }
  const c = sw.counters();
  return {
    study: 'pool',
    slots: sw.nslabs,
    poolBytes: sw.nslabs * 2048,
    areas: sw.nareas,
    queues,
    size,
    depth,
    maps,
    full,
    fullShare: maps > 0 ? full / maps : 0,
    usedHiwater: c.usedHiwater,
    hiwaterShare: c.usedHiwater / sw.nslabs,
    slotsScannedPerMap: maps > 0 ? c.slotsScanned / maps : 0,
    areasTriedPerMap: maps > 0 ? c.areaSearches / maps : 0,
  };
}

export function runPoolStudy(
  o: PoolStudyOptions & { shard?: Shard | undefined },
  progress: (line: string) => void = () => {},
  /** Filled with each row's position in the whole grid (for --shard). */
  positions: number[] = [],
): PoolRow[] {
  const grid: [number, number, number, number][] = [];
  for (const slots of o.slots)
    for (const areas of o.areas)
      for (const size of o.sizes) for (const queues of o.queues) grid.push([slots, areas, size, queues]);
  const slice = takeShard(grid, o.shard);
  const rows: PoolRow[] = [];
  for (const {
    item: [slots, areas, size, queues],
    position,
  } of slice) {
    progress(`[${rows.length + 1}/${slice.length}] pool ${slots} slots, ${areas} areas, ${queues} queues, ${size} B`);
    rows.push(runPoolCase(slots, areas, queues, size, o.depth, o.steps));
    positions.push(position);
  }
  progress('');
  return rows;
}

export function poolTable(rows: readonly PoolRow[], o: PoolStudyOptions): string {
  const head = [
    'pool MiB',
    'areas',
    'size B',
    'queues',
    'maps',
    'full',
    'full %',
    'hiwater %',
    'scanned/map',
    'other areas/map',
  ];
  const cells = rows.map((r) => [
    String(r.poolBytes / (1 << 20)),
    String(r.areas),
    String(r.size),
    String(r.queues),
    String(r.maps),
    String(r.full),
    (100 * r.fullShare).toFixed(2),
    (100 * r.hiwaterShare).toFixed(1),
    r.slotsScannedPerMap.toFixed(2),
    r.areasTriedPerMap.toFixed(3),
  ]);
  return textTable(
    `vqsim study pool: ${o.depth} buffers mapped per queue, ${o.steps} completions per queue (counted, deterministic)`,
    head,
    cells,
    0,
  );
}

const POOL_HELP = `How big a swiotlb pool, and how many areas, a confidential VM needs for its
queues. Each queue keeps --depth receive buffers of a size mapped (as
virtio-net keeps its RX ring full) and, --steps times, completes the oldest
(unmap) and posts a new one (map) from its own CPU, so its own area is
searched first. Counted, so deterministic: maps that found no room (Linux:
"swiotlb buffer is full", the packet dropped), the high-water mark, slots
scanned per map, and areas searched per map (more than 1: the CPU's own area
was full and the search moved on, taking another area's lock).`;

const POOL_AFTER = `
Example:
  vqsim study pool --slots 32768 --areas 1,8 --queues 1,8,64 --sizes 65536
`;

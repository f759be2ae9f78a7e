// `vqsim bench swiotlb`: the swiotlb allocator and its bounce copies on one
// thread. Map+unmap pairs at pool utilisations (through the Swiotlb class,
// copies included; and the slot search and release alone), and the bounce
// copy's bandwidth against a plain memory.copy of the same bytes.
import { type Command } from 'commander';
import { DmaAttr, DmaDirection, GuestMemory, Swiotlb, SwiotlbFullError } from '../../internal.js';
import type { Io } from '../io.js';
import { valueFlag } from '../parser.js';
import { int, ints, jsonFlag, roundsFlag, sizes as sizeList, timeFlag, warmupFlag } from './options.js';
import { jsonDocument, lowerMedian, textTable } from './report.js';
import { printWarnings, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { statsOf, type NoiseWarning, type SampleStats } from '../result.js';
import { BenchSanityError } from './ring.js';

const SWIOTLB_HELP = `The swiotlb bounce pool (kernel/dma/swiotlb.c in Wasm) on one JavaScript
thread, in two parts.

Map+unmap: a pool (default 64 MiB, one area) is filled with mappings of
1 B to 4 KiB until full, then emptied at random down to each utilisation, so
its free space is fragmented; then map+unmap pairs of each size run from the
next-fit cursor. nsPerMapUnmap is one Swiotlb.map() and one unmap() (the map
copies the buffer into its bounce slots, the unmap copies it back: a
BIDIRECTIONAL mapping); nsPerSearchRelease is the slot search and release
alone, without the copies (Linux's swiotlb_find_slots and
swiotlb_release_slots); slotsScannedPerMap is the slots the search checked.

Bounce copy: one mapping of each size is synced towards the device again and
again (swiotlb_bounce), against memory.copy of the same bytes between the same
two buffers (dma_copy); both warm in cache.`;

const SWIOTLB_AFTER = `
The statistics in --json (median, p99, rme...) are over rounds: each round
keeps its fastest batch, so there are no per-iteration samples.

Examples:
  vqsim bench swiotlb --utilisation 0,90 --sizes 1500,4k
  vqsim bench swiotlb --slots 8192 --areas 4 --rounds 5 --json
`;

export interface SwiotlbBenchOptions {
  utilisations: number[];
  sizes: number[];
  copySizes: number[];
  slots: number;
  areas: number;
  timeMs: number;
  /** Untimed run of each case first, in milliseconds. */
  warmupMs: number;
  rounds: number;
  json: boolean;
}

/** One map+unmap case: the median of its rounds. */
export interface SwiotlbMapRow extends Partial<SampleStats> {
  bench: 'swiotlb';
  name: string;
  kind: 'map';
  /** Fraction of the pool's slots in use while the pairs run. */
  utilisation: number;
  size: number;
  nsPerMapUnmap: number;
  nsPerSearchRelease: number;
  slotsScannedPerMap: number;
  slots: number;
  areas: number;
  rounds: number;
}

/** One bounce copy size: the median of its rounds. */
export interface SwiotlbCopyRow extends Partial<SampleStats> {
  bench: 'swiotlb';
  name: string;
  kind: 'copy';
  size: number;
  bounceGBps: number;
  copyGBps: number;
  /** bounceGBps / copyGBps. */
  copyRatio: number;
  rounds: number;
}

const MAX = 262144;

/** `vqsim bench swiotlb`: its help and flags. */
export function defineSwiotlb(c: Command): Command {
  const bytes = (flags: string, what: string, fallback: string) =>
    valueFlag(
      flags,
      what,
      (f, v) => sizeList(f, v, (n) => n >= 1 && n <= MAX, `must be whole numbers of bytes from 1 to ${MAX}`),
      fallback,
    );
  return c
    .description(SWIOTLB_HELP)
    .addOption(
      valueFlag(
        '--utilisation <p,...>',
        'pool utilisation in percent, 0 to 95',
        (f, v) => ints(f, v, (n) => n >= 0 && n <= 95, 'must be whole percentages from 0 to 95'),
        '10,50,90',
      ),
    )
    .addOption(bytes('--sizes <n,...>', `map+unmap sizes in bytes, 1 to ${MAX}; 1.5k, 4KiB`, '64,1500,4096'))
    .addOption(
      bytes(
        '--copy-sizes <n,...>',
        `bounce copy sizes in bytes, 1 to ${MAX}; 64k, 256KiB`,
        '64,256,1024,1500,4096,16384,65536,262144',
      ),
    )
    .addOption(
      valueFlag(
        '--slots <n>',
        'pool slots, as swiotlb=<slots>: 512 to 524288 (32768: 64 MiB)',
        (f, v) => int(f, v, (n) => n >= 512 && n <= 524288, 'must be one whole number of slots from 512 to 524288'),
        '32768',
      ),
    )
    .addOption(
      valueFlag(
        '--areas <n>',
        'areas, 1 to 64',
        (f, v) => int(f, v, (n) => n >= 1 && n <= 64, 'must be one whole number from 1 to 64'),
        '1',
      ),
    )
    .addOption(timeFlag('measuring time per case', '200ms'))
    .addOption(warmupFlag('untimed run of each case first', '0ms'))
    .addOption(roundsFlag('times every case runs, 1 to 50; each reports its median round', '3'))
    .addOption(jsonFlag('print JSON rows'))
    .addHelpText('after', SWIOTLB_AFTER);
}

/** The values defineSwiotlb's flags give. */
export type SwiotlbFlags = {
  utilisation: number[];
  sizes: number[];
  copySizes: number[];
  slots: number;
  areas: number;
  time: number;
  warmup: number;
  rounds: number;
  json?: boolean;
};

/** `vqsim bench swiotlb`'s options from its flags. */
export const swiotlbOptions = (v: SwiotlbFlags): SwiotlbBenchOptions => ({
  utilisations: v.utilisation,
  sizes: v.sizes,
  copySizes: v.copySizes,
  slots: v.slots,
  areas: v.areas,
  timeMs: v.time,
  warmupMs: v.warmup,
  rounds: v.rounds,
  json: v.json === true,
});

/** xorshift32: the fill's sizes and the order it empties in, the same every run. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** A machine memory holding a pool of `slots` slots and a 256 KiB source buffer. */
export function poolMachine(slots: number, areas: number): { sw: Swiotlb; buf: number } {
  const mem = new GuestMemory({ size: slots * 2048 + (8 << 20) });
  const sw = new Swiotlb(mem, { slots, areas, name: 'bench.swiotlb' });
  const buf = mem.alloc(MAX);
  for (let k = 0; k < MAX; k += 4096) mem.fill(buf + k, 4096, (k >> 12) & 0xff);
  return { sw, buf };
}

/**
 * Fills the pool with mappings of 1 B to 4 KiB until it is full, then unmaps
 * them in random order down to `utilisation` of its slots.
 */
function fillTo(sw: Swiotlb, buf: number, utilisation: number, seed: number): void {
  const r = xorshift(seed);
  const live: [number, number][] = [];
  for (;;) {
    const size = 1 + Math.floor(r() * 4096);
    try {
      live.push([sw.map(buf, size, { attrs: DmaAttr.NO_WARN }), size]);
    } catch (e) {
      if (!(e instanceof SwiotlbFullError)) throw e;
      if (sw.used > sw.nslabs * 0.98 || live.length > 4 * sw.nslabs) break;
    }
  }
  for (let i = live.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [live[i], live[j]] = [live[j]!, live[i]!];
  }
  while (sw.used > sw.nslabs * utilisation && live.length > 0) {
    const [a, s] = live.pop()!;
    sw.unmap(a, s);
  }
}

/**
 * Runs the `batches` in turn, one chunk each, until `timeMs` has passed, and
 * returns for each the ns per operation of its fastest chunk (`per`
 * operations a chunk): the chunk least disturbed by other load, with every
 * case exposed to the same load since they alternate.
 */
function race(timeMs: number, per: number, batches: (() => void)[]): number[] {
  for (const b of batches) for (let k = 0; k < 3; k++) b(); // warm up: let the Wasm tier up
  const best = batches.map(() => Infinity);
  const t0 = performance.now();
  let rounds = 0;
  do {
    batches.forEach((b, i) => {
      const t = performance.now();
      b();
      best[i] = Math.min(best[i]!, ((performance.now() - t) * 1e6) / per);
    });
    rounds++;
  } while (performance.now() - t0 < timeMs || rounds < 5);
  return best;
}

const PAIRS = 256;

/** Map+unmap pairs of `size` bytes on a pool `fillTo` has filled (the pairs leave it as they found it). */
function measureMap(o: SwiotlbBenchOptions, sw: Swiotlb, buf: number, size: number): Omit<SwiotlbMapRow, 'rounds'> {
  const used = sw.used;
  const utilisation = used / sw.nslabs;
  const core = sw.mem.core;
  const d = sw.descriptor;
  let classMaps = 0;
  // Through the class, copies included; and the allocator alone: swiotlb_map
  // without its copy in, unmap with SKIP_CPU_SYNC (no copy back).
  const batches = [
    () => {
      for (let i = 0; i < PAIRS; i++) sw.unmap(sw.map(buf, size), size);
      classMaps += PAIRS;
    },
    () => {
      for (let i = 0; i < PAIRS; i++) {
        const off = core.swiotlb_map(d, buf, size, 0, 0, 0, 0);
        if (off < 0) {
          throw new BenchSanityError(
            `swiotlb bench: a ${size}-byte mapping failed at ${Math.round(utilisation * 100)}% use`,
          );
        }
        core.swiotlb_unmap(d, off, size, DmaDirection.TO_DEVICE, DmaAttr.SKIP_CPU_SYNC, 0);
      }
    },
  ];
  if (o.warmupMs > 0) race(o.warmupMs, PAIRS, batches);
  classMaps = 0;
  const before = sw.counters();
  const [nsPerMapUnmap, nsPerSearchRelease] = race(o.timeMs, PAIRS, batches) as [number, number];
  const mid = sw.counters();
  if (sw.used !== used)
    throw new BenchSanityError(`swiotlb bench: ${sw.used} slots in use after the pairs, ${used} before`);
  const maps = mid.maps - before.maps;
  if (maps < classMaps || mid.releases - before.releases !== maps) {
    throw new BenchSanityError(
      `swiotlb bench: ${maps} maps and ${mid.releases - before.releases} releases counted, ${classMaps} made through the class`,
    );
  }
  return {
    bench: 'swiotlb',
    name: `swiotlb/map/${Math.round(utilisation * 100)}%/${size}B`,
    kind: 'map',
    utilisation: Math.round((used / sw.nslabs) * 1000) / 1000,
    size,
    nsPerMapUnmap,
    nsPerSearchRelease,
    slotsScannedPerMap: (mid.slotsScanned - before.slotsScanned) / maps,
    slots: sw.nslabs,
    areas: sw.nareas,
  };
}

function measureCopy(o: SwiotlbBenchOptions, size: number, sw: Swiotlb, buf: number): Omit<SwiotlbCopyRow, 'rounds'> {
  const a = sw.map(buf, size);
  const mem = sw.mem;
  const core = mem.core;
  const from = mem.linear(buf, size);
  const to = mem.linear(a, size);
  const per = Math.max(4, Math.floor(262144 / size));
  const batches = [
    () => {
      for (let i = 0; i < per; i++) sw.sync(a, size, true);
    },
    () => {
      for (let i = 0; i < per; i++) core.dma_copy(to, from, size);
    },
  ];
  if (o.warmupMs > 0) race(o.warmupMs, per, batches);
  const [bounceNs, copyNs] = race(o.timeMs, per, batches) as [number, number];
  if (mem.readU8(a + size - 1) !== mem.readU8(buf + size - 1)) {
    throw new BenchSanityError(`swiotlb bench: the bounce buffer of ${size} bytes does not hold the buffer`);
  }
  sw.unmap(a, size);
  const bounceGBps = size / bounceNs;
  const copyGBps = size / copyNs;
  return {
    bench: 'swiotlb',
    name: `swiotlb/copy/${size}B`,
    kind: 'copy',
    size,
    bounceGBps,
    copyGBps,
    copyRatio: bounceGBps / copyGBps,
  };
}

/** Runs every case `o.rounds` times (the whole set per round) and keeps each case's median round. */
export function runSwiotlbBench(
  o: SwiotlbBenchOptions,
  io?: Io,
  warnings: NoiseWarning[] = [],
): { map: SwiotlbMapRow[]; copy: SwiotlbCopyRow[] } {
  const total = o.rounds * (o.utilisations.length * o.sizes.length + o.copySizes.length);
  const progress = io ? new ProgressLine(io, total) : undefined;
  const maps = new Map<string, Omit<SwiotlbMapRow, 'rounds'>[]>();
  const copies = new Map<number, Omit<SwiotlbCopyRow, 'rounds'>[]>();
  for (let round = 0; round < o.rounds; round++) {
    const tag = o.rounds > 1 ? `round ${round + 1}/${o.rounds} ` : '';
    for (const u of o.utilisations) {
      const { sw, buf } = poolMachine(o.slots, o.areas);
      fillTo(sw, buf, u / 100, 0x9e3779b9 ^ round);
      for (const size of o.sizes) {
        progress?.step(`${tag}swiotlb map+unmap ${u}% ${size} B`);
        const key = `${u}/${size}`;
        maps.set(key, [...(maps.get(key) ?? []), measureMap(o, sw, buf, size)]);
      }
    }
    const { sw, buf } = poolMachine(512, 1);
    for (const size of o.copySizes) {
      progress?.step(`${tag}swiotlb bounce copy ${size} B`);
      copies.set(size, [...(copies.get(size) ?? []), measureCopy(o, size, sw, buf)]);
    }
  }
  const median = <T extends object>(rows: T[], key: (r: T) => number): T => {
    const m = lowerMedian(rows.map(key));
    return rows.find((r) => key(r) === m)!;
  };
  progress?.clear();
  // No per-iteration samples (each round keeps its fastest batch): the statistics are over rounds.
  const map = [...maps.values()].map((rows) => {
    const ns = rows.map((r) => r.nsPerMapUnmap);
    const m = median(rows, (r) => r.nsPerMapUnmap);
    warnings.push(...spreadWarning(m.name, ns));
    return { ...m, ...statsOf(ns, 'ns/map+unmap'), rounds: rows.length };
  });
  const copy = [...copies.values()].map((rows) => {
    const ns = rows.map((r) => r.size / r.bounceGBps);
    const m = median(rows, (r) => r.copyRatio);
    warnings.push(...spreadWarning(m.name, ns));
    return { ...m, ...statsOf(ns, 'ns/bounce'), rounds: rows.length };
  });
  return { map, copy };
}

/** `vqsim bench swiotlb [options]`. Returns the exit code. */
export async function swiotlbCommand(o: SwiotlbBenchOptions, io: Io): Promise<number> {
  const warnings: NoiseWarning[] = [];
  const { map, copy } = runSwiotlbBench(o, io, warnings);
  printWarnings(io, warnings);
  if (o.json) {
    io.out(jsonDocument('bench swiotlb', o, [...map, ...copy], warnings));
    return 0;
  }
  const rounds = `median of ${o.rounds} round${o.rounds === 1 ? '' : 's'}`;
  const title = `vqsim bench swiotlb: ${o.slots} slots (${(o.slots * 2048) / 2 ** 20} MiB), ${o.areas} area${o.areas === 1 ? '' : 's'}, ${o.timeMs} ms per case, ${rounds}`;
  const mapCells = map.map((r) => [
    `${Math.round(r.utilisation * 100)}%`,
    String(r.size),
    r.nsPerMapUnmap.toFixed(1),
    r.nsPerSearchRelease.toFixed(1),
    r.slotsScannedPerMap.toFixed(2),
  ]);
  const copyCells = copy.map((r) => [
    String(r.size),
    r.bounceGBps.toFixed(2),
    r.copyGBps.toFixed(2),
    `${r.copyRatio.toFixed(2)}×`,
  ]);
  io.out(
    textTable(title, ['utilisation', 'size B', 'ns/map+unmap', 'ns/search+release', 'slots scanned/map'], mapCells, 1, {
      names: map.map((r) => r.name),
      warnings: warnings.filter((w) => w.row?.startsWith('swiotlb/map/')),
    }) +
      '\n' +
      textTable(
        'bounce copy (swiotlb_bounce) vs memory.copy',
        ['size B', 'bounce GB/s', 'copy GB/s', 'ratio'],
        copyCells,
        0,
        { names: copy.map((r) => r.name), warnings: warnings.filter((w) => w.row?.startsWith('swiotlb/copy/')) },
      ),
  );
  return 0;
}

import { jsonDocument, medianBy, textTable } from './report.js';
import { printWarnings, rmeWarning, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { statsOf, statsPerOp, type NoiseWarning, type SampleStats } from '../result.js';
// `vqsim bench blk`: virtio-blk on one thread over the in-memory store. The
// guest driver keeps --depth requests in flight on each queue (one addBatch
// call per batch, every buffer mapped through the DMA API), the device serves
// each popped set with one batched Wasm copy call and pushes it back, and the
// driver reaps the set with one call and checks each status byte. Random
// offsets come from a seeded generator, so a run is repeatable.
import { type Command } from 'commander';
import { Bench } from 'tinybench';
import {
  BlkStatus,
  BlkType,
  createMachine,
  type BlkMachineDevice,
  type Machine,
  type RingKind,
} from '../../internal.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { flagValues, valueFlag } from '../parser.js';
import {
  choices,
  defaultWarmupMs,
  deviceQueueSizeFlag,
  int,
  ints,
  jsonFlag,
  QUARTER_OF_TIME,
  ringFlag,
  roundsFlag,
  seedFlag,
  sizes,
  text,
  timeFlag,
  warmupFlag,
} from './options.js';
import { BenchSanityError } from './ring.js';
import {
  BASELINE,
  isBaseline,
  parsePlacements,
  placementName,
  placementFlags,
  setVsDirect,
  withBaseline,
  type Placement,
  type PlacementFlags,
} from './placement.js';
import { eventTotals, perOp, type PerOp } from '../../sim/per-op.js';
import { protectedDeviceBytes, SectorCrypt } from '../../trust/protect/sector.js';

export const BLK_MODES = ['randread', 'randwrite', 'seqread', 'seqwrite'] as const;
export type BlkMode = (typeof BLK_MODES)[number];
/** I/O size of each mode: 4 KiB random, 128 KiB sequential. */
export const BLK_IO_BYTES: Record<BlkMode, number> = {
  randread: 4096,
  randwrite: 4096,
  seqread: 128 * 1024,
  seqwrite: 128 * 1024,
};

/** Batches per queue blkLatency times: enough for a p99, a few ms per case. */
export const LAT_BATCHES = 32;

const BLK_HELP = `virtio-blk on one JavaScript thread, batched Wasm, in-memory backing store:
the guest driver keeps --depth requests in flight on each of --queues queues
(4 KiB at seeded random offsets for randread/randwrite, 128 KiB in order for
seqread/seqwrite), the device serves each popped set with one batched Wasm copy
and the driver reaps it and checks each status byte. Reports I/O per second and
bytes per second. The queues run one after another on the one thread. Lists
are comma-separated; every combination runs.`;

const BLK_AFTER = `
ns/io (1/tput) is 1 ÷ throughput: the time per request with --depth requests
in flight, not a request's latency. lat µs and lat p99 are that latency,
submit to reap (fio's clat), median and 99th percentile over ${LAT_BATCHES}
batches of --depth requests per queue, timed after the measured iterations.

Examples:
  vqsim bench blk --mode randread --queues 1 --depth 32
  vqsim bench blk --mode seqwrite --io-bytes 64k,1M --capacity-mib 48 --time 1s
  vqsim bench blk --deployment cvm --mode randread --rounds 3 --json
`;

export interface BlkMachineOptions {
  placement?: Placement;
  ring?: RingKind;
  queues?: number;
  queueSize?: number;
  /** Requests in flight per queue (buffers are sized for it). Default 64. */
  depth?: number;
  /** Bytes of the in-memory store. Default 32 MiB. */
  capacityBytes?: number;
  /** Largest request, in bytes. Default 128 KiB. */
  maxIoBytes?: number;
  seed?: number;
}

/** The machine `vqsim bench blk` runs: one virtio-blk device over virtio-pci on an in-memory store. */
export function blkBenchMachine(o: BlkMachineOptions = {}): Machine {
  const queueSize = o.queueSize ?? 256;
  const p = o.placement;
  return createMachine({
    ...(p?.deployment === undefined ? {} : { deployment: p.deployment }),
    ...(p?.policy === undefined ? {} : { policy: p.policy }),
    ...(p === undefined ? {} : { dma: p.dma, encryption: p.encryption }),
    seed: o.seed,
    devices: [
      {
        kind: 'blk',
        ring: o.ring,
        queues: o.queues,
        queueSize,
        depth: Math.min(o.depth ?? 64, queueSize),
        capacityBytes: o.capacityBytes,
        maxIoBytes: o.maxIoBytes,
      },
    ],
  });
}

/** One queue's workload: its buffers, its random generator or sequential position. */
export interface BlkJob {
  queue: number;
  mode: BlkMode;
  ioBytes: number;
  /** Guest address of depth × ioBytes of data buffers. */
  buffers: number;
  rng: number;
  nextSector: number;
  /** The sector crypt layer: requests carry sealed data (ioBytes is then its device size), checked on completion. */
  protect?: BlkJobProtect;
}

/** A job's sector crypt layer: the page cache it seals from and opens into, and what each tag carries. */
export interface BlkJobProtect {
  sc: SectorCrypt;
  /** Data bytes per request (the device request is protectedDeviceBytes of it). */
  dataBytes: number;
  /** Guest address of depth × dataBytes of plaintext (the page cache: private). */
  pages: number;
  /** Per request tag: its data sector and its buffer slot. */
  tagSector: Int32Array;
  tagSlot: Int32Array;
}

/** Gives `job` the sector crypt layer `sc`: a page cache of depth × dataBytes, and the tags' bookkeeping. */
export function protectBlkJob(m: BlkMachineDevice, job: BlkJob, sc: SectorCrypt, dataBytes: number): void {
  const size = m.driver.queues[job.queue]!.vq.size;
  const pages = m.mem.alloc(m.depth * dataBytes);
  const words = new Uint32Array(
    m.mem.bytes.buffer,
    m.mem.linear(pages, m.depth * dataBytes),
    (m.depth * dataBytes) / 4,
  );
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 0x9e3779b1);
  job.protect = { sc, dataBytes, pages, tagSector: new Int32Array(size), tagSlot: new Int32Array(size) };
}

export function createBlkJob(
  m: BlkMachineDevice,
  queue: number,
  mode: BlkMode,
  seed = 1,
  ioBytes = BLK_IO_BYTES[mode],
): BlkJob {
  // The guest's page cache: private memory (the DMA API makes it reachable).
  const buffers = m.mem.alloc(m.depth * ioBytes);
  // A distinct, non-zero xorshift32 state per queue.
  const rng = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(queue + 1, 0x85ebca6b)) >>> 0 || 1;
  return { queue, mode, ioBytes, buffers, rng, nextSector: 0 };
}

/** What runBlkQueue moved. */
export interface BlkRunCounts {
  ios: number;
  bytes: number;
  /** Submit-kick-reap rounds. */
  rounds: number;
}

/**
 * Runs at least `ios` requests of `job` on its queue of `m`, keeping up to
 * m.depth in flight, and returns what moved: the per-queue unit a worker can
 * call in a loop. Throws on a status other than OK, or when a round
 * completes nothing three times in a row.
 */
export function runBlkQueue(m: BlkMachineDevice, job: BlkJob, ios: number): BlkRunCounts {
  const q = m.driver.queues[job.queue]!;
  const pr = job.protect;
  const mem = m.mem;
  const sectors = pr ? pr.sc.sectors : m.store.bytes / 512;
  const per = (pr ? pr.dataBytes : job.ioBytes) / 512;
  const slots = Math.floor(sectors / per);
  const type = job.mode === 'randread' || job.mode === 'seqread' ? BlkType.IN : BlkType.OUT;
  const random = job.mode === 'randread' || job.mode === 'randwrite';
  let done = 0;
  let rounds = 0;
  let idle = 0;
  let bad = -1;
  let submitted = 0;
  const onDone = (c: { status: number; tag: number }) => {
    if (c.status !== BlkStatus.OK) bad = c.status;
    else if (pr && type === BlkType.IN) {
      // Check and decrypt into the page cache (a named ProtectError if the device lied).
      const src = mem.linear(job.buffers + pr.tagSlot[c.tag]! * job.ioBytes, job.ioBytes);
      const dst = mem.linear(pr.pages + pr.tagSlot[c.tag]! * pr.dataBytes, pr.dataBytes);
      pr.sc.openInto(pr.tagSector[c.tag]!, mem.bytes.subarray(src, src + job.ioBytes), mem.bytes, dst);
    }
    done++;
  };
  while (done < ios) {
    while (q.inflight < m.depth && submitted < ios) {
      let sector: number;
      if (random) {
        let x = job.rng;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        job.rng = x >>> 0;
        sector = (job.rng % slots) * per;
      } else {
        sector = job.nextSector;
        job.nextSector = sector + per >= slots * per ? 0 : sector + per;
      }
      const slot = submitted % m.depth;
      const buf = job.buffers + slot * job.ioBytes;
      if (pr) {
        if (type === BlkType.OUT) {
          const src = mem.linear(pr.pages + slot * pr.dataBytes, pr.dataBytes);
          pr.sc.sealInto(sector, mem.bytes.subarray(src, src + pr.dataBytes), mem.bytes, mem.linear(buf, job.ioBytes));
        }
        const tag = q.submit(type, pr.sc.deviceSector(sector), buf, job.ioBytes);
        if (tag < 0) {
          if (type === BlkType.OUT) pr.sc.revert(sector, pr.dataBytes);
          break;
        }
        pr.tagSector[tag] = sector;
        pr.tagSlot[tag] = slot;
      } else if (q.submit(type, sector, buf, job.ioBytes) < 0) break;
      submitted++;
    }
    q.kick();
    const got = q.reap(onDone);
    if (bad >= 0) throw new BenchSanityError(`blk queue ${job.queue}: a request completed with status ${bad}`);
    rounds++;
    if (got === 0 && ++idle >= 3) {
      const why = m.device.failure === undefined ? '' : `: the device failed (${m.device.failure})`;
      throw new BenchSanityError(`blk queue ${job.queue}: no request completed in 3 rounds (${done} of ${ios})${why}`);
    } else if (got > 0) idle = 0;
  }
  return { ios: done, bytes: done * (pr ? pr.dataBytes : job.ioBytes), rounds };
}

export interface BlkCase extends Placement {
  /** The sector crypt layer (default off). */
  protect?: 'off' | 'on';
  ring: RingKind;
  /** Bytes per request. */
  ioBytes: number;
  queues: number;
  mode: BlkMode;
  queueSize: number;
  depth: number;
}

export interface BlkRow extends BlkCase, Partial<PerOp>, SampleStats {
  bench: 'blk';
  name: string;
  device: 'blk';
  /** iops ÷ the iops of the same case on a traditional machine with direct DMA. */
  vsDirect?: number;
  /** iops ÷ the iops of the same case on a traditional machine with direct DMA and protection off. */
  vsPlain?: number;
  iops: number;
  bytesPerSec: number;
  nsPerIo: number;
  iosPerIteration: number;
  iterations: number;
  /** Completion latency of a request, submit to reap, in µs (blkLatency). */
  latUsec: { median: number; p99: number; samples: number };
  /** Rounds measured; the row is the median one. */
  rounds: number;
  /** Slowest and fastest round's IOPS. */
  iopsMin: number;
  iopsMax: number;
}

/** One measured round of a case. */
export type BlkRoundRow = Omit<BlkRow, 'rounds' | 'iopsMin' | 'iopsMax'>;

export function blkCaseName(c: BlkCase): string {
  return [
    'blk',
    ...(isBaseline(c) ? [] : [placementName(c)]),
    ...(c.protect === 'on' ? ['protect'] : []),
    c.mode,
    `${c.ioBytes}B`,
    c.ring,
    `q${c.queueSize}`,
    `d${c.depth}`,
    `${c.queues}queue`,
  ].join('/');
}

/**
 * Per-request completion latency, submit to reap, as fio's clat reads it,
 * after the timed iterations: LAT_BATCHES batches of --depth requests on each
 * queue, the clock read before a batch's first submit and after its reap.
 * The device serves a kicked batch before the reap returns, so every request
 * of a batch completes within that span: it is the first-submitted request's
 * latency and an upper bound for the rest. Two clock reads per batch, not
 * per request, so the measurement costs little beside --depth requests.
 */
export function blkLatency(
  m: BlkMachineDevice,
  jobs: readonly BlkJob[],
  batches = LAT_BATCHES,
): { median: number; p99: number; samples: number } {
  const spans: number[] = [];
  for (let b = 0; b < batches; b++)
    for (const j of jobs) {
      const t0 = performance.now();
      const n = runBlkQueue(m, j, m.depth).ios;
      const us = (performance.now() - t0) * 1e3;
      // Every request of the batch gets the batch's span.
      for (let k = 0; k < n; k++) spans.push(us);
    }
  const s = statsOf(spans, 'µs');
  return { median: s.median, p99: s.p99, samples: s.samples };
}

/** Measures one case: I/Os per iteration are split evenly over the queues, run one after another. */
export async function measureBlk(
  c: BlkCase,
  timeMs: number,
  capacityBytes: number,
  seed: number,
  warmupMs = defaultWarmupMs(timeMs),
): Promise<BlkRoundRow> {
  const machine = blkBenchMachine({
    placement: c,
    ring: c.ring,
    queues: c.queues,
    queueSize: c.queueSize,
    depth: c.depth,
    capacityBytes,
    maxIoBytes: c.protect === 'on' ? protectedDeviceBytes(c.ioBytes) : c.ioBytes,
    seed,
  });
  const m = machine.blk();
  const protect = c.protect === 'on';
  const devBytes = protect ? protectedDeviceBytes(c.ioBytes) : c.ioBytes;
  const jobs = Array.from({ length: c.queues }, (_, q) => createBlkJob(m, q, c.mode, machine.seed, devBytes));
  if (protect) {
    const sc = new SectorCrypt(m.mem, m.store.bytes / 512, { seed: machine.seed, name: m.name });
    for (const j of jobs) protectBlkJob(m, j, sc, c.ioBytes);
    // Every sector written once (the disk formatted), so that reads check and decrypt.
    const step = sc.maxRequestBytes(m.driver);
    const fill = new Uint8Array(step).fill(0x5a);
    for (let s = 0; s < sc.sectors; s += step / 512) {
      const status = sc.write(m.driver, s, fill.subarray(0, Math.min(step, (sc.sectors - s) * 512)));
      if (status !== BlkStatus.OK) throw new BenchSanityError(`${blkCaseName(c)}: formatting wrote status ${status}`);
    }
  }
  const ioBytes = c.ioBytes;
  const perQueue = Math.max(c.depth, Math.ceil(2 ** 23 / ioBytes / c.queues));
  let moved = 0;
  for (let k = 0; k < 5; k++) for (const j of jobs) runBlkQueue(m, j, c.depth * 4);
  let iterations = 0;
  const name = blkCaseName(c);
  const before = eventTotals(machine.stats());
  const bench = new Bench({
    name,
    time: timeMs,
    iterations: 3,
    warmupTime: warmupMs,
    warmupIterations: warmupMs > 0 ? 2 : 0,
    throws: true,
  });
  bench.add(name, () => {
    for (const j of jobs) moved += runBlkQueue(m, j, perQueue).ios;
    iterations++;
  });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new BenchSanityError(`${name}: tinybench did not complete (${result?.state ?? 'no task'})`);
  }
  const iosPerIteration = moved / iterations;
  // The median iteration over the requests it carried: 1 ÷ throughput at this
  // depth (fio's "lat" is per request, submit to completion: not this).
  const stats = statsPerOp(result.latency, iosPerIteration, 'ns/io');
  const nsPerIo = stats.median;
  const events = perOp(before, eventTotals(machine.stats()), moved);
  // Sanity: the device served at least what the driver counted.
  const served = m.device.counters();
  if ((served.reads ?? 0) + (served.writes ?? 0) < moved) {
    throw new BenchSanityError(
      `${name}: device served ${served.reads + served.writes} requests, driver counted ${moved}`,
    );
  }
  const latUsec = blkLatency(m, jobs);
  machine.close();
  const iops = 1e9 / nsPerIo;
  return {
    bench: 'blk',
    name,
    device: 'blk',
    ...c,
    ...stats,
    iops,
    bytesPerSec: iops * ioBytes,
    nsPerIo,
    iosPerIteration,
    iterations: result.latency.samplesCount,
    latUsec,
    ...events,
  };
}

export interface BlkOptions {
  placements: Placement[];
  /** Request sizes; undefined: each mode's own. */
  ioBytes: number[] | undefined;
  modes: BlkMode[];
  queues: number[];
  rings: RingKind[];
  queueSize: number;
  depth: number;
  capacityMiB: number;
  /** `--protect` values, each a case of its own. */
  protect: ('off' | 'on')[];
  seed: number;
  timeMs: number;
  /** tinybench's untimed warm-up per case, in milliseconds. */
  warmupMs: number;
  /** Times the whole matrix runs; each case reports its median round. */
  rounds: number;
  json: boolean;
}

/** `vqsim bench blk`: its help and flags. */
export function defineBlk(c: Command): Command {
  const whole = (flags: string, what: string, ok: (n: number) => boolean, allowed: string, fallback: string) =>
    valueFlag(flags, what, (f, v) => int(f, v, ok, allowed), fallback);
  return placementFlags(c.description(BLK_HELP))
    .addOption(
      valueFlag(
        '--mode <m,...>',
        BLK_MODES.join(', '),
        (f, v) => choices<BlkMode>(f, v, BLK_MODES),
        BLK_MODES.join(','),
      ),
    )
    .addOption(
      valueFlag(
        '--io-bytes <n,...>',
        'request sizes, 512 B to 1 MiB in 512-byte steps; 4k, 128KiB (default: 4096 random, 131072 sequential)',
        text,
      ),
    )
    .addOption(
      valueFlag(
        '--queues <n,...>',
        'queues, 1 to 64',
        (f, v) => ints(f, v, (n) => n >= 1 && n <= 64, 'must be whole numbers of queues from 1 to 64'),
        '1,2',
      ),
    )
    .addOption(ringFlag())
    .addOption(
      valueFlag(
        '--protect <off,on>',
        'the sector crypt layer (AES-256-XTS per 4 KiB sector, an HMAC-SHA256 tag per sector in a tag sector ' +
          'after every 4 KiB on the disk, checked on every read); request sizes in whole 4 KiB',
        (f, v) => choices<'off' | 'on'>(f, v, ['off', 'on']),
        'off',
      ),
    )
    .addOption(deviceQueueSizeFlag())
    .addOption(valueFlag('--depth <n>', 'requests in flight per queue, 1 to the queue size (default: 64)', text))
    .addOption(
      whole(
        '--capacity-mib <n>',
        'size of the in-memory disk, 1 to 48 MiB',
        (n) => n >= 1 && n <= 48,
        'must be a whole number of MiB from 1 to 48',
        '32',
      ),
    )
    .addOption(seedFlag('seed of the random offsets'))
    .addOption(timeFlag('measuring time per case', '300ms'))
    .addOption(warmupFlag("tinybench's untimed warm-up per case", QUARTER_OF_TIME))
    .addOption(roundsFlag('times the whole matrix runs, 1 to 50; each case reports its median round', '1'))
    .addOption(jsonFlag('print JSON rows'))
    .addHelpText('after', BLK_AFTER);
}

/** The values defineBlk's flags give. */
export type BlkFlags = PlacementFlags & {
  mode: BlkMode[];
  ioBytes?: string;
  queues: number[];
  ring: RingKind[];
  protect: ('off' | 'on')[];
  queueSize: number;
  depth?: string;
  capacityMib: number;
  seed: number;
  time: number;
  warmup?: number;
  rounds: number;
  json?: boolean;
};

/** `vqsim bench blk`'s options from its flags, checked against each other; a misfit is a UsageError naming the flags. */
export function blkOptions(v: BlkFlags): BlkOptions {
  const { queueSize, capacityMib: capacityMiB, protect } = v;
  const depth =
    v.depth === undefined
      ? Math.min(64, queueSize)
      : int(
          'depth',
          v.depth,
          (n) => n >= 1 && n <= queueSize,
          `must be a whole number from 1 to the queue size (${queueSize})`,
        );
  const ioStr = v.ioBytes;
  const ioBytes =
    ioStr === undefined
      ? undefined
      : sizes(
          'io-bytes',
          ioStr,
          (n) => n >= 512 && n <= 1 << 20 && n % 512 === 0,
          'must be whole numbers of bytes from 512 to 1048576, multiples of 512',
        );
  if (ioBytes && Math.max(...ioBytes) * depth > capacityMiB << 20) {
    throw new UsageError(
      `--io-bytes ${ioStr} with --depth ${depth} and --capacity-mib ${capacityMiB} do not fit: ${depth} requests of ${Math.max(...ioBytes)} bytes need a disk of at least ${Math.ceil((Math.max(...ioBytes) * depth) / (1 << 20))} MiB`,
    );
  }
  if (protect.includes('on') && ioBytes?.some((n) => n % 4096 !== 0)) {
    throw new UsageError(`--io-bytes ${ioStr} with --protect on: must be whole 4096-byte sectors`);
  }
  return {
    protect,
    placements: withBaseline(parsePlacements(v)),
    ioBytes,
    modes: v.mode,
    queues: v.queues,
    rings: v.ring,
    queueSize,
    depth,
    capacityMiB,
    seed: v.seed,
    timeMs: v.time,
    warmupMs: v.warmup ?? defaultWarmupMs(v.time),
    rounds: v.rounds,
    json: v.json === true,
  };
}

/** `vqsim bench blk`'s options from its flags alone. */
export const parseBlkArgs = (args: readonly string[]): BlkOptions => blkOptions(flagValues<BlkFlags>(defineBlk, args));

export function blkCases(o: BlkOptions): BlkCase[] {
  const out: BlkCase[] = [];
  for (const placement of o.placements.flatMap((p) => o.protect.map((protect) => ({ ...p, protect }))))
    for (const ring of o.rings)
      for (const mode of o.modes)
        for (const ioBytes of o.ioBytes ?? [BLK_IO_BYTES[mode]])
          for (const queues of o.queues)
            out.push({ ...placement, ring, queues, mode, ioBytes, queueSize: o.queueSize, depth: o.depth });
  return out;
}

/**
 * Runs every case `o.rounds` times, the whole matrix per round (a slow spell
 * of a shared machine lands in one round of each case); each case reports
 * its median round by IOPS, with the slowest and fastest beside it.
 */
export async function runBlkBench(o: BlkOptions, io?: Io, warnings: NoiseWarning[] = []): Promise<BlkRow[]> {
  const cases = blkCases(o);
  const progress = io ? new ProgressLine(io, cases.length * o.rounds) : undefined;
  const runs = new Map<string, BlkRoundRow[]>();
  for (let round = 0; round < o.rounds; round++)
    for (const c of cases) {
      const name = blkCaseName(c);
      progress?.step(`${o.rounds > 1 ? `round ${round + 1}/${o.rounds} ` : ''}${name}`);
      const r = await measureBlk(c, o.timeMs, o.capacityMiB << 20, o.seed, o.warmupMs);
      runs.set(name, [...(runs.get(name) ?? []), r]);
    }
  progress?.clear();
  const rows: BlkRow[] = [];
  for (const [name, all] of runs) {
    const iops = all.map((r) => r.iops);
    const mid = medianBy(all, (r) => r.iops);
    rows.push({ ...mid, rounds: all.length, iopsMin: Math.min(...iops), iopsMax: Math.max(...iops) });
    warnings.push(...rmeWarning(name, mid.rme), ...spreadWarning(name, iops));
  }
  setVsDirect(
    rows,
    o.placements.length,
    (r) => blkCaseName({ ...r, ...BASELINE }),
    (r) => r.iops,
  );
  // Protection's cost beside swiotlb's: each row against the same case with neither.
  if (o.protect.includes('on')) {
    const plain = new Map(rows.filter((r) => isBaseline(r) && r.protect !== 'on').map((r) => [r.name, r.iops]));
    for (const r of rows) {
      const b = plain.get(blkCaseName({ ...r, ...BASELINE, protect: 'off' }));
      if (b !== undefined && b > 0) r.vsPlain = r.iops / b;
    }
  }
  return rows;
}

export function formatBlkTable(rows: BlkRow[], o: BlkOptions, warnings: readonly NoiseWarning[] = []): string {
  const placed = o.placements.length > 1 || !o.placements.every(isBaseline);
  const protect = o.protect.includes('on');
  const head = [
    ...(placed ? ['deployment', 'dma', 'encryption', 'policy'] : []),
    ...(protect ? ['protect'] : []),
    'mode',
    'ring',
    'queues',
    'io B',
    'kIOPS',
    'MB/s',
    'ns/io (1/tput)',
    '±%',
    'lat µs',
    'lat p99',
    ...(placed ? ['vs direct', 'exits/io', 'irqs/io', 'bounce B/io', 'slots scanned/io', 'IOTLB miss/io'] : []),
    ...(protect ? ['vs plain'] : []),
  ];
  const f = (x: number | undefined, d = 2) => (x === undefined ? '-' : x.toFixed(d));
  const cells = rows.map((r) => [
    ...(placed ? [r.deployment ?? '-', r.dma, r.encryption, r.policy ?? '-'] : []),
    ...(protect ? [r.protect ?? 'off'] : []),
    r.mode,
    r.ring,
    String(r.queues),
    String(r.ioBytes),
    (r.iops / 1e3).toFixed(1),
    (r.bytesPerSec / 1e6).toFixed(0),
    r.nsPerIo.toFixed(0),
    r.rme.toFixed(1),
    r.latUsec.median.toFixed(1),
    r.latUsec.p99.toFixed(1),
    ...(placed
      ? [
          r.vsDirect === undefined ? '-' : `${r.vsDirect.toFixed(2)}×`,
          f(r.exitsPerOp, 3),
          f(r.interruptsPerOp, 3),
          f(r.bounceBytesPerOp, 0),
          f(r.slotsScannedPerOp, 1),
          f(r.iotlbMissesPerOp, 2),
        ]
      : []),
    ...(protect ? [r.vsPlain === undefined ? '-' : `${r.vsPlain.toFixed(2)}×`] : []),
  ]);
  return textTable(
    `vqsim bench blk: single thread, batched Wasm, in-memory store of ${o.capacityMiB} MiB, queue size ${o.queueSize}, depth ${o.depth}, seed ${o.seed}, ${o.timeMs} ms per case`,
    head,
    cells,
    4,
    { names: rows.map((r) => r.name), warnings },
  );
}

/** `vqsim bench blk [options]`. Returns the exit code. */
export async function blkCommand(o: BlkOptions, io: Io): Promise<number> {
  const warnings: NoiseWarning[] = [];
  const rows = await runBlkBench(o, io, warnings);
  printWarnings(io, warnings);
  io.out(o.json ? jsonDocument('bench blk', o, rows, warnings) : formatBlkTable(rows, o, warnings));
  return 0;
}

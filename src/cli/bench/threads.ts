import { jsonDocument, medianBy, textTable } from './report.js';
import { coresWarning, footnote, idleWarning, printWarnings, rmeWarning, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { resultDocument, statsOf, type Meta, type NoiseWarning, type SampleStats } from '../result.js';
import { runColocatedBench, runPingpong, type ColocatedRow, type PingpongRow } from '../../../bench/pingpong.js';
import type { DevicePublish, RingKind } from '../../internal.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { loadBenchPolicy, narrow, ringBit } from './policy-features.js';
import { buildNative, runNativeParallel } from './native.js';
import { Option, type Command } from 'commander';
import { oneOf, valueFlag } from '../parser.js';
import { int, ints, jsonFlag, ringFlag, roundsFlag, text, timeFlag, warmupFlag } from './options.js';

const PINGPONG_HELP = `Split-thread round trip of one-descriptor chains, as Linux's tools/virtio/ringtest
measures it: a driver thread keeps up to --max-inflight chains in flight and
reaps them, a device thread pops and pushes them back; both poll, then sleep on
a doorbell word in shared memory (Atomics.wait) and wake each other only when
event-index suppression says so. A thread spins for as long as the other runs;
it sleeps when the other sleeps, or when the other has been preempted for
longer than its adaptive spin budget (so a pair shares busy cores gracefully).

A round trip is one chain added by the driver, popped, pushed back used and
reaped. --like-ringtest sets what ringtest's defaults set: a ring of 256, up to
256 chains in flight, and a device that uses each buffer on its own, popping it
and publishing it used before it reads the next (ringtest's use_buf() loop);
compare with its virtio_ring_0_9 (split) and ring (packed-style) binaries:
bench/ringtest.mjs runs both side by side.`;

const PINGPONG_AFTER = `
The two threads need a core each: on a machine with fewer, or when another
load takes one, a thread spends its turns waiting (driverIdleShare,
deviceIdleShare near 1) and vqsim warns. --json statistics are over rounds.

Examples:
  vqsim bench pingpong --ring split --time 1s --rounds 3
  vqsim bench pingpong --like-ringtest --json
`;

const COLOCATED_HELP = `Co-located workers: each worker thread runs the driver and the device side of its
own queue in batches (add, kick decision, pop, push, interrupt decision, reap),
all over the machine's one shared memory. Reports chains/s for each worker count
and the scaling against one worker. Each of --rounds rounds runs one worker
first and then every other count, ring by ring, and scales each count against
that round's own one-worker rate, so a slow spell of a shared machine moves a
round's baseline with it; rows give the median round, the median scaling, its
range over the rounds, and the slowest and fastest worker of the median round.
Each round also runs the same counts of the native C port of the split round
trip (bench/native/roundtrip.c, one process each, built with cc -O2 when a
compiler exists): the machine's own scaling for this work, and the workers'
scaling divided by it (vs native: 1.00 means they scale as native code does).`;

const COLOCATED_AFTER = `
Examples:
  vqsim bench colocated --workers 1,2,4 --ring split --time 1s
  vqsim bench colocated --rounds 5 --no-native --json
`;

const POLICY_RINGS = 'a trust policy: a ring layout it refuses is left out (and said)';
const SPLIT_POW2 = 'the queue size must be a power of two from 1 to 32768';

/** The flags both thread benchmarks start with: rings, policy and queue size. */
function threadFlags(c: Command, queueSize: string): Command {
  return c
    .addOption(ringFlag())
    .addOption(new Option('--policy <file|preset>', POLICY_RINGS))
    .addOption(valueFlag('--queue-size <n>', queueSize, text));
}

/** The flags both end with: time, warm-up, rounds (`rounds` by default) and --json. */
function timingFlags(c: Command, rounds: string, roundsWhat: string): Command {
  return c
    .addOption(timeFlag('measured time per case and round', '2s', 10, 600000, true))
    .addOption(warmupFlag('untimed run before each case', '500ms', true))
    .addOption(roundsFlag(roundsWhat, rounds))
    .addOption(jsonFlag('print JSON rows'));
}

type ThreadFlags = {
  ring: RingKind[];
  policy?: string;
  queueSize?: string;
  time: number;
  warmup: number;
  rounds: number;
  json?: boolean;
};

function ringsAndSize(v: ThreadFlags, io?: Io): { rings: RingKind[]; queueSize: number } {
  let rings = v.ring;
  // --policy: a ring layout it does not let a driver negotiate is left out.
  if (v.policy !== undefined) {
    rings = narrow(loadBenchPolicy(v.policy), 'ring', rings, ringBit, (n) => io?.err(`vqsim: ${n}\n`));
  }
  const pow2 = rings.includes('split');
  const queueSize =
    v.queueSize === undefined
      ? 256
      : int(
          'queue-size',
          v.queueSize,
          (n) => n >= 1 && n <= 32768,
          pow2 ? SPLIT_POW2 : 'the queue size must be from 1 to 32768',
        );
  if (pow2 && (queueSize & (queueSize - 1)) !== 0) throw new UsageError(`--queue-size ${queueSize}: ${SPLIT_POW2}`);
  return { rings, queueSize };
}

/** A pingpong row as --json prints it: its median round, with statistics over rounds in ns per round trip. */
export interface PingpongResultRow extends PingpongRow, SampleStats {
  name: string;
  rounds: number;
}

/** The pingpong table and rows' noise warnings: the rme over rounds, the rounds' spread and each thread's idle share. */
export function pingpongWarnings(rows: readonly PingpongResultRow[], perRound: Map<string, number[]>): NoiseWarning[] {
  const w: NoiseWarning[] = [];
  for (const r of rows) {
    w.push(
      ...rmeWarning(r.name, r.rme),
      ...spreadWarning(r.name, perRound.get(r.name) ?? []),
      ...idleWarning(r.name, 'driver', r.driverIdleShare),
      ...idleWarning(r.name, 'device', r.deviceIdleShare),
    );
  }
  return w;
}

const f2 = (x: number) => x.toFixed(2);

/**
 * tools/virtio/ringtest's defaults (main.c): ring_size 256, max_outstanding
 * INT_MAX (so the ring bounds it), and a host that calls use_buf() while
 * buffers are available, each call using and publishing one buffer: here one
 * call into the core uses what is there (up to the ring), each chain popped
 * and published before the next is read.
 */
export const RINGTEST = { queueSize: 256, maxInflight: 256, deviceBatch: 256, publish: 'each' } as const;

/** `vqsim bench pingpong`: its help and flags. */
export function definePingpong(c: Command): Command {
  const micros = (flags: string, what: string, max: number) =>
    valueFlag(flags, what, (f, v) => int(f, v, (n) => n >= 1 && n <= max, `must be a whole number from 1 to ${max}`));
  const flags = threadFlags(
    c.description(PINGPONG_HELP),
    'queue size, 1 to 32768, a power of two for split (default: 256)',
  )
    .addOption(
      valueFlag('--max-inflight <n>', 'most chains in flight, 1 to the queue size (default: the queue size)', text),
    )
    .addOption(valueFlag('--device-batch <n>', 'most chains the device uses per call (default: queue size / 4)', text))
    .addOption(
      oneOf(
        '--publish <how>',
        'batch: one publish for what a call popped (QEMU virtqueue_flush); each: every chain published as it is used (ringtest use_buf) (default: batch)',
        ['batch', 'each'] as const,
      ),
    )
    .addOption(
      new Option(
        '--like-ringtest',
        "ringtest's defaults: --queue-size 256 --max-inflight 256 --device-batch 256 --publish each (not with those flags)",
      ),
    )
    .addOption(micros('--spin-us <n>', 'shortest spin before sleeping, µs, 1 to 10^6 (default: 20)', 1e6))
    .addOption(
      micros(
        '--spin-max-us <n>',
        'longest spin for a stalled partner on another CPU, µs, 1 to 10^7 (default: 10000)',
        1e7,
      ),
    );
  return timingFlags(flags, '1', 'times every ring runs, 1 to 50; each reports its median round').addHelpText(
    'after',
    PINGPONG_AFTER,
  );
}

type PingpongFlags = ThreadFlags & {
  maxInflight?: string;
  deviceBatch?: string;
  publish?: DevicePublish;
  likeRingtest?: boolean;
  spinUs?: number;
  spinMaxUs?: number;
};

export async function pingpongCommand(v: PingpongFlags, io: Io): Promise<number> {
  const like = v.likeRingtest === true;
  if (like) {
    for (const [flag, given] of [
      ['queue-size', v.queueSize],
      ['max-inflight', v.maxInflight],
      ['device-batch', v.deviceBatch],
      ['publish', v.publish],
    ] as const) {
      if (given !== undefined) throw new UsageError(`--${flag}: --like-ringtest sets it (give one or the other)`);
    }
  }
  const { rings, queueSize } = ringsAndSize(like ? { ...v, queueSize: String(RINGTEST.queueSize) } : v, io);
  const upTo = (flag: string, value: string | undefined) =>
    value === undefined
      ? undefined
      : int(
          flag,
          value,
          (n) => n >= 1 && n <= queueSize,
          `must be a whole number from 1 to the queue size (${queueSize})`,
        );
  const maxInflight = like ? RINGTEST.maxInflight : upTo('max-inflight', v.maxInflight);
  const deviceBatch = like ? RINGTEST.deviceBatch : upTo('device-batch', v.deviceBatch);
  const publish: DevicePublish = like ? RINGTEST.publish : (v.publish ?? 'batch');
  const { spinUs, spinMaxUs, time: durationMs, warmup: warmupMs, rounds } = v;
  // Two threads, the driver and the device, each wanting a core of its own.
  const warnings: NoiseWarning[] = coresWarning(2);
  const progress = new ProgressLine(io, rounds * rings.length);
  const options = {
    rings,
    queueSize,
    maxInflight,
    deviceBatch,
    publish,
    spinUs,
    spinMaxUs,
    durationMs,
    warmupMs,
    rounds,
    like,
  };
  const runs = new Map<string, PingpongRow[]>();
  for (let round = 0; round < rounds; round++)
    for (const ring of rings) {
      const name = `pingpong/${ring}/q${queueSize}`;
      progress.step(`${rounds > 1 ? `round ${round + 1}/${rounds} ` : ''}${name}`);
      const [r] = await runPingpong({ ...options, rings: [ring] });
      runs.set(name, [...(runs.get(name) ?? []), r!]);
    }
  progress.clear();
  const rows: PingpongResultRow[] = [];
  const perRound = new Map<string, number[]>();
  for (const [name, all] of runs) {
    const mid = medianBy(all, (r) => r.roundTripsPerSec);
    perRound.set(
      name,
      all.map((r) => r.roundTripsPerSec),
    );
    const stats = statsOf(
      all.map((r) => r.nsPerRoundTrip),
      'ns/round trip',
    );
    rows.push({ ...mid, name, ...stats, rounds: all.length });
  }
  warnings.push(...pingpongWarnings(rows, perRound));
  printWarnings(io, warnings);
  if (v.json) {
    io.out(jsonDocument('bench pingpong', options, rows, warnings));
    return 0;
  }
  const noisy = new Set(warnings.map((w) => w.row));
  io.out(
    `vqsim bench pingpong: driver and device on two threads${like ? ", ringtest's defaults" : ''}, node ${process.version}\n\n`,
  );
  io.out(
    '  ring    queue  inflight  dev batch  publish  M round trips/s  ns/round trip  kicks  interrupts  driver waits  device waits\n',
  );
  for (const r of rows) {
    io.out(
      `${noisy.has(r.name) ? '!' : ' '} ${r.ring.padEnd(6)}  ${String(r.queueSize).padStart(5)}  ${String(r.maxInflight).padStart(8)}  ` +
        `${String(r.deviceBatch).padStart(9)}  ${r.publish.padEnd(7)}  ` +
        `${f2(r.roundTripsPerSec / 1e6).padStart(15)}  ${f2(r.nsPerRoundTrip).padStart(13)}  ` +
        `${String(r.kicks).padStart(5)}  ${String(r.interrupts).padStart(10)}  ` +
        `${String(r.driverWaits).padStart(12)}  ${String(r.deviceWaits).padStart(12)}\n`,
    );
  }
  io.out(footnote(warnings));
  return 0;
}

/** `vqsim bench colocated`: its help and flags. */
export function defineColocated(c: Command): Command {
  const flags = threadFlags(c.description(COLOCATED_HELP), 'queue size (default: 256)')
    .addOption(
      valueFlag(
        '--workers <n,...>',
        'worker counts, 1 to 64; 1 runs first',
        (f, v) =>
          ints(
            f,
            v,
            (n) => Number.isInteger(n) && n >= 1 && n <= 64,
            'worker counts must be whole numbers from 1 to 64',
          ),
        '1,2',
      ),
    )
    .addOption(new Option('--no-native', 'skip the native scaling baseline'));
  return timingFlags(flags, '3', 'rounds, 1 to 50').addHelpText('after', COLOCATED_AFTER);
}

export async function colocatedCommand(
  v: ThreadFlags & { workers: number[]; native: boolean },
  io: Io,
): Promise<number> {
  const { rings, queueSize } = ringsAndSize(v, io);
  // The scaling needs each round's one-worker rate, measured first.
  const counts = [1, ...v.workers.filter((n) => n !== 1)];
  const { rounds, warmup: warmupMs, time: durationMs } = v;
  // The native port is of the split ring: queue sizes are powers of two.
  let nativeNote = 'native baseline skipped: --no-native';
  let native: ((n: number, ms: number) => Promise<number[]>) | undefined;
  // meta.native of the result document: the compiler and flags of the baseline that ran.
  let nativeBuild: Meta['native'];
  if (v.native) {
    const build =
      (queueSize & (queueSize - 1)) === 0 ? buildNative() : 'native baseline skipped: queue size not a power of two';
    if (typeof build === 'string') nativeNote = build.replace('native loop', 'native baseline');
    else {
      nativeNote = '';
      const c = {
        queueSize,
        batchChains: queueSize,
        chainLength: 1,
        eventIdx: false,
        indirect: false,
        bufferBytes: 64,
      };
      nativeBuild = { compiler: build.compiler, flags: build.flags };
      native = async (n, ms) => (await runNativeParallel(build, c, ms, n)).map((r) => r.chainsPerSec);
    }
  }
  const progress = new ProgressLine(io, 1);
  progress.step(
    `colocated: ${rounds} round${rounds === 1 ? '' : 's'} of ${counts.length} worker counts × ${rings.length} rings`,
  );
  const raw: ColocatedRow[] = await runColocatedBench({
    rings,
    queueSize,
    workers: counts,
    durationMs,
    warmupMs,
    rounds,
    native,
  });
  progress.clear();
  // The workers are threads of their own; the round-to-round spread is the scaling's range.
  const warnings: NoiseWarning[] = coresWarning(Math.max(...counts));
  const rows = raw.map((r) => {
    const name = `colocated/${r.ring}/q${r.queueSize}/${r.workers}w`;
    warnings.push(...spreadWarning(name, [r.scalingMin, r.scaling, r.scalingMax]));
    // No per-iteration samples: the median round's ns per chain per worker.
    return { ...r, name, unit: 'ns/chain', median: r.nsPerChain };
  });
  printWarnings(io, warnings);
  if (v.json) {
    const options = { rings, queueSize, workers: counts, rounds, durationMs, warmupMs, native: native !== undefined };
    io.out(resultDocument('bench colocated', options, rows, warnings, { native: nativeBuild }));
    return 0;
  }
  const m = (x: number) => f2(x / 1e6);
  io.out(
    textTable(
      `vqsim bench colocated: driver and device on one thread per worker, ${durationMs} ms per case, ` +
        `median of ${rounds} round${rounds === 1 ? '' : 's'}`,
      [
        'ring',
        'queue',
        'workers',
        'M chains/s',
        'ns/chain/worker',
        'scaling',
        'scaling min–max',
        'worker min',
        'worker max',
        'native scaling',
        'vs native',
      ],
      rows.map((r) => [
        r.ring,
        String(r.queueSize),
        String(r.workers),
        m(r.chainsPerSec),
        f2(r.nsPerChain),
        `${f2(r.scaling)}×`,
        `${f2(r.scalingMin)}–${f2(r.scalingMax)}`,
        m(r.workerMinChainsPerSec),
        m(r.workerMaxChainsPerSec),
        r.nativeScaling === undefined ? '–' : `${f2(r.nativeScaling)}×`,
        r.scalingVsNative === undefined ? '–' : f2(r.scalingVsNative),
      ]),
      1,
      { names: rows.map((r) => r.name), warnings },
    ) +
      'worker min, max: M chains/s of the slowest and the fastest worker in the median round\n' +
      (nativeNote ? `${nativeNote}\n` : ''),
  );
  return 0;
}

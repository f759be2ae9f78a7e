import { jsonDocument, textTable } from './report.js';
import { parseArgs } from 'node:util';
import { runColocatedBench, runPingpong, type ColocatedRow, type PingpongRow } from '../../../bench/pingpong.js';
import type { RingKind } from '../../index.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { buildNative, runNativeParallel } from './native.js';
import { choices, describeParseError, ints } from './options.js';

export const PINGPONG_HELP = `Usage: vqsim bench pingpong [options]

Split-thread round trip of one-descriptor chains, as Linux's tools/virtio/ringtest
measures it: a driver thread keeps up to --max-inflight chains in flight and
reaps them, a device thread pops and pushes them back; both poll, then sleep on
a doorbell word in shared memory (Atomics.wait) and wake each other only when
event-index suppression says so. A thread spins for as long as the other runs;
it sleeps when the other sleeps, or when the other has been preempted for
longer than its adaptive spin budget (so a pair shares busy cores gracefully).

A round trip is one chain added by the driver, popped, pushed back used and
reaped. --like-ringtest sets what ringtest's defaults set: a ring of 256, up to
256 chains in flight, one chain per device call (ringtest's host uses and
publishes each buffer on its own); compare with its virtio_ring_0_9 (split) and
ring (packed-style) binaries: bench/ringtest.mjs runs both side by side.

Options:
  --ring <split,packed>     ring layouts (default split,packed)
  --queue-size <n>          queue size, 1 to 32768, a power of two for split (default 256)
  --max-inflight <n>        most chains in flight, 1 to the queue size (default the queue size)
  --device-batch <n>        most chains the device pops per call (default queue size / 4)
  --like-ringtest           ringtest's defaults: --queue-size 256 --max-inflight 256 --device-batch 1
  --spin-us <n>             shortest spin before sleeping, µs, 1 to 10^6 (default 20)
  --spin-max-us <n>         longest spin for a stalled partner on another CPU, µs, 1 to 10^7 (default 10000)
  --time <ms>               measured time per ring, 10 to 600000 ms (default 2000)
  --json                    print JSON rows
  -h, --help                show this help
`;

export const COLOCATED_HELP = `Usage: vqsim bench colocated [options]

Co-located workers: each worker thread runs the driver and the device side of its
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
scaling divided by it (vs native: 1.00 means they scale as native code does).

Options:
  --ring <split,packed>     ring layouts (default split,packed)
  --queue-size <n>          queue size (default 256)
  --workers <n,...>         worker counts, 1 to 64 (default 1,2; 1 runs first)
  --rounds <n>              rounds, 1 to 50 (default 3)
  --time <ms>               time per case and round, 10 to 600000 ms (default 2000)
  --warmup <ms>             untimed run before each case, 0 to 60000 ms (default 500)
  --no-native               skip the native scaling baseline
  --json                    print JSON rows
  -h, --help                show this help
`;

const common = {
  ring: { type: 'string' },
  'queue-size': { type: 'string' },
  time: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(args: string[], spec: T) {
  try {
    const { values, positionals } = parseArgs({ args, options: spec, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
    return values as Record<string, string | boolean | undefined>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(describeParseError(e));
  }
}

function one(flag: string, value: string | undefined, lo: number, hi: number, what: string): number | undefined {
  if (value === undefined) return undefined;
  return ints(flag, value, (n) => n >= lo && n <= hi, what)[0];
}

function ringsAndSize(v: Record<string, string | boolean | undefined>): { rings: RingKind[]; queueSize: number } {
  const rings = choices<RingKind>('ring', (v.ring as string | undefined) ?? 'split,packed', ['split', 'packed']);
  const pow2 = rings.includes('split');
  const queueSize =
    one(
      'queue-size',
      v['queue-size'] as string | undefined,
      1,
      32768,
      pow2 ? 'the queue size must be a power of two from 1 to 32768' : 'the queue size must be from 1 to 32768',
    ) ?? 256;
  if (pow2 && (queueSize & (queueSize - 1)) !== 0) {
    throw new UsageError(`--queue-size ${queueSize}: the queue size must be a power of two from 1 to 32768`);
  }
  return { rings, queueSize };
}

/** One whole number from `lo` to `hi` (not a list), or undefined when the flag is absent. */
function single(flag: string, value: string | undefined, lo: number, hi: number, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = ints(flag, value, (x) => x >= lo && x <= hi, what);
  if (n.length !== 1) throw new UsageError(`--${flag} ${value}: ${what}`);
  return n[0];
}

const timeOf = (v: Record<string, string | boolean | undefined>) =>
  one('time', v.time as string | undefined, 10, 600000, 'must be a number of milliseconds from 10 to 600000') ?? 2000;

const f2 = (x: number) => x.toFixed(2);

/**
 * tools/virtio/ringtest's defaults (main.c): ring_size 256, max_outstanding
 * INT_MAX (so the ring bounds it), and a host that uses and publishes one
 * buffer per use_buf() call.
 */
export const RINGTEST = { queueSize: 256, maxInflight: 256, deviceBatch: 1 } as const;

export async function pingpongCommand(args: string[], io: Io): Promise<number> {
  const v = parse(args, {
    ...common,
    'max-inflight': { type: 'string' },
    'device-batch': { type: 'string' },
    'spin-us': { type: 'string' },
    'spin-max-us': { type: 'string' },
    'like-ringtest': { type: 'boolean' },
  });
  if (v.help) {
    io.out(PINGPONG_HELP);
    return 0;
  }
  const like = v['like-ringtest'] === true;
  if (like) {
    for (const flag of ['queue-size', 'max-inflight', 'device-batch']) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag}: --like-ringtest sets it (give one or the other)`);
    }
  }
  const { rings, queueSize } = ringsAndSize(like ? { ...v, 'queue-size': String(RINGTEST.queueSize) } : v);
  const upTo = `must be a whole number from 1 to the queue size (${queueSize})`;
  const maxInflight = like
    ? RINGTEST.maxInflight
    : one('max-inflight', v['max-inflight'] as string | undefined, 1, queueSize, upTo);
  const deviceBatch = like
    ? RINGTEST.deviceBatch
    : one('device-batch', v['device-batch'] as string | undefined, 1, queueSize, upTo);
  const spinUs = one('spin-us', v['spin-us'] as string | undefined, 1, 1e6, 'must be a whole number from 1 to 1000000');
  const spinMaxUs = one(
    'spin-max-us',
    v['spin-max-us'] as string | undefined,
    1,
    1e7,
    'must be a whole number from 1 to 10000000',
  );
  const rows: PingpongRow[] = await runPingpong({
    rings,
    queueSize,
    maxInflight,
    deviceBatch,
    spinUs,
    spinMaxUs,
    durationMs: timeOf(v),
  });
  if (v.json) {
    io.out(jsonDocument(rows));
    return 0;
  }
  io.out(
    `vqsim bench pingpong: driver and device on two threads${like ? ", ringtest's defaults" : ''}, node ${process.version}\n\n`,
  );
  io.out(
    'ring    queue  inflight  dev batch  M round trips/s  ns/round trip  kicks  interrupts  driver waits  device waits\n',
  );
  for (const r of rows) {
    io.out(
      `${r.ring.padEnd(6)}  ${String(r.queueSize).padStart(5)}  ${String(r.maxInflight).padStart(8)}  ` +
        `${String(r.deviceBatch).padStart(9)}  ` +
        `${f2(r.roundTripsPerSec / 1e6).padStart(15)}  ${f2(r.nsPerRoundTrip).padStart(13)}  ` +
        `${String(r.kicks).padStart(5)}  ${String(r.interrupts).padStart(10)}  ` +
        `${String(r.driverWaits).padStart(12)}  ${String(r.deviceWaits).padStart(12)}\n`,
    );
  }
  return 0;
}

export async function colocatedCommand(args: string[], io: Io): Promise<number> {
  const v = parse(args, {
    ...common,
    workers: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    'no-native': { type: 'boolean' },
  });
  if (v.help) {
    io.out(COLOCATED_HELP);
    return 0;
  }
  const { rings, queueSize } = ringsAndSize(v);
  const workers = ints(
    'workers',
    (v.workers as string | undefined) ?? '1,2',
    (n) => Number.isInteger(n) && n >= 1 && n <= 64,
    'worker counts must be whole numbers from 1 to 64',
  );
  // The scaling needs each round's one-worker rate, measured first.
  const counts = [1, ...workers.filter((n) => n !== 1)];
  const rounds = single('rounds', v.rounds as string | undefined, 1, 50, 'must be a whole number from 1 to 50') ?? 3;
  const warmupMs =
    single(
      'warmup',
      v.warmup as string | undefined,
      0,
      60000,
      'must be a whole number of milliseconds from 0 to 60000',
    ) ?? 500;
  const durationMs = timeOf(v);
  // The native port is of the split ring: queue sizes are powers of two.
  let nativeNote = 'native baseline skipped: --no-native';
  let native: ((n: number, ms: number) => Promise<number[]>) | undefined;
  if (v['no-native'] !== true) {
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
      native = async (n, ms) => (await runNativeParallel(build, c, ms, n)).map((r) => r.chainsPerSec);
    }
  }
  const rows: ColocatedRow[] = await runColocatedBench({
    rings,
    queueSize,
    workers: counts,
    durationMs,
    warmupMs,
    rounds,
    native,
  });
  if (v.json) {
    io.out(jsonDocument(rows));
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
    ) +
      'worker min, max: M chains/s of the slowest and the fastest worker in the median round\n' +
      (nativeNote ? `${nativeNote}\n` : ''),
  );
  return 0;
}

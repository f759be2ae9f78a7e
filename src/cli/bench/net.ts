import { jsonDocument, textTable } from './report.js';
// `vqsim bench net`: virtio-net loopback (or sink) throughput on one thread,
// or on N co-located worker threads (--workers), each with its own machine.
// The guest driver sends frames of a set size on each queue pair (one Wasm
// call builds the TX batch, one adds it), the device pops TX and RX, copies
// each frame into RX buffers and pushes both queues (a few Wasm calls per
// batch), and the driver reaps TX, checks and counts RX in Wasm and reposts
// the RX buffers. Every frame's bytes are really copied.
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import type { RingKind } from '../../index.js';
import { checkNetMachine, createNetMachine, runNetColocated, runNetPackets } from '../../sim/net.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { choices, describeParseError, ints } from './options.js';

export {
  createNetMachine,
  runNetPackets,
  type NetMachine,
  type NetMachineOptions,
  type NetRunCounts,
} from '../../sim/net.js';

export const NET_HELP = `Usage: vqsim bench net [options]

virtio-net on one JavaScript thread, batched Wasm: the guest driver sends frames
of --packet-bytes on each of --queues queue pairs, the device loops each frame
back to the RX queue of the same pair (or drops it: --backend sink), and the
driver receives, checks (hardened) and reposts. Reports packets/s (Mpps) and
frame bits/s (Gbps, frame bytes only: without the 12-byte virtio header). The
pairs run one after another on the one thread. With --workers, each of N
worker threads builds its own machine (one queue pair) and runs co-located
(driver and device on that thread) for --time, all at once; rows give the sum
and the scaling: rate ÷ (workers × the one-worker rate). Lists are
comma-separated; every combination runs.

Options:
  --packet-bytes <n,...>    frame sizes, 14 to 65535 bytes (default 64,1500,9000)
  --queues <n,...>          queue pairs, 1 to 64 (default 1,2; not with --workers)
  --workers <n,...>         co-located worker threads, 1 to 256 (default: none, one thread)
  --ring <split,packed>     ring layouts (default split,packed)
  --mergeable <on,off>      VIRTIO_NET_F_MRG_RXBUF (default on)
  --backend <loopback,sink> what the device does with a TX frame (default loopback)
  --queue-size <n>          queue size, a power of two from 8 to 32768 (default 256)
  --time <ms>               measuring time per case, 1 to 600000 ms (default 300)
  --json                    print JSON rows
  -h, --help                show this help
`;

export interface NetCase {
  ring: RingKind;
  queues: number;
  packetBytes: number;
  mergeable: boolean;
  backend: 'loopback' | 'sink';
  queueSize: number;
}

export interface NetRow extends NetCase {
  name: string;
  device: 'net';
  mode: 'single-thread' | 'colocated';
  /** Worker threads (colocated: one machine with one queue pair each; single-thread: 0). */
  workers: number;
  pps: number;
  bitsPerSec: number;
  nsPerPacket: number;
  packetsPerIteration: number;
  iterations: number;
  rme: number;
  /**
   * Colocated: pps over (workers × the pps of one worker) of the same case in
   * this run, as `vqsim bench colocated` reports it: 1.0 is linear scaling
   * (absent without a 1-worker row).
   */
  scaling?: number;
}

export function netCaseName(c: NetCase): string {
  return [
    'net',
    c.backend,
    c.ring,
    `q${c.queueSize}`,
    `${c.queues}pair`,
    `${c.packetBytes}B`,
    c.mergeable ? 'mrg' : 'big',
  ].join('/');
}

/** Measures one case: packets per iteration are split evenly over the pairs, run one after another. */
export async function measureNet(c: NetCase, timeMs: number): Promise<NetRow> {
  const m = createNetMachine({
    ring: c.ring,
    queuePairs: c.queues,
    packetBytes: c.packetBytes,
    queueSize: c.queueSize,
    mergeable: c.mergeable,
    backend: c.backend,
  });
  const perPair = Math.max(c.queueSize, Math.ceil(2 ** 21 / (c.packetBytes + 64) / c.queues));
  let moved = 0;
  const iteration = () => {
    for (let p = 0; p < c.queues; p++) moved += runNetPackets(m, p, perPair).packets;
  };
  // Warm-up by time: the Wasm functions tier up in the background (no on-stack
  // replacement), later on a loaded machine; 200 ms of batches gets them there.
  const warmEnd = performance.now() + 200;
  while (performance.now() < warmEnd) for (let p = 0; p < c.queues; p++) runNetPackets(m, p, c.queueSize * 4);
  moved = 0;
  let iterations = 0;
  const bench = new Bench({
    name: netCaseName(c),
    time: timeMs,
    iterations: 3,
    warmupTime: Math.min(100, timeMs / 4),
    warmupIterations: 2,
    throws: true,
  });
  bench.add(netCaseName(c), () => {
    iteration();
    iterations++;
  });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new Error(`${netCaseName(c)}: tinybench did not complete (${result?.state ?? 'no task'})`);
  }
  // Packets moved per iteration (runNetPackets may overshoot by part of a batch).
  const packetsPerIteration = moved / iterations;
  const nsPerPacket = (result.latency.mean * 1e6) / packetsPerIteration;
  // Sanity: the device counted what the driver counted.
  checkNetMachine(m, netCaseName(c));
  const pps = 1e9 / nsPerPacket;
  return {
    name: netCaseName(c),
    device: 'net',
    mode: 'single-thread',
    workers: 0,
    ...c,
    pps,
    bitsPerSec: pps * c.packetBytes * 8,
    nsPerPacket,
    packetsPerIteration,
    iterations: result.latency.samplesCount,
    rme: result.latency.rme,
  };
}

/**
 * Measures one case on `workers` co-located worker threads, each with its own
 * machine of one queue pair: warm-up, then all run for `timeMs` at once.
 */
export async function measureNetColocated(c: NetCase, workers: number, timeMs: number): Promise<NetRow> {
  const r = await runNetColocated(
    workers,
    {
      ring: c.ring,
      queuePairs: 1,
      packetBytes: c.packetBytes,
      queueSize: c.queueSize,
      mergeable: c.mergeable,
      backend: c.backend,
    },
    { durationMs: timeMs },
    { warmMs: 200 },
  );
  const name = `${netCaseName(c)}/${workers}w`;
  const rates = r.workers.map((w) => (w.elapsedMs > 0 ? (w.packets * 1000) / w.elapsedMs : 0));
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length);
  return {
    name,
    device: 'net',
    mode: 'colocated',
    workers,
    ...c,
    queues: workers,
    pps: r.pps,
    bitsPerSec: r.bitsPerSec,
    // Per worker: one worker's time per packet.
    nsPerPacket: (r.seconds * 1e9 * workers) / Math.max(1, r.packets),
    packetsPerIteration: r.packets,
    iterations: 1,
    // Spread of the per-worker rates, in percent of their mean.
    rme: mean > 0 ? (100 * sd) / mean : 0,
  };
}

export interface NetOptions {
  packetBytes: number[];
  queues: number[];
  /** Worker counts for co-located runs; empty: single thread. */
  workers: number[];
  rings: RingKind[];
  mergeable: boolean[];
  backends: ('loopback' | 'sink')[];
  queueSize: number;
  timeMs: number;
  json: boolean;
  help: boolean;
}

const spec = {
  'packet-bytes': { type: 'string' },
  queues: { type: 'string' },
  workers: { type: 'string' },
  ring: { type: 'string' },
  mergeable: { type: 'string' },
  backend: { type: 'string' },
  'queue-size': { type: 'string' },
  time: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses and validates `vqsim bench net` flags; a bad one is a UsageError naming it. */
export function parseNetArgs(args: string[]): NetOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    const r = parseArgs({ args, options: spec, strict: true, allowPositionals: true });
    if (r.positionals.length > 0)
      throw new UsageError(`unexpected argument ${r.positionals[0]}: see vqsim bench net --help`);
    values = r.values;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(describeParseError(e));
  }
  const str = (k: keyof typeof spec) => values[k] as string | undefined;
  const packetBytes = ints(
    'packet-bytes',
    str('packet-bytes') ?? '64,1500,9000',
    (n) => n >= 14 && n <= 65535,
    'must be whole numbers of bytes from 14 to 65535',
  );
  const queues = ints(
    'queues',
    str('queues') ?? '1,2',
    (n) => n >= 1 && n <= 64,
    'must be whole numbers of queue pairs from 1 to 64',
  );
  const workersStr = str('workers');
  const workers =
    workersStr === undefined
      ? []
      : ints('workers', workersStr, (n) => n >= 1 && n <= 256, 'must be whole numbers of worker threads from 1 to 256');
  if (workers.length > 0 && str('queues') !== undefined) {
    throw new UsageError(`--queues ${str('queues')}: not with --workers (each worker runs one queue pair)`);
  }
  const rings = choices<RingKind>('ring', str('ring') ?? 'split,packed', ['split', 'packed']);
  const mergeable = choices('mergeable', str('mergeable') ?? 'on', ['on', 'off']).map((s) => s === 'on');
  const backends = choices<'loopback' | 'sink'>('backend', str('backend') ?? 'loopback', ['loopback', 'sink']);
  const queueSize = ints(
    'queue-size',
    str('queue-size') ?? '256',
    (n) => n >= 8 && n <= 32768 && (n & (n - 1)) === 0,
    'must be one power of two from 8 to 32768',
  );
  if (queueSize.length !== 1)
    throw new UsageError(`--queue-size ${str('queue-size')}: must be one power of two from 8 to 32768`);
  const timeStr = str('time');
  let timeMs = 300;
  if (timeStr !== undefined) {
    timeMs = /^\d+(\.\d+)?$/.test(timeStr.trim()) ? Number(timeStr) : NaN;
    if (!(timeMs >= 1 && timeMs <= 600000)) {
      throw new UsageError(`--time ${timeStr}: must be a number of milliseconds from 1 to 600000`);
    }
  }
  return {
    packetBytes,
    queues: workers.length > 0 ? [1] : queues,
    workers,
    rings,
    mergeable,
    backends,
    queueSize: queueSize[0]!,
    timeMs,
    json: values.json === true,
    help: values.help === true,
  };
}

export async function runNetBench(o: NetOptions, progress: (line: string) => void = () => {}): Promise<NetRow[]> {
  const rows: NetRow[] = [];
  for (const backend of o.backends)
    for (const ring of o.rings)
      for (const mergeable of o.mergeable)
        for (const queues of o.queues)
          for (const packetBytes of o.packetBytes) {
            const c: NetCase = { ring, queues, packetBytes, mergeable, backend, queueSize: o.queueSize };
            if (o.workers.length === 0) {
              progress(`${netCaseName(c)} ...`);
              rows.push(await measureNet(c, o.timeMs));
              continue;
            }
            let one: number | undefined;
            for (const w of o.workers) {
              progress(`${netCaseName(c)}/${w}w ...`);
              const row = await measureNetColocated(c, w, o.timeMs);
              if (w === 1) one = row.pps;
              if (one !== undefined && one > 0) row.scaling = row.pps / (w * one);
              rows.push(row);
            }
          }
  return rows;
}

export function formatNetTable(rows: NetRow[], o: NetOptions): string {
  const colocated = o.workers.length > 0;
  const head = [
    'backend',
    'ring',
    'rx bufs',
    colocated ? 'workers' : 'pairs',
    'frame B',
    'Mpps',
    'Gbps',
    'ns/pkt',
    '±%',
  ];
  if (colocated) head.push('scaling');
  const cells = rows.map((r) => {
    const cell = [
      r.backend,
      r.ring,
      r.mergeable ? 'mergeable' : 'big',
      String(colocated ? r.workers : r.queues),
      String(r.packetBytes),
      (r.pps / 1e6).toFixed(2),
      (r.bitsPerSec / 1e9).toFixed(2),
      r.nsPerPacket.toFixed(1),
      r.rme.toFixed(1),
    ];
    if (colocated) cell.push(r.scaling === undefined ? '-' : r.scaling.toFixed(2));
    return cell;
  });
  const what = colocated
    ? `co-located workers (a machine with one queue pair each; ns/pkt per worker, ±% spread of worker rates)`
    : 'single thread, batched Wasm';
  return textTable(`vqsim bench net: ${what}, queue size ${o.queueSize}, ${o.timeMs} ms per case`, head, cells, 5);
}

/** `vqsim bench net [options]`. Returns the exit code. */
export async function netCommand(args: string[], io: Io): Promise<number> {
  const o = parseNetArgs(args);
  if (o.help) {
    io.out(NET_HELP);
    return 0;
  }
  const rows = await runNetBench(o, io.progress);
  io.out(o.json ? jsonDocument(rows) : formatNetTable(rows, o));
  return 0;
}

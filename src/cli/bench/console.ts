import { jsonDocument, textTable } from './report.js';
// `vqsim bench console`: bytes per second through a virtio-console loopback on
// one thread. The guest driver writes chunks on the transmit queue, the device
// moves them through its host FIFO into the posted receive buffers (Wasm
// copies both ways), and the driver reaps and reposts the receive buffers.
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { createMachine, type ConsoleMachineDevice, type Machine, type RingKind } from '../../index.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { choices, describeParseError, ints } from './options.js';
import { BenchSanityError } from './ring.js';
import {
  BASELINE,
  isBaseline,
  parsePlacements,
  placementName,
  PLACEMENT_HELP,
  setVsDirect,
  withBaseline,
  type Placement,
} from './placement.js';
import { eventTotals, perOp, type PerOp } from '../../sim/per-op.js';

export const CONSOLE_HELP = `Usage: vqsim bench console [options]

virtio-console port 0 on one JavaScript thread, loopback backend: the guest
writes chunks of --chunk-bytes (one transmit chain each, batched per kick), the
device copies them into the receive buffers the guest posted (4 KiB each), and
the guest reaps and reposts them. Reports bytes per second.

Options:
${PLACEMENT_HELP}
  --chunk-bytes <n,...>     bytes per write chain, 1 to 4096 (default 64,4096)
  --ring <split,packed>     ring layouts (default split,packed)
  --queue-size <n>          queue size, a power of two from 8 to 32768 (default 256)
  --time <ms>               measuring time per case, 1 to 600000 ms (default 300)
  --json                    print JSON rows
  -h, --help                show this help
`;

/** The machine `vqsim bench console` runs: one virtio-console device over virtio-pci, loopback backend. */
export function consoleBenchMachine(o: { ring?: RingKind; queueSize?: number; placement?: Placement } = {}): Machine {
  const p = o.placement;
  return createMachine({
    ...(p?.deployment === undefined ? {} : { deployment: p.deployment }),
    ...(p?.policy === undefined ? {} : { policy: p.policy }),
    ...(p === undefined ? {} : { dma: p.dma, encryption: p.encryption }),
    devices: [{ kind: 'console', ring: o.ring, queueSize: o.queueSize, backend: 'loopback' }],
  });
}

/**
 * Moves at least `bytes` through the loopback of `m` in writes of `chunk`
 * bytes (one kick per ring-full), and returns the bytes that came back: the
 * per-port unit a worker can call in a loop.
 */
export function runConsoleLoopback(m: ConsoleMachineDevice, chunk: number, bytes: number): number {
  const d = m.driver;
  const burst = new Uint8Array(chunk * Math.min(d.txq.size, d.rxq.size));
  for (let i = 0; i < burst.length; i++) burst[i] = i & 0xff;
  let back = 0;
  let idle = 0;
  while (back < bytes) {
    d.writeChunks(burst, chunk);
    const got = d.readCount();
    back += got;
    if (got === 0 && ++idle >= 3)
      throw new BenchSanityError(`console loopback: nothing came back in 3 rounds (${back} of ${bytes})`);
    else if (got > 0) idle = 0;
  }
  return back;
}

export interface ConsoleRow extends Placement, Partial<PerOp> {
  name: string;
  /** bytesPerSec ÷ the same case's on a traditional machine with direct DMA. */
  vsDirect?: number;
  device: 'console';
  mode: 'loopback';
  ring: RingKind;
  queues: 1;
  queueSize: number;
  ioBytes: number;
  bytesPerSec: number;
  iterations: number;
  rme: number;
}

export async function measureConsole(
  ring: RingKind,
  chunk: number,
  queueSize: number,
  timeMs: number,
  placement: Placement = BASELINE,
): Promise<ConsoleRow> {
  const machine = consoleBenchMachine({ ring, queueSize, placement });
  const m = machine.console();
  const name = [
    'console',
    ...(isBaseline(placement) ? [] : [placementName(placement)]),
    'loopback',
    ring,
    `q${queueSize}`,
    `${chunk}B`,
  ].join('/');
  const per = Math.max(chunk * queueSize, 1 << 21);
  for (let k = 0; k < 5; k++) runConsoleLoopback(m, chunk, chunk * queueSize);
  let moved = 0;
  let iterations = 0;
  const before = eventTotals(machine.stats());
  const bench = new Bench({
    name,
    time: timeMs,
    iterations: 3,
    warmupTime: Math.min(100, timeMs / 4),
    warmupIterations: 2,
    throws: true,
  });
  bench.add(name, () => {
    moved += runConsoleLoopback(m, chunk, per);
    iterations++;
  });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new BenchSanityError(`${name}: tinybench did not complete (${result?.state ?? 'no task'})`);
  }
  if (m.device.counters.dropped !== 0)
    throw new BenchSanityError(`${name}: the device dropped ${m.device.counters.dropped} bytes`);
  // Events per chunk written (the operation of this benchmark).
  const events = perOp(before, eventTotals(machine.stats()), moved / chunk);
  machine.close();
  const bytesPerSec = moved / iterations / (result.latency.mean / 1e3);
  return {
    name,
    device: 'console',
    ...placement,
    mode: 'loopback',
    ring,
    queues: 1,
    queueSize,
    ioBytes: chunk,
    bytesPerSec,
    iterations: result.latency.samplesCount,
    rme: result.latency.rme,
    ...events,
  };
}

const spec = {
  deployment: { type: 'string' },
  policy: { type: 'string' },
  dma: { type: 'string' },
  encryption: { type: 'string' },
  'chunk-bytes': { type: 'string' },
  ring: { type: 'string' },
  'queue-size': { type: 'string' },
  time: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ConsoleOptions {
  placements: Placement[];
  chunkBytes: number[];
  rings: RingKind[];
  queueSize: number;
  timeMs: number;
  json: boolean;
  help: boolean;
}

/** Parses and validates `vqsim bench console` flags; a bad one is a UsageError naming it. */
export function parseConsoleArgs(args: string[]): ConsoleOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    const r = parseArgs({ args, options: spec, strict: true, allowPositionals: true });
    if (r.positionals.length > 0)
      throw new UsageError(`unexpected argument ${r.positionals[0]}: see vqsim bench console --help`);
    values = r.values;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(describeParseError(e));
  }
  const str = (k: keyof typeof spec) => values[k] as string | undefined;
  const chunkBytes = ints(
    'chunk-bytes',
    str('chunk-bytes') ?? '64,4096',
    (n) => n >= 1 && n <= 4096,
    'must be whole numbers of bytes from 1 to 4096',
  );
  const rings = choices<RingKind>('ring', str('ring') ?? 'split,packed', ['split', 'packed']);
  const qs = ints(
    'queue-size',
    str('queue-size') ?? '256',
    (n) => n >= 8 && n <= 32768 && (n & (n - 1)) === 0,
    'must be one power of two from 8 to 32768',
  );
  if (qs.length !== 1)
    throw new UsageError(`--queue-size ${str('queue-size')}: must be one power of two from 8 to 32768`);
  const timeStr = str('time');
  let timeMs = 300;
  if (timeStr !== undefined) {
    timeMs = /^\d+(\.\d+)?$/.test(timeStr.trim()) ? Number(timeStr) : NaN;
    if (!(timeMs >= 1 && timeMs <= 600000))
      throw new UsageError(`--time ${timeStr}: must be a number of milliseconds from 1 to 600000`);
  }
  const placements = withBaseline(
    parsePlacements({
      deployment: str('deployment'),
      dma: str('dma'),
      encryption: str('encryption'),
      policy: str('policy'),
    }),
  );
  return {
    placements,
    chunkBytes,
    rings,
    queueSize: qs[0]!,
    timeMs,
    json: values.json === true,
    help: values.help === true,
  };
}

/** `vqsim bench console [options]`. Returns the exit code. */
export async function consoleCommand(args: string[], io: Io): Promise<number> {
  const o = parseConsoleArgs(args);
  if (o.help) {
    io.out(CONSOLE_HELP);
    return 0;
  }
  const rows: ConsoleRow[] = [];
  for (const placement of o.placements)
    for (const ring of o.rings)
      for (const chunk of o.chunkBytes) {
        io.progress(`console/${placementName(placement)}/${ring}/${chunk}B ...`);
        rows.push(await measureConsole(ring, chunk, o.queueSize, o.timeMs, placement));
      }
  setVsDirect(
    rows,
    o.placements.length,
    (r) => `${r.ring}/${r.ioBytes}`,
    (r) => r.bytesPerSec,
  );
  if (o.json) io.out(jsonDocument(rows));
  else {
    const placed = o.placements.length > 1 || !o.placements.every(isBaseline);
    const f = (x: number | undefined, d = 2) => (x === undefined ? '-' : x.toFixed(d));
    const cells = rows.map((r) => [
      ...(placed ? [r.deployment ?? '-', r.dma, r.encryption, r.policy ?? '-'] : []),
      r.ring,
      String(r.ioBytes),
      (r.bytesPerSec / 1e6).toFixed(1),
      r.rme.toFixed(1),
      ...(placed
        ? [r.vsDirect === undefined ? '-' : `${r.vsDirect.toFixed(2)}×`, f(r.exitsPerOp, 3), f(r.bounceBytesPerOp, 0)]
        : []),
    ]);
    const head = [
      ...(placed ? ['deployment', 'dma', 'encryption', 'policy'] : []),
      'ring',
      'chunk B',
      'MB/s',
      '±%',
      ...(placed ? ['vs direct', 'exits/chunk', 'bounce B/chunk'] : []),
    ];
    const title = `vqsim bench console: loopback, single thread, queue size ${o.queueSize}, ${o.timeMs} ms per case`;
    io.out(textTable(title, head, cells, placed ? 4 : 1));
  }
  return 0;
}

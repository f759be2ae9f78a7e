import { jsonDocument, medianBy, textTable } from './report.js';
import { printWarnings, rmeWarning, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { statsPerOp, type NoiseWarning, type SampleStats } from '../result.js';
// `vqsim bench console`: bytes per second through a virtio-console loopback on
// one thread. The guest driver writes chunks on the transmit queue, the device
// moves them through its host FIFO into the posted receive buffers (Wasm
// copies both ways), and the driver reaps and reposts the receive buffers.
import { type Command } from 'commander';
import { Bench } from 'tinybench';
import { createMachine, type ConsoleMachineDevice, type Machine, type RingKind } from '../../internal.js';
import type { Io } from '../io.js';
import { flagValues, valueFlag } from '../parser.js';
import {
  defaultWarmupMs,
  deviceQueueSizeFlag,
  jsonFlag,
  QUARTER_OF_TIME,
  ringFlag,
  roundsFlag,
  sizes,
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

const CONSOLE_HELP = `virtio-console port 0 on one JavaScript thread, loopback backend: the guest
writes chunks of --chunk-bytes (one transmit chain each, batched per kick), the
device copies them into the receive buffers the guest posted (4 KiB each), and
the guest reaps and reposts them. Reports bytes per second.`;

const CONSOLE_AFTER = `
Examples:
  vqsim bench console --chunk-bytes 64,4k --ring split
  vqsim bench console --deployment cvm --rounds 3 --time 1s --json
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

export interface ConsoleRow extends Placement, Partial<PerOp>, SampleStats {
  bench: 'console';
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
  /** Rounds measured; the row is the median one (by bytes per second). */
  rounds: number;
  bytesPerSecMin: number;
  bytesPerSecMax: number;
}

export async function measureConsole(
  ring: RingKind,
  chunk: number,
  queueSize: number,
  timeMs: number,
  placement: Placement = BASELINE,
  warmupMs = defaultWarmupMs(timeMs),
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
    warmupTime: warmupMs,
    warmupIterations: warmupMs > 0 ? 2 : 0,
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
  // The median iteration, per chunk written (the mean stays in `mean`).
  const stats = statsPerOp(result.latency, moved / iterations / chunk, 'ns/chunk');
  const bytesPerSec = (chunk * 1e9) / stats.median;
  return {
    bench: 'console',
    name,
    device: 'console',
    ...placement,
    mode: 'loopback',
    ring,
    queues: 1,
    queueSize,
    ioBytes: chunk,
    ...stats,
    bytesPerSec,
    iterations: result.latency.samplesCount,
    rounds: 1,
    bytesPerSecMin: bytesPerSec,
    bytesPerSecMax: bytesPerSec,
    ...events,
  };
}

export interface ConsoleOptions {
  placements: Placement[];
  chunkBytes: number[];
  rings: RingKind[];
  queueSize: number;
  timeMs: number;
  /** tinybench's untimed warm-up per case, in milliseconds. */
  warmupMs: number;
  /** Times the whole matrix runs; each case reports its median round. */
  rounds: number;
  json: boolean;
}

/** `vqsim bench console`: its help and flags. */
export function defineConsole(c: Command): Command {
  return placementFlags(c.description(CONSOLE_HELP))
    .addOption(
      valueFlag(
        '--chunk-bytes <n,...>',
        'bytes per write chain, 1 to 4096; 1k, 4KiB',
        (f, v) => sizes(f, v, (n) => n >= 1 && n <= 4096, 'must be whole numbers of bytes from 1 to 4096'),
        '64,4096',
      ),
    )
    .addOption(ringFlag())
    .addOption(deviceQueueSizeFlag())
    .addOption(timeFlag('measuring time per case', '300ms'))
    .addOption(warmupFlag("tinybench's untimed warm-up per case", QUARTER_OF_TIME))
    .addOption(roundsFlag('times the whole matrix runs, 1 to 50; each case reports its median round', '1'))
    .addOption(jsonFlag('print JSON rows'))
    .addHelpText('after', CONSOLE_AFTER);
}

/** The values defineConsole's flags give. */
export type ConsoleFlags = PlacementFlags & {
  chunkBytes: number[];
  ring: RingKind[];
  queueSize: number;
  time: number;
  warmup?: number;
  rounds: number;
  json?: boolean;
};

/** `vqsim bench console`'s options from its flags. */
export function consoleOptions(v: ConsoleFlags): ConsoleOptions {
  return {
    placements: withBaseline(parsePlacements(v)),
    chunkBytes: v.chunkBytes,
    rings: v.ring,
    queueSize: v.queueSize,
    timeMs: v.time,
    warmupMs: v.warmup ?? defaultWarmupMs(v.time),
    rounds: v.rounds,
    json: v.json === true,
  };
}

/** `vqsim bench console`'s options from its flags alone. */
export const parseConsoleArgs = (args: readonly string[]): ConsoleOptions =>
  consoleOptions(flagValues<ConsoleFlags>(defineConsole, args));

/** `vqsim bench console [options]`. Returns the exit code. */
export async function consoleCommand(o: ConsoleOptions, io: Io): Promise<number> {
  // Every round runs the whole matrix; each case reports its median round.
  const progress = new ProgressLine(io, o.rounds * o.placements.length * o.rings.length * o.chunkBytes.length);
  const runs = new Map<string, ConsoleRow[]>();
  for (let round = 0; round < o.rounds; round++)
    for (const placement of o.placements)
      for (const ring of o.rings)
        for (const chunk of o.chunkBytes) {
          progress.step(
            `${o.rounds > 1 ? `round ${round + 1}/${o.rounds} ` : ''}console/${placementName(placement)}/${ring}/${chunk}B`,
          );
          const r = await measureConsole(ring, chunk, o.queueSize, o.timeMs, placement, o.warmupMs);
          runs.set(r.name, [...(runs.get(r.name) ?? []), r]);
        }
  progress.clear();
  const rows: ConsoleRow[] = [];
  const warnings: NoiseWarning[] = [];
  for (const [name, all] of runs) {
    const rates = all.map((r) => r.bytesPerSec);
    const mid = medianBy(all, (r) => r.bytesPerSec);
    rows.push({
      ...mid,
      rounds: all.length,
      bytesPerSecMin: Math.min(...rates),
      bytesPerSecMax: Math.max(...rates),
    });
    warnings.push(...rmeWarning(name, mid.rme), ...spreadWarning(name, rates));
  }
  printWarnings(io, warnings);
  setVsDirect(
    rows,
    o.placements.length,
    (r) => `${r.ring}/${r.ioBytes}`,
    (r) => r.bytesPerSec,
  );
  if (o.json) io.out(jsonDocument('bench console', o, rows, warnings));
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
    io.out(textTable(title, head, cells, placed ? 4 : 1, { names: rows.map((r) => r.name), warnings }));
  }
  return 0;
}

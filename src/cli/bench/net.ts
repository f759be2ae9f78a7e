import { jsonDocument, lowerMedian, medianBy, textTable } from './report.js';
import { coresWarning, printWarnings, rmeWarning, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { statsOf, statsPerOp, type NoiseWarning, type SampleStats } from '../result.js';
// `vqsim bench net`: virtio-net loopback (or sink, or source) throughput on
// one thread, or on N co-located worker threads (--workers), each with its own
// machine. The guest driver sends frames of a set size on each queue pair (one
// Wasm call builds the TX batch, one adds it), the device pops TX and RX,
// copies each frame into RX buffers and pushes both queues (a few Wasm calls
// per batch), and the driver reaps TX, checks and counts RX in Wasm and
// reposts the RX buffers. Every frame's bytes are really copied. Sink leaves
// out the RX half (DPDK testpmd's txonly), source the TX half (rxonly).
import { type Command } from 'commander';
import { Bench } from 'tinybench';
import { createMachine, type MachineConfig, type RingKind } from '../../internal.js';
import {
  checkNetDevice,
  runNetColocated,
  runNetPackets,
  runProtectedNetPackets,
  type NetBenchBackend,
} from '../../sim/net.js';
import { ProtectedNet, RECORD_OVERHEAD } from '../../trust/protect/record.js';
import { guestBytesFor, resolveMachineConfig } from '../../sim/machine-config.js';
import { MAX_GUEST_RAM } from '../../../assembly/layout.js';
import type { Io } from '../io.js';
import { UsageError } from '../usage.js';
import { flagValues, valueFlag } from '../parser.js';
import {
  choices,
  defaultWarmupMs,
  deviceQueueSizeFlag,
  ints,
  jsonFlag,
  onOff,
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

export { runNetPackets, type NetBenchBackend, type NetRunCounts } from '../../sim/net.js';

const NET_HELP = `virtio-net on one JavaScript thread, batched Wasm: the guest driver sends frames
of --packet-bytes on each of --queues queue pairs, the device loops each frame
back to the RX queue of the same pair, and the driver receives, checks
(hardened) and reposts. --backend sink: the device drops each frame, the guest
only transmits (like DPDK's txonly or pktgen); source: the device delivers
frames of --packet-bytes to the guest, which only receives (like DPDK's
rxonly). Reports packets/s (Mpps) and frame bits/s (Gbps, frame bytes only:
without the 12-byte virtio header). The pairs run one after another on the one
thread. With --workers, each of N worker threads builds its own machine (one
queue pair) and runs co-located (driver and device on that thread) for --time,
all at once; rows give the sum and the scaling: rate ÷ (workers × the
one-worker rate). Every round runs the whole matrix (with --workers, one worker
first for each case), so each round scales against its own one-worker rate;
rows give the median round, the best round's Mpps and, with --workers, the
median scaling, its range and the slowest and fastest worker of the median
round. Lists are comma-separated; every combination runs.`;

const NET_AFTER = `
Examples:
  vqsim bench net --packet-bytes 64,1500 --ring split --rounds 3
  vqsim bench net --packet-bytes 1.5k --time 2s --json > net.json
  vqsim bench net --workers 1,2 --packet-bytes 64 --backend sink
`;

/** `--protect`: no record layer, records sealed in place (zero copy where bounced), or sealed then bounced. */
export type NetProtect = 'off' | 'on' | 'on-bounce';
export const NET_PROTECT: readonly NetProtect[] = ['off', 'on', 'on-bounce'];

export interface NetCase extends Placement {
  /** The record layer (default off). */
  protect?: NetProtect;
  /** The driver's and the rings' checks (default true); false: the naive driver. */
  hardened?: boolean;
  ring: RingKind;
  queues: number;
  packetBytes: number;
  mergeable: boolean;
  backend: NetBenchBackend;
  queueSize: number;
}

export interface NetRow extends NetCase, Partial<PerOp>, SampleStats {
  bench: 'net';
  name: string;
  /** pps ÷ the pps of the same case on a traditional machine with direct DMA, same round. */
  vsDirect?: number;
  /** pps ÷ the pps of the same case on a traditional machine with direct DMA and protection off. */
  vsPlain?: number;
  /** Hardened rows run beside naive ones: pps ÷ the naive case's pps, same rounds. */
  vsNaive?: number;
  device: 'net';
  mode: 'single-thread' | 'colocated';
  /** Worker threads (colocated: one machine with one queue pair each; single-thread: 0). */
  workers: number;
  pps: number;
  bitsPerSec: number;
  nsPerPacket: number;
  packetsPerIteration: number;
  iterations: number;
  /** Colocated: the spread of the per-worker rates, standard deviation in percent of their mean. */
  workerSpread?: number;
  /** Rounds measured; pps and the figures beside it are the median round's (the lower middle one for an even count). */
  rounds: number;
  /** Slowest and fastest round's pps (the fastest is the best round, the least disturbed by other load). */
  ppsMin: number;
  ppsMax: number;
  /**
   * Colocated: the median over rounds of the round's pps over (workers × the
   * pps of one worker of the same case in the same round), as `vqsim bench
   * colocated` reports it: 1.0 is linear scaling.
   */
  scaling?: number;
  /** Colocated: the lowest and highest per-round scaling. */
  scalingMin?: number;
  scalingMax?: number;
  /** Colocated: the slowest and fastest worker of the median round, its packets over its own elapsed time. */
  workerMinPps?: number;
  workerMaxPps?: number;
}

/** One measured round of a case, before the rounds are summed up. */
export type NetRoundRow = Omit<NetRow, 'rounds' | 'ppsMin' | 'ppsMax' | 'scalingMin' | 'scalingMax'>;

export function netCaseName(c: NetCase): string {
  return [
    'net',
    ...(isBaseline(c) ? [] : [placementName(c)]),
    ...(c.protect === undefined || c.protect === 'off' ? [] : [c.protect === 'on' ? 'protect' : 'protect-bounce']),
    ...(c.hardened === false ? ['naive'] : []),
    c.backend,
    c.ring,
    `q${c.queueSize}`,
    `${c.queues}pair`,
    `${c.packetBytes}B`,
    c.mergeable ? 'mrg' : 'big',
  ].join('/');
}

/** The machine of a case: one virtio-net device over virtio-pci with `pairs` queue pairs. */
export function netCaseMachine(c: NetCase, pairs = c.queues): MachineConfig {
  return {
    ...(c.deployment === undefined ? {} : { deployment: c.deployment }),
    ...(c.policy === undefined ? {} : { policy: c.policy }),
    dma: c.dma,
    encryption: c.encryption,
    devices: [
      {
        kind: 'net',
        ring: c.ring,
        queues: pairs,
        packetBytes: c.packetBytes,
        queueSize: c.queueSize,
        mergeable: c.mergeable,
        backend: c.backend,
        hardened: c.hardened ?? true,
      },
    ],
  };
}

/** Measures one case: packets per iteration are split evenly over the pairs, run one after another. */
export async function measureNet(
  c: NetCase,
  timeMs: number,
  warmupMs = 200,
  tinyWarmupMs = defaultWarmupMs(timeMs),
): Promise<NetRoundRow> {
  const machine = createMachine(netCaseMachine(c));
  const m = machine.net();
  const perPair = Math.max(c.queueSize, Math.ceil(2 ** 21 / (c.packetBytes + 64) / c.queues));
  let run = (p: number, n: number) => runNetPackets(m, p, n);
  if (c.protect !== undefined && c.protect !== 'off') {
    const pn = new ProtectedNet(m.driver, m.dma, {
      name: m.name,
      seed: machine.seed,
      placement: c.protect === 'on' ? 'zero-copy' : 'bounce',
    });
    // The sender's payload: seeded bytes in private guest memory.
    const len = c.packetBytes - RECORD_OVERHEAD;
    const at = m.mem.linear(m.mem.alloc(len), len);
    const payload = m.mem.bytes.subarray(at, at + len);
    for (let i = 0; i < len; i++) payload[i] = (i * 131 + machine.seed) & 0xff;
    run = (p, n) => runProtectedNetPackets(m, pn, p, n, payload);
  }
  let moved = 0;
  const iteration = () => {
    for (let p = 0; p < c.queues; p++) moved += run(p, perPair).packets;
  };
  // Warm-up by time: the Wasm functions tier up in the background (no on-stack
  // replacement), later on a loaded machine; 200 ms of batches gets them there.
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) for (let p = 0; p < c.queues; p++) run(p, c.queueSize * 4);
  moved = 0;
  let iterations = 0;
  const before = eventTotals(machine.stats());
  const bench = new Bench({
    name: netCaseName(c),
    time: timeMs,
    iterations: 3,
    warmupTime: tinyWarmupMs,
    warmupIterations: tinyWarmupMs > 0 ? 2 : 0,
    throws: true,
  });
  bench.add(netCaseName(c), () => {
    iteration();
    iterations++;
  });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || (result.state !== 'completed' && result.state !== 'aborted-with-statistics')) {
    throw new BenchSanityError(`${netCaseName(c)}: tinybench did not complete (${result?.state ?? 'no task'})`);
  }
  // Packets moved per iteration (runNetPackets may overshoot by part of a batch).
  const packetsPerIteration = moved / iterations;
  // The median iteration, as every benchmark reports (the mean stays in `mean`).
  const stats = statsPerOp(result.latency, packetsPerIteration, 'ns/packet');
  const nsPerPacket = stats.median;
  const events = perOp(before, eventTotals(machine.stats()), moved);
  // Sanity: the device counted what the driver counted.
  checkNetDevice(m, netCaseName(c));
  machine.close();
  const pps = 1e9 / nsPerPacket;
  return {
    bench: 'net',
    name: netCaseName(c),
    device: 'net',
    mode: 'single-thread',
    workers: 0,
    ...c,
    ...stats,
    pps,
    bitsPerSec: pps * c.packetBytes * 8,
    nsPerPacket,
    packetsPerIteration,
    iterations: result.latency.samplesCount,
    ...events,
  };
}

/**
 * Measures one case on `workers` co-located worker threads, each with its own
 * machine of one queue pair: warm-up, then all run for `timeMs` at once.
 */
export async function measureNetColocated(
  c: NetCase,
  workers: number,
  timeMs: number,
  warmupMs = 200,
): Promise<NetRoundRow> {
  const r = await runNetColocated(workers, netCaseMachine(c, 1), { durationMs: timeMs }, { warmMs: warmupMs });
  const name = `${netCaseName(c)}/${workers}w`;
  const rates = r.workers.map((w) => (w.elapsedMs > 0 ? (w.packets * 1000) / w.elapsedMs : 0));
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length);
  const nsPerPacket = (r.seconds * 1e9 * workers) / Math.max(1, r.packets);
  return {
    bench: 'net',
    name,
    device: 'net',
    mode: 'colocated',
    workers,
    ...c,
    queues: workers,
    // One sample per run: runNetBench puts the statistics over rounds in place.
    ...statsOf([nsPerPacket], 'ns/packet'),
    pps: r.pps,
    bitsPerSec: r.bitsPerSec,
    // Per worker: one worker's time per packet.
    nsPerPacket,
    packetsPerIteration: r.packets,
    iterations: 1,
    workerSpread: mean > 0 ? (100 * sd) / mean : 0,
    workerMinPps: Math.min(...rates),
    workerMaxPps: Math.max(...rates),
  };
}

export interface NetOptions {
  /** Deployment × DMA backend × encryption combinations (with the baseline when any differs from it). */
  placements: Placement[];
  /** `--protect` values, each a case of its own. */
  protect: NetProtect[];
  /** `--hardened` values: the checks on and/or off. */
  hardened: boolean[];
  packetBytes: number[];
  queues: number[];
  /** Worker counts for co-located runs; empty: single thread. */
  workers: number[];
  rings: RingKind[];
  mergeable: boolean[];
  backends: NetBenchBackend[];
  queueSize: number;
  timeMs: number;
  /** Untimed warm-up per case (the Wasm tiers up), in milliseconds. */
  warmupMs: number;
  /** Times the whole matrix runs; each case reports its median round. */
  rounds: number;
  json: boolean;
}

/** Guest RAM the largest case needs (the machine's own formula, guestBytesFor), with the 16 MiB it adds. */
function netGuestBytes(queues: number, queueSize: number, packetBytes: number): number {
  const c: NetCase = {
    ...BASELINE,
    ring: 'split',
    queues,
    queueSize,
    packetBytes,
    mergeable: true,
    backend: 'loopback',
  };
  const [device] = resolveMachineConfig(netCaseMachine(c)).devices;
  return guestBytesFor(device!) + (16 << 20);
}

/**
 * Each of --queues, --queue-size and --packet-bytes can be valid while their
 * product does not fit one machine's guest RAM: say so before anything runs,
 * with the largest queue size that fits.
 */
function fitsGuestMemory(queues: number, queueSize: number, packetBytes: number): void {
  const need = netGuestBytes(queues, queueSize, packetBytes);
  if (need <= MAX_GUEST_RAM) return;
  let fit = queueSize;
  while (fit > 8 && netGuestBytes(queues, fit, packetBytes) > MAX_GUEST_RAM) fit >>= 1;
  const hint =
    netGuestBytes(queues, fit, packetBytes) <= MAX_GUEST_RAM
      ? `--queue-size ${fit} fits`
      : 'fewer --queues or smaller --packet-bytes';
  throw new UsageError(
    `--queues ${queues} × --queue-size ${queueSize} × --packet-bytes ${packetBytes} do not fit one machine: ` +
      `${Math.ceil(need / 2 ** 20)} MiB of guest RAM needed, ${MAX_GUEST_RAM / 2 ** 20} MiB at most (${hint})`,
  );
}

/** `vqsim bench net`: its help and flags. */
export function defineNet(c: Command): Command {
  const counts = (what: string, max: number) => (f: string, v: string) =>
    ints(f, v, (n) => n >= 1 && n <= max, `must be whole numbers of ${what} from 1 to ${max}`);
  return placementFlags(c.description(NET_HELP))
    .addOption(
      valueFlag(
        '--packet-bytes <n,...>',
        'frame sizes, 14 to 65535 bytes; 1.5k, 9000',
        (f, v) => sizes(f, v, (n) => n >= 14 && n <= 65535, 'must be whole numbers of bytes from 14 to 65535'),
        '64,1500,9000',
      ),
    )
    .addOption(
      valueFlag(
        '--queues <n,...>',
        'queue pairs, 1 to 64 (default: 1,2; not with --workers)',
        counts('queue pairs', 64),
      ),
    )
    .addOption(
      valueFlag(
        '--workers <n,...>',
        'worker threads, 1 to 256; 1 runs first (default: none, one thread)',
        counts('worker threads', 256),
      ),
    )
    .addOption(ringFlag())
    .addOption(
      valueFlag(
        '--mergeable <on,off>',
        'VIRTIO_NET_F_MRG_RXBUF',
        (f, v) => choices(f, v, ['on', 'off']).map((s) => s === 'on'),
        'on',
      ),
    )
    .addOption(
      valueFlag(
        '--backend <loopback,sink,source>',
        'loopback: TX frames come back on RX; sink: the guest only transmits; source: it only receives',
        (f, v) => choices<NetBenchBackend>(f, v, ['loopback', 'sink', 'source']),
        'loopback',
      ),
    )
    .addOption(
      valueFlag(
        '--protect <off,on,on-bounce>',
        'the record layer (AES-256-GCM per frame, opened by the receiver): on seals into the swiotlb slot where ' +
          'the DMA API bounces (zero copy), on-bounce into the private buffer, then bounced; the frame is ' +
          '--packet-bytes, the payload 32 bytes less (not with --workers or the source backend)',
        (f, v) => choices<NetProtect>(f, v, NET_PROTECT),
        'off',
      ),
    )
    .addOption(
      valueFlag(
        '--hardened <on,off>',
        "the driver's and rings' checks on (hardened) and/or off (naive: the device is believed); every " +
          'combination runs, and rows of both give hardened ÷ naive',
        (f, v) => onOff(f, v),
        'on',
      ),
    )
    .addOption(deviceQueueSizeFlag())
    .addOption(timeFlag('time per case and round', '300ms'))
    .addOption(warmupFlag('untimed warm-up per case', '200ms'))
    .addOption(roundsFlag('rounds, 1 to 50 (default: 3 with --workers, else 1)'))
    .addOption(jsonFlag('print JSON rows'))
    .addHelpText('after', NET_AFTER);
}

/** The values defineNet's flags give. */
export type NetFlags = PlacementFlags & {
  packetBytes: number[];
  queues?: number[];
  workers?: number[];
  ring: RingKind[];
  mergeable: boolean[];
  backend: NetBenchBackend[];
  protect: NetProtect[];
  hardened: boolean[];
  queueSize: number;
  time: number;
  warmup: number;
  rounds?: number;
  json?: boolean;
};

/** `vqsim bench net`'s options from its flags, checked against each other; a misfit is a UsageError naming the flags. */
export function netOptions(v: NetFlags): NetOptions {
  const { packetBytes, queueSize, protect } = v;
  const asked = v.workers ?? [];
  // The scaling needs each round's one-worker rate of the same case, measured first.
  const workers = asked.length === 0 ? [] : [1, ...asked.filter((n) => n !== 1)];
  if (workers.length > 0 && v.queues !== undefined) {
    throw new UsageError(`--queues ${v.queues.join(',')}: not with --workers (each worker runs one queue pair)`);
  }
  const queues = v.queues ?? [1, 2];
  const placements = withBaseline(parsePlacements(v));
  if (protect.some((p) => p !== 'off')) {
    if (workers.length > 0) throw new UsageError(`--protect ${protect.join(',')}: not with --workers`);
    if (v.backend.includes('source')) {
      throw new UsageError(`--protect ${protect.join(',')}: not with --backend source (its frames are not records)`);
    }
    const small = packetBytes.find((n) => n <= RECORD_OVERHEAD);
    if (small !== undefined) {
      throw new UsageError(
        `--packet-bytes ${small} with --protect on: a frame must hold the ${RECORD_OVERHEAD}-byte record overhead and a payload`,
      );
    }
  }
  fitsGuestMemory(workers.length > 0 ? 1 : Math.max(...queues), queueSize, Math.max(...packetBytes));
  return {
    placements,
    protect,
    hardened: v.hardened,
    packetBytes,
    queues: workers.length > 0 ? [1] : queues,
    workers,
    rings: v.ring,
    mergeable: v.mergeable,
    backends: v.backend,
    queueSize,
    timeMs: v.time,
    warmupMs: v.warmup,
    rounds: v.rounds ?? (workers.length > 0 ? 3 : 1),
    json: v.json === true,
  };
}

/** `vqsim bench net`'s options from its flags alone. */
export const parseNetArgs = (args: readonly string[]): NetOptions => netOptions(flagValues<NetFlags>(defineNet, args));

/**
 * Runs every case `o.rounds` times. Every round runs the whole matrix, so a
 * slow spell of a shared machine lands in one round of each case rather than
 * on whole cases; with workers, each case's worker counts run back to back,
 * one worker first, and each count scales against that round's one-worker
 * rate. A case then reports its median round and the spread.
 */
export async function runNetBench(o: NetOptions, io?: Io, warnings: NoiseWarning[] = []): Promise<NetRow[]> {
  const cases =
    o.placements.length *
    o.backends.length *
    o.hardened.length *
    o.rings.length *
    o.mergeable.length *
    o.queues.length *
    o.packetBytes.length;
  const progress = io ? new ProgressLine(io, o.rounds * cases * Math.max(1, o.workers.length)) : undefined;
  const runs = new Map<string, NetRoundRow[]>();
  const add = (row: NetRoundRow) => runs.set(row.name, [...(runs.get(row.name) ?? []), row]);
  for (let round = 0; round < o.rounds; round++) {
    const tag = o.rounds > 1 ? `round ${round + 1}/${o.rounds} ` : '';
    for (const placement of o.placements.flatMap((p) =>
      o.protect.flatMap((protect) => o.hardened.map((hardened) => ({ ...p, protect, hardened }))),
    ))
      for (const backend of o.backends)
        for (const ring of o.rings)
          for (const mergeable of o.mergeable)
            for (const queues of o.queues)
              for (const packetBytes of o.packetBytes) {
                const c: NetCase = {
                  ...placement,
                  ring,
                  queues,
                  packetBytes,
                  mergeable,
                  backend,
                  queueSize: o.queueSize,
                };
                if (o.workers.length === 0) {
                  progress?.step(`${tag}${netCaseName(c)}`);
                  add(await measureNet(c, o.timeMs, o.warmupMs));
                  continue;
                }
                let one: number | undefined;
                for (const w of o.workers) {
                  progress?.step(`${tag}${netCaseName(c)}/${w}w`);
                  const row = await measureNetColocated(c, w, o.timeMs, o.warmupMs);
                  if (w === 1) one = row.pps;
                  if (one !== undefined && one > 0) row.scaling = row.pps / (w * one);
                  add(row);
                }
              }
  }
  progress?.clear();
  const rows: NetRow[] = [];
  for (const all of runs.values()) {
    const pps = all.map((r) => r.pps);
    const mid = medianBy(all, (r) => r.pps);
    const row: NetRow = { ...mid, rounds: all.length, ppsMin: Math.min(...pps), ppsMax: Math.max(...pps) };
    // Co-located rows have no per-iteration samples: their statistics are over rounds.
    if (row.mode === 'colocated')
      Object.assign(
        row,
        statsOf(
          all.map((r) => r.nsPerPacket),
          'ns/packet',
        ),
      );
    warnings.push(...rmeWarning(row.name, row.rme), ...spreadWarning(row.name, pps));
    const scalings = all.flatMap((r) => (r.scaling === undefined ? [] : [r.scaling]));
    if (scalings.length > 0) {
      row.scaling = lowerMedian(scalings);
      row.scalingMin = Math.min(...scalings);
      row.scalingMax = Math.max(...scalings);
    }
    rows.push(row);
  }
  setVsDirect(
    rows,
    o.placements.length,
    (r) => netCaseName({ ...r, ...BASELINE }),
    (r) => r.pps,
  );
  // Protection's cost beside swiotlb's: each row against the same case with neither.
  const plain = new Map(
    rows.filter((r) => isBaseline(r) && (r.protect ?? 'off') === 'off').map((r) => [r.name, r.pps]),
  );
  // The checks' cost: each hardened row against its naive twin, same rounds.
  const naive = new Map(rows.filter((r) => r.hardened === false).map((r) => [r.name, r.pps]));
  for (const r of rows) {
    if (r.hardened === false) continue;
    const b = naive.get(netCaseName({ ...r, hardened: false }));
    if (b !== undefined && b > 0) r.vsNaive = r.pps / b;
  }
  if (o.protect.some((p) => p !== 'off')) {
    for (const r of rows) {
      const b = plain.get(netCaseName({ ...r, ...BASELINE, protect: 'off' }));
      if (b !== undefined && b > 0) r.vsPlain = r.pps / b;
    }
  }
  return rows;
}

export function formatNetTable(rows: NetRow[], o: NetOptions, warnings: readonly NoiseWarning[] = []): string {
  const colocated = o.workers.length > 0;
  const mpps = (x: number | undefined) => (x === undefined ? '-' : (x / 1e6).toFixed(2));
  const placed = o.placements.length > 1 || !o.placements.every(isBaseline);
  const protect = o.protect.some((p) => p !== 'off');
  const head = [
    ...(placed ? ['deployment', 'dma', 'encryption', 'policy'] : []),
    ...(protect ? ['protect'] : []),
    'backend',
    'ring',
    'rx bufs',
    colocated ? 'workers' : 'pairs',
    'frame B',
    'Mpps',
    'best Mpps',
    'Gbps',
    'ns/pkt',
    '±%',
  ];
  if (colocated) head.push('scaling', 'scaling min–max', 'worker min', 'worker max');
  if (placed) head.push('vs direct', 'exits/pkt', 'irqs/pkt', 'bounce B/pkt', 'IOTLB miss/pkt');
  if (protect) head.push('vs plain');
  const checks = o.hardened.includes(false);
  if (checks) head.push('checks', 'hard÷naive');
  const cells = rows.map((r) => {
    const cell = [
      ...(placed ? [r.deployment ?? '-', r.dma, r.encryption, r.policy ?? '-'] : []),
      ...(protect ? [r.protect ?? 'off'] : []),
      r.backend,
      r.ring,
      r.mergeable ? 'mergeable' : 'big',
      String(colocated ? r.workers : r.queues),
      String(r.packetBytes),
      mpps(r.pps),
      mpps(r.ppsMax),
      (r.bitsPerSec / 1e9).toFixed(2),
      r.nsPerPacket.toFixed(1),
      r.rme.toFixed(1),
    ];
    if (colocated) {
      cell.push(
        r.scaling === undefined ? '-' : r.scaling.toFixed(2),
        r.scalingMin === undefined || r.scalingMax === undefined
          ? '-'
          : `${r.scalingMin.toFixed(2)}–${r.scalingMax.toFixed(2)}`,
        mpps(r.workerMinPps),
        mpps(r.workerMaxPps),
      );
    }
    if (placed) {
      const f = (x: number | undefined, d = 2) => (x === undefined ? '-' : x.toFixed(d));
      cell.push(
        r.vsDirect === undefined ? '-' : `${r.vsDirect.toFixed(2)}×`,
        f(r.exitsPerOp, 3),
        f(r.interruptsPerOp, 3),
        f(r.bounceBytesPerOp, 0),
        f(r.iotlbMissesPerOp, 2),
      );
    }
    if (protect) cell.push(r.vsPlain === undefined ? '-' : `${r.vsPlain.toFixed(2)}×`);
    if (checks)
      cell.push(
        r.hardened === false ? 'naive' : 'hardened',
        r.vsNaive === undefined ? '-' : `${r.vsNaive.toFixed(2)}×`,
      );
    return cell;
  });
  const what = colocated
    ? `co-located workers (a machine with one queue pair each; ns/pkt per worker, ±% rme over rounds)`
    : 'single thread, batched Wasm';
  const rounds = `median of ${o.rounds} round${o.rounds === 1 ? '' : 's'}`;
  const title = `vqsim bench net: ${what}, queue size ${o.queueSize}, ${o.timeMs} ms per case, ${rounds}`;
  const note = colocated ? 'worker min, max: Mpps of the slowest and the fastest worker in the median round\n' : '';
  return textTable(title, head, cells, 5, { names: rows.map((r) => r.name), warnings }) + note;
}

/** `vqsim bench net [options]`. Returns the exit code. */
export async function netCommand(o: NetOptions, io: Io): Promise<number> {
  // Each co-located worker is a thread of its own, beside the main thread.
  const warnings: NoiseWarning[] = o.workers.length > 0 ? coresWarning(Math.max(...o.workers)) : [];
  const rows = await runNetBench(o, io, warnings);
  printWarnings(io, warnings);
  io.out(o.json ? jsonDocument('bench net', o, rows, warnings) : formatNetTable(rows, o, warnings));
  return 0;
}

// `vqsim study swiotlb`: what bouncing every DMA costs, per size, per
// deployment, for virtio-net and virtio-blk on split and packed rings. Each
// case is measured (wall-clock operations per second, against `traditional`
// in the same round) and modeled (the events it counted, turned into cycles
// by the cost model, src/sim/cost.ts): the two side by side, never mixed.
import type { RingKind } from '../internal.js';
import { DEPLOYMENTS, type Deployment, type DeploymentName } from '../sim/deployments.js';
import type { DmaBackendName } from '../dma/backends.js';
import type { EncryptionModel } from '../memory/guest-memory.js';
import {
  COST_CATEGORIES,
  COST_PROFILES,
  loadCostModel,
  modelCycles,
  profileFor,
  type CostCategory,
  type CostModel,
} from '../sim/cost.js';
import type { EventTotals, PerOp } from '../sim/per-op.js';
import { measureBlk } from './bench/blk.js';
import { measureNet } from './bench/net.js';
import { Option, type Command } from 'commander';
import { choices, duration, ringFlag, roundsOf, sizes as sizeList } from './bench/options.js';
import { valueFlag } from './parser.js';
import { jsonDocument, textTable } from './bench/report.js';
import type { Io } from './io.js';
import { UsageError } from './usage.js';
import { takeShard, type Shard, type ShardInfo } from './shard.js';
import { studyFlags, studyOutputOptions, type ExportFormat, type StudyFlags } from './study-flags.js';
import { writeStudyReport } from './study-report.js';
import { resultDocument } from './result.js';
import { poolOptions, poolTable, runPoolStudy, type PoolFlags } from './study-pool.js';
import { ConfigError } from '../errors.js';

export const STUDY_DEPLOYMENTS = ['traditional', 'hardware', 'vduse', 'cvm', 'cvm-tdisp', 'vhost-user'] as const;
type StudyDeployment = (typeof STUDY_DEPLOYMENTS)[number];
const DEVICES = ['net', 'blk'] as const;
type StudyDevice = (typeof DEVICES)[number];
/** virtio-net frames stop at 65535 bytes (no GSO here); blk requests are whole 512-byte sectors. */
const NET_MAX = 65535;
const BLK_MIN = 512;

const STUDY_HELP = `Measures and models what each deployment's DMA path costs per operation, for
virtio-net (frames looped back: one TX and one RX per packet) and virtio-blk
(random 4-deep writes of the size), on split and packed rings. Each row has
the measured rate (opsPerSec, vsTraditional: against the same case on a
traditional machine in the same round) and the modeled cost: the events per
operation the stats registry counted, and the cycles the cost model gives
them (cycles, cyclesBy category). Sizes a device cannot take are skipped and
said: net frames stop at ${NET_MAX} bytes (no GSO), blk takes whole sectors
(multiples of ${BLK_MIN} bytes).`;

const STUDY_AFTER = `
Examples:
  vqsim study swiotlb
  vqsim study swiotlb --device net --ring split --sizes 1500,65535 --deployment cvm --json
`;

export interface StudyOptions {
  sizes: number[];
  deployments: StudyDeployment[];
  devices: StudyDevice[];
  rings: RingKind[];
  timeMs: number;
  rounds: number;
  cost: CostModel | undefined;
  format: 'table' | 'json' | 'csv' | 'markdown';
  shard?: Shard | undefined;
  html?: string | undefined;
}

export interface StudyRow {
  study: 'swiotlb';
  device: StudyDevice;
  ring: RingKind;
  deployment: StudyDeployment;
  dma: string;
  encryption: string;
  size: number;
  /** Measured: operations (packets or requests) per second, the median round. */
  opsPerSec: number;
  /** Measured: opsPerSec ÷ the same case on traditional, same round. */
  vsTraditional: number;
  /** Modeled: the cost profile the cycles come from. */
  costProfile: string;
  cycles: number;
  cyclesBy: Record<CostCategory, number>;
  /** Counted: events per operation. */
  perOp: Record<keyof EventTotals, number>;
}

/** `vqsim study swiotlb`: its help and flags. */
export function defineStudySwiotlb(c: Command): Command {
  return studyFlags(
    c
      .description(STUDY_HELP)
      .addOption(
        valueFlag(
          '--sizes <n,...>',
          'bytes per operation, 64 to 262144; 1.5k, 64KiB (default: 64,512,4096,32768,262144)',
          (f, v) => sizeList(f, v, (n) => n >= 64 && n <= 262144, 'must be sizes in bytes from 64 to 262144'),
        ),
      )
      .addOption(
        valueFlag(
          '--deployment <d,...>',
          `${STUDY_DEPLOYMENTS.join(', ')} (default: all but vhost-user; traditional always runs: it is the baseline)`,
          (f, v) => choices(f, v, STUDY_DEPLOYMENTS),
        ),
      )
      .addOption(valueFlag('--device <net,blk>', 'devices', (f, v) => choices(f, v, DEVICES), 'net,blk'))
      .addOption(ringFlag())
      .addOption(
        valueFlag(
          '--time <ms>',
          'measuring time per case and round, 1 to 600000 ms; 500ms, 2s (default: 100ms)',
          (f, v) => duration(f, v, 1, 600000, true),
        ),
      )
      .addOption(
        valueFlag('--rounds <n>', 'rounds, 1 to 50; rows give the median round (default: 1)', (_f, v) => roundsOf(v)),
      )
      .addOption(
        new Option(
          '--cost <file>',
          'a cost file (JSON: "extends": traditional|sev-snp|tdx and cycle fields); default: the profile of ' +
            "each row's encryption",
        ),
      ),
    'the large grid: sizes 64 to 256 KiB in powers of 4, every deployment, 300 ms, 3 rounds',
  ).addHelpText('after', STUDY_AFTER);
}

/** The values defineStudySwiotlb's flags give. */
export type StudySwiotlbFlags = StudyFlags & {
  sizes?: number[];
  deployment?: StudyDeployment[];
  device: StudyDevice[];
  ring: RingKind[];
  time?: number;
  rounds?: number;
  cost?: string;
};

/** `vqsim study swiotlb`'s options from its flags. */
export function studyOptions(v: StudySwiotlbFlags): StudyOptions {
  const full = v.full === true;
  const asked = v.deployment ?? STUDY_DEPLOYMENTS.filter((d) => full || d !== 'vhost-user');
  let cost: CostModel | undefined;
  if (v.cost !== undefined) {
    try {
      cost = loadCostModel(v.cost);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  return {
    sizes: v.sizes ?? (full ? [64, 256, 1024, 4096, 16384, 65536, 262144] : [64, 512, 4096, 32768, 262144]),
    deployments: ['traditional', ...asked.filter((d) => d !== 'traditional')],
    devices: v.device,
    rings: v.ring,
    timeMs: v.time ?? (full ? 300 : 100),
    rounds: v.rounds ?? (full ? 3 : 1),
    cost,
    ...studyOutputOptions(v),
  };
}

/** Rows as JSON (the document with the machine), CSV or a Markdown table; `flat` gives each row's columns. */
export function exportRows<R extends object>(
  rows: readonly R[],
  flat: (r: R) => Record<string, string | number>,
  format: Exclude<ExportFormat, 'table'>,
  doc: { command: string; options: object; name: (r: R) => string },
): string {
  if (format === 'json') {
    const bench = doc.command;
    return jsonDocument(
      doc.command,
      doc.options,
      rows.map((r) => ({ bench, name: doc.name(r), ...r })),
    );
  }
  const cols = rows.length ? Object.keys(flat(rows[0]!)) : [];
  if (format === 'csv') {
    const q = (v: string | number) =>
      typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
    return [cols.join(','), ...rows.map((r) => cols.map((c) => q(flat(r)[c]!)).join(','))].join('\n') + '\n';
  }
  return (
    [
      `| ${cols.join(' | ')} |`,
      `| ${cols.map(() => '---').join(' | ')} |`,
      ...rows.map((r) => `| ${cols.map((c) => flat(r)[c]).join(' | ')} |`),
    ].join('\n') + '\n'
  );
}

/** The deployment's own DMA backend and encryption model (the first it allows). */
function placement(d: StudyDeployment): {
  deployment: DeploymentName;
  dma: DmaBackendName;
  encryption: EncryptionModel;
} {
  const dep: Deployment = DEPLOYMENTS[d];
  return { deployment: d, dma: dep.dma[0]!, encryption: dep.encryption[0]! };
}

/** The events per operation of a measured row, as EventTotals. */
function eventsOf(r: Partial<PerOp>): EventTotals {
  const e = {} as Record<keyof EventTotals, number>;
  for (const [k, v] of Object.entries(r)) {
    if (k.endsWith('PerOp') && typeof v === 'number') e[k.slice(0, -5) as keyof EventTotals] = v;
  }
  return e as EventTotals;
}

interface Measured {
  opsPerSec: number;
  events: EventTotals;
}

async function measure(
  device: StudyDevice,
  ring: RingKind,
  d: StudyDeployment,
  size: number,
  timeMs: number,
  seed: number,
): Promise<Measured> {
  if (device === 'net') {
    const r = await measureNet(
      { ...placement(d), ring, queues: 1, packetBytes: size, mergeable: true, backend: 'loopback', queueSize: 256 },
      timeMs,
    );
    return { opsPerSec: r.pps, events: eventsOf(r) };
  }
  const r = await measureBlk(
    { ...placement(d), ring, ioBytes: size, queues: 1, mode: 'randwrite', queueSize: 128, depth: 4 },
    timeMs,
    Math.max(8 << 20, size * 64),
    seed,
  );
  return { opsPerSec: r.iops, events: eventsOf(r) };
}

/** Runs the grid; the skipped (device, size) pairs are said through `note`. */
export async function runSwiotlbStudy(
  o: StudyOptions,
  progress: (line: string) => void = () => {},
  note: (line: string) => void = () => {},
  /** Filled with each row's position in the whole grid (for --shard). */
  positions: number[] = [],
): Promise<StudyRow[]> {
  const grid: [StudyDevice, RingKind, number][] = [];
  for (const device of o.devices) {
    for (const size of o.sizes) {
      if ((device === 'net' && size > NET_MAX) || (device === 'blk' && size % BLK_MIN !== 0)) {
        note(
          `${device} ${size} B: skipped (${device === 'net' ? `frames stop at ${NET_MAX} bytes` : `requests are whole ${BLK_MIN}-byte sectors`})`,
        );
        continue;
      }
      for (const ring of o.rings) grid.push([device, ring, size]);
    }
  }
  const slice = takeShard(grid, o.shard);
  const cases = slice.map((c) => c.item);
  const total = cases.length * o.deployments.length * o.rounds;
  let done = 0;
  const rows: StudyRow[] = [];
  for (const [k, [device, ring, size]] of cases.entries()) {
    const rounds: Map<StudyDeployment, Measured>[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const round = new Map<StudyDeployment, Measured>();
      for (const d of o.deployments) {
        progress(`[${++done}/${total}] ${device} ${ring} ${size} B ${d}`);
        round.set(d, await measure(device, ring, d, size, o.timeMs, 1 + r));
      }
      rounds.push(round);
    }
    for (const [j, d] of o.deployments.entries()) {
      positions.push(slice[k]!.position * o.deployments.length + j);
      // The median round by this deployment's ratio to traditional in the same round.
      const ratios = rounds
        .map((round) => ({ m: round.get(d)!, vs: round.get(d)!.opsPerSec / round.get('traditional')!.opsPerSec }))
        .sort((a, b) => a.vs - b.vs);
      const mid = ratios[Math.floor((ratios.length - 1) / 2)]!;
      const dep = placement(d);
      const model = o.cost ?? COST_PROFILES[profileFor(dep.encryption)];
      const { cycles, cyclesBy } = modelCycles(mid.m.events, model);
      rows.push({
        study: 'swiotlb',
        device,
        ring,
        deployment: d,
        dma: dep.dma,
        encryption: dep.encryption,
        size,
        opsPerSec: mid.m.opsPerSec,
        vsTraditional: mid.vs,
        costProfile: o.cost ? `${model.profile} (from --cost)` : model.profile,
        cycles,
        cyclesBy,
        perOp: mid.m.events as Record<keyof EventTotals, number>,
      });
    }
  }
  progress('');
  return rows;
}

const SHORT: Record<CostCategory, string> = {
  exits: 'exit',
  interrupts: 'irq',
  swiotlbSearch: 'search',
  swiotlbRelease: 'release',
  bounceCopy: 'copy',
  iotlbMisses: 'iotlb',
  conversions: 'convert',
  encryption: 'crypt',
  processing: 'process',
};

/** Flat columns of a row, for the table and the CSV/Markdown exports. */
function flat(r: StudyRow): Record<string, string | number> {
  const out: Record<string, string | number> = {
    device: r.device,
    ring: r.ring,
    deployment: r.deployment,
    dma: r.dma,
    size: r.size,
    opsPerSec: Math.round(r.opsPerSec),
    vsTraditional: Number(r.vsTraditional.toFixed(3)),
    exitsPerOp: Number(r.perOp.exits.toFixed(3)),
    interruptsPerOp: Number(r.perOp.interrupts.toFixed(3)),
    bounceBytesPerOp: Math.round(r.perOp.bounceBytes),
    slotSearchesPerOp: Number(r.perOp.slotSearches.toFixed(3)),
    cycles: Math.round(r.cycles),
  };
  for (const c of COST_CATEGORIES) out[`cycles.${c}`] = Math.round(r.cyclesBy[c]);
  return out;
}

export function formatStudy(rows: readonly StudyRow[], o: StudyOptions): string {
  if (o.format !== 'table') {
    return exportRows(rows, flat, o.format, {
      command: 'study swiotlb',
      // The cost model is recorded by its profile name (each row's costProfile) and fields.
      options: o,
      name: (r) => `swiotlb/${r.device}/${r.ring}/${r.deployment}/${r.size}B`,
    });
  }
  const head = [
    'device',
    'ring',
    'deployment',
    'size B',
    'Kops/s',
    'vs trad',
    'exits/op',
    'irqs/op',
    'bounce B/op',
    'Kcycles/op',
    ...COST_CATEGORIES.map((c) => `%${SHORT[c]}`),
  ];
  const cells = rows.map((r) => [
    r.device,
    r.ring,
    r.deployment,
    String(r.size),
    (r.opsPerSec / 1e3).toFixed(1),
    `${r.vsTraditional.toFixed(2)}×`,
    r.perOp.exits.toFixed(3),
    r.perOp.interrupts.toFixed(3),
    r.perOp.bounceBytes.toFixed(0),
    (r.cycles / 1e3).toFixed(1),
    ...COST_CATEGORIES.map((c) => (r.cycles > 0 ? ((100 * r.cyclesBy[c]) / r.cycles).toFixed(1) : '0.0')),
  ]);
  const title =
    `vqsim study swiotlb: ${o.timeMs} ms per case, median of ${o.rounds} round${o.rounds === 1 ? '' : 's'}; ` +
    'Kops/s and vs trad measured, Kcycles/op and the % columns modeled';
  return textTable(title, head, cells, 3);
}

/** What a sharded run's document carries: the run it is a slice of (command and options without --shard) and where its rows sit. */
function shardInfo(command: string, options: object, shard: Shard, positions: number[]): ShardInfo {
  const { shard: _s, html: _h, ...rest } = options as { shard?: unknown; html?: unknown };
  void _s;
  void _h;
  return { run: JSON.stringify({ command, options: rest }), index: shard.index, count: shard.count, positions };
}

/** The rows of a study as its output: a table, an export, or a shard's document; and the HTML report when asked. */
function studyOutput<R extends object>(
  io: Io,
  command: 'study swiotlb' | 'study pool',
  o: { format: ExportFormat; shard?: Shard | undefined; html?: string | undefined },
  rows: readonly R[],
  positions: number[],
  table: () => string,
  flat: (r: R) => Record<string, string | number>,
  name: (r: R) => string,
): void {
  if (o.html !== undefined) {
    writeStudyReport(o.html, command, rows as readonly object[]);
    io.err(`vqsim: wrote ${o.html}\n`);
  }
  if (o.format === 'table') return io.out(table());
  if (o.format === 'json' && o.shard) {
    const bench = command;
    const named = rows.map((r) => ({ bench, name: name(r), ...r }));
    return io.out(resultDocument(command, o, named, [], { shard: shardInfo(command, o, o.shard, positions) }));
  }
  io.out(exportRows(rows, flat, o.format, { command, options: o, name }));
}

/** `vqsim study pool [options]`. */
export function poolCommand(v: PoolFlags, io: Io): number {
  const o = { ...poolOptions(v), ...studyOutputOptions(v) };
  const positions: number[] = [];
  const rows = runPoolStudy(o, io.progress, positions);
  studyOutput(
    io,
    'study pool',
    o,
    rows,
    positions,
    () => poolTable(rows, o),
    (r) => ({ ...r }),
    (r) => `pool/${r.slots}slots/${r.areas}areas/${r.queues}queues/${r.size}B`,
  );
  return 0;
}

/** `vqsim study swiotlb [options]`. */
export async function studySwiotlbCommand(o: StudyOptions, io: Io): Promise<number> {
  const positions: number[] = [];
  const rows = await runSwiotlbStudy(o, io.progress, (line) => io.err(`vqsim: ${line}\n`), positions);
  studyOutput(
    io,
    'study swiotlb',
    o,
    rows,
    positions,
    () => formatStudy(rows, o),
    flat,
    (r) => `swiotlb/${r.device}/${r.ring}/${r.deployment}/${r.size}B`,
  );
  return 0;
}

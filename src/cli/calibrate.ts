// `vqsim calibrate`: measures this machine's swiotlb costs (the slot search,
// the slot release, and the bounce copy per call and per byte) in the Wasm
// core, converts them to cycles at the CPU's clock, and writes a cost file
// that `vqsim study swiotlb --cost` reads. Only what vqsim itself runs is
// measured; exits, interrupts and page conversions stay the profile's (a
// simulator cannot time a hypervisor it does not have).
import { readFileSync, writeFileSync } from 'node:fs';
import { DmaAttr, DmaDirection } from '../internal.js';
import { COST_PROFILE_NAMES, COST_PROFILES, type CostModel, type CostProfileName } from '../sim/cost.js';
import { Option, type Command } from 'commander';
import { timeFlag } from './bench/options.js';
import { oneOf, valueFlag } from './parser.js';
import { cpuName, textTable } from './bench/report.js';
import { BenchSanityError } from './bench/ring.js';
import { poolMachine } from './bench/swiotlb.js';
import type { Io } from './io.js';
import { UsageError } from './usage.js';
import { resultDocument } from './result.js';

const CALIBRATE_HELP = `Measures, on this machine, what the cost model's swiotlb fields stand for:
the slot search (swiotlb_find_slots) and release (swiotlb_release_slots) of
a 64-byte mapping in a pool half full of 1 B to 4 KiB mappings, and the
bounce copy (swiotlb_bounce) at sizes from 64 B to 256 KiB, fitted as
cycles per call + cycles per byte (least squares). Nanoseconds become
cycles at the CPU clock (/proc/cpuinfo, or --ghz). Prints the cost file
(JSON), or writes it with --out; the other fields come from --profile.`;

const CALIBRATE_AFTER = `
Examples:
  vqsim calibrate --out cost.json && vqsim study swiotlb --cost cost.json
  vqsim calibrate --ghz 3.0 --time 500ms --json
`;

/** `vqsim calibrate`: its help and flags. */
export function defineCalibrate(c: Command): Command {
  return c
    .description(CALIBRATE_HELP)
    .addOption(oneOf('--profile <p>', 'the cost profile of the fields not measured', COST_PROFILE_NAMES, 'sev-snp'))
    .addOption(
      valueFlag('--ghz <g>', "CPU clock in GHz, 0.5 to 10 (default: /proc/cpuinfo's cpu MHz)", (f, g) => {
        const ghz = /^\d+(\.\d+)?$/.test(g) ? Number(g) : NaN;
        if (!(ghz >= 0.5 && ghz <= 10)) throw new UsageError(`--${f} ${g}: must be a clock in GHz from 0.5 to 10`);
        return ghz;
      }),
    )
    .addOption(timeFlag('measuring time per measurement', '200ms', 10, 60000))
    .addOption(new Option('--out <file>', 'write the cost file there and print a summary'))
    .addOption(
      new Option(
        '--json',
        'print the result document (meta, one row per field, the cost file as costFile) instead of the bare cost file',
      ),
    )
    .addHelpText('after', CALIBRATE_AFTER);
}

/** The values defineCalibrate's flags give. */
export type CalibrateFlags = {
  profile: CostProfileName;
  ghz?: number;
  time: number;
  out?: string;
  json?: boolean;
};

const COPY_SIZES = [64, 256, 1024, 4096, 16384, 65536, 262144];
const BATCH = 256;

/** The CPU clock in GHz as /proc/cpuinfo reports it, if it does. */
export function cpuGhz(): number | undefined {
  try {
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    const mhz = m ? Number(m[1]) : NaN;
    return mhz > 0 ? mhz / 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Least squares y = a + b·x, each point weighted by 1/y² (relative error):
 * the small copies, which say what a call costs, count as much as the large
 * ones, which say what a byte costs.
 */
export function fitLine(xs: readonly number[], ys: readonly number[]): { a: number; b: number } {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    const w = 1 / ys[i]! ** 2;
    sw += w;
    sx += w * xs[i]!;
    sy += w * ys[i]!;
    sxx += w * xs[i]! ** 2;
    sxy += w * xs[i]! * ys[i]!;
  }
  const det = sw * sxx - sx * sx;
  const b = det > 0 ? (sw * sxy - sx * sy) / det : 0;
  return { a: (sy - b * sx) / sw, b };
}

export interface Calibration {
  ghz: number;
  nsPerSearch: number;
  nsPerRelease: number;
  /** ns per bounce copy of each size. */
  nsPerCopy: Record<number, number>;
  nsPerCopyCall: number;
  nsPerCopyByte: number;
  node: string;
  cpu: string;
  date: string;
}

/** Best (least disturbed) ns per operation of `phases`, run in turn until `timeMs` has passed (at least 5 rounds). */
function best(timeMs: number, per: number, round: (() => void)[]): number[] {
  const out = round.map(() => Infinity);
  for (let k = 0; k < 3; k++) for (const f of round) f(); // let the Wasm tier up
  const t0 = performance.now();
  let n = 0;
  do {
    round.forEach((f, i) => {
      const t = performance.now();
      f();
      out[i] = Math.min(out[i]!, ((performance.now() - t) * 1e6) / per);
    });
    n++;
  } while (performance.now() - t0 < timeMs || n < 5);
  return out;
}

export function calibrate(timeMs: number, ghz: number): Calibration {
  // Search and release, apart: a batch of maps, then the batch of their unmaps.
  const { sw, buf } = poolMachine(32768, 1);
  const live: number[] = [];
  for (let i = 0; i < 8192; i++)
    live.push(sw.map(buf, 1 + (((i * 2654435761) >>> 0) % 4096), { attrs: DmaAttr.NO_WARN }));
  for (let i = 0; i < live.length; i += 2) sw.unmap(live[i]!, 1 + (((i * 2654435761) >>> 0) % 4096));
  const core = sw.mem.core;
  const d = sw.descriptor;
  const offs = new Int32Array(BATCH);
  const [nsPerSearch, nsPerRelease] = best(timeMs, BATCH, [
    () => {
      for (let i = 0; i < BATCH; i++) {
        const off = core.swiotlb_map(d, buf, 64, 0, 0, 0, 0);
        if (off < 0) throw new BenchSanityError('calibrate: a 64-byte swiotlb mapping failed in a half-full pool');
        offs[i] = off;
      }
    },
    () => {
      for (let i = 0; i < BATCH; i++)
        core.swiotlb_unmap(d, offs[i]!, 64, DmaDirection.TO_DEVICE, DmaAttr.SKIP_CPU_SYNC, 0);
    },
  ]) as [number, number];
  // The bounce copy: one mapping synced towards the device again and again.
  const copy = poolMachine(512, 1);
  const nsPerCopy: Record<number, number> = {};
  for (const size of COPY_SIZES) {
    const a = copy.sw.map(copy.buf, size);
    const per = Math.max(4, Math.floor(262144 / size));
    nsPerCopy[size] = best(timeMs, per, [
      () => {
        for (let i = 0; i < per; i++) copy.sw.sync(a, size, true);
      },
    ])[0]!;
    copy.sw.unmap(a, size);
  }
  const { a, b } = fitLine(
    COPY_SIZES,
    COPY_SIZES.map((s) => nsPerCopy[s]!),
  );
  return {
    ghz,
    nsPerSearch,
    nsPerRelease,
    nsPerCopy,
    nsPerCopyCall: Math.max(0, a),
    nsPerCopyByte: Math.max(0, b),
    node: process.version,
    cpu: cpuName(),
    date: new Date().toISOString(),
  };
}

/** The cost file: the profile, with the measured fields in cycles and the measurement as provenance. */
export function costFile(
  profile: CostProfileName,
  c: Calibration,
): Omit<CostModel, 'profile'> & { extends: string; calibration: Calibration } {
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const fields: Partial<CostModel> = { ...COST_PROFILES[profile] };
  delete fields.profile;
  return {
    extends: profile,
    ...(fields as Omit<CostModel, 'profile'>),
    slotSearch: round(c.nsPerSearch * c.ghz),
    slotScanned: 0,
    slotRelease: round(c.nsPerRelease * c.ghz),
    bounceCall: round(c.nsPerCopyCall * c.ghz),
    bounceByte: round(c.nsPerCopyByte * c.ghz),
    calibration: c,
  };
}

/** `vqsim calibrate [options]`. */
export async function calibrateCommand(values: CalibrateFlags, io: Io): Promise<number> {
  const { profile, time: timeMs, out } = values;
  const ghz = values.ghz ?? cpuGhz();
  if (ghz === undefined)
    throw new UsageError('--ghz: this machine does not say its CPU clock (/proc/cpuinfo): give it');
  io.progress('calibrating the swiotlb slot search, release and bounce copy ...');
  await Promise.resolve();
  const c = calibrate(timeMs, ghz);
  io.progress('');
  const file = costFile(profile, c);
  const json = JSON.stringify(file, null, 2) + '\n';
  if (out !== undefined) writeFileSync(out, json);
  if (values.json) {
    // One row per cost field: what was measured (ns) and the cycles the file holds.
    const row = (name: string, ns: number, cycles: number) => ({
      bench: 'calibrate',
      name,
      unit: 'ns',
      median: ns,
      cycles,
      profileDefault: COST_PROFILES[profile][name as 'slotSearch'],
    });
    const rows = [
      row('slotSearch', c.nsPerSearch, file.slotSearch),
      row('slotRelease', c.nsPerRelease, file.slotRelease),
      row('bounceCall', c.nsPerCopyCall, file.bounceCall),
      row('bounceByte', c.nsPerCopyByte, file.bounceByte),
    ];
    io.out(resultDocument('calibrate', { profile, ghz, timeMs, out }, rows, [], { costFile: file }));
    return 0;
  }
  if (out === undefined) {
    io.out(json);
    return 0;
  }
  const rows = [
    ['slotSearch', c.nsPerSearch.toFixed(1), file.slotSearch.toFixed(0), String(COST_PROFILES[profile].slotSearch)],
    ['slotRelease', c.nsPerRelease.toFixed(1), file.slotRelease.toFixed(0), String(COST_PROFILES[profile].slotRelease)],
    ['bounceCall', c.nsPerCopyCall.toFixed(1), file.bounceCall.toFixed(0), String(COST_PROFILES[profile].bounceCall)],
    ['bounceByte', c.nsPerCopyByte.toFixed(4), file.bounceByte.toFixed(3), String(COST_PROFILES[profile].bounceByte)],
  ];
  io.out(
    textTable(
      `vqsim calibrate: wrote ${out} (${profile}, ${ghz.toFixed(2)} GHz)`,
      ['field', 'ns', 'cycles', 'default'],
      rows,
      1,
    ),
  );
  return 0;
}

import { buildNative, runNative, type NativeBuild } from './native.js';
import type { BenchOptions } from './options.js';
import { medianBy } from './report.js';
import { rmeWarning, spreadWarning } from '../noise.js';
import { ProgressLine } from '../progress.js';
import { statsOf, type NoiseWarning, type SampleStats } from '../result.js';
import type { Io } from '../io.js';
import { batchChains, caseName, measureRing, type RingCase, type RingResult } from './ring.js';

/** One measured case, as `--json` prints it: the median round, its per-iteration statistics in ns/chain. */
export interface ResultRow extends RingCase, SampleStats {
  bench: 'ring';
  name: string;
  chainsPerSec: number;
  nsPerChain: number;
  iterations: number;
  /** On Wasm rows: Wasm ÷ reference chains/s of the same configuration (best rounds, as every ratio). */
  vsReference?: number;
  /** On Wasm rows of one-descriptor split chains: Wasm chains/s ÷ native chains/s. */
  vsNative?: number;
  /** On packed Wasm rows: packed chains/s ÷ split chains/s of the same configuration. */
  vsSplit?: number;
  /** On hardened Wasm rows: hardened chains/s ÷ naive chains/s of the same configuration. */
  vsNaive?: number;
  /** Rounds measured; the row is the median one. */
  rounds: number;
  /** Slowest and fastest round, chains per second. */
  spread: [number, number];
}

/** The native C loop's case: statistics over its rounds (the loop times itself once per round). */
export interface NativeRow extends SampleStats {
  bench: 'ring';
  name: string;
  engine: 'native';
  ring: 'split';
  queueSize: number;
  chainLength: number;
  indirect: boolean;
  eventIdx: boolean;
  bufferBytes: number;
  chainsPerSec: number;
  nsPerChain: number;
  rounds: number;
  spread: [number, number];
}

export interface BenchReport {
  results: ResultRow[];
  warnings: NoiseWarning[];
  native: { compiler: string; flags: string[]; results: NativeRow[] } | { skipped: string };
}

/** A configuration without the engine: the row of the table. */
export type Config = Omit<RingCase, 'engine'>;

export function configs(o: BenchOptions): Config[] {
  const out: Config[] = [];
  // The ring kind is the innermost loop: split and packed of one configuration
  // are measured back to back, so their ratio sees the same machine load.
  for (const queueSize of o.queueSizes)
    for (const bufferBytes of o.bufferBytes)
      for (const chainLength of o.chainLengths)
        for (const indirect of o.indirect)
          for (const eventIdx of o.eventIdx)
            for (const inOrder of o.inOrder)
              for (const usedLenCheck of o.usedLenCheck)
                for (const nospec of o.nospec)
                  for (const ring of o.rings)
                    // Hardened and naive of one configuration run back to
                    // back, so their ratio sees the same machine load.
                    for (const hardened of o.hardened) {
                      // The split ring has no in-order mode: its in-order rows would repeat the plain ones.
                      if (inOrder && ring === 'split') continue;
                      out.push({
                        ring,
                        queueSize,
                        chainLength,
                        indirect,
                        inOrder,
                        eventIdx,
                        bufferBytes,
                        hardened,
                        nospec,
                        usedLenCheck,
                      });
                    }
  return out;
}

export const sameConfig = (a: Config, b: Config): boolean =>
  sameBase(a, b) && a.hardened === b.hardened && a.nospec === b.nospec && a.usedLenCheck === b.usedLenCheck;

/** The same ring configuration, whatever its trust modes (the native loop has none). */
export const sameBase = (a: Omit<Config, 'hardened' | 'nospec' | 'usedLenCheck'>, b: Config): boolean =>
  a.ring === b.ring &&
  a.queueSize === b.queueSize &&
  a.chainLength === b.chainLength &&
  a.indirect === b.indirect &&
  a.inOrder === b.inOrder &&
  a.eventIdx === b.eventIdx &&
  a.bufferBytes === b.bufferBytes;

/** Slowest and fastest round, in chains per second. */
function spread(runs: { chainsPerSec: number }[]): [number, number] {
  const r = runs.map((x) => x.chainsPerSec);
  return [Math.min(...r), Math.max(...r)];
}

/** Runs every case the options ask for; throws on a failed sanity check. */
export async function runBench(o: BenchOptions, io?: Io): Promise<BenchReport> {
  const results: ResultRow[] = [];
  let native: BenchReport['native'] = { skipped: 'native loop skipped: --no-native' };
  let build: NativeBuild | undefined;
  const nativeRows: NativeRow[] = [];
  if (o.native) {
    const b = buildNative();
    if (typeof b === 'string') native = { skipped: b };
    else build = b;
  }
  // Every round runs the whole matrix, so a slow spell of a shared machine
  // hits one round of every case rather than every round of one case; each
  // case then reports its median round, with the spread beside it.
  const all = configs(o);
  const nativeCases = build ? all.filter((cfg) => cfg.chainLength === 1 && cfg.ring === 'split').length : 0;
  const progress = io ? new ProgressLine(io, o.rounds * (all.length * o.engines.length + nativeCases)) : undefined;
  const rounds = new Map<string, { row: RingCase & { name: string }; runs: RingResult[] }>();
  const nativeRounds = new Map<string, { cfg: Config; runs: { chainsPerSec: number; nsPerChain: number }[] }>();
  for (let round = 0; round < o.rounds; round++) {
    for (const cfg of configs(o)) {
      for (const engine of o.engines) {
        // The reference model is the hardened oracle: it has no naive mode.
        if (engine === 'reference' && !cfg.hardened) continue;
        const c: RingCase = { ...cfg, engine };
        const name = caseName(c);
        progress?.step(`round ${round + 1}/${o.rounds} ${name}`);
        const r = await measureRing(c, o.timeMs, o.warmupMs);
        const slot = rounds.get(name) ?? { row: { name, ...c }, runs: [] };
        slot.runs.push(r);
        rounds.set(name, slot);
      }
      // The native loop has no trust modes: once per ring configuration.
      const plain =
        cfg.hardened === o.hardened[0] && cfg.nospec === o.nospec[0] && cfg.usedLenCheck === o.usedLenCheck[0];
      if (build && plain && cfg.chainLength === 1 && cfg.ring === 'split') {
        const name = caseName({ ...cfg, engine: 'wasm' }).replace(/\/wasm$/, '');
        progress?.step(`round ${round + 1}/${o.rounds} native ${name}`);
        const n = runNative(build, { ...cfg, batchChains: batchChains(cfg) }, o.timeMs);
        const slot = nativeRounds.get(name) ?? { cfg, runs: [] };
        slot.runs.push(n);
        nativeRounds.set(name, slot);
      }
    }
  }
  progress?.clear();
  const warnings: NoiseWarning[] = [];
  for (const { row, runs } of rounds.values()) {
    const m = medianBy(runs, (r) => r.chainsPerSec);
    results.push({ bench: 'ring', ...row, ...m, rounds: runs.length, spread: spread(runs) });
    warnings.push(
      ...rmeWarning(row.name, m.rme),
      ...spreadWarning(
        row.name,
        runs.map((r) => r.chainsPerSec),
      ),
    );
  }
  for (const [name, { cfg, runs }] of nativeRounds) {
    const m = medianBy(runs, (r) => r.chainsPerSec);
    nativeRows.push({
      bench: 'ring',
      name: `${name}/native`,
      engine: 'native',
      ...cfg,
      ring: 'split',
      ...statsOf(
        runs.map((r) => r.nsPerChain),
        'ns/chain',
      ),
      chainsPerSec: m.chainsPerSec,
      nsPerChain: m.nsPerChain,
      rounds: runs.length,
      spread: spread(runs),
    });
    warnings.push(
      ...spreadWarning(
        `${name}/native`,
        runs.map((r) => r.chainsPerSec),
      ),
    );
  }
  if (build) native = { compiler: build.compiler, flags: build.flags, results: nativeRows };
  // Ratios compare best rounds: the round least disturbed by other load is
  // the closest to what the code itself costs, on both sides of a ratio.
  const best = (r: { spread: [number, number] }) => r.spread[1];
  for (const row of results) {
    if (row.engine !== 'wasm') continue;
    const ref = results.find((r) => r.engine === 'reference' && sameConfig(r, row));
    if (ref) row.vsReference = best(row) / best(ref);
    const naive = results.find((r) => r.engine === 'wasm' && sameConfig(r, { ...row, hardened: false }));
    if (row.hardened && naive) row.vsNaive = best(row) / best(naive);
    const nat = nativeRows.find((n) => sameBase({ ...n, ring: 'split', inOrder: false }, row));
    if (nat) row.vsNative = best(row) / best(nat);
    // An in-order packed row compares with the plain split ring (split has no in-order mode).
    const split = results.find((r) => r.engine === 'wasm' && sameConfig(r, { ...row, ring: 'split', inOrder: false }));
    if (row.ring === 'packed' && split) row.vsSplit = best(row) / best(split);
  }
  return { results, warnings, native };
}

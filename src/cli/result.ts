// The result document every command's `--json` prints (schema/result.schema.json):
// a `meta` block that says how to reproduce the run and on what machine, the
// rows in one shape, and the noise warnings. The README's "Result documents"
// section documents each field.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bumped when a field changes meaning or disappears; adding a field does not bump it. */
export const SCHEMA_VERSION = 1;

/** Statistics of per-iteration samples, each converted to `unit` (nanoseconds per operation). */
export interface SampleStats {
  unit: string;
  median: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  p99: number;
  /** Relative margin of error of the mean at 95% confidence, in percent (tinybench's rme). */
  rme: number;
  /** Timed iterations the statistics come from. */
  samples: number;
}

/** What every row carries first: the benchmark or command, the case name, then its own fields. */
export interface RowIdentity {
  bench: string;
  name: string;
}

/** A noise warning: which row (by name; absent for the whole run), what was seen, and the figure. */
export interface NoiseWarning {
  row?: string;
  kind: 'rme' | 'round-spread' | 'idle-share' | 'cores';
  message: string;
  value: number;
  limit: number;
}

export interface Meta {
  schemaVersion: number;
  vqsim: string;
  commit?: string;
  timestamp: string;
  argv: string[];
  command: string;
  options: Record<string, unknown>;
  os: { platform: string; release: string; arch: string; totalMemoryBytes: number };
  cpu: { model: string; count: number };
  node: string;
  v8: string;
  /** The C compiler and flags, where a command ran native code (the ring benchmark's native loop). */
  native?: { compiler: string; flags: string[] };
}

export interface ResultDocument<R extends RowIdentity = RowIdentity> {
  meta: Meta;
  rows: R[];
  warnings: NoiseWarning[];
  /** Command-specific extras that are not rows (e.g. the skipped native loop's reason). */
  [extra: string]: unknown;
}

/** The argv of this invocation (what main() was given), recorded in meta. */
let invocation: string[] = [];
export function setInvocation(argv: readonly string[]): void {
  invocation = [...argv];
}

/** The package root: the nearest directory above this module with vqsim's package.json (src/cli or dist). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 5; k++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'vqsim') return dir;
      } catch {
        // Not ours or not JSON: keep looking upwards.
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}

let cachedVersion: string | undefined;
/** vqsim's version from package.json. */
export function vqsimVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  const root = packageRoot();
  cachedVersion = root
    ? ((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown')
    : 'unknown';
  return cachedVersion;
}

let cachedCommit: string | null | undefined;
/** `git rev-parse HEAD` when vqsim runs from a checkout; undefined otherwise (an installed package). */
export function gitCommit(): string | undefined {
  if (cachedCommit !== undefined) return cachedCommit ?? undefined;
  const root = packageRoot();
  cachedCommit = null;
  if (root && existsSync(join(root, '.git'))) {
    const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 5000 });
    const sha = r.status === 0 ? r.stdout.trim() : '';
    if (/^[0-9a-f]{40}$/.test(sha)) cachedCommit = sha;
  }
  return cachedCommit ?? undefined;
}

/** The meta block: how to reproduce the run and on what machine it ran. */
export function meta(command: string, options: object, native?: Meta['native']): Meta {
  const c = cpus();
  const commit = gitCommit();
  return {
    schemaVersion: SCHEMA_VERSION,
    vqsim: vqsimVersion(),
    ...(commit === undefined ? {} : { commit }),
    timestamp: new Date().toISOString(),
    argv: invocation,
    command,
    options: plainOptions(options),
    os: { platform: platform(), release: release(), arch: arch(), totalMemoryBytes: totalmem() },
    cpu: { model: c[0]?.model.trim() ?? 'unknown', count: c.length },
    node: process.version,
    v8: process.versions.v8,
    ...(native === undefined ? {} : { native }),
  };
}

/** The resolved options without the output switches (json, help, format): what decides the figures. */
function plainOptions(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'json' || k === 'help' || k === 'format' || typeof v === 'function') continue;
    out[k] = v;
  }
  return out;
}

/** The `--json` document: meta, rows, warnings, and any command-specific extras. */
export function resultDocument(
  command: string,
  options: object,
  rows: readonly RowIdentity[],
  warnings: readonly NoiseWarning[] = [],
  extras: { native?: Meta['native'] } & Record<string, unknown> = {},
): string {
  const { native, ...rest } = extras;
  const doc = { meta: meta(command, options, native), rows, warnings, ...rest };
  return JSON.stringify(doc, null, 2) + '\n';
}

/**
 * tinybench's per-iteration statistics (milliseconds per iteration) turned
 * into nanoseconds per operation: each iteration ran `opsPerIteration`
 * operations, so every order statistic divides by it alike.
 */
export function statsPerOp(
  latency: {
    p50?: number;
    mean: number;
    sd: number;
    min: number;
    max: number;
    p99?: number;
    rme: number;
    samplesCount: number;
  },
  opsPerIteration: number,
  unit: string,
): SampleStats {
  const k = 1e6 / opsPerIteration;
  return {
    unit,
    median: (latency.p50 ?? latency.mean) * k,
    mean: latency.mean * k,
    stddev: latency.sd * k,
    min: latency.min * k,
    max: latency.max * k,
    p99: (latency.p99 ?? latency.max) * k,
    rme: latency.rme,
    samples: latency.samplesCount,
  };
}

/** Order statistics of plain samples (per-round figures where a benchmark has no per-iteration samples). */
export function statsOf(values: readonly number[], unit: string): SampleStats {
  const xs = [...values].sort((a, b) => a - b);
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  // Student's t at 95% for small n (tinybench uses the same table), else 1.96.
  const t = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228][n - 2] ?? 1.96;
  const rme = n > 1 && mean !== 0 ? ((t * sd) / Math.sqrt(n) / mean) * 100 : 0;
  const q = (p: number) => xs[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  return { unit, median: q(0.5), mean, stddev: sd, min: xs[0]!, max: xs[n - 1]!, p99: q(0.99), rme, samples: n };
}

import { cpus } from 'node:os';
import { flagged, footnote } from '../noise.js';
import { resultDocument, type NoiseWarning, type RowIdentity } from '../result.js';
import type { BenchReport, NativeRow, ResultRow } from './run.js';
import { configs, sameBase, sameConfig, type Config } from './run.js';
import type { BenchOptions } from './options.js';
import { caseName } from './ring.js';

const mps = (r: { chainsPerSec: number } | undefined) => (r ? (r.chainsPerSec / 1e6).toFixed(2) : '–');
const ns = (r: { nsPerChain: number } | undefined) => (r ? r.nsPerChain.toFixed(2) : '–');
const ratio = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(2)}×`);

/** The readable table: one line per configuration, engines side by side, with the ratios. */
export function formatTable(report: BenchReport, o: BenchOptions): string {
  const nativeRows: NativeRow[] = 'results' in report.native ? report.native.results : [];
  const find = (cfg: Config, engine: string): ResultRow | undefined =>
    report.results.find((r) => r.engine === engine && sameConfig(r, cfg));
  const head = [
    'ring',
    'queue',
    'chain',
    'indirect',
    'in order',
    'event idx',
    'buf B',
    'checks',
    'nospec',
    'len check',
    'wasm Mch/s',
    'best',
    'wasm ns/ch',
    'ref Mch/s',
    'ref ns/ch',
    'wasm÷ref',
    'native Mch/s',
    'wasm÷native',
    'packed÷split',
    'hard÷naive',
  ];
  const rows = configs(o).map((cfg) => {
    const w = find(cfg, 'wasm');
    const ref = find(cfg, 'reference');
    // The native loop is a port of the split ring only.
    const nat =
      cfg.ring === 'split' ? nativeRows.find((n) => sameBase({ ...n, ring: 'split', inOrder: false }, cfg)) : undefined;
    return [
      cfg.ring,
      String(cfg.queueSize),
      String(cfg.chainLength),
      cfg.indirect ? 'on' : 'off',
      cfg.inOrder ? 'on' : 'off',
      cfg.eventIdx ? 'on' : 'off',
      String(cfg.bufferBytes),
      cfg.hardened ? 'hardened' : 'naive',
      cfg.nospec ? 'on' : 'off',
      cfg.usedLenCheck,
      mps(w),
      w ? (w.spread[1] / 1e6).toFixed(2) : '–',
      ns(w),
      mps(ref),
      ns(ref),
      ratio(w?.vsReference),
      mps(nat),
      ratio(w?.vsNative),
      ratio(w?.vsSplit),
      ratio(w?.vsNaive),
    ];
  });
  const note =
    'skipped' in report.native
      ? report.native.skipped
      : `native: ${report.native.compiler} ${report.native.flags.join(' ')} (bench/native/roundtrip.c)`;
  const names = configs(o).map((cfg) => {
    const wasm = caseName({ ...cfg, engine: 'wasm' });
    return [wasm, caseName({ ...cfg, engine: 'reference' }), `${wasm.replace(/\/wasm$/, '')}/native`];
  });
  return (
    textTable(`vqsim bench ring: single-thread round trip, ${o.timeMs} ms per case`, head, rows, 10, {
      names,
      warnings: report.warnings,
    }) + `\n${note}\n`
  );
}

/** The `--json` document of `vqsim bench ring`: the result document, with the native loop's build or why it was skipped. */
export function formatJson(report: BenchReport, o: BenchOptions): string {
  const native =
    'skipped' in report.native ? undefined : { compiler: report.native.compiler, flags: report.native.flags };
  const nativeRows = 'results' in report.native ? report.native.results : [];
  return resultDocument('bench ring', o, [...report.results, ...nativeRows], report.warnings, {
    native,
    ...('skipped' in report.native ? { nativeSkipped: report.native.skipped } : {}),
  });
}

/**
 * The `--json` document of every other benchmark and command: meta (how to
 * reproduce the run, on what machine), the rows, the noise warnings.
 */
export function jsonDocument(
  command: string,
  options: object,
  rows: readonly RowIdentity[],
  warnings: readonly NoiseWarning[] = [],
): string {
  return resultDocument(command, options, rows, warnings);
}

/** The processor as the benchmarks name it: model and core count. */
export function cpuName(): string {
  return `${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores)`;
}

/**
 * A benchmark's readable table: a title, the machine, then columns padded to
 * their widest cell, the first `textColumns` left-aligned and the numbers
 * right-aligned.
 */
export function textTable(
  title: string,
  head: string[],
  rows: string[][],
  textColumns: number,
  marks?: { names: readonly (string | readonly string[])[]; warnings: readonly NoiseWarning[] },
): string {
  // A `!` column first when a row has a noise warning (its footnote follows the table).
  if (marks && marks.warnings.some((w) => w.row !== undefined)) {
    const noisy = flagged(marks.warnings);
    const names = marks.names;
    head = ['!', ...head];
    rows = rows.map((r, i) => {
      const n = names[i] ?? [];
      return [(typeof n === 'string' ? [n] : n).some(noisy) ? '!' : '', ...r];
    });
    textColumns++;
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < textColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return (
    [
      title,
      `node ${process.version}, v8 ${process.versions.v8}, ${cpuName()}`,
      '',
      line(head),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
    ].join('\n') +
    '\n' +
    (marks ? footnote(marks.warnings) : '')
  );
}

/**
 * The item of median `key` over rounds: the lower middle one for an even
 * count, so a row is always one measured round, never an average of two.
 */
export function medianBy<T>(items: readonly T[], key: (t: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The median of measured values (the lower middle one for an even count). */
export function lowerMedian(xs: readonly number[]): number {
  return medianBy(xs, (x) => x);
}

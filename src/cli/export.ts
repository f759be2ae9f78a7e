// `--csv` and `--markdown` on every command that prints a result document
// (hyperfine's exports): the command runs as with `--json`, and its rows are
// flattened (nested fields as dotted columns, lists as JSON) into one table.
import type { Io } from './io.js';

type Cell = string | number | boolean | null;

/** A row's fields as flat columns: {a: {b: 1}} → {'a.b': 1}; lists stay whole, as JSON. */
export function flatten(
  row: Record<string, unknown>,
  prefix = '',
  out: Record<string, Cell> = {},
): Record<string, Cell> {
  for (const [k, v] of Object.entries(row)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
    else if (Array.isArray(v)) out[key] = JSON.stringify(v);
    else if (v === undefined) continue;
    else out[key] = v as Cell;
  }
  return out;
}

/** The rows as CSV (RFC 4180 quoting) or a Markdown table, columns in the order they first appear. */
export function exportTable(rows: readonly Record<string, unknown>[], format: 'csv' | 'markdown'): string {
  const flat = rows.map((r) => flatten(r));
  const cols: string[] = [];
  for (const r of flat) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cell = (v: Cell | undefined) => (v === undefined || v === null ? '' : String(v));
  if (format === 'csv') {
    const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [cols.map(q).join(','), ...flat.map((r) => cols.map((c) => q(cell(r[c]))).join(','))].join('\n') + '\n';
  }
  const md = (s: string) => s.replace(/\|/g, '\\|');
  return (
    [
      `| ${cols.map(md).join(' | ')} |`,
      `| ${cols.map(() => '---').join(' | ')} |`,
      ...flat.map((r) => `| ${cols.map((c) => md(cell(r[c]))).join(' | ')} |`),
    ].join('\n') + '\n'
  );
}

/**
 * Runs `run` with `--json` in place of `--csv`/`--markdown` and prints its
 * document's rows in that format instead. Whatever else the command writes
 * (stderr, progress) passes through.
 */
export async function asExport(
  argv: readonly string[],
  format: 'csv' | 'markdown',
  io: Io,
  run: (argv: string[], io: Io) => Promise<number>,
): Promise<number> {
  let json = '';
  const capture: Io = { ...io, out: (t) => void (json += t) };
  const code = await run(
    argv.map((a) => (a === `--${format}` ? '--json' : a)),
    capture,
  );
  if (json === '') return code;
  const doc = JSON.parse(json) as { rows?: Record<string, unknown>[] };
  io.out(exportTable(doc.rows ?? [], format));
  return code;
}

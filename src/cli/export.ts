// `--csv` and `--markdown` on every command that prints a result document
// (hyperfine's exports): the command runs as with `--json`, and its rows are
// flattened (nested fields as dotted columns, lists as JSON) into one table.
import { Option, type Command } from 'commander';
import type { Io } from './io.js';
import { UsageError } from './usage.js';

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

/** The commands whose --json document --csv and --markdown export (exportFlags marks them). */
const exportable = new WeakSet<Command>();

/** --csv and --markdown on a command that prints a result document with --json. */
export function exportFlags(
  c: Command,
  markdown = 'print the rows of the --json document as a Markdown table',
): Command {
  exportable.add(c);
  return c
    .addOption(new Option('--csv', 'print the rows of the --json document as CSV'))
    .addOption(new Option('--markdown', markdown));
}

/** The output format --json, --csv or --markdown asks for, if any; more than one is a UsageError. */
export function oneFormat(v: {
  csv?: boolean;
  markdown?: boolean;
  json?: boolean;
}): 'json' | 'csv' | 'markdown' | undefined {
  const asked = (['json', 'csv', 'markdown'] as const).filter((f) => v[f] === true);
  if (asked.length > 1) throw new UsageError(`--${asked.join(' and --')}: choose one export format`);
  return asked[0];
}

/**
 * The export --csv or --markdown asks `c` for, if any (a --list prints no
 * document: the command says what its flags do there).
 */
export function exportFormat(
  c: Command,
  v: { csv?: boolean; markdown?: boolean; json?: boolean; list?: boolean },
): 'csv' | 'markdown' | undefined {
  if (!exportable.has(c) || v.list === true) return undefined;
  const format = oneFormat(v);
  return format === 'json' ? undefined : format;
}

/**
 * Runs `run` (the command as with `--json`) and prints its document's rows
 * in `format` instead. Whatever else the command writes (stderr, progress)
 * passes through.
 */
export async function asExport(
  format: 'csv' | 'markdown',
  io: Io,
  run: (io: Io) => Promise<number> | number,
): Promise<number> {
  let json = '';
  const code = await run({ ...io, out: (t) => void (json += t) });
  if (json === '') return code;
  const doc = JSON.parse(json) as { rows?: Record<string, unknown>[] };
  io.out(exportTable(doc.rows ?? [], format));
  return code;
}

// Running one study across machines: `--shard i/n` runs the i-th of n slices
// of a study's grid (cases i-1, i-1+n, i-1+2n, ... in grid order), so an
// array job (a Kubernetes Indexed Job, a Slurm job array, GNU parallel) runs
// the slices at once; `vqsim merge` puts their JSON documents back together
// in grid order, checking that they are slices of one run.
import { readFileSync } from 'node:fs';
import { UsageError } from './usage.js';

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** `i/n` with 1 ≤ i ≤ n ≤ 10000. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!(count >= 1 && count <= 10000 && index >= 1 && index <= count)) {
    throw new UsageError(`--shard ${text}: must be i/n with 1 ≤ i ≤ n ≤ 10000 (e.g. 2/8)`);
  }
  return { index, count };
}

/** The cases of `shard`, each with its position in the whole grid. */
export function takeShard<T>(cases: readonly T[], shard: Shard | undefined): { item: T; position: number }[] {
  const all = cases.map((item, position) => ({ item, position }));
  return shard ? all.filter((c) => c.position % shard.count === shard.index - 1) : all;
}

/** What a sharded document carries so that merge can check and order it. */
export interface ShardInfo {
  /** The command and its options without --shard: equal in every slice of one run. */
  run: string;
  index: number;
  count: number;
  /** The grid position of each result, in order. */
  positions: number[];
}

export interface ShardedDocument {
  shard?: ShardInfo;
  rows: unknown[];
  [k: string]: unknown;
}

/**
 * The documents of every slice of one run, merged: rows in grid order,
 * the first document's other fields, no shard block. A missing or repeated
 * slice, or slices of different runs, is a UsageError naming the file.
 */
export function mergeDocuments(docs: readonly { file: string; doc: ShardedDocument }[]): ShardedDocument {
  if (docs.length === 0) throw new UsageError('merge: give the JSON documents of every shard');
  const first = docs[0]!;
  const info = first.doc.shard;
  if (!info) throw new UsageError(`merge: ${first.file} is not a shard (it was not run with --shard)`);
  const seen = new Map<number, string>();
  const byPosition = new Map<number, unknown>();
  for (const { file, doc } of docs) {
    const s = doc.shard;
    if (!s) throw new UsageError(`merge: ${file} is not a shard (it was not run with --shard)`);
    if (s.run !== info.run || s.count !== info.count) {
      throw new UsageError(`merge: ${file} is a slice of another run (${s.run}, ${s.count} shards) than ${first.file}`);
    }
    const other = seen.get(s.index);
    if (other !== undefined) throw new UsageError(`merge: ${file} and ${other} are both shard ${s.index}/${s.count}`);
    seen.set(s.index, file);
    if (s.positions.length !== doc.rows.length) {
      throw new UsageError(`merge: ${file} has ${doc.rows.length} rows for ${s.positions.length} grid positions`);
    }
    s.positions.forEach((p, k) => byPosition.set(p, doc.rows[k]));
  }
  const missing = Array.from({ length: info.count }, (_, k) => k + 1).filter((i) => !seen.has(i));
  if (missing.length > 0) throw new UsageError(`merge: shard ${missing.join(', ')} of ${info.count} missing`);
  const { shard: _drop, ...rest } = first.doc;
  void _drop;
  return { ...rest, rows: [...byPosition.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r) };
}

/** Reads and parses each file; one that cannot be read or is not a result document is a UsageError. */
export function readDocuments(files: readonly string[]): { file: string; doc: ShardedDocument }[] {
  return files.map((file) => {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UsageError(`merge: ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as ShardedDocument).rows)) {
      throw new UsageError(`merge: ${file}: not a vqsim result document (no rows array)`);
    }
    return { file, doc: doc as ShardedDocument };
  });
}

import { describe, expect, it } from 'vitest';
import { mergeDocuments, parseShard, takeShard, type ShardedDocument } from '../../src/cli/shard.js';

const grid = ['a', 'b', 'c', 'd', 'e'];
const slice = (index: number, count: number, run = 'study pool'): { file: string; doc: ShardedDocument } => {
  const part = takeShard(grid, { index, count });
  return {
    file: `s${index}.json`,
    doc: {
      meta: { x: 1 },
      shard: { run, index, count, positions: part.map((p) => p.position) },
      rows: part.map((p) => p.item),
    },
  };
};

describe('shards', () => {
  it('slice the grid round-robin and merge back in grid order', () => {
    expect(takeShard(grid, { index: 2, count: 2 }).map((c) => c.item)).toEqual(['b', 'd']);
    expect(takeShard(grid, undefined)).toHaveLength(5);
    const merged = mergeDocuments([slice(3, 3), slice(1, 3), slice(2, 3)]);
    expect(merged).toEqual({ meta: { x: 1 }, rows: grid });
  });

  it.each([
    ['0/4', '--shard 0/4: must be i/n with 1 ≤ i ≤ n ≤ 10000'],
    ['5/4', '--shard 5/4: must be i/n'],
    ['x', '--shard x: must be i/n'],
  ])('--shard %s is refused', (text, message) => {
    expect(() => parseShard(text)).toThrow(message);
  });

  it('refuses a missing, repeated or foreign slice, naming the files', () => {
    expect(() => mergeDocuments([slice(1, 3), slice(3, 3)])).toThrow('merge: shard 2 of 3 missing');
    expect(() => mergeDocuments([slice(1, 2), { ...slice(1, 2), file: 't.json' }])).toThrow(
      'merge: t.json and s1.json are both shard 1/2',
    );
    expect(() => mergeDocuments([slice(1, 2), slice(2, 2, 'study swiotlb')])).toThrow(
      'merge: s2.json is a slice of another run',
    );
    expect(() => mergeDocuments([{ file: 'x.json', doc: { rows: [] } }])).toThrow('merge: x.json is not a shard');
  });
});

describe('vqsim study --shard and vqsim merge', () => {
  it('the slices of a pool study, merged, are the whole grid run at once (counted, so exactly)', async () => {
    const { run } = await import('../helpers/cli.js');
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const grid = [
      'study',
      'pool',
      '--slots',
      '512,1024',
      '--areas',
      '1,2',
      '--queues',
      '1,3',
      '--sizes',
      '4096',
      '--depth',
      '8',
      '--steps',
      '8',
      '--json',
    ];
    const whole = JSON.parse((await run(...grid)).out) as { rows: { name: string }[] };
    const dir = mkdtempSync(join(tmpdir(), 'vqsim-shard-'));
    const files: string[] = [];
    for (const i of [3, 1, 2]) {
      const r = await run(...grid, '--shard', `${i}/3`);
      expect(r.code, r.err).toBe(0);
      const f = join(dir, `s${i}.json`);
      writeFileSync(f, r.out);
      files.push(f);
    }
    const html = join(dir, 'pool.html');
    const m = await run('merge', ...files, '--html', html);
    expect(m.code, m.err).toBe(0);
    const merged = JSON.parse(m.out) as { rows: { name: string }[]; shard?: unknown };
    expect(merged.shard).toBeUndefined();
    const strip = (rows: object[]) => rows.map((r) => JSON.stringify(r));
    expect(strip(merged.rows)).toEqual(strip(whole.rows));
    expect(readFileSync(html, 'utf8')).toContain('<canvas id="pool-full"');
    const missing = await run('merge', files[0]!, files[1]!);
    expect([missing.code, missing.err]).toEqual([2, 'vqsim: merge: shard 2 of 3 missing\n']);
  });

  it('--shard needs --json', async () => {
    const { run } = await import('../helpers/cli.js');
    const r = await run('study', 'pool', '--shard', '1/2');
    expect([r.code, r.err]).toEqual([
      2,
      "vqsim: --shard 1/2: needs --json (vqsim merge puts the slices' documents together)\n",
    ]);
  });
});

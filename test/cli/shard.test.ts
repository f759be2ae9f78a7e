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
      results: part.map((p) => p.item),
    },
  };
};

describe('shards', () => {
  it('slice the grid round-robin and merge back in grid order', () => {
    expect(takeShard(grid, { index: 2, count: 2 }).map((c) => c.item)).toEqual(['b', 'd']);
    expect(takeShard(grid, undefined)).toHaveLength(5);
    const merged = mergeDocuments([slice(3, 3), slice(1, 3), slice(2, 3)]);
    expect(merged).toEqual({ meta: { x: 1 }, results: grid });
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
    expect(() => mergeDocuments([{ file: 'x.json', doc: { results: [] } }])).toThrow('merge: x.json is not a shard');
  });
});

// --csv and --markdown on every command that prints a result document.
import { describe, expect, it } from 'vitest';
import { exportTable, flatten } from '../../src/cli/export.js';
import { run } from '../helpers/cli.js';

describe('exports', () => {
  it('flatten nested fields into dotted columns and quote as RFC 4180 says', () => {
    expect(flatten({ a: 1, b: { c: 'x', d: { e: true } }, f: [1, 2], g: undefined })).toEqual({
      a: 1,
      'b.c': 'x',
      'b.d.e': true,
      f: '[1,2]',
    });
    expect(
      exportTable(
        [
          { a: 'x,y', b: 1 },
          { a: 'q"t', c: 2 },
        ],
        'csv',
      ),
    ).toBe('a,b,c\n"x,y",1,\n"q""t",,2\n');
    expect(exportTable([{ a: 'p|q' }], 'markdown')).toBe('| a |\n| --- |\n| p\\|q |\n');
  });

  it('a benchmark with --csv prints its result rows as CSV, the same rows --json has', async () => {
    const args = [
      'bench',
      'blk',
      '--mode',
      'randread',
      '--queues',
      '1',
      '--ring',
      'split',
      '--time',
      '5',
      '--warmup',
      '0',
      '--quiet',
    ];
    const csv = await run(...args, '--csv');
    expect(csv.code).toBe(0);
    const lines = csv.out.trim().split('\n');
    expect(lines[0]).toMatch(/^bench,name,/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^blk,blk\/randread\//);
    const md = await run('attack', '--scenario', 'dma-write-read-only', '--markdown');
    expect(md.out.split('\n')[1]).toMatch(/^\| --- \|/);
    const both = await run('attack', '--json', '--csv');
    expect([both.code, both.err]).toEqual([2, 'vqsim: --json and --csv: choose one export format\n']);
  });
});

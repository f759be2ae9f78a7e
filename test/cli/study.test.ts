// `vqsim study swiotlb` on a small grid: measured rate and modeled cycles side
// by side; the counted events per operation are exact, so the cycles are too.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StudyRow } from '../../src/cli/study.js';
import { run } from '../helpers/cli.js';

const small = ['study', 'swiotlb', '--device', 'blk', '--ring', 'split', '--sizes', '4096', '--time', '5'];

describe('vqsim study swiotlb', () => {
  it('measures each deployment against traditional and models its cycles from the counted events', async () => {
    const r = await run(...small, '--deployment', 'cvm,hardware', '--json');
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: StudyRow[] }).rows;
    expect(rows.map((x) => x.deployment)).toEqual(['traditional', 'cvm', 'hardware']);
    const [trad, cvm, hw] = rows as [StudyRow, StudyRow, StudyRow];
    expect(trad.vsTraditional).toBe(1);
    for (const x of rows) expect(x.opsPerSec).toBeGreaterThan(0);
    // A 4 KiB write: header (16) + data (4096) out, status (1) in... bounced through swiotlb
    // in the CVM: every byte of the request copied once each way it travels.
    expect(trad.perOp.bounceBytes).toBe(0);
    expect(cvm.perOp.bounceBytes).toBe(4096 + 64);
    expect(cvm.perOp.slotSearches).toBe(cvm.perOp.slotReleases);
    expect(cvm.costProfile).toBe('sev-snp');
    expect(cvm.cyclesBy.bounceCopy).toBeCloseTo(cvm.perOp.bounces * 140 + cvm.perOp.bounceBytes * 0.1, 6);
    expect(cvm.cyclesBy.swiotlbSearch).toBeCloseTo(cvm.perOp.slotSearches * 367, 6);
    expect(cvm.cyclesBy.interrupts).toBeCloseTo(cvm.perOp.interrupts * 7500, 6);
    expect(hw.cyclesBy.swiotlbSearch).toBe(0);
    expect(hw.perOp.iotlbMisses).toBeGreaterThan(0);
    expect(trad.costProfile).toBe('traditional');
  });

  it('says which sizes a device cannot take, and exports CSV and Markdown', async () => {
    const r = await run(
      'study',
      'swiotlb',
      '--device',
      'net,blk',
      '--ring',
      'split',
      '--sizes',
      '64,262144',
      '--deployment',
      'traditional',
      '--time',
      '5',
      '--csv',
    );
    expect(r.code).toBe(0);
    expect(r.err).toContain('net 262144 B: skipped (frames stop at 65535 bytes)');
    expect(r.err).toContain('blk 64 B: skipped (requests are whole 512-byte sectors)');
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^device,ring,deployment,dma,size,opsPerSec,vsTraditional,.*,cycles,cycles.exits/);
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 5).join(','))).toEqual([
      'net,split,traditional,direct,64',
      'blk,split,traditional,direct,262144',
    ]);
    const md = await run(...small, '--deployment', 'traditional', '--markdown');
    expect(md.out.split('\n')[1]).toMatch(/^\| --- \| --- /);
  });

  it('--cost replaces the profile for every row', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vqsim-study-')), 'cost.json');
    writeFileSync(file, JSON.stringify({ extends: 'traditional', chain: 0, exit: 0, interrupt: 0 }));
    const r = await run(...small, '--deployment', 'traditional', '--cost', file, '--json');
    const [row] = (JSON.parse(r.out) as { rows: StudyRow[] }).rows;
    expect(row!.costProfile).toBe('traditional (from --cost)');
    expect(row!.cycles).toBe(0);
  });

  it.each([
    [['--sizes', '32'], '--sizes 32: must be sizes in bytes from 64 to 262144'],
    [['--deployment', 'moon'], '--deployment moon: must be traditional, hardware'],
    [['--json', '--csv'], '--json and --csv: choose one export format'],
    [['--cost', '/nonexistent/c.json'], '--cost /nonexistent/c.json: cannot read it (ENOENT)'],
  ])('%j: one line, exit 2', async (args, message) => {
    const r = await run('study', 'swiotlb', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown study: exit 2', async () => {
    const r = await run('study', 'pools');
    expect([r.code, r.err]).toEqual([2, 'vqsim: unknown study pools: must be swiotlb or pool (did you mean pool?)\n']);
  });
});

describe('vqsim study pool', () => {
  it('counts, deterministically, the maps that found no room when the queues want more than the pool holds', async () => {
    // 1 MiB = 16 buffers of 64 KiB: two queues of 8 fit, a third finds no room
    // at fill (8 failures) and at each of the 4 steps (1 each).
    const args = 'study pool --slots 512 --areas 1 --queues 2,3 --sizes 65536 --depth 8 --steps 4 --json'.split(' ');
    const r = await run(...args);
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: Record<string, number>[] }).rows;
    expect(rows.map((x) => [x.queues, x.maps, x.full, x.usedHiwater])).toEqual([
      [2, 16 + 2 * 4, 0, 512],
      [3, 24 + 3 * 4, 12, 512],
    ]);
    expect(rows[0]!.areasTriedPerMap).toBe(1);
    const again = await run(...args);
    expect((JSON.parse(again.out) as { rows: unknown[] }).rows).toEqual(rows);
  });

  it('a flag of another study: one line, exit 2', async () => {
    const r = await run('study', 'pool', '--deployment', 'cvm');
    expect([r.code, r.err]).toEqual([
      2,
      'vqsim: --deployment: not an option of study pool (vqsim study pool --help)\n',
    ]);
  });
});

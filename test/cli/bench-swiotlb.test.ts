// `vqsim bench swiotlb`: its rows, JSON document and flag errors (figures are
// not checked: the machine's load decides them).
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';
import type { SwiotlbCopyRow, SwiotlbMapRow } from '../../src/cli/bench/swiotlb.js';

const quick = ['--time', '5', '--rounds', '1', '--slots', '2048', '--copy-sizes', '64,1500'];

describe('vqsim bench swiotlb', () => {
  it('prints map+unmap rows at each utilisation and bounce copy rows, as JSON', { timeout: 60_000 }, async () => {
    const r = await run('bench', 'swiotlb', ...quick, '--utilisation', '10,90', '--sizes', '64,4096', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { meta: { node: string }; rows: (SwiotlbMapRow | SwiotlbCopyRow)[] };
    expect(doc.meta.node).toBe(process.version);
    const maps = doc.rows.filter((x): x is SwiotlbMapRow => x.kind === 'map');
    const copies = doc.rows.filter((x): x is SwiotlbCopyRow => x.kind === 'copy');
    expect(maps.map((m) => [Math.round(m.utilisation * 10), m.size])).toEqual([
      [1, 64],
      [1, 4096],
      [9, 64],
      [9, 4096],
    ]);
    for (const m of maps) {
      expect(m).toMatchObject({ slots: 2048, areas: 1, rounds: 1 });
      expect(m.nsPerMapUnmap).toBeGreaterThan(0);
      expect(m.nsPerSearchRelease).toBeGreaterThan(0);
      expect(m.slotsScannedPerMap).toBeGreaterThanOrEqual(1);
    }
    // A fuller pool makes the search check more slots.
    expect(maps[2]!.slotsScannedPerMap).toBeGreaterThan(maps[0]!.slotsScannedPerMap);
    expect(copies.map((c) => c.size)).toEqual([64, 1500]);
    for (const c of copies) {
      expect(c.bounceGBps).toBeGreaterThan(0);
      expect(c.copyRatio).toBeCloseTo(c.bounceGBps / c.copyGBps, 9);
    }
  });

  it('prints a table, its help, and one line naming a bad flag', async () => {
    const r = await run('bench', 'swiotlb', ...quick, '--utilisation', '50', '--sizes', '64');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/vqsim bench swiotlb: 2048 slots \(4 MiB\), 1 area/);
    expect(r.out).toMatch(/ns\/map\+unmap/);
    expect(r.out).toMatch(/bounce GB\/s/);
    const h = await run('bench', 'swiotlb', '--help');
    expect(h.out).toMatch(/Usage: vqsim bench swiotlb/);
    for (const [argv, msg] of [
      [['--utilisation', '96'], /--utilisation 96: must be whole percentages from 0 to 95/],
      [['--sizes', '0'], /--sizes 0: must be whole numbers of bytes from 1 to 262144/],
      [['--slots', '100'], /--slots 100: must be one whole number of slots from 512 to 524288/],
      [['--rounds', '0'], /--rounds 0: must be a whole number from 1 to 50/],
      [['--frob'], /unknown flag --frob/],
    ] as const) {
      const bad = await run('bench', 'swiotlb', ...argv);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(msg);
      expect(bad.err.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});

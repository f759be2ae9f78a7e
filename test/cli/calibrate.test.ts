// `vqsim calibrate`: this machine's swiotlb costs as a cost file the study reads.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitLine } from '../../src/cli/calibrate.js';
import { COST_PROFILES, parseCostModel } from '../../src/sim/cost.js';
import { run } from '../helpers/cli.js';

describe('vqsim calibrate', () => {
  it('fits cycles per call and per byte: exact on a line, whatever the scale of the points', () => {
    const xs = [64, 1024, 262144];
    expect(
      fitLine(
        xs,
        xs.map((x) => 12 + 0.02 * x),
      ),
    ).toEqual({ a: expect.closeTo(12, 9), b: expect.closeTo(0.02, 12) });
  });

  it("writes a cost file the cost model reads: the measured fields in cycles at the clock given, the rest the profile's", async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vqsim-cal-')), 'cost.json');
    const r = await run('calibrate', '--time', '10', '--ghz', '2', '--profile', 'tdx', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*cost\.json \(tdx, 2\.00 GHz\)/);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown> & {
      calibration: { ghz: number; nsPerSearch: number; nsPerRelease: number; nsPerCopy: Record<string, number> };
    };
    const m = parseCostModel(doc, out);
    expect(m.profile).toBe('tdx');
    expect(m.interrupt).toBe(COST_PROFILES.tdx.interrupt);
    expect(doc.calibration.ghz).toBe(2);
    expect(m.slotSearch).toBeCloseTo(doc.calibration.nsPerSearch * 2, 2);
    expect(m.slotRelease).toBeCloseTo(doc.calibration.nsPerRelease * 2, 2);
    expect(m.slotSearch).toBeGreaterThan(0);
    expect(Object.keys(doc.calibration.nsPerCopy)).toEqual(['64', '256', '1024', '4096', '16384', '65536', '262144']);
  });

  it.each([
    [['--ghz', '0.1'], '--ghz 0.1: must be a clock in GHz from 0.5 to 10'],
    [['--profile', 'sev'], '--profile sev: must be one of traditional, sev-snp, tdx'],
    [['--time', '5'], '--time 5: must be a number of milliseconds from 10 to 60000 (or with a unit: 500ms, 2s)'],
  ])('%j: one line, exit 2', async (args, message) => {
    const r = await run('calibrate', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });
});

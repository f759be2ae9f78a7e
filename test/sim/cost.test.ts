// The cost model: counted events → modeled cycles per category, with
// defaults from the published figures and overrides from a validated file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  COST_FIELDS,
  COST_PROFILES,
  COST_SOURCES,
  loadCostModel,
  modelCycles,
  parseCostModel,
  profileFor,
} from '../../src/sim/cost.js';
import type { EventTotals } from '../../src/sim/per-op.js';

const events: EventTotals = {
  exits: 2,
  configAccesses: 1,
  chains: 4,
  interrupts: 3,
  bounceBytes: 10000,
  bounces: 5,
  slotSearches: 6,
  slotsScanned: 40,
  slotReleases: 6,
  iotlbMisses: 7,
  conversions: 1,
  cryptBytes: 300,
};

describe('the cost model', () => {
  it('charges each category its events times the cycles per event', () => {
    const m = COST_PROFILES['sev-snp'];
    const { cycles, cyclesBy } = modelCycles(events, m);
    expect(cyclesBy).toEqual({
      exits: 3 * 1000,
      interrupts: 3 * 7500,
      swiotlbSearch: 6 * 367,
      swiotlbRelease: 6 * 306,
      bounceCopy: 5 * 140 + 10000 * 0.1,
      iotlbMisses: 7 * 300,
      conversions: 20000,
      encryption: 300 * 1,
      processing: 4 * 1000,
    });
    expect(cycles).toBe(Object.values(cyclesBy).reduce((a, b) => a + b, 0));
  });

  it('the profiles differ where the sources do: interrupt injection into a SEV-SNP CVM (Bifrost: 7,500 cycles)', () => {
    expect(COST_PROFILES['sev-snp'].interrupt).toBe(7500);
    expect(COST_PROFILES.tdx.interrupt).toBe(COST_PROFILES.tdx.exit);
    expect(profileFor('sev')).toBe('sev-snp');
    expect(profileFor('tdx')).toBe('tdx');
    expect(profileFor('none')).toBe('traditional');
    for (const f of COST_FIELDS) expect(COST_SOURCES[f].length, f).toBeGreaterThan(10);
  });

  it('a file extends a profile and overrides fields', () => {
    const m = parseCostModel({ extends: 'tdx', bounceByte: 0.5, calibration: { ghz: 3 } }, 'c.json');
    expect(m).toEqual({ ...COST_PROFILES.tdx, bounceByte: 0.5 });
    expect(parseCostModel({}).profile).toBe('sev-snp');
  });

  it.each([
    [[], 'c.json: must be a JSON object'],
    [{ extends: 'sev' }, 'c.json: "extends": "sev" is not one of traditional, sev-snp, tdx'],
    [{ exitt: 5 }, 'c.json: unknown field "exitt": the fields are extends, calibration, exit, interrupt'],
    [{ exit: -1 }, 'c.json: "exit": -1 must be a number of cycles, 0 or more'],
    [{ exit: '5' }, 'c.json: "exit": "5" must be a number of cycles, 0 or more'],
  ])('%j: a ConfigError naming the file and the field', (doc, message) => {
    expect(() => parseCostModel(doc, 'c.json')).toThrow(ConfigError);
    expect(() => parseCostModel(doc, 'c.json')).toThrow(message);
  });

  it('loads a file, and names it when it is missing or not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vqsim-cost-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ extends: 'traditional', chain: 10 }));
    expect(loadCostModel(good).chain).toBe(10);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadCostModel(bad)).toThrow(`${bad}: not JSON`);
    expect(() => loadCostModel(join(dir, 'missing.json'))).toThrow(/cannot read it \(ENOENT\)/);
  });
});

describe('machine.modeledCost()', () => {
  it('models what the machine counted: a CVM write of 4 KiB costs bounce copies and swiotlb slots, a traditional one none', async () => {
    const { createMachine } = await import('../../src/internal.js');
    const cost = (deployment: 'traditional' | 'cvm') => {
      const m = createMachine({ deployment, devices: [{ kind: 'blk', capacityBytes: 1 << 20 }] });
      const before = m.modeledCost().events;
      m.blk().driver.write(0, new Uint8Array(4096).fill(1));
      const c = m.modeledCost(undefined, before);
      m.close();
      return c;
    };
    const trad = cost('traditional');
    const cvm = cost('cvm');
    expect(trad.cyclesBy.bounceCopy).toBe(0);
    expect(trad.events.chains).toBe(1);
    expect(cvm.events.bounceBytes).toBeGreaterThanOrEqual(4096);
    expect(cvm.cyclesBy.swiotlbSearch).toBe(cvm.events.slotSearches * COST_PROFILES['sev-snp'].slotSearch);
    expect(cvm.cycles).toBeGreaterThan(trad.cycles);
  });
});

import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_NAMES } from '../../src/sim/deployments.js';
import { catalogue } from '../../src/trust/catalogue/index.js';
import { protectScenarios } from '../../src/trust/scenarios/protect.js';
import { scenarios } from '../../src/trust/scenarios/index.js';

const SEED = 0x5eed11;

// What the naive side (protection off) really suffers under each lie, 3 frames
// of 512 bytes (net) or 8 KiB written at sector 64 (blk, twice for the
// replay), seed 0x5eed11: the device reads every payload byte, and the bytes
// the lie changed reach the guest's buffers (a replayed or moved frame differs
// from the one expected in all but the bytes equal by chance; zeroing 8 bytes
// of each of 3 frames changes 23 where one byte was already 0).
const naive: Record<string, { leaked: number; corrupted: number }> = {
  'protect-net-tamper': { leaked: 3 * 512, corrupted: 64 },
  'protect-net-replay': { leaked: 3 * 512, corrupted: 508 },
  'protect-net-reorder': { leaked: 3 * 512, corrupted: 1016 },
  'protect-net-drop': { leaked: 3 * 512, corrupted: 1018 },
  'protect-net-length': { leaked: 3 * 512, corrupted: 23 },
  'protect-blk-tamper': { leaked: 8192, corrupted: 64 },
  'protect-blk-replay': { leaked: 2 * 8192, corrupted: 8162 },
};

describe('protect scenarios', () => {
  it('cover every protect-layer catalogue entry and are listed with the others', () => {
    const ids = catalogue.filter((v) => v.layer === 'protect').map((v) => v.id);
    expect(ids.length).toBe(6);
    for (const id of ids)
      expect(
        protectScenarios.some((s) => s.violation === id),
        id,
      ).toBe(true);
    for (const s of protectScenarios) expect(scenarios).toContain(s);
  });

  for (const s of protectScenarios) {
    for (const deployment of ['traditional', 'cvm'] as const) {
      it(`${s.id} (${deployment}): protection on detects ${s.violation}; off, the lie goes through`, async () => {
        const on = await s.run({ deployment, hardened: true, seed: SEED });
        expect(on, `seed ${SEED}`).toMatchObject({
          detected: true,
          violation: s.violation,
          reaction: s.id.startsWith('protect-net') ? 'broken' : 'failed',
          bytesLeaked: 0,
          bytesCorrupted: 0,
          hung: false,
        });
        const off = await s.run({ deployment, hardened: false, seed: SEED });
        expect(off.detected, `seed ${SEED}`).toBe(false);
        expect(off.reaction).toBe('none');
        expect(off.hung).toBe(false);
        expect({ leaked: off.bytesLeaked, corrupted: off.bytesCorrupted }, `seed ${SEED}`).toEqual(naive[s.id]);
        // Deterministic from the seed.
        expect(await s.run({ deployment, hardened: false, seed: SEED })).toEqual(off);
      });
    }
  }

  it('run in every deployment, with the same damage off and none on', async () => {
    for (const deployment of DEPLOYMENT_NAMES) {
      for (const s of protectScenarios) {
        const on = await s.run({ deployment, hardened: true, seed: SEED });
        expect([on.violation, on.bytesLeaked, on.bytesCorrupted], `${s.id} ${deployment}`).toEqual([s.violation, 0, 0]);
        const off = await s.run({ deployment, hardened: false, seed: SEED });
        expect({ leaked: off.bytesLeaked, corrupted: off.bytesCorrupted }, `${s.id} ${deployment}`).toEqual(
          naive[s.id],
        );
      }
    }
  });
});

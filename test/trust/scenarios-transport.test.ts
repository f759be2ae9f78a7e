// The transport, config and interrupt scenarios (src/trust/scenarios/transport.ts,
// interrupt.ts): each run hardened (the victim names the catalogue entry, no
// hang) and naive (what the trusting victim really suffers), from a fixed seed.
import { describe, expect, it } from 'vitest';
import { interruptViolations } from '../../src/trust/catalogue/interrupt.js';
import { transportViolations } from '../../src/trust/catalogue/transport.js';
import { interruptScenarios } from '../../src/trust/scenarios/interrupt.js';
import { transportScenarios } from '../../src/trust/scenarios/transport.js';
import type { AttackOutcome } from '../../src/trust/attack/types.js';

const SEED = 0x5eed1234;
const all = [...transportScenarios, ...interruptScenarios];

async function run(id: string, hardened: boolean, seed = SEED): Promise<AttackOutcome> {
  const s = all.find((x) => x.id === id);
  if (!s) throw new Error(`no scenario ${id}`);
  return s.run({ deployment: 'traditional', hardened, seed });
}

describe('transport and interrupt scenarios', () => {
  it('cover every transport, config and interrupt entry of the catalogue', () => {
    const ids = [...transportViolations, ...interruptViolations].map((v) => v.id);
    expect(new Set(all.map((s) => s.violation))).toEqual(new Set(ids));
  });

  it.each(all.map((s) => [s.id, s.violation] as const))('%s: hardened, the victim names %s', async (id, v) => {
    const o = await run(id, true);
    expect(o, `seed ${SEED}`).toMatchObject({ detected: true, violation: v, hung: false, bytesCorrupted: 0 });
  });
});

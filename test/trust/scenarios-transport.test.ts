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

  // What the trusting victim suffers: a hang (a simulator budget ended it), a crash, RAM spent, or
  // a lie it went on believing (reaction 'none'); a few checks no driver can skip stay named.
  const naive: Record<string, [Partial<AttackOutcome>, RegExp]> = {
    'transport-no-version-1': [{ detected: false, hung: true }, /accepted 0x20000000/],
    'transport-features-refused': [{ detected: false, hung: true }, /DRIVER_OK write was refused/],
    'transport-bad-magic': [{ detected: false, hung: false }, /a chain on queue 0 completed/],
    'transport-bad-version': [{ detected: false, hung: false }, /a chain on queue 0 completed/],
    'transport-missing-capability': [{ detected: true, violation: 'MISSING_CAPABILITY' }, /no NOTIFY_CFG/],
    'transport-queue-unavailable': [{ detected: true, violation: 'QUEUE_SIZE' }, /size 0 is not usable/],
    'transport-queue-size': [{ detected: false, hung: false }, /used 64 entries/],
    'transport-queue-enable-refused': [{ detected: false, hung: false }, /not enabled/],
    'transport-msix-vector-refused': [{ detected: false, hung: false }, /no use for/],
    'transport-reset-timeout': [{ detected: false, hung: true }, /after 100000 reads/],
    'transport-device-failed': [{ detected: false, hung: false }, /asked to be reset/],
    'config-unstable': [{ detected: false, hung: true }, /each of 100000 reads/],
    'config-value-width': [{ detected: false, hung: false }, /read 4294967297, -1, 1.5, NaN/],
    'transport-bad-notify-offset': [{ detected: false, hung: true }, /nothing writable there/],
    'transport-features-changed': [{ detected: false, hung: false }, /offer changed/],
    'transport-features-mismatch': [{ detected: false, hung: false }, /never reads them back/],
    'transport-queues-capped': [{ detected: false, hung: false }, /ran out setting up 64 queues/],
    'irq-not-ready': [{ detected: false, hung: false }, /ran 2 time/],
    'irq-storm': [{ detected: false, hung: false }, /ran 100000 times for nothing; line left on/],
    'config-irq-storm': [{ detected: false, hung: false }, /crashed after \d+ nested config handlers \(RangeError/],
  };

  it('every scenario has a naive expectation', () => {
    expect(Object.keys(naive).sort()).toEqual(all.map((s) => s.id).sort());
  });

  it.each(Object.entries(naive))('%s: naive', async (id, [want, note]) => {
    const o = await run(id, false);
    expect(o, `seed ${SEED}`).toMatchObject({ ...want, bytesLeaked: 0, bytesCorrupted: 0 });
    expect(o.note, `seed ${SEED}`).toMatch(note);
  });

  it('hardened: the clamps say so, the rest fail the probe', async () => {
    const clamps = ['CONFIG_VALUE_WIDTH', 'QUEUES_CAPPED', 'IRQ_NOT_READY', 'IRQ_STORM', 'CONFIG_IRQ_STORM'];
    for (const s of all) {
      const o = await run(s.id, true);
      expect(o.reaction, s.id).toBe(clamps.includes(s.violation) ? 'clamped' : 'failed');
    }
  });

  it('is deterministic from the seed, and the seed picks the lie', async () => {
    for (const s of all) expect(await run(s.id, false, 7), s.id).toEqual(await run(s.id, false, 7));
    const notes = await Promise.all(
      [1, 2, 3].map(async (seed) => (await run('transport-bad-notify-offset', true, seed)).note),
    );
    expect(new Set(notes).size).toBe(3);
  });
});

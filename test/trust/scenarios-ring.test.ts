import { describe, expect, it } from 'vitest';
import { catalogue } from '../../src/trust/catalogue/index.js';
import { ringScenarios } from '../../src/trust/scenarios/ring.js';
import type { AttackOutcome } from '../../src/trust/attack/types.js';

// What the naive side of each ring scenario really suffers, measured by the
// scenario (Damage canaries and secrets, the simulator's budgets). Seeds
// below; a run with another seed moves at most which canary bytes happen to
// match the device's random payload.
const naive: Record<string, Partial<AttackOutcome> & { note?: string }> = {
  'split-used-id-out-of-range': { bytesCorrupted: 255, note: 'completed token 7 1 time(s)' },
  'packed-used-id-out-of-range': { bytesCorrupted: 255, note: 'completed token 7 8 time(s)' },
  'split-used-id-not-a-head': { bytesCorrupted: 255, note: 'completed token 7 1 time(s)' },
  'packed-used-id-not-a-head': { bytesCorrupted: 255, note: 'completed token 7 8 time(s)' },
  'split-used-idx-jump': { note: 'completed token 1 2 times (one chain in flight); numFree 5 of 4' },
  'split-used-len-exceeds-buflen': { bytesLeaked: 3840, note: 'delivered 4096 bytes from a 256-byte buffer' },
  'packed-used-len-exceeds-buflen': { bytesLeaked: 3840, note: 'delivered 4096 bytes from a 256-byte buffer' },
  'packed-used-wrap-mismatch': { hung: true, note: 'never saw the completion' },
  'split-avail-idx-jump': { note: 'popped 8 chains from 8 descriptors' },
  'split-avail-head-out-of-range': { note: 'head 9 taken as head 1' },
  'split-desc-next-out-of-range': { note: 'next 10 taken as descriptor 2' },
  'split-desc-loop': { hung: true, note: 'still going after 1024 descriptors' },
  'split-zero-length-buffer': { note: 'popped 1 chain(s) with a zero-length descriptor' },
  'split-desc-order': { note: 'popped 1 chain(s) with a readable buffer after a writable one' },
  'split-indirect-bad-length': { note: 'popped 1 chain(s) from a 24-byte table' },
  'split-indirect-too-big': { note: 'popped 1 chain(s) of 9 descriptors in a queue of 8' },
  'split-indirect-nested': { note: 'popped 1 chain(s), the nested table taken as a data buffer' },
  'split-indirect-not-negotiated': { note: 'popped 1 chain(s) through a table' },
  'split-chain-length-overflow': { note: 'writable length wrapped to 67108864 bytes' },
  'split-virtqueue-size-exceeded': { note: '5 chains in flight in a ring of 4' },
  'split-too-many-descriptors': { note: 'popped 1 chain(s) of 1025 descriptors' },
  'packed-avail-id-in-use': { note: 'popped 2 buffers with the same id 0 (2 in flight)' },
  // The DMA context's check (the table is translated as one run): a naive ring keeps it.
  'split-indirect-not-contiguous': { detected: true },
};

const seeds = [42, 7, 0x5eed];

describe('ring attack scenarios', () => {
  it('cover every ring-layer catalogue entry', () => {
    const covered = new Set(ringScenarios.map((s) => s.violation));
    const ring = catalogue.filter((v) => v.layer === 'ring').map((v) => v.id);
    expect(ring.filter((id) => !covered.has(id))).toEqual([]);
    for (const s of ringScenarios) {
      const v = catalogue.find((c) => c.id === s.violation && c.side === s.attacker);
      expect(v?.layer, s.id).toBe('ring');
    }
    expect(Object.keys(naive).sort()).toEqual(ringScenarios.map((s) => s.id).sort());
  });

  for (const s of ringScenarios) {
    it(`${s.id}: the hardened victim names ${s.violation} and is not hurt`, async () => {
      for (const seed of seeds) {
        const o = await s.run({ deployment: s.deployments?.[0] ?? 'traditional', hardened: true, seed });
        expect(o, `seed ${seed}`).toMatchObject({
          detected: true,
          violation: s.violation,
          reaction: 'broken',
          bytesLeaked: 0,
          bytesCorrupted: 0,
          hung: false,
        });
      }
    });

    it(`${s.id}: the naive victim believes it and suffers what the check prevents`, async () => {
      const want = naive[s.id]!;
      const deployment = s.deployments?.[0] ?? 'traditional';
      const o = await s.run({ deployment, hardened: false, seed: seeds[0]! });
      if (want.detected) {
        expect(o).toMatchObject({ detected: true, violation: s.violation, bytesLeaked: 0, bytesCorrupted: 0 });
        return;
      }
      expect(o.detected).toBe(false);
      expect(o.reaction).toBe('none');
      expect(o.bytesLeaked).toBe(want.bytesLeaked ?? 0);
      expect(o.bytesCorrupted).toBe(want.bytesCorrupted ?? 0);
      expect(o.hung).toBe(want.hung ?? false);
      expect(o.note).toContain(want.note);
      // Deterministic from the seed.
      expect(await s.run({ deployment, hardened: false, seed: seeds[0]! })).toEqual(o);
    });
  }

  it('for every seed, the buffer a naive driver freed while the device held it is overwritten', async () => {
    const s = ringScenarios.find((x) => x.id === 'split-used-id-not-a-head')!;
    for (const seed of seeds) {
      const o = await s.run({ deployment: 'traditional', hardened: false, seed });
      // 256 canary bytes, overwritten by 256 random bytes: a chance match is 1 in 256 per byte.
      expect(o.bytesCorrupted, `seed ${seed}`).toBeGreaterThan(240);
    }
  });
});

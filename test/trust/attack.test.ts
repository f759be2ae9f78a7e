// The attack runner and `vqsim attack`, on the DMA-layer scenarios: what each
// deployment's DMA context makes of a device reaching for memory it was never
// given, and of a driver handing a device an address it may not reach.
import { describe, expect, it } from 'vitest';
import { attacksPassed, runAttacks, runOne, verdictOf, type AttackRow } from '../../src/trust/attack/run.js';
import { Damage } from '../../src/trust/attack/damage.js';
import type { Scenario } from '../../src/trust/attack/types.js';
import { dmaScenarios } from '../../src/trust/scenarios/dma.js';
import { GuestMemory } from '../../src/internal.js';
import { run } from '../helpers/cli.js';

const key = (r: AttackRow) => `${r.scenario} ${r.deployment} ${r.side}`;

describe('DMA-layer attacks, every deployment', () => {
  it('a device reading or writing a private page it was never given: what each deployment lets through', async () => {
    const rows = await runAttacks({ scenarios: ['dma-read-private', 'dma-write-private'], seed: 1 });
    const got = Object.fromEntries(
      rows.map((r) => [key(r), [r.verdict, r.violation, r.bytesLeaked, r.bytesCorrupted]]),
    );
    const trusted = ['traditional', 'vhost-user', 'cvm-tdisp'];
    for (const d of ['traditional', 'vhost-user', 'vduse', 'hardware', 'cvm', 'cvm-tdisp']) {
      // The naive guest mapped the page for the device: it reads the whole secret, and its write lands.
      expect(got[`dma-read-private ${d} naive`]).toEqual(['damage', null, 4096, 0]);
      expect(got[`dma-write-private ${d} naive`]).toEqual(['damage', null, 0, 256]);
      if (trusted.includes(d)) {
        expect(got[`dma-read-private ${d} hardened`]).toEqual(['trusted', null, 4096, 0]);
        expect(got[`dma-write-private ${d} hardened`]).toEqual(['trusted', null, 0, 256]);
      }
    }
    for (const d of ['vduse', 'hardware']) {
      expect(got[`dma-read-private ${d} hardened`]).toEqual(['detected', 'DMA_FAULT', 0, 0]);
      expect(got[`dma-write-private ${d} hardened`]).toEqual(['detected', 'DMA_FAULT', 0, 0]);
    }
    // Confidential memory: the read is ciphertext (nothing leaked, nothing to name); SEV-SNP's RMP refuses the write.
    expect(got['dma-read-private cvm hardened']).toEqual(['contained', null, 0, 0]);
    expect(got['dma-write-private cvm hardened']).toEqual(['detected', 'DMA_FAULT', 0, 0]);
    expect(attacksPassed(rows)).toBe(true);
  });

  it('a driver handing the device an address it may not reach: the device names it and stops, nothing changed', async () => {
    const rows = await runAttacks({
      scenarios: dmaScenarios.filter((s) => s.attacker === 'driver' && s.id !== 'dma-ring-unmappable').map((s) => s.id),
    });
    expect(rows.every((r) => r.side === 'hardened')).toBe(true);
    const got = Object.fromEntries(
      rows.map((r) => [`${r.scenario} ${r.deployment}`, [r.verdict, r.violation, r.reaction]]),
    );
    expect(got).toEqual({
      'dma-outside-ram traditional': ['detected', 'ADDRESS_OUTSIDE_GUEST_RAM', 'broken'],
      'dma-outside-ram vhost-user': ['detected', 'ADDRESS_OUTSIDE_GUEST_RAM', 'broken'],
      'dma-outside-ram cvm': ['detected', 'ADDRESS_OUTSIDE_GUEST_RAM', 'broken'],
      'dma-outside-ram cvm-tdisp': ['detected', 'ADDRESS_OUTSIDE_GUEST_RAM', 'broken'],
      // VDUSE's bounce pages stay the device's after an unmap: the write lands there, not in the guest.
      'dma-stale-iova vduse': ['contained', null, 'none'],
      'dma-stale-iova hardware': ['detected', 'DMA_UNMAPPED', 'broken'],
      'dma-write-read-only hardware': ['detected', 'DMA_PERMISSION', 'broken'],
      'dma-write-private-rmp cvm': ['detected', 'DMA_RMP_VIOLATION', 'broken'],
      'dma-private-page traditional': ['detected', 'DMA_PRIVATE_PAGE', 'broken'],
      'dma-staging-overflow traditional': ['detected', 'DMA_STAGING_FULL', 'broken'],
    });
    expect(rows.every((r) => r.bytesCorrupted === 0 && r.bytesLeaked === 0 && !r.hung)).toBe(true);
  });

  it('a ring programmed where the device cannot map it: "Cannot map descriptor ring", NEEDS_RESET, in every deployment', async () => {
    const rows = await runAttacks({ scenarios: ['dma-ring-unmappable'] });
    expect(rows).toHaveLength(6);
    for (const r of rows)
      expect(r).toMatchObject({ verdict: 'detected', violation: 'RING_UNMAPPABLE', reaction: 'broken' });
  });

  it('an accepted TDISP device that changes its locked configuration can do no more DMA', async () => {
    const [row] = await runAttacks({ scenarios: ['dma-tdi-error'] });
    expect(row).toMatchObject({
      deployment: 'cvm-tdisp',
      verdict: 'detected',
      violation: 'DMA_BLOCKED',
      attacker: 'device',
    });
  });

  it('is deterministic: the same seed gives the same rows', async () => {
    const a = await runAttacks({ scenarios: ['dma-write-private'], deployments: ['traditional'], seed: 42 });
    const b = await runAttacks({ scenarios: ['dma-write-private'], deployments: ['traditional'], seed: 42 });
    expect(a).toEqual(b);
  });
});

describe('verdicts', () => {
  const s: Scenario = { id: 'x', violation: 'USED_ID_OUT_OF_RANGE', attacker: 'device', title: 't', run: () => none };
  const none = { detected: false, reaction: 'none', bytesLeaked: 0, bytesCorrupted: 0, hung: false } as const;
  it('a hardened side that names another violation, or lets harm through, missed it', () => {
    expect(verdictOf(s, 'hardened', { ...none, detected: true, violation: 'DESC_LOOP' })).toBe('missed');
    expect(verdictOf(s, 'hardened', { ...none, bytesCorrupted: 1 })).toBe('missed');
    expect(verdictOf(s, 'hardened', { ...none, hung: true })).toBe('missed');
    expect(verdictOf(s, 'hardened', none)).toBe('contained');
    expect(verdictOf(s, 'naive', { ...none, bytesLeaked: 8 })).toBe('damage');
    expect(attacksPassed([{ side: 'hardened', verdict: 'missed' } as AttackRow])).toBe(false);
    expect(attacksPassed([{ side: 'naive', verdict: 'damage' } as AttackRow])).toBe(true);
  });

  it('a scenario that throws something other than a catalogue violation is a crash, with the message', async () => {
    const bad: Scenario = { ...s, run: () => JSON.parse('{') as typeof none };
    const row = await runOne(bad, 'traditional', 'hardened', 1);
    expect(row.verdict).toBe('crashed');
    expect(row.note).toMatch(/^SyntaxError: /);
    expect(attacksPassed([row])).toBe(false);
  });
});

describe('damage', () => {
  it('counts a secret found at any offset in 8-byte words, and every changed canary byte', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const d = new Damage(mem, 3);
    const secret = d.secret(mem.alloc(4096), 64);
    const canary = d.canary(mem.alloc(4096), 32);
    const seen = new Uint8Array(100);
    seen.set(mem.read(secret + 8, 24), 3); // three whole words, misaligned
    expect(d.leakedIn(seen)).toBe(24);
    expect(d.corrupted()).toBe(0);
    mem.writeU8(canary + 5, mem.readU8(canary + 5) ^ 1);
    expect(d.corrupted()).toBe(1);
  });
});

describe('vqsim attack', () => {
  it('prints a row per scenario, deployment and side, and a summary; exit 0 when nothing was missed', async () => {
    const r = await run('attack', '--scenario', 'dma-read-private', '--deployment', 'traditional,cvm');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/dma-read-private\s+cvm\s+hardened\s+contained/);
    expect(r.out).toMatch(
      /hardened: 2 rows, 0 detected, 1 contained, 1 trusted, 0 missed; naive: 2 rows, 2 with damage/,
    );
  });

  it('--json carries the named fields', async () => {
    const r = await run('attack', '--scenario', 'dma-write-read-only', '--json', '--seed', '5');
    const doc = JSON.parse(r.out) as { seed: number; rows: AttackRow[] };
    expect(doc.seed).toBe(5);
    expect(Object.keys(doc.rows[0]!)).toEqual(
      expect.arrayContaining([
        'scenario',
        'deployment',
        'side',
        'detected',
        'violation',
        'reaction',
        'bytesLeaked',
        'bytesCorrupted',
        'hung',
      ]),
    );
  });

  it('--policy: each violation named gets the reaction the policy chooses, with the policies behind it', async () => {
    const r = await run(
      'attack',
      '--scenario',
      'dma-read-private,dma-write-read-only',
      '--deployment',
      'hardware',
      '--policy',
      'tdx-default',
      '--json',
    );
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: AttackRow[] }).rows;
    const got = rows.map((x) => [x.scenario, x.side, x.violation, x.policyReaction, x.policyIds]);
    expect(got).toEqual([
      ['dma-read-private', 'hardened', 'DMA_FAULT', 'detach_device', ['tdx-default.detach-on-critical']],
      ['dma-read-private', 'naive', null, null, []],
      ['dma-write-read-only', 'hardened', 'DMA_PERMISSION', 'reset_device', ['tdx-default.reset-on-high']],
    ]);
    const bad = await run('attack', '--policy', '/nonexistent.cedar');
    expect([bad.code, bad.err.trim().split('\n').length]).toEqual([2, 1]);
    expect(bad.err).toContain('--policy /nonexistent.cedar: /nonexistent.cedar:0:0: not a preset');
  });

  it('--list prints the catalogue; --markdown as a table', async () => {
    const r = await run('attack', '--list', '--markdown');
    expect(r.out.split('\n')[0]).toMatch(/^\| id \| committed by \| layer/);
    expect(r.out).toMatch(/\| `DMA_FAULT` \| device \| dma \| critical/);
  });

  it.each([
    [['--scenario', 'nope'], '--scenario nope: not a scenario'],
    [['--deployment', 'moon'], '--deployment moon: must be traditional, vhost-user'],
    [['--seed', '1.5'], '--seed 1.5: must be a whole number from 0 to 4294967295'],
    [['--seed', '4294967296'], '--seed 4294967296: must be a whole number from 0 to 4294967295'],
    [['--side', 'both'], '--side both: must be hardened, naive'],
    [['--frobnicate'], 'unknown flag --frobnicate'],
  ])('%j: one line, exit 2', async (args, message) => {
    const r = await run('attack', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('the whole catalogue under attack', () => {
  it(
    'every entry has a scenario, and every hardened row names its violation, is contained or is trusted: none missed, hung or crashed',
    { timeout: 120_000 },
    async () => {
      const { catalogue } = await import('../../src/trust/catalogue/index.js');
      const { scenarios } = await import('../../src/trust/scenarios/index.js');
      for (const v of catalogue) {
        expect(
          scenarios.some((s) => s.violation === v.id && s.attacker === v.side),
          `${v.side}:${v.id}`,
        ).toBe(true);
      }
      const rows = await runAttacks({ sides: ['hardened'], seed: 1 });
      expect(rows.filter((r) => r.verdict === 'missed' || r.verdict === 'crashed')).toEqual([]);
      expect(rows.filter((r) => r.hung)).toEqual([]);
      // Each entry is named by the hardened side in at least one deployment.
      const named = new Set(rows.filter((r) => r.verdict === 'detected').map((r) => `${r.attacker}:${r.violation}`));
      expect(catalogue.filter((v) => !named.has(`${v.side}:${v.id}`)).map((v) => v.id)).toEqual([]);
    },
  );
});

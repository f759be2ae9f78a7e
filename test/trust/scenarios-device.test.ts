// The device-layer attack scenarios: one per entry of catalogue/device.ts.
// Each runs against the hardened victim (it must name the entry, and not
// hang) and the naive one (what it really suffers, measured by the
// scenario: bytes of a planted secret handed up, what it believed).
import { beforeAll, describe, expect, it } from 'vitest';
import { deviceViolations } from '../../src/trust/catalogue/device.js';
import { deviceScenarios } from '../../src/trust/scenarios/device.js';
import { scenarios } from '../../src/trust/scenarios/index.js';
import { DEPLOYMENT_NAMES } from '../../src/sim/deployments.js';
import type { AttackOutcome } from '../../src/trust/attack/types.js';
import { bundleWorker } from '../helpers/bundle-worker.js';

// device-thread-stalls runs a two-thread SplitPair: the workers run the bundled entry.
beforeAll(() => bundleWorker('queue-worker'));

const SEED = 0x5eed;

/** What the naive side suffers, per scenario (detected: a check that has no naive mode). */
const naive: Record<string, Partial<AttackOutcome>> = {
  'net-rx-len-past-buffer': {
    detected: false,
    reaction: 'none',
    bytesLeaked: 1024,
    note: '1 packet(s) handed up, 2988 bytes',
  },
  'net-rx-num-buffers-missing': { detected: false, reaction: 'none', note: '1 packet(s) handed up, 100 bytes' },
  'net-rx-short': { detected: false, reaction: 'none', note: '1 packet(s) handed up, 0 bytes' },
  'net-mtu-changed': { detected: false, note: 'the driver runs with MTU 60' },
  'net-ctrl-no-answer': { detected: true, violation: 'CTRL_NO_ANSWER', reaction: 'failed' },
  'net-mtu-below-minimum': { detected: false, note: 'the driver runs with MTU 50' },
  'net-max-pairs-out-of-range': { detected: false, note: 'probe failed: QUEUE_UNAVAILABLE' },
  'console-rx-len-past-buffer': { detected: false, bytesLeaked: 128, note: 'read() returned 200 bytes' },
  'blk-used-len-past-buffer': {
    detected: false,
    note: 'the naive driver took status 0xff (never written by the device)',
  },
  'blk-no-status': { detected: false, note: 'the naive driver took status 0xff (never written by the device)' },
  'blk-never-completes': {
    detected: true,
    violation: 'BLK_NOT_COMPLETED',
    note: '1 timeout(s), 1 reset(s), 16 of 16 tags free',
  },
  'blk-mq-zero-queues': { detected: false, note: 'the driver runs with 0 queues' },
  'blk-invalid-block-size': { detected: false, note: 'the driver runs with blk_size 100' },
  'blk-capacity-past-2-53': {
    detected: false,
    note: 'capacity 1152921504606847000 sectors: byte offsets past 2^53 are inexact',
  },
  'blk-size-max-below-page': {
    detected: false,
    note: 'the driver ignores size_max: segments of up to 8388608 bytes',
  },
  'device-thread-stalls': { detected: false, hung: true, note: 'the run ended only at the scenario bound' },
  'blk-short-header': {
    detected: true,
    violation: 'BLK_BAD_REQUEST',
    reaction: 'broken',
    note: 'variant short-header; status byte 0xff',
  },
  'net-tx-frame-too-big': {
    detected: true,
    violation: 'NET_TX_FRAME_TOO_BIG',
    reaction: 'broken',
    note: '1 oversize chain(s) counted, 0 frame(s) read',
  },
};

describe('device-layer attack scenarios', () => {
  it('cover every device-layer catalogue entry, each id once, all in the index', () => {
    const covered = new Set(deviceScenarios.map((s) => `${s.attacker}:${s.violation}`));
    expect(deviceViolations.map((v) => `${v.side}:${v.id}`).filter((k) => !covered.has(k))).toEqual([]);
    expect(new Set(deviceScenarios.map((s) => s.id)).size).toBe(deviceScenarios.length);
    for (const s of deviceScenarios) expect(scenarios).toContain(s);
    expect(Object.keys(naive).sort()).toEqual(deviceScenarios.map((s) => s.id).sort());
  });

  it.each(deviceScenarios.map((s) => [s.id, s] as const))(
    '%s: hardened names the entry, no hang, in every deployment it runs in',
    async (_, s) => {
      for (const deployment of s.deployments ?? DEPLOYMENT_NAMES) {
        const o = await s.run({ deployment, hardened: true, seed: SEED });
        const at = `${deployment}, seed ${SEED}`;
        expect(o, at).toMatchObject({ detected: true, violation: s.violation, hung: false, bytesLeaked: 0 });
        expect(o.bytesCorrupted, at).toBe(0);
        expect(o.reaction, at).not.toBe('none');
      }
    },
  );

  it.each(deviceScenarios.map((s) => [s.id, s] as const))('%s: naive suffers what it does', async (id, s) => {
    const o = await s.run({ deployment: 'traditional', hardened: false, seed: SEED });
    expect(o, `seed ${SEED}`).toMatchObject({ hung: false, bytesCorrupted: 0, bytesLeaked: 0, ...naive[id] });
  });

  it('the naive net driver leaks the neighbouring buffer whatever the seed, in a CVM too (its own private memory)', async () => {
    const s = deviceScenarios.find((x) => x.id === 'net-rx-len-past-buffer')!;
    for (const deployment of ['traditional', 'cvm'] as const) {
      for (const seed of [1, 2, 3]) {
        const o = await s.run({ deployment, hardened: false, seed });
        expect(o.bytesLeaked, `${deployment}, seed ${seed}`).toBe(1024);
      }
    }
  });
});

// The progress watchdog of a two-thread run: a device thread that stays
// alive (heartbeat, doorbell waits) but completes nothing more ends a run
// bounded only by a chain count with NO_PROGRESS, instead of waiting for
// ever; the hang watchdog alone (heartbeats) does not see it.
import { beforeAll, describe, expect, it } from 'vitest';
import { createQueue, GuestMemory, SplitPair, VqsimError } from '../../src/internal.js';
import { bundleWorker } from '../helpers/bundle-worker.js';

beforeAll(() => bundleWorker('queue-worker'));

describe('SplitPair progress watchdog', () => {
  it('a live device that stops completing ends the run with NO_PROGRESS (side device), and the pair stops', async () => {
    const q = createQueue(new GuestMemory({ size: 4 << 20 }), { ring: 'split', size: 64, name: 'stall' });
    const pair = await SplitPair.start(q, {
      deviceFault: { kind: 'stall', afterChains: 1 },
      progressTimeoutMs: 400,
      hangTimeoutMs: 60_000,
      waitMs: 5,
    });
    let caught: unknown;
    try {
      await pair.run({ chains: 1e12 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(VqsimError);
    expect(caught).toMatchObject({ code: 'NO_PROGRESS', side: 'device' });
    expect((caught as Error).message).toMatch(
      /^stall: no chain completed for 400 ms \(\d+ of 1000000000000 done\): the device stopped serving$/,
    );
    const s = await pair.stop();
    // The device served until the fault point and nothing after it: every chain it pushed was completed.
    expect(s.device.chains).toBeGreaterThan(0);
    expect(s.queue.chainsUsed).toBe(s.device.chains);
    expect(s.queue.chainsCompleted).toBe(s.queue.chainsUsed);
    expect(s.queue.chainsCompleted).toBeLessThan(1e12);
  });
});

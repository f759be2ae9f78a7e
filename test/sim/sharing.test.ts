// Two threads that share cores gracefully: the split pair's threads find out
// where the other waits (/proc/<tid>/stat on Linux) and hand a shared CPU to
// each other instead of spinning it away. Never asserts on speed: only on the
// counters that say which way each wait went, and that every chain arrived.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { createQueue, GuestMemory, SplitPair, type RingKind } from '../../src/internal.js';
import { W_DEV_TID, W_DRV_TID } from '../../src/sim/control.js';
import { CpuOf, ownTid } from '../../src/sim/cpu.js';
import { bundleWorker } from '../helpers/bundle-worker.js';
import { until } from '../helpers/until.js';

beforeAll(() => bundleWorker('queue-worker'));

const linux = existsSync('/proc/thread-self');
const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!linux)(`where a thread runs${linux ? '' : ' (skipped: no /proc, not Linux)'}`, () => {
  it('reads its own thread id and CPU, and -1 for a thread that does not exist', () => {
    const tid = ownTid();
    expect(tid).toBeGreaterThan(0);
    const me = new CpuOf(tid);
    const cpu = me.cpu();
    expect(Number.isInteger(cpu)).toBe(true);
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThan(Math.max(cpus().length, 1024));
    me.close();
    expect(me.cpu()).toBe(-1);
    expect(new CpuOf(0).cpu()).toBe(-1);
    expect(new CpuOf(2 ** 30).cpu()).toBe(-1);
  });
});

const why = !linux ? ' (skipped: no /proc, not Linux)' : !taskset ? ' (skipped: no taskset tool)' : '';
describe.skipIf(why !== '')(`a split pair on one CPU${why}`, () => {
  it.each(['split', 'packed'] as RingKind[])(
    '%s: both threads pinned to one CPU hand it to each other, and every chain arrives',
    async (ring) => {
      const q = createQueue(new GuestMemory({ size: 4 << 20 }), {
        ring,
        size: 64,
        eventIdx: true,
        name: `one-${ring}`,
      });
      const pair = await SplitPair.start(q, { verify: true, deviceBatch: 8 });
      try {
        // Both threads publish their kernel thread ids when their loops start.
        const warm = await pair.run({ chains: 1000, durationMs: 10_000 });
        expect(warm.chains).toBe(1000);
        const i32 = (pair as unknown as { ctl: { i32: Int32Array } }).ctl.i32;
        expect(await until(() => Atomics.load(i32, W_DRV_TID) > 0 && Atomics.load(i32, W_DEV_TID) > 0)).toBe(true);
        for (const word of [W_DRV_TID, W_DEV_TID]) {
          expect(spawnSync('taskset', ['-pc', '0', String(Atomics.load(i32, word))]).status).toBe(0);
        }
        const r = await pair.run({ chains: 50_000, durationMs: 10_000 });
        expect(r.chains).toBe(50_000);
        const s = pair.stats();
        // The waits that found the other thread queued on the same CPU gave it up.
        expect(s.driver.coreShared + s.device.coreShared).toBeGreaterThan(0);
      } finally {
        await pair.stop();
      }
    },
  );
});

import type { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ColocatedWorker,
  createQueue,
  GuestMemory,
  runColocated,
  SplitPair,
  type RingKind,
  type Virtqueue,
} from '../../src/internal.js';
import { oneBufferBatch } from '../../src/sim/attach.js';
import { colocatedLoop } from '../../src/sim/loops.js';
import { bundleWorker } from '../helpers/bundle-worker.js';
import { until } from '../helpers/until.js';

// The workers run the bundled entry; build it from the sources under test.
beforeAll(() => bundleWorker('queue-worker'));

const rings: RingKind[] = ['split', 'packed'];

/**
 * Every run that waits for a number of chains also has a time bound, and the
 * test asserts the count after it: a fault that stops chains from completing
 * (a need_event off by one, an avail idx not published) fails the test
 * instead of spinning forever (a test timeout cannot stop a synchronous loop).
 */
const BOUND_MS = 10_000;
const upTo = (chains: number) => ({ chains, durationMs: BOUND_MS });

function queue(ring: RingKind, name: string, size = 64, eventIdx = true): Virtqueue {
  return createQueue(new GuestMemory({ size: 4 << 20 }), { ring, size, eventIdx, name });
}

function expectBalanced(q: Virtqueue, chains: number): void {
  const s = q.stats();
  expect(s.chainsAdded).toBe(chains);
  expect(s.chainsPopped).toBe(chains);
  expect(s.chainsUsed).toBe(chains);
  expect(s.chainsCompleted).toBe(chains);
  expect(q.driver.numFree).toBe(q.size);
  expect(q.device.inflight).toBe(0);
}

/** The worker thread behind a wrapper, to kill it as a crash would. */
function thread(w: unknown, which = 'worker'): Worker {
  return (w as Record<string, { worker: Worker }>)[which]!.worker;
}

describe('co-located loop, single-threaded', () => {
  it.each(rings)('%s: moves every chain exactly once and is deterministic', (ring) => {
    const run = () => {
      const qs = [queue(ring, 'a', 32, false), queue(ring, 'b', 16, true)];
      const slots = qs.map((q) => ({ queue: q, batch: oneBufferBatch(q.mem, q.size, 48) }));
      const c = colocatedLoop(undefined, slots, upTo(10_000), { verify: true, chainBytes: 48 });
      return { c: { ...c, elapsedMs: 0 }, stats: qs.map((q) => q.stats()), qs };
    };
    const a = run();
    const b = run();
    expect(a.c.chains).toBe(10_000);
    expect(a.c.added).toBe(10_000);
    // 32 + 16 chains a turn: 208 whole turns, and a 209th that adds the last 16.
    expect(a.c.turns).toBe(209);
    expect(a.stats.map((s) => s.chainsCompleted)).toEqual([208 * 32 + 16, 208 * 16]);
    expect(a.stats[0]!.chainsCompleted + a.stats[1]!.chainsCompleted).toBe(10_000);
    for (const q of a.qs) expectBalanced(q, q.stats().chainsAdded);
    expect(b.c).toEqual(a.c);
    expect(b.stats).toEqual(a.stats);
  });
});

describe('co-located workers', () => {
  it.each(rings)('%s: N queues on N workers, every chain exactly once', async (ring) => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const qs = [0, 1].map((k) => createQueue(mem, { ring, size: 64, eventIdx: true, name: `${ring}${k}` }));
    const report = await runColocated(
      qs.map((q) => [q]),
      upTo(50_000),
      { verify: true },
    );
    expect(report.workers.map((w) => w.chains)).toEqual([50_000, 50_000]);
    expect(report.chains).toBe(100_000);
    for (const q of qs) expectBalanced(q, 50_000);
  });

  it('stops a long run cleanly and can run again', async () => {
    const q = queue('split', 'tx0');
    const w = await ColocatedWorker.start([q], { verify: true });
    try {
      const run = w.run({ durationMs: 60_000 });
      expect(await until(() => w.stats().thread.turns > 0)).toBe(true);
      w.stop();
      const r = await run;
      expect(r.elapsedMs).toBeLessThan(30_000);
      expect(r.chains).toBeGreaterThan(0);
      expectBalanced(q, r.chains);
      const again = await w.run(upTo(1000));
      expect(again.chains).toBe(1000);
      expectBalanced(q, r.chains + 1000);
    } finally {
      await w.close();
    }
  });

  it('reports a worker killed mid-run, naming its queues', async () => {
    const q = queue('split', 'rx5');
    const w = await ColocatedWorker.start([q]);
    const run = w.run({ durationMs: BOUND_MS });
    await new Promise((r) => setTimeout(r, 50));
    await thread(w).terminate();
    await expect(run).rejects.toMatchObject({ code: 'WORKER_DIED' });
    await expect(run).rejects.toThrow(/rx5: co-located worker exited/);
    await w.close();
  });

  it('reports a hung worker (no heartbeat) and ends it', async () => {
    const q = queue('split', 'blk2');
    const w = await ColocatedWorker.start([q], { hangTimeoutMs: 300, fault: { kind: 'hang', afterChains: 1000 } });
    await expect(w.run({ durationMs: BOUND_MS })).rejects.toThrow(
      /blk2: co-located worker hung: no progress for 300 ms/,
    );
    expect(w.error?.code).toBe('WORKER_HUNG');
    await w.close();
  });

  it('reports a loop that throws, naming the queue', async () => {
    const q = queue('packed', 'con1');
    const w = await ColocatedWorker.start([q], { fault: { kind: 'throw', afterChains: 10 } });
    await expect(w.run({ chains: 1_000_000 })).rejects.toMatchObject({ code: 'WORKER_FAILED' });
    await w.close();
  });
});

describe('split pairs: driver and device on two threads', () => {
  it.each(rings)('%s: every chain exactly once, in order, then a clean stop', async (ring) => {
    const q = queue(ring, `pp-${ring}`, 64);
    // A short spin makes both threads sleep and wake often: the notification
    // races get exercised under verification.
    const pair = await SplitPair.start(q, { verify: true, maxInflight: 48, maxPolls: 64, deviceBatch: 16 });
    try {
      const a = await pair.run(upTo(20_000));
      expect(a.chains).toBe(20_000);
      expect(a.added).toBe(20_000);
      const b = await pair.run(upTo(1234));
      expect(b.chains).toBe(1234);
    } finally {
      const s = await pair.stop();
      expect(s.device.chains).toBe(21_234);
    }
    expectBalanced(q, 21_234);
    await expect(pair.run({ chains: 1 })).rejects.toMatchObject({ code: 'WORKER_STOPPED' });
  });

  it.each(rings)('%s: a device that publishes each chain as it uses it (ringtest use_buf) loses none', async (ring) => {
    const q = queue(ring, `each-${ring}`, 64);
    const pair = await SplitPair.start(q, {
      verify: true,
      maxInflight: 64,
      maxPolls: 64,
      deviceBatch: 64,
      publish: 'each',
    });
    try {
      expect((await pair.run(upTo(20_000))).chains).toBe(20_000);
    } finally {
      const s = await pair.stop();
      expect(s.device.chains).toBe(20_000);
      expect(s.queue.chainsPopped).toBe(20_000);
      expect(s.queue.chainsUsed).toBe(20_000);
    }
    expectBalanced(q, 20_000);
  });

  it.each(rings)('%s: an idle side sleeps on its doorbell and is woken by the other', async (ring) => {
    const q = queue(ring, `bell-${ring}`, 16);
    const pair = await SplitPair.start(q, { maxPolls: 32, waitMs: 20, maxInflight: 1, verify: true });
    try {
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 40));
        expect((await pair.run(upTo(200))).chains).toBe(200);
      }
    } finally {
      const s = await pair.stop();
      // The device slept while the driver was idle, and kicks woke it.
      expect(s.device.waits).toBeGreaterThan(0);
      expect(s.device.timeouts).toBeGreaterThan(0);
      expect(s.queue.kicks).toBeGreaterThan(0);
      expect(s.device.wakes + s.device.notEqual + s.device.recheckHits).toBeGreaterThan(0);
      // With one chain in flight and a short spin, the driver sleeps for completions too.
      expect(s.driver.waits + s.driver.recheckHits).toBeGreaterThan(0);
      expect(s.queue.interrupts).toBeGreaterThan(0);
    }
    expectBalanced(q, 1000);
  });

  it('reports a device worker killed mid-run, naming the queue, and stops the driver', async () => {
    const q = queue('split', 'vq7');
    const pair = await SplitPair.start(q);
    const run = pair.run({ durationMs: BOUND_MS });
    await new Promise((r) => setTimeout(r, 100));
    await thread(pair, 'deviceWorker').terminate();
    await expect(run).rejects.toThrow(/vq7: device worker exited/);
    expect(pair.error?.code).toBe('WORKER_DIED');
    await pair.stop();
  });

  it('reports a driver worker killed mid-run', async () => {
    const q = queue('packed', 'vq8');
    const pair = await SplitPair.start(q);
    const run = pair.run({ durationMs: BOUND_MS });
    await new Promise((r) => setTimeout(r, 100));
    await thread(pair, 'driverWorker').terminate();
    await expect(run).rejects.toThrow(/vq8: driver worker exited/);
    await pair.stop();
  });

  it('reports a device loop that throws, naming the queue', async () => {
    const q = queue('split', 'net0');
    const pair = await SplitPair.start(q, { deviceFault: { kind: 'throw', afterChains: 100 } });
    await expect(pair.run({ durationMs: BOUND_MS })).rejects.toThrow(/net0: device worker failed: .*injected fault/);
    await pair.stop();
  });

  it('reports a hung device (no heartbeat)', async () => {
    const q = queue('split', 'net1');
    const pair = await SplitPair.start(q, { hangTimeoutMs: 300, deviceFault: { kind: 'hang', afterChains: 100 } });
    await expect(pair.run({ durationMs: BOUND_MS })).rejects.toThrow(/net1: device worker hung/);
    await pair.stop();
  });
});

describe('doorbells', () => {
  it('wait from JavaScript: Atomics.wait on an Int32Array over the machine memory, always with a timeout', async () => {
    // Node 20's Liftoff miscompiles memory.atomic.wait32, so no Wasm code
    // waits; the loops wait with Atomics.wait on this view.
    const { Control, W_KICK } = await import('../../src/sim/control.js');
    const mem = new GuestMemory({ size: 1 << 20 });
    const ctl = Control.alloc(mem);
    expect(ctl.i32.buffer).toBe(mem.memory.buffer);
    expect(ctl.i32.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Atomics.wait(ctl.i32, W_KICK, 0, 1)).toBe('timed-out');
    ctl.ring(W_KICK);
    expect(Atomics.wait(ctl.i32, W_KICK, 0, 1)).toBe('not-equal');
  });
});

import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceWorker, GuestMemory, RequestBatch, SplitQueue } from '../../src/internal.js';

describe('device side on a worker thread', () => {
  let worker: DeviceWorker | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  it('serves chains the main thread added, over the one shared memory', async () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const q = new SplitQueue(mem, { size: 64, eventIdx: true, indirect: true });
    const buf = mem.alloc(64 * 128, { shared: true });
    worker = await DeviceWorker.start(q);

    const batch = new RequestBatch(mem, 32, 64);
    for (let k = 0; k < 32; k++) {
      batch.add([{ addr: buf + 128 * k, len: 16 }], [{ addr: buf + 128 * k + 64, len: 48 }], 1000 + k, k % 2 === 1);
    }
    let seen: number[] = [];
    for (let round = 0; round < 10; round++) {
      expect(q.driver.addBatch(batch)).toBe(32);
      const { chains, interrupt } = await worker.serve();
      expect(chains).toBe(32);
      expect(interrupt).toBe(true);
      const done = q.driver.getUsed();
      expect(done.every((c) => c.len === 48)).toBe(true);
      seen = seen.concat(done.map((c) => c.token));
    }
    expect(seen).toHaveLength(320);
    expect(new Set(seen).size).toBe(32);
    const s = q.stats();
    expect(s.chainsPopped).toBe(320);
    expect(s.chainsUsed).toBe(320);
    expect(s.chainsCompleted).toBe(320);
    expect(q.driver.numFree).toBe(64);
  });

  it('fails calls on a worker that died, naming the queue', async () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new SplitQueue(mem, { size: 8, name: 'rx3' });
    worker = await DeviceWorker.start(q);
    // Kill the thread behind the wrapper's back, as a crash would.
    await (worker as unknown as { worker: { worker: Worker } }).worker.worker.terminate();
    await expect(worker.serve()).rejects.toMatchObject({ code: 'WORKER_DIED' });
    await expect(worker.serve()).rejects.toThrow(/rx3: device worker exited/);
  });

  it('reports a stopped worker instead of waiting forever', async () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new SplitQueue(mem, { size: 8, name: 'tx0' });
    worker = await DeviceWorker.start(q);
    await worker.stop();
    await expect(worker.serve()).rejects.toThrow(/tx0: device worker/);
  });
});

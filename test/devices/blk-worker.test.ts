// virtio-blk persistence across a killed device: the device side of the queue
// runs on a worker thread over a file; the worker is terminated while it
// serves, the driver resets and re-probes, a new worker opens the same file,
// and every write the driver saw acknowledged reads back.
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  BlkType,
  DmaApi,
  FileBackend,
  GuestMemory,
  PciDriverAccess,
  VirtioPciTransport,
  wasmModule,
  type BlkBackend,
} from '../../src/internal.js';
import type { BlkDeviceWorkerApi } from '../../workers/blk-device.js';

const workerFile = fileURLToPath(new URL('../../dist/workers/blk-device.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vqsim-blkw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Byte equality without vitest's element-by-element diff (slow on 4 KiB arrays). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

/** Starts a worker serving queue 0 of `dev` (after DRIVER_OK). */
async function startWorker(mem: GuestMemory, dev: BlkDevice, backend: BlkBackend) {
  const worker = new Worker(workerFile);
  const api: Remote<BlkDeviceWorkerApi> = wrap(nodeEndpoint(worker));
  const arenaBytes = 1 << 20;
  const arena = { at: mem.hostAlloc(arenaBytes, 4096), bytes: arenaBytes };
  await api.attach(mem.memory, wasmModule(), arena, 0, dev.queueConfig(0)!, backend.describe(), dev.serverConfig());
  return { worker, api };
}

// The global setup bundles the worker (test/helpers/global-setup.ts): this never skips.
describe('virtio-blk device worker killed mid-stream (file backend)', () => {
  it('keeps every acknowledged write', async () => {
    const path = join(dir, 'disk.img');
    const mem = new GuestMemory({ size: 16 << 20 });
    const dma = new DmaApi(mem);
    const view = dma.deviceView();
    const backend = new FileBackend((at, len) => mem.bytes.subarray(at, at + len), path, 1 << 20);
    const dev = new BlkDevice(view, backend, { serve: 'manual' });
    const access = new PciDriverAccess(new VirtioPciTransport(dev));
    let blk = BlkDriver.probe(access, mem, dma, { queueSize: 64 });
    let w = await startWorker(mem, dev, backend);

    const N = 160; // writes of 4 KiB at distinct sectors
    const bufs = mem.alloc(64 * 4096, { shared: true });
    const acked = new Map<number, Uint8Array>();
    const inflight = new Map<number, { sector: number; data: Uint8Array }>();
    const reap = () =>
      blk.queues[0]!.reap((c) => {
        const r = inflight.get(c.tag)!;
        inflight.delete(c.tag);
        if (c.status === BlkStatus.OK) acked.set(r.sector, r.data);
      });
    let next = 0;
    let killed = false;
    for (let round = 0; next < N; round++) {
      const q = blk.queues[0]!;
      for (let i = 0; i < 8 && next < N; i++, next++) {
        const data = pattern(4096, next + 1);
        const slot = next % 64;
        mem.write(bufs + slot * 4096, data);
        const tag = q.submit(BlkType.OUT, next * 8, bufs + slot * 4096, 4096);
        expect(tag).toBeGreaterThanOrEqual(0);
        inflight.set(tag, { sector: next * 8, data });
      }
      q.kick();
      if (round === 6 && !killed) {
        // Kill the device while it serves: what it had not pushed is not acknowledged.
        void w.api.serve(1, 3).catch(() => {});
        await w.worker.terminate();
        w.api[releaseProxy]();
        killed = true;
        reap();
        inflight.clear();
        access.reset();
        blk = BlkDriver.probe(access, mem, dma, { queueSize: 64 });
        w = await startWorker(mem, dev, backend);
        continue;
      }
      await w.api.serve();
      reap();
      expect(inflight.size).toBe(0);
    }
    expect(killed).toBe(true);
    expect(acked.size).toBeGreaterThan(N - 16);

    // Read everything acknowledged back through the new worker, and from the file.
    const q = blk.queues[0]!;
    const out = mem.alloc(16 * 4096, { shared: true });
    const all = [...acked];
    for (let i = 0; i < all.length; i += 16) {
      const part = all.slice(i, i + 16);
      part.forEach(([sector], j) =>
        expect(q.submit(BlkType.IN, sector, out + j * 4096, 4096)).toBeGreaterThanOrEqual(0),
      );
      q.kick();
      await w.api.serve();
      const statuses: number[] = [];
      expect(q.reap((c) => statuses.push(c.status))).toBe(part.length);
      expect(statuses.every((st) => st === BlkStatus.OK)).toBe(true);
      part.forEach(([, data], j) => expect(same(mem.read(out + j * 4096, 4096), data)).toBe(true));
    }
    const file = readFileSync(path);
    for (const [sector, data] of acked) expect(same(file.subarray(sector * 512, sector * 512 + 4096), data)).toBe(true);
    await w.worker.terminate();
    w.api[releaseProxy]();
    backend.close();
  });
});

import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { VqsimError } from '../errors.js';
import { wasmModule } from '../memory/wasm-core.js';
import type { SplitQueue } from '../virtqueue/split/queue.js';
import type { DeviceWorkerApi } from '../../workers/device-worker.js';

// The bundle ships workers/ beside itself; from the sources it is in dist/.
const candidates = ['./workers/device-worker.js', '../../dist/workers/device-worker.js'];

function workerPath(): string {
  for (const rel of candidates) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('workers/device-worker.js not found: run `npm run build` (the package build makes it)');
}

/**
 * A queue's device side running on a worker thread over the machine's shared
 * memory. A worker that dies or exits fails every pending and later call with
 * a VqsimError naming the queue, so nothing waits forever.
 */
export class DeviceWorker {
  private readonly worker: Worker;
  private readonly api: Remote<DeviceWorkerApi>;
  private readonly dead: Promise<never>;
  private failure: VqsimError | undefined;

  private constructor(readonly queue: SplitQueue) {
    this.worker = new Worker(workerPath());
    this.api = wrap<DeviceWorkerApi>(nodeEndpoint(this.worker));
    this.dead = new Promise<never>((_, reject) => {
      const fail = (why: string) => {
        this.failure ??= new VqsimError('WORKER_DIED', `${queue.name}: device worker ${why}`);
        reject(this.failure);
      };
      this.worker.once('error', (e) => fail(`failed: ${e instanceof Error ? e.message : String(e)}`));
      this.worker.once('exit', (code) => fail(`exited with code ${code}`));
    });
    this.dead.catch(() => {});
  }

  /** Starts a worker and attaches it to `queue` (built on this thread). */
  static async start(queue: SplitQueue): Promise<DeviceWorker> {
    const w = new DeviceWorker(queue);
    await w.call(() => w.api.attach(queue.mem.memory, wasmModule(), queue.handle()));
    return w;
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.race([f(), this.dead]);
  }

  /** One loopback pass on the worker: chains served, and whether to interrupt. */
  serve(): Promise<{ chains: number; interrupt: boolean }> {
    return this.call(() => this.api.serve());
  }

  /** Ends the worker; later calls fail with WORKER_STOPPED. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.failure?.code === 'WORKER_STOPPED') return;
    this.failure = new VqsimError('WORKER_STOPPED', `${this.queue.name}: device worker stopped`);
    this.api[releaseProxy]();
    await this.worker.terminate();
  }
}

import type { GuestMemory } from '../memory/guest-memory.js';
import { wasmModule } from '../memory/wasm-core.js';
import type { QueueWorkerApi } from '../../workers/queue-worker.js';
import { ThreadWorker } from './thread-worker.js';

/**
 * A worker thread attached to a machine's shared memory that runs queues
 * (workers/queue-worker.ts): co-located loops, one side of a split pair, or a
 * loopback pass. Failure handling is ThreadWorker's.
 */
export class QueueWorker extends ThreadWorker<QueueWorkerApi> {
  private constructor(label: string) {
    super('queue-worker', label);
  }

  /** Starts a thread and attaches it to `mem` (the module and memory go as plain arguments). */
  static async start(mem: GuestMemory, label: string): Promise<QueueWorker> {
    const w = new QueueWorker(label);
    await w.call(() => w.api.init(mem.memory, wasmModule()));
    return w;
  }
}

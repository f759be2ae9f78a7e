import { queueHandle, type QueueHandle } from './attach.js';
import { QueueWorker } from './queue-worker.js';
import type { Virtqueue } from '../virtqueue/queue.js';

/**
 * A queue's device side on a worker thread, one loopback pass per call: the
 * simplest use of a QueueWorker (a second Wasm instance over the machine's one
 * shared memory, comlink for control). A worker that dies or stops fails every
 * call with an error naming the queue, so nothing waits forever.
 */
export class DeviceWorker {
  private constructor(
    private readonly worker: QueueWorker,
    private readonly handle: QueueHandle,
  ) {}

  /** Starts a worker and attaches it to `queue` (built on this thread, split or packed). */
  static async start(queue: Virtqueue): Promise<DeviceWorker> {
    return new DeviceWorker(await QueueWorker.start(queue.mem, `${queue.name}: device worker`), queueHandle(queue));
  }

  /** One loopback pass on the worker: chains served, and whether to interrupt. */
  serve(): Promise<{ chains: number; interrupt: boolean }> {
    return this.worker.call(() => this.worker.api.serve(this.handle));
  }

  /** Ends the worker; later calls fail with WORKER_STOPPED. Safe to call twice. */
  stop(): Promise<void> {
    return this.worker.terminate();
  }
}

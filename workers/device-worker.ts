// The device side of a queue on its own thread. It attaches a second Wasm
// instance to the machine's one shared memory and works on the same state
// blocks as the main thread: comlink carries control, the memory carries data.
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { SplitQueue, type SplitQueueHandle } from '../src/virtqueue/split/queue.js';

let queue: SplitQueue | undefined;

function attached(): SplitQueue {
  if (!queue) throw new Error('device worker: attach() first');
  return queue;
}

const api = {
  attach(memory: WebAssembly.Memory, module: WebAssembly.Module, handle: SplitQueueHandle): void {
    queue = SplitQueue.attach(new GuestMemory({ memory, module }), handle);
  },

  /**
   * One pass of a loopback device: pop every available chain, push each back
   * used with len = its writable bytes, then decide on the interrupt.
   */
  serve(): { chains: number; interrupt: boolean } {
    const q = attached();
    let chains = 0;
    for (let n = q.device.popBatch(); n > 0; n = q.device.popBatch()) {
      q.device.pushPopped(n);
      chains += n;
    }
    return { chains, interrupt: chains > 0 && q.device.shouldNotify() };
  },
};

export type DeviceWorkerApi = typeof api;

if (!parentPort) throw new Error('device-worker.js runs as a worker thread');
expose(api, nodeEndpoint(parentPort));

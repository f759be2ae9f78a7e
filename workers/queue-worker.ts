// A thread that runs queues over the machine's one shared memory: the
// co-located loop (driver and device of its queues together) or one side of a
// split pair. comlink carries control; while a loop runs it blocks this
// thread's message handling, so stop and live stats go through the control
// block in the shared memory (src/sim/control.ts).
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { VqsimError } from '../src/errors.js';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { attachQueue, batchView, type BatchHandle, type QueueHandle } from '../src/sim/attach.js';
import { Control, type ThreadCounters } from '../src/sim/control.js';
import { colocatedLoop, deviceLoop, driverLoop, type LoopOptions, type RunLimits } from '../src/sim/loops.js';

let mem: GuestMemory | undefined;

function memory(): GuestMemory {
  if (!mem) throw new VqsimError('WORKER_NOT_READY', 'queue worker: init() first', 'user');
  return mem;
}

const api = {
  /** Attaches this thread to the machine: a second Wasm instance over the same memory. */
  init(memory: WebAssembly.Memory, module: WebAssembly.Module): void {
    mem = new GuestMemory({ memory, module });
  },

  colocated(
    queues: { queue: QueueHandle; batch: BatchHandle }[],
    ctlAddr: number,
    limits: RunLimits,
    opts: LoopOptions,
  ): ThreadCounters {
    const m = memory();
    const slots = queues.map((s) => ({ queue: attachQueue(m, s.queue), batch: batchView(s.batch) }));
    return colocatedLoop(new Control(m.memory.buffer, ctlAddr), slots, limits, opts);
  },

  driver(
    queue: QueueHandle,
    batch: BatchHandle,
    ctlAddr: number,
    limits: RunLimits,
    opts: LoopOptions,
  ): ThreadCounters {
    const m = memory();
    return driverLoop(new Control(m.memory.buffer, ctlAddr), attachQueue(m, queue), batchView(batch), limits, opts);
  },

  /**
   * One pass of a loopback device on `queue`: pop every available chain, push
   * each back used with len = its writable bytes, then decide on the interrupt.
   */
  serve(queue: QueueHandle): { chains: number; interrupt: boolean } {
    const q = attachQueue(memory(), queue);
    let chains = 0;
    for (let n = q.device.popBatch(); n > 0; n = q.device.popBatch()) {
      q.device.pushPopped(n);
      chains += n;
    }
    return { chains, interrupt: chains > 0 && q.device.shouldNotify() };
  },

  device(queue: QueueHandle, ctlAddr: number, opts: LoopOptions): ThreadCounters {
    const m = memory();
    return deviceLoop(new Control(m.memory.buffer, ctlAddr), attachQueue(m, queue), opts);
  },
};

export type QueueWorkerApi = typeof api;

if (!parentPort) throw new VqsimError('NOT_A_WORKER', 'queue-worker.js runs as a worker thread', 'user');
expose(api, nodeEndpoint(parentPort));

// A thread that attaches to a machine memory and takes host blocks as fast as
// it can, racing the thread that started it (test/memory.test.ts). It waits on
// a start word so both threads begin together.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '../../src/memory/guest-memory.js';

const { memory, module, count, bytes, start } = workerData as {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  count: number;
  bytes: number;
  start: SharedArrayBuffer;
};
const mem = new GuestMemory({ memory, module });
const go = new Int32Array(start);
Atomics.add(go, 1, 1);
Atomics.notify(go, 1);
Atomics.wait(go, 0, 0);
const got: number[] = [];
for (let k = 0; k < count; k++) got.push(mem.hostAlloc(bytes, 8));
parentPort!.postMessage(got);

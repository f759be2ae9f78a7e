// A thread that attaches to a machine memory and its swiotlb pool and churns
// it as CPU `cpu`, racing the thread that started it (test/dma/swiotlb.test.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { Swiotlb } from '../../src/dma/swiotlb.js';
import { churn } from './swiotlb-churn.js';

const { memory, module, descriptor, cpu, ops, seed, orig, start } = workerData as {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  descriptor: number;
  cpu: number;
  ops: number;
  seed: number;
  orig: number;
  start: SharedArrayBuffer;
};
const mem = new GuestMemory({ memory, module });
const sw = Swiotlb.attach(mem, descriptor);
const go = new Int32Array(start);
Atomics.add(go, 1, 1);
Atomics.notify(go, 1);
Atomics.wait(go, 0, 0);
parentPort!.postMessage(churn(sw, cpu, ops, seed, orig));

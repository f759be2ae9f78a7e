// A co-located virtio-net worker: builds its own machine with createMachine
// (its own guest memory, DMA API, transport, device and driver: a machine per
// worker, as separate VMs) and runs packets through its first net device. comlink carries build and run;
// stop, heartbeat and live counters go through the control block the parent
// passes (a SharedArrayBuffer), since a running loop blocks this thread.
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { VqsimError } from '../src/errors.js';
import { Control } from '../src/sim/control.js';
import type { RunLimits } from '../src/sim/loops.js';
import { createMachine, type NetMachineDevice } from '../src/sim/machine.js';
import { netLoop, type NetLoopOptions, type NetLoopResult, type NetWorkerMachine } from '../src/sim/net.js';

let machine: NetMachineDevice | undefined;
let ctl: Control | undefined;

const api = {
  build(config: NetWorkerMachine, module: WebAssembly.Module, control: SharedArrayBuffer): void {
    machine = createMachine(config, { module }).net(0);
    ctl = new Control(control, 0);
  },

  run(limits: RunLimits, opts: NetLoopOptions): NetLoopResult {
    if (!machine) throw new VqsimError('WORKER_NOT_READY', 'net worker: build() first', 'user');
    return netLoop(ctl, machine, limits, opts);
  },
};

export type NetWorkerApi = typeof api;

if (!parentPort) throw new VqsimError('NOT_A_WORKER', 'net-worker.js runs as a worker thread', 'user');
expose(api, nodeEndpoint(parentPort));

// `vqsim/threads`: queues and machines on worker threads. All Wasm instances
// of a machine import its one shared memory; comlink carries control, the
// memory carries the data (README "Threads"). The worker scripts ship in the
// package's dist/workers/ and are found beside the bundle.
export {
  ColocatedWorker,
  runColocated,
  SplitPair,
  type ColocatedOptions,
  type ColocatedResult,
  type ColocatedReport,
  type SplitPairOptions,
  type SplitPairStats,
  type ThreadCounters,
  type RunLimits,
  type DevicePublish,
} from '../sim/workers.js';
export { DeviceWorker } from '../sim/device-worker.js';
export {
  NetWorker,
  runNetColocated,
  type NetWorkerMachine,
  type NetWorkerOptions,
  type NetLoopResult,
  type NetColocatedOptions,
  type NetColocatedReport,
} from '../sim/net.js';
export { queueHandle, attachQueue, type QueueHandle } from '../sim/attach.js';
export type { SplitQueueHandle } from '../virtqueue/split/queue.js';
export type { PackedQueueHandle } from '../virtqueue/packed/queue.js';
export { wasmModule } from '../memory/wasm-core.js';

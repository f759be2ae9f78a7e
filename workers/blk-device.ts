// A virtio-blk queue's device side on its own thread: a second Wasm instance
// over the machine's one shared memory, its own host memory from an arena the
// starting thread reserved, the backing store opened from its description.
// Kill the thread and start another on the same store: nothing acknowledged
// is lost, since a request is acknowledged only once its data is stored. Its
// counters go to blocks in the shared memory, named in the stats registry.
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { VqsimError } from '../src/errors.js';
import { DmaApi } from '../src/dma/api.js';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { ArenaHost } from '../src/devices/blk/host.js';
import { openBackend, type BlkBackendDesc } from '../src/devices/blk/backend.js';
import { blkDeviceQueue } from '../src/devices/blk/device.js';
import { BlkQueueServer, type BlkServerConfig, type BlkServerCounters } from '../src/devices/blk/server.js';
import type { QueueConfig } from '../src/transport/device-model.js';

let server: BlkQueueServer | undefined;

const api = {
  attach(
    memory: WebAssembly.Memory,
    module: WebAssembly.Module,
    arena: { at: number; bytes: number },
    index: number,
    queue: QueueConfig,
    backend: BlkBackendDesc,
    config: BlkServerConfig,
    device = 'blk',
  ): void {
    const mem = new GuestMemory({ memory, module });
    const host = new ArenaHost(
      new DmaApi(mem, { name: `${device}.worker.dma-api` }).deviceView(),
      arena.at,
      arena.bytes,
    );
    // The queue's ring and server blocks are registered from this thread, under
    // the device's names: the machine's thread reads them by name.
    const q = blkDeviceQueue(host, queue, index, device);
    server = new BlkQueueServer(host, q, openBackend(host, backend), config, `${device}.q${index}`);
  },

  /** Serves at most `maxSets` popped sets of at most `maxPerSet` requests. */
  serve(maxSets?: number, maxPerSet?: number): { requests: number; interrupt: boolean } {
    if (!server) throw new VqsimError('WORKER_NOT_READY', 'blk device worker: attach() first', 'user');
    return server.serve(maxSets, maxPerSet);
  },

  counters(): BlkServerCounters | undefined {
    return server?.counters;
  },
};

export type BlkDeviceWorkerApi = typeof api;

if (!parentPort) throw new VqsimError('NOT_A_WORKER', 'blk-device.js runs as a worker thread', 'user');
expose(api, nodeEndpoint(parentPort));

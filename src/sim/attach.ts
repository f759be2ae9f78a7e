import * as L from '../../assembly/layout.js';
import { ConfigError } from '../errors.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { PackedQueue, type PackedQueueHandle } from '../virtqueue/packed/queue.js';
import type { Virtqueue } from '../virtqueue/queue.js';
import { RequestBatch } from '../virtqueue/split/request-batch.js';
import { SplitQueue, type SplitQueueHandle } from '../virtqueue/split/queue.js';

/** A queue of either ring kind as a plain object another thread can attach to. */
export type QueueHandle = SplitQueueHandle | PackedQueueHandle;

/** The handle of a queue built by createQueue() (split or packed). */
export function queueHandle(q: Virtqueue): QueueHandle {
  const h = (q as { handle?: () => QueueHandle }).handle;
  if (typeof h !== 'function') throw new ConfigError(`queue ${q.name}: has no handle(), so it cannot run on a worker`);
  return h.call(q);
}

/** A second face of the queue behind `handle`, over `mem` (the same memory, another thread). */
export function attachQueue(mem: GuestMemory, handle: QueueHandle): Virtqueue {
  if (handle.kind === 'split') return SplitQueue.attach(mem, handle);
  if (handle.kind === 'packed') return PackedQueue.attach(mem, handle);
  throw new ConfigError(`queue handle kind ${String((handle as { kind: unknown }).kind)}: must be split or packed`);
}

/** A request batch built on the machine's thread, as another thread sees it. */
export interface BatchHandle {
  ptr: number;
  maxChains: number;
}

/** Bytes one request of a one-buffer chain takes in a RequestBatch. */
export const ONE_BUFFER_REQ = L.REQ_HDR_SIZE + L.SG_SIZE;

/**
 * Builds a batch of `chains` one-descriptor chains over `bytes`-byte buffers
 * in shared guest pages (device-writable, so every completion has len =
 * bytes), tokens 0, 1, 2, ...
 */
export function oneBufferBatch(mem: GuestMemory, chains: number, bytes: number): RequestBatch {
  if (!Number.isInteger(bytes) || bytes < 1) throw new ConfigError(`chain bytes ${bytes}: must be at least 1`);
  const base = mem.alloc(chains * bytes, { shared: true });
  const batch = new RequestBatch(mem, chains, chains);
  for (let k = 0; k < chains; k++) batch.add([], [{ addr: base + k * bytes, len: bytes }], k);
  return batch;
}

/**
 * The face of a RequestBatch laid out by another thread. The drivers read
 * only `ptr` and `count` of a batch, and the batch lives in the shared memory.
 */
export function batchView(h: BatchHandle): RequestBatch {
  return { ptr: h.ptr, count: h.maxChains, maxChains: h.maxChains } as unknown as RequestBatch;
}

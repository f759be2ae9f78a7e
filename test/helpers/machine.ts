import { expect } from 'vitest';
import { GuestMemory, MockSplitQueue, SplitQueue, VirtqueueError, type SplitQueueOptions } from '../../src/internal.js';

export interface Machine {
  mem: GuestMemory;
  q: SplitQueue;
  mock: MockSplitQueue;
  /** 64 KiB of shared guest RAM for buffers. */
  buf: number;
}

export function machine(options: SplitQueueOptions = {}, ram = 1 << 20): Machine {
  const mem = new GuestMemory({ size: ram });
  const q = new SplitQueue(mem, { size: 8, name: 'vqT', ...options });
  const buf = mem.alloc(0x10000, { shared: true });
  return { mem, q, mock: new MockSplitQueue(q), buf };
}

export interface Expected {
  code: string;
  /** The face that raises it (VirtqueueError.detectedBy). */
  detectedBy: 'driver' | 'device';
  violation: boolean;
  /** The whole message, queue name included. */
  message: string;
  done?: number;
}

/**
 * Runs fn, which must throw a VirtqueueError with exactly these fields. Its
 * `side` (who committed the fault) must be the other end for a violation or a
 * broken queue, and the end that raised it for a refused request.
 */
export function expectVqError(fn: () => unknown, want: Expected): VirtqueueError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(VirtqueueError);
  const e = caught as VirtqueueError;
  const got: Expected = { code: e.code, detectedBy: e.detectedBy, violation: e.violation, message: e.message };
  if (want.done !== undefined) got.done = e.done;
  expect(got).toEqual(want);
  const other = want.detectedBy === 'driver' ? 'device' : 'driver';
  expect(e.side).toBe(want.violation || want.code === 'QUEUE_BROKEN' ? other : want.detectedBy);
  return e;
}

// Publishing stores (avail->idx, used->idx, a packed descriptor's flags): on
// a CPU that keeps stores in order (x86: total store order) the Wasm core
// publishes with a plain store, as Linux's smp_store_release() there, and
// fences before it reads the other side's event index; anywhere else every
// publish is a seq-cst atomic store (see QF_STORE_ORDERED in assembly/layout.ts).
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import { GuestMemory, PackedQueue, SplitQueue } from '../../src/internal.js';
import { STORES_ORDERED } from '../../src/virtqueue/modes.js';

describe('publishing stores', () => {
  it('are plain stores exactly on x86 and x86-64', () => {
    expect(STORES_ORDERED).toBe(process.arch === 'x64' || process.arch === 'ia32');
  });

  it.each(['split', 'packed'] as const)(
    '%s: both faces carry the bit, and the notification decisions still see what was published',
    (ring) => {
      const mem = new GuestMemory({ size: 1 << 20 });
      const opts = { size: 8, eventIdx: true };
      const q = ring === 'split' ? new SplitQueue(mem, opts) : new PackedQueue(mem, opts);
      const bit = STORES_ORDERED ? L.QF_STORE_ORDERED : 0;
      // The feature word is the second u32 of either face's state block, on both rings.
      expect(mem.view.getUint32(q.driver.state + 4, true) & L.QF_STORE_ORDERED).toBe(bit);
      expect(mem.view.getUint32(q.device.state + 4, true) & L.QF_STORE_ORDERED).toBe(bit);
      const buf = mem.alloc(4096, { shared: true });
      // The device asked for a kick at the first buffer: the fence before kick_prepare's read finds it.
      expect(q.driver.add([{ addr: buf, len: 64 }], [], 1)).toBe(true);
      expect(q.driver.kick()).toBe(true);
      expect(q.device.useBatch(1)).toBe(1);
      // The driver asked for an interrupt at the first used buffer.
      expect(q.device.shouldNotify()).toBe(true);
      expect(q.driver.getUsed().map((c) => c.token)).toEqual([1]);
    },
  );
});

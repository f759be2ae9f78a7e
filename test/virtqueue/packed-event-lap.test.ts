// The packed ring's driver event index in the other lap, as Linux's
// virtqueue_enable_cb_delayed_packed() writes it: "interrupt me when the used
// descriptor 3/4 of the way through what is in flight is written", which lies
// past the end of the ring once last_used is near it, so its offset is small
// and its wrap bit is the next lap's. The device must read it as an event in
// the next lap (QEMU's vring_packed_need_event: num behind) and keep the
// interrupt suppressed until it gets there; an implementation that took the
// small offset at face value would interrupt at once.
import { describe, expect, it } from 'vitest';
import * as P from '../../assembly/packed/layout.js';
import { GuestMemory, PackedQueue, type EngineName } from '../../src/internal.js';

const SIZE = 8;

/** Writes the driver event area's off_wrap as virtqueue_enable_cb_delayed_packed() does, for `bufs` more used descriptors. */
function delayedEvent(q: PackedQueue, bufs: number): { off: number; wrap: number } {
  let off = q.driver.lastUsed + bufs;
  let wrap = q.driver.usedWrapCounter;
  if (off >= SIZE) {
    off -= SIZE;
    wrap ^= 1;
  }
  q.mem.writeU16(q.areas.driver + P.PEVENT_OFF_WRAP, off | (wrap << P.PEVENT_WRAP_SHIFT));
  return { off, wrap };
}

describe.each(['wasm', 'reference'] as EngineName[])('packed event index in the other lap (%s)', (engine) => {
  it('an event in the lap with wrap bit 0, seen from the lap with wrap bit 1', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new PackedQueue(mem, { size: SIZE, eventIdx: true, engine, name: 'lap' });
    const buf = mem.alloc(4096, { shared: true });
    const add = (n: number) => {
      for (let k = 0; k < n; k++) expect(q.driver.add([], [{ addr: buf, len: 64 }], k)).toBe(true);
    };
    // One round of 5 chains moves last_used to 5 (wrap 1).
    add(5);
    expect(q.device.popBatch()).toBe(5);
    q.device.pushPopped(5);
    expect(q.device.shouldNotify()).toBe(true); // the first decision always interrupts
    expect(q.driver.reap()).toBe(5);
    expect([q.driver.lastUsed, q.driver.usedWrapCounter]).toEqual([5, 1]);
    // Six chains in flight at descriptors 5, 6, 7, 0, 1, 2: 3/4 of 6 is 4, so
    // the event is descriptor 5 + 4 - 8 = 1 of the wrap-0 lap.
    add(6);
    expect(q.device.popBatch()).toBe(6);
    expect(delayedEvent(q, 4)).toEqual({ off: 1, wrap: 0 });
    const got: boolean[] = [];
    for (let k = 0; k < 6; k++) {
      q.device.push([{ id: q.device.chain(k).id, len: 64 }]);
      got.push(q.device.shouldNotify());
    }
    // 5, 6 suppressed; at 7 the used index wraps and QEMU forgets what it
    // signalled (one interrupt); 0 suppressed; 1 is the event; 2 after it.
    expect(got).toEqual([false, false, true, false, true, false]);
    expect(q.stats()).toMatchObject({ interrupts: 3, interruptsSuppressed: 4 });
    expect(q.driver.reap()).toBe(6);
  });

  it('an event in the lap with wrap bit 1, seen from the lap with wrap bit 0', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new PackedQueue(mem, { size: SIZE, eventIdx: true, engine, name: 'lap' });
    const buf = mem.alloc(4096, { shared: true });
    const round = (n: number) => {
      for (let k = 0; k < n; k++) expect(q.driver.add([], [{ addr: buf, len: 64 }], k)).toBe(true);
      expect(q.device.popBatch()).toBe(n);
    };
    // Two rounds of 7 bring last_used to 14 - 8 = 6 in the wrap-0 lap.
    for (let r = 0; r < 2; r++) {
      round(7);
      q.device.pushPopped(7);
      q.device.shouldNotify();
      expect(q.driver.reap()).toBe(7);
    }
    expect([q.driver.lastUsed, q.driver.usedWrapCounter]).toEqual([6, 0]);
    round(7);
    // 3/4 of 7 is 5: descriptor 6 + 5 - 8 = 3 of the wrap-1 lap.
    expect(delayedEvent(q, 5)).toEqual({ off: 3, wrap: 1 });
    const before = q.stats();
    const got: boolean[] = [];
    for (let k = 0; k < 7; k++) {
      q.device.push([{ id: q.device.chain(k).id, len: 64 }]);
      got.push(q.device.shouldNotify());
    }
    // 6 suppressed; 7 wraps (one interrupt); 0, 1, 2 suppressed; 3 is the event; 4 after it.
    expect(got).toEqual([false, true, false, false, false, true, false]);
    const after = q.stats();
    expect(after.interrupts - before.interrupts).toBe(2);
    expect(after.interruptsSuppressed - before.interruptsSuppressed).toBe(5);
  });

  it('a next-lap event whose offset falls inside the batch the device decides on is still ahead', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new PackedQueue(mem, { size: SIZE, eventIdx: true, engine, name: 'lap' });
    const buf = mem.alloc(4096, { shared: true });
    const add = (n: number) => {
      for (let k = 0; k < n; k++) expect(q.driver.add([], [{ addr: buf, len: 64 }], k)).toBe(true);
    };
    // The device's last decision at used index 2.
    add(2);
    expect(q.device.popBatch()).toBe(2);
    q.device.pushPopped(2);
    expect(q.device.shouldNotify()).toBe(true);
    expect(q.driver.reap()).toBe(2);
    // It pushes descriptors 2, 3, 4 without deciding; the driver polls them
    // up (last_used 5), fills the ring (8 in flight: 5, 6, 7, 0..4) and sleeps
    // with the event 3/4 ahead: 5 + 6 = 11, descriptor 3 of the next lap.
    add(3);
    expect(q.device.popBatch()).toBe(3);
    q.device.pushPopped(3);
    expect(q.driver.reap()).toBe(3);
    add(8);
    expect(delayedEvent(q, 6)).toEqual({ off: 3, wrap: 0 });
    // The device pushes 5 and 6 and decides once for 2..6: offset 3 lies in
    // [2, 7) of this lap, but the event is in the next one: no interrupt.
    expect(q.device.popBatch()).toBe(8);
    q.device.push([0, 1].map((k) => ({ id: q.device.chain(k).id, len: 64 })));
    expect(q.device.shouldNotify()).toBe(false);
    expect(q.stats()).toMatchObject({ interrupts: 1, interruptsSuppressed: 1 });
  });
});

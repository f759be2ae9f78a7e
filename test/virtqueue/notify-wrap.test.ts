// Notifications past 2^16 (issue 8, point 12). The event-index windows are
// 16 bits wide: a driver that adds 65536 chains between two kick decisions,
// or a device that pushes 65536 used entries between two interrupt
// decisions, would compare against a lapped index and lose the last kick or
// interrupt. Linux forces a kick decision at 65535 chains added
// (virtqueue_add_split); QEMU forgets its last signalled used index once the
// used index has run past it (virtqueue_split_flush, signalled_used_valid).
import { describe, expect, it } from 'vitest';
import { GuestMemory, PackedQueue, RequestBatch, SplitQueue, type Virtqueue } from '../../src/internal.js';

const SIZE = 256;
const ENGINES = ['wasm', 'reference'] as const;

/** Moves `total` one-buffer chains through q in batches, with no kick and no interrupt decision. */
function churn(mem: GuestMemory, q: Virtqueue, total: number): void {
  const buf = mem.alloc(4096, { shared: true });
  const batch = new RequestBatch(mem, SIZE, SIZE);
  for (let k = 0; k < SIZE; k++) batch.add([{ addr: buf + (k % 64) * 64, len: 64 }], [], k);
  let moved = 0;
  for (let round = 0; moved < total && round < 2 * (total / SIZE) + 10; round++) {
    batch.count = Math.min(SIZE, total - moved);
    expect(q.driver.addBatch(batch)).toBe(batch.count);
    const n = q.device.popBatch();
    expect(n).toBe(batch.count);
    expect(q.device.pushPopped(n)).toBe(n);
    expect(q.driver.reap()).toBe(n);
    moved += n;
  }
  expect(moved).toBe(total);
}

describe('the driver never loses a kick past 65535 chains added (virtqueue_add_split)', () => {
  for (const [name, total, want] of [
    // The device asked for a kick once avail->idx passes 1000; the driver then
    // added 65546 chains before asking whether to kick. Index 1000 was passed
    // (twice), but the 16-bit window (new - 65546, new] is (0, 10]: without
    // the forced decision at 65535 the kick would be lost.
    ['65546 chains added, event at 1000', 65546, true],
    // Exactly 65536: the window would be empty.
    ['exactly 65536 chains added', 65536, true],
    // Fewer than 65535: the ordinary window decides (1000 is passed).
    ['4000 chains added', 4000, true],
  ] as const) {
    it.each(ENGINES)(`split (%s), event idx: ${name} → kick`, (engine) => {
      const mem = new GuestMemory({ size: 4 << 20 });
      const q = new SplitQueue(mem, { size: SIZE, eventIdx: true, engine });
      // The device polls: notifications off, so its pops leave avail_event alone,
      // which asks for a kick once avail->idx passes 1000.
      q.device.setNotify(false);
      mem.writeU16(q.ringAddr + q.layout.availEvent, 1000);
      churn(mem, q, total);
      expect(q.driver.kick()).toBe(want);
      expect(q.stats().kicks).toBe(1);
      // The owed kick is paid once.
      expect(q.driver.kick()).toBe(false);
      expect(q.stats().kicksSuppressed).toBe(1);
    });
  }

  it('split, event idx: an event the 65535 window never passed stays suppressed', () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const q = new SplitQueue(mem, { size: SIZE, eventIdx: true });
    q.device.setNotify(false);
    churn(mem, q, 1);
    expect(q.driver.kick()).toBe(true); // avail_event 0 was passed
    // The device asks for a kick at index 0x8000 + 1; 0x7000 chains later
    // (under 65535) it has not been passed.
    mem.writeU16(q.ringAddr + q.layout.availEvent, 0x8001);
    churn(mem, q, 0x7000);
    expect(q.driver.kick()).toBe(false);
  });
});

describe('the device never loses an interrupt past 2^16 used entries (signalled_used_valid)', () => {
  it.each(ENGINES)('split (%s), event idx: 65546 used entries between two decisions → interrupt', (engine) => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const q = new SplitQueue(mem, { size: SIZE, eventIdx: true, engine });
    churn(mem, q, 4);
    // One decision: the device signalled at used index 4.
    expect(q.device.shouldNotify()).toBe(true);
    // The driver asks for an interrupt once used->idx passes 1000 ...
    mem.writeU16(q.ringAddr + q.layout.usedEvent, 1000);
    // ... and the device pushes 65546 more before deciding again: (4, 65550]
    // seen as 16 bits is (4, 14], which misses 1000 though it was passed.
    churn(mem, q, 65546);
    expect(q.device.shouldNotify()).toBe(true);
    expect(q.stats().interrupts).toBe(2);
  });

  it('split, event idx: fewer than 2^15 used entries and an event not passed → no interrupt', () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const q = new SplitQueue(mem, { size: SIZE, eventIdx: true });
    churn(mem, q, 4);
    expect(q.device.shouldNotify()).toBe(true);
    mem.writeU16(q.ringAddr + q.layout.usedEvent, 30000);
    churn(mem, q, 2000);
    expect(q.device.shouldNotify()).toBe(false);
    expect(q.stats().interruptsSuppressed).toBe(1);
  });

  it('packed, event idx: a used index that wrapped the ring → interrupt', () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const q = new PackedQueue(mem, { size: SIZE, eventIdx: true });
    churn(mem, q, 4);
    expect(q.device.shouldNotify()).toBe(true);
    // The driver's event: descriptor 100 of this lap (off_wrap with its wrap counter, flags DESC).
    const area = q.ringAddr + q.layout.driver;
    mem.writeU16(area, 100 | (1 << 15));
    mem.writeU16(area + 2, 2);
    // 65546 buffers: the used index wraps the ring many times; the device must
    // not compare against its stale signalled index.
    churn(mem, q, 65546);
    expect(q.device.shouldNotify()).toBe(true);
  });
});

// The exact end of guest RAM, on both sides of both rings: a buffer (or an
// indirect table) whose last byte is the last byte of RAM is accepted, one
// that reaches one byte further is refused with the named error. An off-by-one
// in either direction fails here.
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import {
  GuestMemory,
  MockSplitQueue,
  PackedQueue,
  SplitQueue,
  VirtqueueError,
  type EngineName,
} from '../../src/internal.js';

const RAM = 1 << 20;
const LEN = 16;

function caught(fn: () => unknown): VirtqueueError {
  try {
    fn();
  } catch (e) {
    if (e instanceof VirtqueueError) return e;
    throw e;
  }
  throw new Error('expected a VirtqueueError, nothing was thrown');
}

const driverRefusal = {
  code: 'ADDRESS_OUTSIDE_GUEST_RAM',
  side: 'driver',
  violation: false,
  message: 'edge: request 0, buffer 0: address outside guest RAM',
};

// Found by the device, committed by the driver (VqsimError.side is who committed it).
const deviceRefusal = (addr: number) => ({
  code: 'ADDRESS_OUTSIDE_GUEST_RAM',
  side: 'driver',
  violation: true,
  message: `edge: virtio: bogus descriptor or out of resources (address 0x${addr.toString(16)})`,
});

const fields = (e: VirtqueueError) => ({ code: e.code, side: e.side, violation: e.violation, message: e.message });

const cases = (['split', 'packed'] as const).flatMap((ring) =>
  (['wasm', 'reference'] as EngineName[]).map((engine) => [ring, engine] as const),
);

describe.each(cases)('%s ring (%s): the last byte of guest RAM', (ring, engine) => {
  function queue(indirect = false) {
    const mem = new GuestMemory({ size: RAM });
    const q =
      ring === 'split'
        ? new SplitQueue(mem, { size: 8, name: 'edge', indirect, engine })
        : new PackedQueue(mem, { size: 8, name: 'edge', indirect, engine });
    return { mem, q };
  }

  /** Writes descriptor 0 as a driver would make it available (split: and publishes head 0). */
  function makeAvailable(mem: GuestMemory, q: SplitQueue | PackedQueue, addr: number, len: number, flags = 0): void {
    if (q instanceof SplitQueue) {
      const mock = new MockSplitQueue(q);
      mock.writeDesc(0, { addr, len, flags, next: 0 });
      mock.addAvail(0);
      return;
    }
    const at = q.ringAddr;
    mem.writeU64(at + P.PDESC_ADDR, addr);
    mem.writeU32(at + P.PDESC_LEN, len);
    mem.writeU16(at + P.PDESC_ID, 0);
    mem.writeU16(at + P.PDESC_FLAGS, flags | P.PDESC_F_AVAIL);
  }

  it('driver add: a buffer ending at the end of RAM is added, one byte further is refused', () => {
    const { q } = queue();
    expect(q.driver.add([{ addr: RAM - LEN, len: LEN }], [], 1)).toBe(true);
    expect(q.driver.add([], [{ addr: RAM - 1, len: 1 }], 2)).toBe(true);
    expect(fields(caught(() => q.driver.add([{ addr: RAM - LEN + 1, len: LEN }], [], 3)))).toEqual(driverRefusal);
    expect(fields(caught(() => q.driver.add([], [{ addr: RAM, len: 1 }], 4)))).toEqual(driverRefusal);
    // A caller error: the queue is not broken, and the two good chains are the device's.
    expect(q.driver.broken).toBe(false);
    const chains = q.device.pop();
    expect(chains.map((c) => [c.readBytes, c.writeBytes])).toEqual([
      [LEN, 0],
      [0, 1],
    ]);
    expect(q.stats()).toMatchObject({ chainsAdded: 2, chainsPopped: 2, driverChecksFailed: 0, deviceChecksFailed: 0 });
  });

  it('device pop: a descriptor ending at the end of RAM is popped, one byte further breaks the queue', () => {
    const ok = queue();
    makeAvailable(ok.mem, ok.q, RAM - LEN, LEN);
    const chains = ok.q.device.pop();
    expect(chains).toHaveLength(1);
    expect(chains[0]!.readBytes).toBe(LEN);
    expect(ok.q.device.broken).toBe(false);

    const bad = queue();
    makeAvailable(bad.mem, bad.q, RAM - LEN + 1, LEN);
    const e = caught(() => bad.q.device.popBatch());
    expect(fields(e)).toEqual(deviceRefusal(RAM - LEN + 1));
    expect(bad.q.device.broken).toBe(true);
    expect(bad.q.stats()).toMatchObject({ chainsPopped: 0, deviceChecksFailed: 1 });
  });

  it('device pop: an indirect table ending at the end of RAM is read, one byte further breaks the queue', () => {
    const INDIRECT = ring === 'split' ? L.VRING_DESC_F_INDIRECT : P.PDESC_F_INDIRECT;
    const table = RAM - 16;
    const ok = queue(true);
    // One table entry (16 bytes) pointing at a buffer well inside RAM.
    ok.mem.writeU64(table, 0x1000);
    ok.mem.writeU32(table + 8, 64);
    makeAvailable(ok.mem, ok.q, table, 16, INDIRECT);
    const chains = ok.q.device.pop();
    expect(chains.map((c) => c.readBytes)).toEqual([64]);

    const bad = queue(true);
    makeAvailable(bad.mem, bad.q, table + 1, 16, INDIRECT);
    expect(fields(caught(() => bad.q.device.popBatch()))).toEqual(deviceRefusal(table + 1));
    expect(bad.q.device.broken).toBe(true);
  });
});

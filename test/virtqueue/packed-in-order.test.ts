// VIRTIO_F_IN_ORDER on the packed ring (VIRTIO 1.2 §2.8.9, Linux's
// virtqueue_get_buf_ctx_packed_in_order): one used descriptor per pushed
// batch, written at the batch's first descriptor with the last buffer's id
// and len; the driver completes every buffer up to that id in order, the
// skipped ones with their total length. Both engines; the checks on each side.
import { describe, expect, it } from 'vitest';
import * as P from '../../assembly/packed/layout.js';
import {
  ConfigError,
  GuestMemory,
  PackedQueue,
  RequestBatch,
  createQueue,
  type EngineName,
  type PackedQueueOptions,
} from '../../src/internal.js';
import { expectVqError } from '../helpers/machine.js';

const { PDESC_F_NEXT: NEXT, PDESC_F_WRITE: WRITE, PDESC_F_INDIRECT: INDIRECT } = P;
const AVAIL = P.PDESC_F_AVAIL;
const USED = P.PDESC_F_USED;
const ENGINES: EngineName[] = ['wasm', 'reference'];

interface M {
  mem: GuestMemory;
  q: PackedQueue;
  buf: number;
}

function machine(opts: PackedQueueOptions = {}): M {
  const mem = new GuestMemory({ size: 1 << 20 });
  const q = new PackedQueue(mem, { size: 7, name: 'vqI', inOrder: true, ...opts });
  return { mem, q, buf: mem.alloc(0x10000, { shared: true }) };
}

/** Ring descriptor i as {id, len, flags}. */
function desc(m: M, i: number): { id: number; len: number; flags: number } {
  const at = m.q.ringAddr + i * P.PDESC_SIZE;
  return {
    id: m.mem.readU16(at + P.PDESC_ID),
    len: m.mem.readU32(at + P.PDESC_LEN),
    flags: m.mem.readU16(at + P.PDESC_FLAGS),
  };
}

function writeDesc(m: M, i: number, d: { id: number; len: number; flags: number }): void {
  const at = m.q.ringAddr + i * P.PDESC_SIZE;
  m.mem.writeU16(at + P.PDESC_ID, d.id);
  m.mem.writeU32(at + P.PDESC_LEN, d.len);
  m.mem.writeU16(at + P.PDESC_FLAGS, d.flags);
}

describe('inOrder option', () => {
  it('createQueue passes it to a packed queue; the split ring refuses it', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = createQueue(mem, { ring: 'packed', size: 5, inOrder: true }) as PackedQueue;
    expect(q.inOrder).toBe(true);
    expect(q.driver.inOrder).toBe(true);
    expect(q.device.inOrder).toBe(true);
    expect(q.handle().inOrder).toBe(true);
    expect((createQueue(mem, { ring: 'packed', size: 5 }) as PackedQueue).inOrder).toBe(false);
    expect(() => createQueue(mem, { ring: 'split', inOrder: true })).toThrow(ConfigError);
    const attached = PackedQueue.attach(mem, q.handle());
    expect(attached.driver.inOrder && attached.device.inOrder).toBe(true);
  });
});

describe.each(ENGINES)('in-order batches (%s)', (engine) => {
  it('writes one used descriptor per batch: the last id and len, at the batch start', () => {
    const m = machine({ engine });
    const { q, buf, mem } = m;
    const batch = new RequestBatch(mem, 3, 8);
    batch
      .add([{ addr: buf, len: 10 }], [{ addr: buf + 100, len: 20 }], 1) // 2 descriptors: id 0
      .add([], [{ addr: buf + 200, len: 31 }], 2) // 1 descriptor: id 2
      .add(
        [{ addr: buf + 300, len: 5 }],
        [
          { addr: buf + 400, len: 6 },
          { addr: buf + 500, len: 7 },
        ],
        3,
      ); // id 3
    expect(q.driver.addBatch(batch)).toBe(3);
    // Ids are the ring indices of the heads (Linux's in-order driver).
    const chains = q.device.pop();
    expect(chains.map((c) => c.id)).toEqual([0, 2, 3]);
    const before = [1, 2, 3, 4, 5].map((i) => desc(m, i));
    expect(q.device.pushPopped(3)).toBe(3);
    // One used descriptor at 0: id 3, len 13 (its writable bytes), AVAIL = USED = 1, WRITE.
    expect(desc(m, 0)).toEqual({ id: 3, len: 13, flags: AVAIL | USED | WRITE });
    // Every other descriptor of the batch is left as the driver wrote it.
    expect([1, 2, 3, 4, 5].map((i) => desc(m, i))).toEqual(before);
    expect(before.map((d) => d.flags)).toEqual([
      AVAIL | WRITE,
      AVAIL | WRITE,
      AVAIL | NEXT,
      AVAIL | WRITE | NEXT,
      AVAIL | WRITE,
    ]);
    expect(q.stats().chainsUsed).toBe(3);
    expect(q.device.inflight).toBe(0);
    // All three complete in order; the skipped ones with their total length (readable + writable).
    expect(q.driver.getUsed()).toEqual([
      { token: 1, len: 30 },
      { token: 2, len: 31 },
      { token: 3, len: 13 },
    ]);
    expect(q.driver.lastUsed).toBe(6);
    expect(q.driver.numFree).toBe(7);
    // The next batch's used descriptor goes at its own first descriptor (6), then wraps.
    expect(q.driver.add([{ addr: buf, len: 8 }], [], 4)).toBe(true);
    expect(q.driver.add([{ addr: buf, len: 8 }], [{ addr: buf, len: 9 }], 5)).toBe(true);
    expect(q.device.pop().map((c) => c.id)).toEqual([6, 0]);
    expect(
      q.device.push([
        { id: 6, len: 0 },
        { id: 0, len: 4 },
      ]),
    ).toBe(2);
    expect(desc(m, 6)).toEqual({ id: 0, len: 4, flags: AVAIL | USED | WRITE });
    expect(desc(m, 0).flags).toBe(USED | NEXT);
    expect(q.device.usedWrapCounter).toBe(0);
    expect(q.driver.getUsed()).toEqual([
      { token: 4, len: 8 },
      { token: 5, len: 4 },
    ]);
    expect(q.driver.usedWrapCounter).toBe(0);
    expect(q.driver.lastUsed).toBe(2);
  });

  it('indirect chains take one descriptor and skip with their total length', () => {
    const m = machine({ engine, indirect: true, indirectMax: 4 });
    const { q, buf } = m;
    const three = [
      { addr: buf, len: 11 },
      { addr: buf + 64, len: 12 },
    ];
    expect(q.driver.add(three, [{ addr: buf + 128, len: 13 }], 1, { indirect: true })).toBe(true);
    expect(q.driver.add([{ addr: buf, len: 4 }], [], 2)).toBe(true);
    expect(q.device.pop().map((c) => c.id)).toEqual([0, 1]);
    expect(desc(m, 0).flags).toBe(AVAIL | INDIRECT);
    q.device.pushPopped(2);
    expect(desc(m, 0)).toEqual({ id: 1, len: 0, flags: AVAIL | USED });
    expect(q.driver.getUsed()).toEqual([
      { token: 1, len: 36 },
      { token: 2, len: 0 },
    ]);
  });

  it('a batch may be reaped over several calls; enableCallbacks sees the rest pending', () => {
    const { q, buf } = machine({ engine, eventIdx: true });
    for (let t = 0; t < 4; t++) q.driver.add([], [{ addr: buf + 64 * t, len: 50 + t }], t);
    q.device.popBatch();
    q.device.pushPopped(4);
    expect(q.device.shouldNotify()).toBe(true);
    expect(q.driver.getUsed(1)).toEqual([{ token: 0, len: 50 }]);
    expect(q.driver.enableCallbacks()).toBe(false);
    expect(q.driver.getUsed(2)).toEqual([
      { token: 1, len: 51 },
      { token: 2, len: 52 },
    ]);
    expect(q.driver.getUsed()).toEqual([{ token: 3, len: 53 }]);
    expect(q.driver.enableCallbacks()).toBe(true);
    expect(q.driver.getUsed()).toEqual([]);
    expect(q.driver.numFree).toBe(7);
  });

  it('round trips over many laps, sizes that are not powers of two, batches of several chains', () => {
    let batches = 0;
    let used = 0;
    for (const size of [3, 7, 10, 100]) {
      const { q, buf, mem } = machine({ engine, size, indirect: true, indirectMax: 3 });
      const batch = new RequestBatch(mem, 8, 8 * 4);
      let token = 0;
      const outstanding: { token: number; total: number; write: number }[] = [];
      let flips = 0;
      let lastWrap = q.driver.usedWrapCounter;
      for (let round = 0; round < 600; round++) {
        batch.clear();
        const chains = 1 + (round % 4);
        const specs: { token: number; total: number; write: number }[] = [];
        for (let c = 0; c < chains; c++) {
          const bufs = 1 + ((round + c) % Math.min(size, 3));
          const out = (round + c) % 2 === 0 ? 1 : 0;
          const lens = Array.from({ length: bufs }, (_, k) => 1 + ((round * 7 + c * 3 + k) % 97));
          const all = lens.map((len, k) => ({ addr: buf + 128 * k, len }));
          batch.add(all.slice(0, out), all.slice(out), token + c, (round + c) % 3 === 0);
          const total = lens.reduce((a, b) => a + b, 0);
          const write = lens.slice(out).reduce((a, b) => a + b, 0);
          specs.push({ token: token + c, total, write });
        }
        const added = q.driver.addBatch(batch);
        outstanding.push(...specs.slice(0, added));
        token += chains;
        // The device takes everything there (in order: the k-th chain popped is
        // outstanding[k]) and pushes it back in batches of 1..3.
        const n = q.device.popBatch();
        expect(n).toBe(outstanding.length);
        const want: { token: number; len: number }[] = [];
        let pushed = 0;
        while (pushed < n) {
          const k = Math.min(n - pushed, 1 + ((round + pushed) % 3));
          const entries = Array.from({ length: k }, (_, j) => {
            const ch = q.device.chain(pushed + j);
            return { id: ch.id, len: ch.writeBytes };
          });
          const wrap = q.device.usedWrapCounter;
          const at = usedIndex(q);
          expect(q.device.push(entries)).toBe(k);
          // One used descriptor, at the batch start, with the last entry's id and len.
          const last = entries[k - 1]!;
          expect(desc({ mem, q, buf }, at)).toEqual({
            id: last.id,
            len: last.len,
            flags: (wrap ? AVAIL | USED : 0) | (last.len ? WRITE : 0),
          });
          // Skipped buffers complete with their total length, the last with its used len.
          for (let j = 0; j < k; j++) {
            const o = outstanding[pushed + j]!;
            want.push({ token: o.token, len: j === k - 1 ? o.write : o.total });
          }
          batches++;
          used += k;
          pushed += k;
        }
        // Reaped in pieces, in order, with their tokens.
        const got = [...q.driver.getUsed(1 + (round % 5)), ...q.driver.getUsed()];
        expect(got).toEqual(want);
        outstanding.splice(0, n);
        if (q.driver.usedWrapCounter !== lastWrap) {
          flips++;
          lastWrap = q.driver.usedWrapCounter;
        }
      }
      expect(outstanding).toEqual([]);
      expect(flips).toBeGreaterThan(size === 100 ? 5 : 50);
      const s = q.stats();
      expect(s.driverChecksFailed + s.deviceChecksFailed).toBe(0);
      expect(s.chainsCompleted).toBe(s.chainsAdded);
      expect(q.driver.numFree).toBe(size);
    }
    // Deterministic: 5150 buffers in 3650 pushes.
    expect(used).toBeGreaterThan(1.3 * batches);
  });

  it('gives skipped buffers their total length and the last its used len', () => {
    const { q, buf } = machine({ engine, size: 10 });
    q.driver.add(
      [{ addr: buf, len: 3 }],
      [
        { addr: buf, len: 4 },
        { addr: buf, len: 5 },
      ],
      7,
    );
    q.driver.add([{ addr: buf, len: 6 }], [], 8);
    q.driver.add([], [{ addr: buf, len: 9 }], 9);
    const [a, b, c] = q.device.pop();
    expect(
      q.device.push([
        { id: a!.id, len: 1 },
        { id: b!.id, len: 0 },
        { id: c!.id, len: 2 },
      ]),
    ).toBe(3);
    expect(q.driver.getUsed()).toEqual([
      { token: 7, len: 12 },
      { token: 8, len: 6 },
      { token: 9, len: 2 },
    ]);
    expect(q.stats().bytesCompleted).toBe(20);
  });
});

/** The device's used index (PDEV_USED_IDX): where its next used descriptor goes. */
function usedIndex(q: PackedQueue): number {
  return q.mem.view.getUint32(q.device.state + P.PDEV_USED_IDX, true);
}

describe.each(ENGINES)('in-order checks (%s)', (engine) => {
  it('device: a push out of popped order is a caller error, named, and does not break the queue', () => {
    const m = machine({ engine });
    const { q, buf } = m;
    for (let t = 0; t < 3; t++) q.driver.add([{ addr: buf, len: 8 }], [], t);
    expect(q.device.pop().map((c) => c.id)).toEqual([0, 1, 2]);
    expectVqError(() => q.device.push([{ id: 1, len: 0 }]), {
      code: 'PUSH_OUT_OF_ORDER',
      detectedBy: 'device',
      violation: false,
      message: 'vqI: VIRTIO_F_IN_ORDER: used id 1 pushed out of order (buffer id 0 was popped first)',
      done: 0,
    });
    // Entries before the misordered one form the batch and are published.
    expectVqError(
      () =>
        q.device.push([
          { id: 0, len: 0 },
          { id: 2, len: 0 },
        ]),
      {
        code: 'PUSH_OUT_OF_ORDER',
        detectedBy: 'device',
        violation: false,
        message: 'vqI: VIRTIO_F_IN_ORDER: used id 2 pushed out of order (buffer id 1 was popped first)',
        done: 1,
      },
    );
    expect(desc(m, 0)).toEqual({ id: 0, len: 0, flags: AVAIL | USED });
    expectVqError(() => q.device.push([{ id: 0, len: 0 }]), {
      code: 'PUSH_ID_NOT_IN_FLIGHT',
      detectedBy: 'device',
      violation: false,
      message: 'vqI: used id 0 is not a buffer the device holds',
    });
    expectVqError(() => q.device.push([{ id: 9, len: 0 }]), {
      code: 'PUSH_ID_OUT_OF_RANGE',
      detectedBy: 'device',
      violation: false,
      message: 'vqI: used id 9 is not a descriptor of this queue',
    });
    expect(q.device.broken).toBe(false);
    expect(q.stats().deviceChecksFailed).toBe(0);
    expect(
      q.device.push([
        { id: 1, len: 0 },
        { id: 2, len: 0 },
      ]),
    ).toBe(2);
    expect(q.driver.getUsed().map((c) => c.token)).toEqual([0, 1, 2]);
  });

  it('driver: a used id out of range breaks the queue', () => {
    const m = machine({ engine });
    m.q.driver.add([{ addr: m.buf, len: 8 }], [], 5);
    writeDesc(m, 0, { id: 99, len: 0, flags: AVAIL | USED });
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_OUT_OF_RANGE',
      detectedBy: 'driver',
      violation: true,
      message: 'vqI: id 99 out of range',
      done: 0,
    });
    expect(m.q.driver.broken).toBe(true);
    expect(m.q.stats().driverChecksFailed).toBe(1);
    expect(m.q.driver.reap()).toBe(0);
  });

  it('driver: a used id that is not outstanding (never added, or already completed) breaks the queue', () => {
    for (const stale of [false, true]) {
      const m = machine({ engine });
      const { q, buf } = m;
      q.driver.add([{ addr: buf, len: 8 }], [], 5);
      q.driver.add([{ addr: buf, len: 8 }], [], 6);
      if (stale) {
        // Buffer 0 completes; then the device claims a batch ending at 0 again.
        writeDesc(m, 0, { id: 0, len: 0, flags: AVAIL | USED });
        writeDesc(m, 1, { id: 0, len: 0, flags: AVAIL | USED });
      } else {
        // Id 4 was never made available (nothing is outstanding there).
        writeDesc(m, 0, { id: 4, len: 0, flags: AVAIL | USED });
      }
      const e = expectVqError(() => q.driver.reap(), {
        code: 'USED_ID_NOT_A_HEAD',
        detectedBy: 'driver',
        violation: true,
        message: `vqI: id ${stale ? 0 : 4} is not a head!`,
        done: stale ? 1 : 0,
      });
      expect(e.partial).toEqual(stale ? [{ token: 5, len: 0 }] : []);
      expect(q.driver.broken).toBe(true);
      expect(q.stats().driverChecksFailed).toBe(1);
    }
  });

  it('driver: a used descriptor whose flags do not match the used wrap counter breaks the queue', () => {
    const m = machine({ engine });
    m.q.driver.add([{ addr: m.buf, len: 8 }], [], 5);
    writeDesc(m, 0, { id: 0, len: 0, flags: 0 });
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_WRAP_MISMATCH',
      detectedBy: 'driver',
      violation: true,
      message: 'vqI: used descriptor 0 has flags 0x0: AVAIL/USED do not match the used wrap counter',
      done: 0,
    });
    expect(m.q.driver.broken).toBe(true);
  });

  it('device: the checks of the packed ring stay (a chain id already in flight breaks the queue)', () => {
    const m = machine({ engine });
    const { q, buf } = m;
    q.driver.add([{ addr: buf, len: 8 }], [], 1);
    q.driver.add([{ addr: buf, len: 8 }], [], 2);
    // The driver lies: the second buffer reuses id 0 while it is in flight.
    m.mem.writeU16(q.ringAddr + P.PDESC_SIZE + P.PDESC_ID, 0);
    expectVqError(() => q.device.pop(), {
      code: 'AVAIL_ID_IN_USE',
      detectedBy: 'device',
      violation: true,
      message: 'vqI: Guest says buffer id 0 is available while it is in use',
    });
    expect(q.device.broken).toBe(true);
  });
});

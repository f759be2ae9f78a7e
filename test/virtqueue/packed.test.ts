// The packed ring (VIRTIO 1.2 §2.8): layout, round trips on both engines,
// wrap counters over many laps (sizes that are not powers of two), the Linux
// 2021 wrap trap, event suppression, and every check with its named error and
// the broken state that follows.
import { describe, expect, it } from 'vitest';
import { iov } from '../helpers/ring.js';
import * as P from '../../assembly/packed/layout.js';
import {
  ConfigError,
  GuestMemory,
  PackedQueue,
  RequestBatch,
  createQueue,
  packedRingLayout,
  type EngineName,
  type PackedQueueOptions,
  type RingKind,
  type Virtqueue,
} from '../../src/internal.js';
import { expectVqError } from '../helpers/machine.js';

const { PDESC_F_NEXT: NEXT, PDESC_F_WRITE: WRITE, PDESC_F_INDIRECT: INDIRECT } = P;
const AVAIL = P.PDESC_F_AVAIL;
const USED = P.PDESC_F_USED;
const ENGINES: EngineName[] = ['wasm', 'reference'];

interface M {
  mem: GuestMemory;
  q: PackedQueue;
  /** 64 KiB of shared guest RAM for buffers. */
  buf: number;
}

function machine(opts: PackedQueueOptions = {}): M {
  const mem = new GuestMemory({ size: 1 << 20 });
  const q = new PackedQueue(mem, { size: 8, name: 'vqP', ...opts });
  return { mem, q, buf: mem.alloc(0x10000, { shared: true }) };
}

/** Writes ring descriptor i as a misbehaving side would (guest physical addr). */
function writeDesc(m: M, i: number, d: { addr?: number; len?: number; id?: number; flags: number }): void {
  const at = m.q.ringAddr + i * P.PDESC_SIZE;
  m.mem.writeU64(at + P.PDESC_ADDR, d.addr ?? m.buf);
  m.mem.writeU32(at + P.PDESC_LEN, d.len ?? 64);
  m.mem.writeU16(at + P.PDESC_ID, d.id ?? 0);
  m.mem.writeU16(at + P.PDESC_FLAGS, d.flags);
}

const BROKEN = {
  code: 'QUEUE_BROKEN',
  detectedBy: 'driver' as 'driver' | 'device',
  violation: false,
  message: 'vqP: virtqueue is broken (-EIO): an earlier check failed',
};

function expectDeviceBroken(m: M): void {
  expect(m.q.device.broken).toBe(true);
  expect(m.q.stats().deviceChecksFailed).toBe(1);
  expect(m.q.device.popBatch()).toBe(0);
  expectVqError(() => m.q.device.push([{ id: 0, len: 0 }]), { ...BROKEN, detectedBy: 'device' });
}

function expectDriverBroken(m: M): void {
  expect(m.q.driver.broken).toBe(true);
  expect(m.q.stats().driverChecksFailed).toBe(1);
  expectVqError(() => m.q.driver.add([{ addr: m.buf, len: 64 }]), BROKEN);
  expect(m.q.driver.reap()).toBe(0);
}

describe('packed ring layout', () => {
  it('is 16 bytes per descriptor plus two 4-byte event areas, for any size 1..32768', () => {
    for (const size of [1, 2, 3, 5, 7, 100, 255, 256, 1000, 32767, 32768]) {
      const l = packedRingLayout(size);
      expect(l).toEqual({ size, desc: 0, driver: 16 * size, device: 16 * size + 4, total: 16 * size + 8 });
    }
    for (const bad of [0, -1, 1.5, 32769]) {
      expect(() => packedRingLayout(bad)).toThrow(ConfigError);
    }
    expect(() => packedRingLayout(0)).toThrow('queue size 0: must be a whole number from 1 to 32768 for a packed ring');
  });

  it('createQueue({ ring: "packed" }) builds a PackedQueue of a non-power-of-two size', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = createQueue(mem, { ring: 'packed', size: 6 });
    expect(q).toBeInstanceOf(PackedQueue);
    expect(q.size).toBe(6);
    expect(mem.isShared((q as PackedQueue).ringAddr)).toBe(true);
  });
});

describe.each(ENGINES)('packed round trips (%s)', (engine) => {
  it('adds, pops, pushes and reaps direct and indirect chains', () => {
    for (const indirect of [false, true]) {
      const m = machine({ engine, indirect, size: 5 });
      const { q, buf } = m;
      expect(q.driver.add([{ addr: buf, len: 10 }], [{ addr: buf + 100, len: 20 }], 7)).toBe(true);
      expect(q.driver.add([{ addr: buf + 200, len: 30 }], [], 8)).toBe(true);
      expect(q.driver.numFree).toBe(indirect ? 3 : 2);
      expect(q.driver.kick()).toBe(true);
      const chains = q.device.pop();
      expect(chains).toEqual([
        {
          id: 0,
          readable: [iov(m.mem, buf, 10)],
          writable: [iov(m.mem, buf + 100, 20)],
          readBytes: 10,
          writeBytes: 20,
        },
        { id: indirect ? 1 : 2, readable: [iov(m.mem, buf + 200, 30)], writable: [], readBytes: 30, writeBytes: 0 },
      ]);
      expect(q.device.inflight).toBe(2);
      // Complete out of order: the second buffer first.
      expect(q.device.push([{ id: chains[1]!.id, len: 0 }])).toBe(1);
      expect(q.device.shouldNotify()).toBe(true);
      expect(q.driver.getUsed()).toEqual([{ token: 8, len: 0 }]);
      expect(q.device.push([{ id: 0, len: 20 }])).toBe(1);
      expect(q.driver.getUsed()).toEqual([{ token: 7, len: 20 }]);
      expect(q.driver.numFree).toBe(5);
      const s = q.stats();
      expect([s.chainsAdded, s.chainsPopped, s.chainsUsed, s.chainsCompleted]).toEqual([2, 2, 2, 2]);
      expect(s.indirectAdded).toBe(indirect ? 1 : 0);
    }
  });

  it('publishes each batch with the first head written last and reads used flags by the wrap rule', () => {
    const { q, buf, mem } = machine({ engine, size: 4 });
    const batch = new RequestBatch(mem, 2, 4);
    batch.add([{ addr: buf, len: 1 }], [], 1).add([{ addr: buf, len: 2 }], [{ addr: buf, len: 3 }], 2);
    expect(q.driver.addBatch(batch)).toBe(2);
    const flags = (i: number) => mem.readU16(q.ringAddr + i * 16 + P.PDESC_FLAGS);
    expect([flags(0), flags(1), flags(2)]).toEqual([AVAIL, AVAIL | NEXT, AVAIL | WRITE]);
    // Buffer id on every descriptor of the chain (the device reads the last).
    expect(mem.readU16(q.ringAddr + 2 * 16 + P.PDESC_ID)).toBe(1);
    expect(q.device.popBatch()).toBe(2);
    expect(q.device.pushPopped(2)).toBe(2);
    // Used: AVAIL = USED = 1; WRITE where data was written; the second used
    // descriptor sits at 1 (after the 1-descriptor buffer).
    expect(flags(0)).toBe(AVAIL | USED);
    expect(flags(1)).toBe(AVAIL | USED | WRITE);
    expect(q.driver.getUsed()).toEqual([
      { token: 1, len: 0 },
      { token: 2, len: 3 },
    ]);
    expect(q.driver.lastUsed).toBe(3);
  });
});

describe.each(ENGINES)('wrap counters (%s)', (engine) => {
  it('a chain as long as the ring still flips the avail wrap counter (Linux fix of 2021)', () => {
    for (const size of [1, 3, 4, 5]) {
      const { q, buf } = machine({ engine, size });
      for (let lap = 0; lap < 6; lap++) {
        const wrap = lap % 2 === 0 ? 1 : 0;
        expect(q.driver.availWrapCounter).toBe(wrap);
        const bufs = Array.from({ length: size }, (_, k) => ({ addr: buf + 64 * k, len: 64 }));
        expect(q.driver.add(bufs.slice(0, 1), bufs.slice(1), lap)).toBe(true);
        expect(q.driver.nextAvail).toBe(0);
        expect(q.driver.availWrapCounter).toBe(1 - wrap);
        expect(q.driver.numFree).toBe(0);
        const [chain] = q.device.pop();
        expect(chain!.readable.length + chain!.writable.length).toBe(size);
        expect(q.device.availWrapCounter).toBe(1 - wrap);
        expect(q.device.pop()).toEqual([]);
        q.device.pushPopped(1);
        expect(q.device.usedWrapCounter).toBe(1 - wrap);
        expect(q.driver.getUsed()).toEqual([{ token: lap, len: 64 * (size - 1) }]);
        expect(q.driver.usedWrapCounter).toBe(1 - wrap);
      }
    }
  });

  it('runs many laps of mixed chains on sizes that are not powers of two', () => {
    for (const size of [3, 7, 10, 100]) {
      const { q, buf } = machine({ engine, size, indirect: true, indirectMax: 3 });
      let token = 0;
      let expected: number[] = [];
      let flips = 0;
      let lastWrap = q.driver.availWrapCounter;
      for (let round = 0; round < 400; round++) {
        const len = 1 + (round % Math.min(size, 4));
        const ok = q.driver.add(
          [{ addr: buf, len: 8 }],
          Array.from({ length: len - 1 }, () => ({ addr: buf + 64, len: 16 })),
          token,
          { indirect: round % 3 === 0 },
        );
        if (ok) expected.push(token++);
        if (q.driver.availWrapCounter !== lastWrap) {
          flips++;
          lastWrap = q.driver.availWrapCounter;
        }
        if (!ok || round % 2 === 1) {
          q.device.popBatch();
          // Complete in reverse order to exercise the free-id list.
          const n = q.device.inflight;
          const recs = Array.from({ length: n }, (_, k) => q.device.chain(n - 1 - k));
          q.device.push(recs.map((c) => ({ id: c.id, len: c.writeBytes })));
          const got = q.driver.getUsed().map((c) => c.token);
          expect(got.sort((a, b) => a - b)).toEqual(expected.slice(0, got.length));
          expected = expected.slice(got.length);
        }
      }
      expect(flips).toBeGreaterThan(size === 100 ? 3 : 20);
      expect(q.stats().driverChecksFailed + q.stats().deviceChecksFailed).toBe(0);
    }
  });
});

describe.each(ENGINES)('event suppression (%s)', (engine) => {
  it('without event idx: ENABLE/DISABLE in both areas', () => {
    const { q, buf } = machine({ engine });
    q.device.setNotify(false);
    q.driver.add([{ addr: buf, len: 8 }]);
    expect(q.driver.kick()).toBe(false);
    expect(q.device.setNotify(true)).toBe(true);
    q.driver.add([{ addr: buf, len: 8 }]);
    expect(q.driver.kick()).toBe(true);
    q.driver.disableCallbacks();
    q.device.pushPopped(q.device.popBatch());
    expect(q.device.shouldNotify()).toBe(false);
    expect(q.driver.enableCallbacks()).toBe(false);
    expect(q.driver.reap()).toBe(2);
    expect(q.driver.enableCallbacks()).toBe(true);
    expect(q.stats()).toMatchObject({ kicks: 1, kicksSuppressed: 1, interrupts: 0, interruptsSuppressed: 1 });
  });

  it('with event idx: DESC mode with off_wrap, across wrap-arounds', () => {
    const { q, buf } = machine({ engine, eventIdx: true, size: 3 });
    let suppressed = 0;
    for (let lap = 0; lap < 10; lap++) {
      q.driver.add([{ addr: buf, len: 8 }], [], lap);
      expect(q.driver.kick()).toBe(true);
      // The device has not popped yet: its event offset is behind, no kick.
      q.driver.add([{ addr: buf, len: 8 }], [], lap);
      expect(q.driver.kick()).toBe(false);
      expect(q.device.popBatch()).toBe(2);
      const [a, b] = [q.device.chain(0), q.device.chain(1)];
      q.device.push([{ id: a.id, len: 0 }]);
      expect(q.device.shouldNotify()).toBe(true);
      // The driver has not reaped yet: its event offset is behind, no
      // interrupt, unless the used index wrapped (QEMU then forgets the last
      // signalled index and interrupts once).
      const before = q.device.usedWrapCounter;
      q.device.push([{ id: b.id, len: 0 }]);
      const wrapped = q.device.usedWrapCounter !== before;
      expect(q.device.shouldNotify()).toBe(wrapped);
      if (!wrapped) suppressed++;
      expect(q.driver.reap()).toBe(2);
    }
    expect(suppressed).toBeGreaterThanOrEqual(3);
    expect(q.stats()).toMatchObject({ kicks: 10, kicksSuppressed: 10, interruptsSuppressed: suppressed });
  });
});

describe('the same code runs on both rings', () => {
  function workload(q: Virtqueue, buf: number): number[] {
    const tokens: number[] = [];
    for (let i = 0; i < 50; i++) {
      q.driver.add([{ addr: buf, len: 16 }], [{ addr: buf + 64, len: 32 }], i);
      q.driver.kick();
      for (const c of q.device.pop()) q.device.push([{ id: c.id, len: c.writeBytes }]);
      q.device.shouldNotify();
      tokens.push(...q.driver.getUsed().map((c) => c.token * 1000 + c.len));
    }
    return tokens;
  }
  it('gives the same completions on split and packed', () => {
    const results = (['split', 'packed'] as RingKind[]).map((ring) => {
      const mem = new GuestMemory({ size: 1 << 20 });
      return workload(createQueue(mem, { ring, size: 8 }), mem.alloc(4096, { shared: true }));
    });
    expect(results[1]).toEqual(results[0]);
  });
});

describe.each(ENGINES)('driver-side checks: the device lied (%s)', (engine) => {
  it('used buffer id out of range', () => {
    const m = machine({ engine });
    m.q.driver.add([{ addr: m.buf, len: 8 }], [], 5);
    writeDesc(m, 0, { id: 99, len: 0, flags: AVAIL | USED });
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_OUT_OF_RANGE',
      detectedBy: 'driver',
      violation: true,
      message: 'vqP: id 99 out of range',
      done: 0,
    });
    expectDriverBroken(m);
  });

  it('used id that is not outstanding (never added, or already reaped)', () => {
    const m = machine({ engine });
    m.q.driver.add([{ addr: m.buf, len: 8 }], [], 5);
    m.q.driver.add([{ addr: m.buf, len: 8 }], [], 6);
    // A valid used descriptor for id 0, then a duplicate of it.
    writeDesc(m, 0, { id: 0, len: 0, flags: AVAIL | USED });
    writeDesc(m, 1, { id: 0, len: 0, flags: AVAIL | USED });
    const e = expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_NOT_A_HEAD',
      detectedBy: 'driver',
      violation: true,
      message: 'vqP: id 0 is not a head!',
      done: 1,
    });
    expect(e.partial).toEqual([{ token: 5, len: 0 }]);
    expectDriverBroken(m);
  });

  it('used descriptor whose flags do not match the used wrap counter', () => {
    for (const flags of [0, USED]) {
      const m = machine({ engine });
      m.q.driver.add([{ addr: m.buf, len: 8 }], [], 5);
      // AVAIL = USED = 0 is "used" in the previous lap; AVAIL = 0, USED = 1 is nothing valid.
      writeDesc(m, 0, { id: 0, len: 0, flags });
      expectVqError(() => m.q.driver.reap(), {
        code: 'USED_WRAP_MISMATCH',
        detectedBy: 'driver',
        violation: true,
        message: `vqP: used descriptor 0 has flags 0x${flags.toString(16)}: AVAIL/USED do not match the used wrap counter`,
        done: 0,
      });
      expectDriverBroken(m);
    }
  });

  it('with nothing outstanding, an old descriptor is simply not used', () => {
    const m = machine({ engine });
    expect(m.q.driver.reap()).toBe(0);
    expect(m.q.driver.broken).toBe(false);
  });
});

describe.each(ENGINES)('device-side checks: the driver lied (%s)', (engine) => {
  const cases: {
    name: string;
    opts?: PackedQueueOptions;
    attack: (m: M) => void;
    code: string;
    message: string;
  }[] = [
    {
      name: 'chain longer than the ring',
      opts: { size: 4 },
      attack: (m) => {
        for (let i = 0; i < 4; i++) writeDesc(m, i, { flags: AVAIL | NEXT });
      },
      code: 'DESC_LOOP',
      message: 'vqP: Looped descriptor (chain at head 0 is longer than the queue)',
    },
    {
      name: 'indirect table length not a multiple of 16',
      opts: { indirect: true },
      attack: (m) => writeDesc(m, 0, { len: 20, flags: AVAIL | INDIRECT }),
      code: 'INDIRECT_BAD_LENGTH',
      message: 'vqP: Invalid size for indirect buffer table (20 bytes, not a non-zero multiple of 16)',
    },
    {
      name: 'nested indirect',
      opts: { indirect: true },
      attack: (m) => {
        const table = m.buf + 0x8000;
        m.mem.writeU64(table + 16, m.buf);
        m.mem.writeU32(table + 16 + 8, 64);
        m.mem.writeU64(table, m.buf);
        m.mem.writeU32(table + 8, 64);
        m.mem.writeU16(table + 16 + 14, INDIRECT);
        writeDesc(m, 0, { addr: table, len: 32, flags: AVAIL | INDIRECT });
      },
      code: 'INDIRECT_NESTED',
      message: 'vqP: Nested indirect descriptor',
    },
    {
      name: 'indirect flag inside a direct chain',
      attack: (m) => {
        writeDesc(m, 0, { flags: AVAIL | NEXT });
        writeDesc(m, 1, { flags: AVAIL | INDIRECT });
      },
      code: 'INDIRECT_NESTED',
      message: 'vqP: Nested indirect descriptor',
    },
    {
      name: 'zero-length buffer',
      attack: (m) => writeDesc(m, 0, { len: 0, flags: AVAIL }),
      code: 'ZERO_LENGTH_BUFFER',
      message: 'vqP: virtio: zero sized buffers are not allowed',
    },
    {
      name: 'zero-length buffer in an indirect table',
      opts: { indirect: true },
      attack: (m) => {
        const table = m.buf + 0x8000;
        m.mem.writeU64(table, m.buf);
        m.mem.writeU32(table + 8, 0);
        writeDesc(m, 0, { addr: table, len: 16, flags: AVAIL | INDIRECT });
      },
      code: 'ZERO_LENGTH_BUFFER',
      message: 'vqP: virtio: zero sized buffers are not allowed',
    },
    {
      name: 'address outside guest RAM',
      attack: (m) => writeDesc(m, 0, { addr: (1 << 20) - 32, len: 64, flags: AVAIL }),
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      message: 'vqP: virtio: bogus descriptor or out of resources (address 0xfffe0)',
    },
    {
      name: 'indirect table outside guest RAM',
      opts: { indirect: true },
      attack: (m) => writeDesc(m, 0, { addr: 2 ** 40, len: 32, flags: AVAIL | INDIRECT }),
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      message: 'vqP: virtio: bogus descriptor or out of resources (address 0x10000000000)',
    },
    {
      name: 'indirect without VIRTIO_F_INDIRECT_DESC',
      attack: (m) => writeDesc(m, 0, { len: 32, flags: AVAIL | INDIRECT }),
      code: 'INDIRECT_NOT_NEGOTIATED',
      message: 'vqP: indirect descriptor without VIRTIO_F_INDIRECT_DESC',
    },
    {
      name: 'buffer id out of range',
      attack: (m) => writeDesc(m, 0, { id: 8, flags: AVAIL }),
      code: 'AVAIL_HEAD_OUT_OF_RANGE',
      message: 'vqP: Guest says index 8 is available',
    },
    {
      name: 'buffer id already in flight',
      attack: (m) => {
        writeDesc(m, 0, { id: 3, flags: AVAIL });
        writeDesc(m, 1, { id: 3, flags: AVAIL });
      },
      code: 'AVAIL_ID_IN_USE',
      message: 'vqP: Guest says buffer id 3 is available while it is in use',
    },
    {
      name: 'readable descriptor after a writable one',
      attack: (m) => {
        writeDesc(m, 0, { flags: AVAIL | NEXT | WRITE });
        writeDesc(m, 1, { flags: AVAIL });
      },
      code: 'DESC_ORDER',
      message: 'vqP: Incorrect order for descriptors',
    },
  ];

  it.each(cases)('$name', ({ opts, attack, code, message }) => {
    const m = machine({ engine, ...opts });
    attack(m);
    const e = expectVqError(() => m.q.device.popBatch(), { code, detectedBy: 'device', violation: true, message });
    expect(e.done).toBe(code === 'AVAIL_ID_IN_USE' ? 1 : 0);
    expectDeviceBroken(m);
  });

  it('a chain exactly as long as the ring is not a loop', () => {
    const m = machine({ engine, size: 4 });
    for (let i = 0; i < 4; i++) writeDesc(m, i, { id: 2, flags: AVAIL | (i < 3 ? NEXT : 0) });
    expect(m.q.device.pop().map((c) => [c.id, c.readable.length])).toEqual([[2, 4]]);
    expect(m.q.device.availWrapCounter).toBe(0);
  });

  it('caller errors do not break the queue: pushing an id the device does not hold', () => {
    const m = machine({ engine });
    expectVqError(() => m.q.device.push([{ id: 2, len: 0 }]), {
      code: 'PUSH_ID_NOT_IN_FLIGHT',
      detectedBy: 'device',
      violation: false,
      message: 'vqP: used id 2 is not a buffer the device holds',
    });
    expectVqError(() => m.q.device.push([{ id: 9, len: 0 }]), {
      code: 'PUSH_ID_OUT_OF_RANGE',
      detectedBy: 'device',
      violation: false,
      message: 'vqP: used id 9 is not a descriptor of this queue',
    });
    expect(m.q.device.broken).toBe(false);
    m.q.driver.add([{ addr: m.buf, len: 8 }]);
    expect(m.q.device.popBatch()).toBe(1);
  });

  it('driver caller errors do not break the queue', () => {
    const m = machine({ engine, size: 4 });
    expectVqError(() => m.q.driver.add([{ addr: m.buf, len: 0 }]), {
      code: 'ZERO_LENGTH_BUFFER',
      detectedBy: 'driver',
      violation: false,
      message: 'vqP: request 0, buffer 0: zero-length buffers are not allowed',
    });
    const five = Array.from({ length: 5 }, () => ({ addr: m.buf, len: 8 }));
    const batch = new RequestBatch(m.mem, 1, 5).add(five, []);
    expectVqError(() => m.q.driver.addBatch(batch), {
      code: 'CHAIN_TOO_LONG',
      detectedBy: 'driver',
      violation: false,
      message: 'vqP: request 0: chain of 5 buffers is longer than the queue',
    });
    expect(m.q.driver.broken).toBe(false);
    expect(m.q.driver.add(five.slice(1))).toBe(true);
    expect(m.q.driver.add([{ addr: m.buf, len: 8 }])).toBe(false);
  });
});

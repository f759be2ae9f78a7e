// Every check of the split ring core: a test that triggers it through the
// mock (a misbehaving driver or device), asserts the named error exactly as
// errors.ts words it, and asserts the broken state that follows: on the device
// side later pops return nothing and pushes fail; on the driver side later adds
// fail with QUEUE_BROKEN and later reaps return nothing. Caller errors (a bad
// request from our own side) must not break the queue.
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import { ConfigError, GuestMemory, RequestBatch, SplitQueue, type SplitQueueOptions } from '../../src/internal.js';
import { expectVqError, machine, type Machine } from '../helpers/machine.js';

const { VRING_DESC_F_NEXT: NEXT, VRING_DESC_F_WRITE: WRITE, VRING_DESC_F_INDIRECT: INDIRECT } = L;
const RAM = 1 << 20;

const BROKEN = {
  code: 'QUEUE_BROKEN',
  detectedBy: 'driver' as 'driver' | 'device',
  violation: false,
  message: 'vqT: virtqueue is broken (-EIO): an earlier check failed',
};

/** The device saw a violation: it pops nothing more, even valid chains, and pushes fail. */
function expectDeviceBroken(m: Machine): void {
  const { q, buf } = m;
  expect(q.device.broken).toBe(true);
  expect(q.stats().deviceChecksFailed).toBe(1);
  expect(q.stats().driverChecksFailed).toBe(0);
  // A well-formed chain from the real driver is not popped any more.
  if (q.driver.numFree > 0) expect(q.driver.add([{ addr: buf, len: 64 }], [], 99)).toBe(true);
  expect(q.device.popBatch()).toBe(0);
  expect(q.device.pop()).toEqual([]);
  expectVqError(() => q.device.push([{ id: 0, len: 0 }]), { ...BROKEN, detectedBy: 'device' });
  expect(q.device.broken).toBe(true);
}

/** The driver saw a violation: adds fail with QUEUE_BROKEN, reaps return nothing. */
function expectDriverBroken(m: Machine): void {
  const { q, buf } = m;
  expect(q.driver.broken).toBe(true);
  expect(q.stats().driverChecksFailed).toBe(1);
  expect(q.stats().deviceChecksFailed).toBe(0);
  const before = q.stats().chainsAdded;
  expectVqError(() => q.driver.add([{ addr: buf, len: 64 }]), BROKEN);
  expect(q.stats().chainsAdded).toBe(before);
  // Whatever the device now returns, even a valid element, is not reaped.
  m.mock.addUsed(0, 0);
  expect(q.driver.reap()).toBe(0);
  expect(q.driver.getUsed()).toEqual([]);
  expect(q.stats().driverChecksFailed).toBe(1);
}

interface DeviceCase {
  name: string;
  opts?: SplitQueueOptions;
  ram?: number;
  attack: (m: Machine) => void;
  code: string;
  message: string;
  /** Chains popped before the bad one. */
  done?: number;
}

const deviceCases: DeviceCase[] = [
  {
    name: 'avail idx moved by more than the queue size',
    attack: ({ mock }) => {
      mock.availIdx = 9;
    },
    code: 'AVAIL_IDX_JUMP',
    message: 'vqT: Guest moved used index from 0 to 9',
  },
  {
    name: 'avail idx moved backwards (a jump of 65535)',
    attack: ({ mock }) => {
      mock.availIdx = 0xffff;
    },
    code: 'AVAIL_IDX_JUMP',
    message: 'vqT: Guest moved used index from 0 to 65535',
  },
  {
    name: 'avail head out of range',
    attack: ({ mock }) => mock.addAvail(8),
    code: 'AVAIL_HEAD_OUT_OF_RANGE',
    message: 'vqT: Guest says index 8 is available',
  },
  {
    name: 'next index out of range',
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 16, flags: NEXT, next: 8 });
      mock.addAvail(0);
    },
    code: 'DESC_NEXT_OUT_OF_RANGE',
    message: 'vqT: Desc next is 8',
  },
  {
    name: 'chain loop (more descriptors than the queue size)',
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 16, flags: NEXT, next: 1 });
      mock.writeDesc(1, { addr: buf, len: 16, flags: NEXT, next: 0 });
      mock.addAvail(0);
    },
    code: 'DESC_LOOP',
    message: 'vqT: Looped descriptor (chain at head 0 is longer than the queue)',
  },
  {
    name: 'zero-length buffer',
    attack: ({ mock, buf }) => {
      mock.writeDesc(3, { addr: buf, len: 16, flags: NEXT, next: 5 });
      mock.writeDesc(5, { addr: buf, len: 0, flags: 0, next: 0 });
      mock.addAvail(3);
    },
    code: 'ZERO_LENGTH_BUFFER',
    message: 'vqT: virtio: zero sized buffers are not allowed',
  },
  {
    name: 'zero-length buffer (a chain of one descriptor)',
    attack: ({ mock }) => {
      mock.writeDesc(4, { addr: 0, len: 0, flags: 0 });
      mock.addAvail(4);
    },
    code: 'ZERO_LENGTH_BUFFER',
    message: 'vqT: virtio: zero sized buffers are not allowed',
  },
  {
    name: 'address outside guest RAM (straddling its end)',
    attack: ({ mock }) => {
      mock.writeDesc(0, { addr: RAM - 8, len: 16, flags: 0 });
      mock.addAvail(0);
    },
    code: 'ADDRESS_OUTSIDE_GUEST_RAM',
    message: 'vqT: virtio: bogus descriptor or out of resources (address 0xffff8)',
  },
  {
    name: 'address outside guest RAM (a 64-bit address whose end wraps)',
    attack: ({ mock }) => {
      mock.writeDesc(0, { addr: 0xfffffffffffffff0n, len: 32, flags: 0 });
      mock.addAvail(0);
    },
    code: 'ADDRESS_OUTSIDE_GUEST_RAM',
    message: 'vqT: virtio: bogus descriptor or out of resources (address 0xfffffffffffffff0)',
  },
  {
    name: 'readable descriptor after a writable one',
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 16, flags: WRITE | NEXT, next: 1 });
      mock.writeDesc(1, { addr: buf, len: 16, flags: 0 });
      mock.addAvail(0);
    },
    code: 'DESC_ORDER',
    message: 'vqT: Incorrect order for descriptors',
  },
  {
    name: 'indirect without VIRTIO_F_INDIRECT_DESC',
    attack: ({ mock, buf }) => {
      mock.writeTable(buf, [{ addr: buf + 0x100, len: 16, flags: 0, next: 0 }]);
      mock.writeDesc(0, { addr: buf, len: 16, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'INDIRECT_NOT_NEGOTIATED',
    message: 'vqT: indirect descriptor without VIRTIO_F_INDIRECT_DESC',
  },
  {
    name: 'indirect table length not a multiple of 16',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 24, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'INDIRECT_BAD_LENGTH',
    message: 'vqT: Invalid size for indirect buffer table (24 bytes, not a non-zero multiple of 16)',
  },
  {
    name: 'indirect table of length 0',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 0, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'INDIRECT_BAD_LENGTH',
    message: 'vqT: Invalid size for indirect buffer table (0 bytes, not a non-zero multiple of 16)',
  },
  {
    name: 'indirect table bigger than the queue',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeDesc(0, { addr: buf, len: 16 * 9, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'INDIRECT_TOO_BIG',
    message: 'vqT: Indirect buffer length too big (144 bytes, more descriptors than the queue size)',
  },
  {
    name: 'indirect table outside guest RAM',
    opts: { indirect: true },
    attack: ({ mock }) => {
      mock.writeDesc(0, { addr: RAM - 16, len: 32, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'ADDRESS_OUTSIDE_GUEST_RAM',
    message: 'vqT: virtio: bogus descriptor or out of resources (address 0xffff0)',
  },
  {
    name: 'nested indirect',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeTable(buf, [
        { addr: buf + 0x100, len: 16, flags: NEXT, next: 1 },
        { addr: buf + 0x200, len: 32, flags: INDIRECT, next: 0 },
      ]);
      mock.writeDesc(0, { addr: buf, len: 32, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'INDIRECT_NESTED',
    message: 'vqT: Nested indirect descriptor',
  },
  {
    name: 'next index out of range inside an indirect table',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeTable(buf, [
        { addr: buf + 0x100, len: 16, flags: NEXT, next: 1 },
        { addr: buf + 0x200, len: 16, flags: NEXT, next: 2 },
      ]);
      mock.writeDesc(0, { addr: buf, len: 32, flags: INDIRECT });
      mock.addAvail(0);
    },
    code: 'DESC_NEXT_OUT_OF_RANGE',
    message: 'vqT: Desc next is 2',
  },
  {
    name: 'chain loop inside an indirect table',
    opts: { indirect: true },
    attack: ({ mock, buf }) => {
      mock.writeTable(buf, [
        { addr: buf + 0x100, len: 16, flags: NEXT, next: 1 },
        { addr: buf + 0x200, len: 16, flags: NEXT, next: 0 },
      ]);
      mock.writeDesc(2, { addr: buf, len: 32, flags: INDIRECT });
      mock.addAvail(2);
    },
    code: 'DESC_LOOP',
    message: 'vqT: Looped descriptor (chain at head 2 is longer than the queue)',
  },
  {
    name: 'more chains in flight than the queue holds',
    attack: ({ q, mock, buf }) => {
      for (let i = 0; i < 8; i++) {
        mock.writeDesc(i, { addr: buf + 64 * i, len: 64, flags: 0 });
        mock.addAvail(i);
      }
      // Exactly a queue's worth is fine...
      expect(q.device.popBatch()).toBe(8);
      expect(q.device.inflight).toBe(8);
      // ...one more while none was returned is not.
      mock.addAvail(0);
    },
    code: 'VIRTQUEUE_SIZE_EXCEEDED',
    message: 'vqT: Virtqueue size exceeded',
  },
  {
    name: 'chain length overflows 32 bits',
    opts: { size: 256 },
    ram: 16 << 20,
    attack: ({ q, mock }) => {
      const whole = 16 << 20;
      // 255 descriptors of all RAM each: 2^32 - 2^24 bytes, still fine.
      for (let i = 0; i < 255; i++) mock.writeDesc(i, { addr: 0, len: whole, flags: i < 254 ? NEXT : 0, next: i + 1 });
      mock.addAvail(0);
      const [c] = q.device.pop();
      expect(c!.readBytes).toBe(2 ** 32 - 2 ** 24);
      q.device.push([{ id: 0, len: 0 }]);
      // 256 of them: 2^32 bytes, one more than used.len can say.
      mock.writeDesc(254, { flags: NEXT, next: 255 });
      mock.writeDesc(255, { addr: 0, len: whole, flags: 0 });
      mock.addAvail(0);
    },
    code: 'CHAIN_LENGTH_OVERFLOW',
    message: 'vqT: chain length overflows 32 bits',
  },
];

describe('device-side checks: a misbehaving driver breaks the queue', () => {
  it.each(deviceCases)('$name → $code', (c) => {
    const m = machine(c.opts, c.ram);
    c.attack(m);
    const popped = m.q.stats().chainsPopped;
    const e = expectVqError(() => m.q.device.popBatch(), {
      code: c.code,
      detectedBy: 'device',
      violation: true,
      message: c.message,
      done: c.done ?? 0,
    });
    expect(e.name).toBe('VirtqueueError');
    expect(m.q.stats().chainsPopped).toBe(popped);
    expectDeviceBroken(m);
  });

  it('chains before the bad one in a batch stay popped (error.done)', () => {
    const m = machine();
    const { q, mock, buf } = m;
    expect(q.driver.add([{ addr: buf, len: 32 }], [], 1)).toBe(true);
    expect(q.driver.add([{ addr: buf, len: 32 }], [], 2)).toBe(true);
    mock.addAvail(8);
    expectVqError(() => q.device.popBatch(), {
      code: 'AVAIL_HEAD_OUT_OF_RANGE',
      detectedBy: 'device',
      violation: true,
      message: 'vqT: Guest says index 8 is available',
      done: 2,
    });
    expect(q.device.inflight).toBe(2);
    expect(q.device.chain(0).id).toBe(0);
    expect(q.device.chain(1).id).toBe(1);
    expect(q.stats().chainsPopped).toBe(2);
    expectDeviceBroken(m);
  });
});

describe('driver-side checks: a misbehaving device breaks the queue', () => {
  it('used id out of range', () => {
    const m = machine();
    expect(m.q.driver.add([{ addr: m.buf, len: 64 }], [], 5)).toBe(true);
    m.mock.addUsed(8, 0);
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_OUT_OF_RANGE',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: id 8 out of range',
      done: 0,
    });
    expectDriverBroken(m);
  });

  it('used id out of range (0xffffffff)', () => {
    const m = machine();
    expect(m.q.driver.add([{ addr: m.buf, len: 64 }], [], 5)).toBe(true);
    m.mock.addUsed(0xffffffff, 0);
    expectVqError(() => m.q.driver.getUsed(), {
      code: 'USED_ID_OUT_OF_RANGE',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: id 4294967295 out of range',
    });
    expectDriverBroken(m);
  });

  it('used id that is inside a chain, not its head', () => {
    const m = machine();
    expect(m.q.driver.add([{ addr: m.buf, len: 64 }], [{ addr: m.buf + 64, len: 64 }], 5)).toBe(true);
    m.mock.addUsed(1, 0);
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_NOT_A_HEAD',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: id 1 is not a head!',
    });
    expectDriverBroken(m);
  });

  it('used id returned twice: the second is not an outstanding head; the first is delivered', () => {
    const m = machine();
    const { q, mock, buf } = m;
    // Two chains in flight, so two used entries are within what the device may use.
    expect(q.driver.add([{ addr: buf, len: 64 }], [{ addr: buf + 64, len: 64 }], 5)).toBe(true);
    expect(q.driver.add([{ addr: buf + 128, len: 64 }], [], 6)).toBe(true);
    expect(q.device.popBatch()).toBe(2);
    expect(q.device.push([{ id: 0, len: 64 }])).toBe(1);
    mock.addUsed(0, 64);
    const e = expectVqError(() => q.driver.reap(), {
      code: 'USED_ID_NOT_A_HEAD',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: id 0 is not a head!',
      done: 1,
    });
    expect(e.partial).toEqual([{ token: 5, len: 64 }]);
    expect(q.stats().chainsCompleted).toBe(1);
    // The two descriptors of chain 0 came back; chain 2 (head 2) is still out.
    expect(q.driver.numFree).toBe(7);
    expectDriverBroken(m);
  });

  it('used idx moved past the chains in flight: the in-flight entries are delivered, then USED_IDX_JUMP', () => {
    const m = machine();
    const { q, mock, buf } = m;
    expect(q.driver.add([{ addr: buf, len: 64 }], [{ addr: buf + 64, len: 64 }], 5)).toBe(true);
    expect(q.device.popBatch()).toBe(1);
    expect(q.device.push([{ id: 0, len: 64 }])).toBe(1);
    // One chain was in flight; the device says two were used.
    mock.addUsed(0, 64);
    const e = expectVqError(() => q.driver.reap(), {
      code: 'USED_IDX_JUMP',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: used idx moved from 0 to 2: more than the buffers in flight',
      done: 1,
    });
    expect(e.partial).toEqual([{ token: 5, len: 64 }]);
    expect(q.stats().chainsCompleted).toBe(1);
    expect(q.driver.numFree).toBe(8);
    expectDriverBroken(m);
  });

  it('used id never added (stale)', () => {
    const m = machine();
    expect(m.q.driver.add([{ addr: m.buf, len: 64 }], [], 5)).toBe(true);
    m.mock.addUsed(3, 0);
    expectVqError(() => m.q.driver.reap(), {
      code: 'USED_ID_NOT_A_HEAD',
      detectedBy: 'driver',
      violation: true,
      message: 'vqT: id 3 is not a head!',
    });
    expectDriverBroken(m);
  });
});

describe('caller errors do not break the queue', () => {
  function stillWorks(m: Machine): void {
    const { q, buf } = m;
    expect(q.driver.broken).toBe(false);
    expect(q.device.broken).toBe(false);
    expect(q.stats().driverChecksFailed + q.stats().deviceChecksFailed).toBe(0);
    expect(q.driver.add([{ addr: buf, len: 64 }], [], 42)).toBe(true);
    const chains = q.device.pop();
    expect(chains.length).toBeGreaterThanOrEqual(1);
    q.device.push(chains.map((c) => ({ id: c.id, len: 0 })));
    expect(q.driver.getUsed().map((c) => c.token)).toContain(42);
  }
  const req = (message: string, code: string) => ({ code, detectedBy: 'driver' as const, violation: false, message });

  it('empty chain', () => {
    const m = machine();
    expectVqError(
      () => m.q.driver.add([], []),
      req('vqT: request 0: a chain needs at least one buffer', 'EMPTY_CHAIN'),
    );
    stillWorks(m);
  });

  it('zero-length buffer', () => {
    const m = machine();
    expectVqError(
      () => m.q.driver.add([{ addr: m.buf, len: 16 }], [{ addr: m.buf, len: 0 }]),
      req('vqT: request 0, buffer 1: zero-length buffers are not allowed', 'ZERO_LENGTH_BUFFER'),
    );
    stillWorks(m);
  });

  it('zero-length buffer in a one-buffer request', () => {
    const m = machine();
    expectVqError(
      () => m.q.driver.add([], [{ addr: m.buf, len: 0 }]),
      req('vqT: request 0, buffer 0: zero-length buffers are not allowed', 'ZERO_LENGTH_BUFFER'),
    );
    stillWorks(m);
  });

  it('address outside guest RAM', () => {
    const m = machine();
    for (const addr of [RAM - 8, RAM, 2 ** 40, 0xfffffffffffffff8n]) {
      expectVqError(
        () => m.q.driver.add([{ addr, len: 16 }]),
        req('vqT: request 0, buffer 0: address outside guest RAM', 'ADDRESS_OUTSIDE_GUEST_RAM'),
      );
    }
    stillWorks(m);
  });

  it('chain longer than the queue; the requests before it stay added', () => {
    const m = machine();
    const { q, mem, buf } = m;
    const batch = new RequestBatch(mem, 2, 16);
    batch.add([{ addr: buf, len: 8 }], [], 1);
    batch.add(
      Array.from({ length: 9 }, () => ({ addr: buf, len: 8 })),
      [],
      2,
    );
    expectVqError(() => q.driver.addBatch(batch), {
      ...req('vqT: request 1: chain of 9 buffers is longer than the queue', 'CHAIN_TOO_LONG'),
      done: 1,
    });
    expect(m.mock.availIdx).toBe(1);
    expect(q.stats().chainsAdded).toBe(1);
    stillWorks(m);
  });

  it('chain longer than the queue through add(): the same named error, not a ConfigError from the batch', () => {
    const m = machine();
    const nine = Array.from({ length: 9 }, (_, k) => ({ addr: m.buf + 64 * k, len: 8 }));
    expectVqError(
      () => m.q.driver.add(nine),
      req('vqT: request 0: chain of 9 buffers is longer than the queue', 'CHAIN_TOO_LONG'),
    );
    stillWorks(m);
  });

  it('a full ring is not an error: add returns false (-ENOSPC)', () => {
    const m = machine({ size: 4 });
    for (let i = 0; i < 4; i++) expect(m.q.driver.add([{ addr: m.buf, len: 8 }], [], i)).toBe(true);
    expect(m.q.driver.add([{ addr: m.buf, len: 8 }], [], 9)).toBe(false);
    expect(m.q.driver.numFree).toBe(0);
    expect(m.q.driver.broken).toBe(false);
  });

  it('device: push of an id the queue cannot have', () => {
    const m = machine();
    const { q, buf } = m;
    expect(q.driver.add([{ addr: buf, len: 8 }], [], 1)).toBe(true);
    expect(q.device.popBatch()).toBe(1);
    expectVqError(
      () =>
        q.device.push([
          { id: 0, len: 0 },
          { id: 8, len: 0 },
        ]),
      {
        code: 'PUSH_ID_OUT_OF_RANGE',
        detectedBy: 'device',
        violation: false,
        message: 'vqT: used id 8 is not a descriptor of this queue',
        done: 1,
      },
    );
    // The good element before it was published.
    expect(m.mock.usedIdx).toBe(1);
    expect(q.driver.getUsed()).toEqual([{ token: 1, len: 0 }]);
    stillWorks(m);
  });
});

describe('queue options', () => {
  it('bad options are one ConfigError line naming the option and what is allowed', () => {
    const mem = new GuestMemory({ size: RAM });
    const cases: [SplitQueueOptions, string][] = [
      [{ size: 300 }, 'queue size 300: must be a power of two from 1 to 32768'],
      [{ size: 65536 }, 'queue size 65536: must be a power of two from 1 to 32768'],
      [{ size: 0 }, 'queue size 0: must be a power of two from 1 to 32768'],
      [{ size: 8, indirectMax: 9 }, 'indirectMax 9: must be from 1 to the queue size (8)'],
      [{ size: 8, popElements: 4 }, 'popElements 4: must be at least the queue size (8)'],
      [{ engine: 'c' as never }, 'engine c: must be wasm or reference'],
    ];
    for (const [opts, msg] of cases) {
      expect(() => new SplitQueue(mem, opts)).toThrow(ConfigError);
      expect(() => new SplitQueue(mem, opts)).toThrow(msg);
    }
  });
});

describe('the limits themselves are allowed', () => {
  it('a chain of exactly the queue size, direct and in an indirect table, is not a loop', () => {
    const m = machine({ indirect: true });
    const { q, mock, buf } = m;
    const eight = Array.from({ length: 8 }, (_, i) => ({
      addr: buf + 16 * i,
      len: 16,
      flags: i < 7 ? NEXT : WRITE,
      next: i + 1,
    }));
    eight.forEach((d, i) => mock.writeDesc(i, d));
    mock.addAvail(0);
    const [direct] = q.device.pop();
    mock.writeTable(buf + 0x1000, eight);
    mock.writeDesc(7, { addr: buf + 0x1000, len: 16 * 8, flags: INDIRECT });
    mock.addAvail(7);
    const [indirect] = q.device.pop();
    for (const [c, id] of [
      [direct, 0],
      [indirect, 7],
    ] as const) {
      expect([c!.id, c!.readable.length, c!.writable.length, c!.readBytes, c!.writeBytes]).toEqual([id, 7, 1, 112, 16]);
    }
    expect(q.device.broken).toBe(false);
    expect(q.stats().descsPopped).toBe(16);
  });

  it('a full pop output is not an error: the chains that did not fit stay available', () => {
    const m = machine({ indirect: true, indirectMax: 8, popElements: 8 });
    const { q, buf } = m;
    const three = [0, 1, 2].map((k) => ({ addr: buf + 64 * k, len: 64 }));
    // Three indirect chains: 3 ring descriptors, but 9 buffers for an output of 8.
    for (const t of [1, 2, 3]) expect(q.driver.add(three, [], t, { indirect: true })).toBe(true);
    expect(q.driver.numFree).toBe(5);
    expect(q.device.popBatch()).toBe(2);
    expect(q.device.broken).toBe(false);
    q.device.pushPopped(2);
    const [third] = q.device.pop();
    expect(third).toMatchObject({ id: 2, readBytes: 192 });
    q.device.push([{ id: 2, len: 0 }]);
    expect(q.driver.getUsed().map((c) => c.token)).toEqual([1, 2, 3]);
  });
});

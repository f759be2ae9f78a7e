// The guest probe against a lying device (src/trust/attack/lying-device.ts):
// config values wider than the access, queue sizes a ring cannot take,
// NEEDS_RESET before DRIVER_OK, feature bits that change or read back
// differently, doorbells outside the notify region, the named budgets of
// reset and config generation, and a failed probe that gives back every page
// and coherent DMA allocation it took.
import { describe, expect, it } from 'vitest';
import {
  DmaApi,
  Feature,
  GuestMemory,
  MmioDriverAccess,
  MmioReg,
  PciCommon,
  PciDriverAccess,
  VirtioMmioTransport,
  VirtioPciTransport,
  VirtioStatus as S,
  createMachine,
  probeDevice,
  readConfigStable,
} from '../../src/internal.js';
import { CONFIG_GENERATION_RETRIES, capQueues } from '../../src/drivers/probe.js';
import { RESET_POLL_BUDGET } from '../../src/drivers/transport-access.js';
import {
  EchoDevice,
  LyingMmio,
  LyingPci,
  type EchoDeviceOptions,
  type Lie,
} from '../../src/trust/attack/lying-device.js';

const EVENT_IDX = 1n << BigInt(Feature.EVENT_IDX);

function pci(lies: Lie[] = [], device: EchoDeviceOptions = {}, hardened = true) {
  const mem = new GuestMemory({ size: 1 << 22 });
  const dev = new EchoDevice(mem, device);
  const t = new VirtioPciTransport(dev);
  const fn = new LyingPci(t, lies);
  return { mem, dev, t, fn, access: new PciDriverAccess(fn, { hardened }) };
}

const code = (c: string) => expect.objectContaining({ code: c, side: 'device' });

describe('config values are cut to the width of the access', () => {
  // The device model's config hook answers anything; the bus (the transport) carries `width` bytes.
  const wild: [number, 1 | 2 | 4, number, number][] = [
    [0, 2, 2 ** 32 + 1, 0x0001],
    [4, 4, -1, 0xffffffff],
    [8, 1, 1.5, 1],
    [12, 1, NaN, 0],
    [12, 2, 0x1_0000_0001, 1],
  ];
  const hook = (offset: number, width: number, honest: number) =>
    wild.find(([o, w]) => o === offset && w === width)?.[2] ?? honest;

  it.each(['pci', 'mmio'] as const)('%s: a device model answering 0x1_0000_0001, -1, 1.5, NaN', (kind) => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const dev = new EchoDevice(mem, { onConfigRead: hook });
    const t = kind === 'pci' ? new VirtioPciTransport(dev) : new VirtioMmioTransport(dev);
    const access = t instanceof VirtioPciTransport ? new PciDriverAccess(t) : new MmioDriverAccess(t);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    expect(wild.map(([o, w]) => access.readConfig(o, w))).toEqual(wild.map((x) => x[3]));
    expect(t.counters().configValuesMasked).toBe(5);
    expect(access.counters.valuesMasked).toBe(0); // the bus had already cut them
  });

  it('a function that answers its own config space (past the bus): the hardened access masks, the naive one believes', () => {
    const lies: Lie[] = wild.slice(0, 4).map(([offset, , v]) => ({ space: 'config', offset, answer: () => v }));
    for (const hardened of [true, false]) {
      const { access, mem } = pci(lies, {}, hardened);
      probeDevice(access, mem, { features: 0n, queueSize: 8 });
      const got = wild.slice(0, 4).map(([o, w]) => access.readConfig(o, w));
      if (hardened) {
        expect(got).toEqual([1, 0xffffffff, 1, 0]);
        expect(access.counters.valuesMasked).toBe(4);
      } else {
        expect(got).toEqual([2 ** 32 + 1, -1, 1.5, NaN]);
        expect(access.counters.valuesMasked).toBe(0);
      }
    }
  });

  it('register reads too: a status or generation wider than its field is masked', () => {
    const { access, mem } = pci([
      { space: 'common', offset: PciCommon.CONFIG_GENERATION, answer: (h) => h + 0x100 },
      { space: 'common', offset: PciCommon.NUM_QUEUES, answer: (h) => h + 0x10000 },
    ]);
    expect(access.generation()).toBe(0);
    expect(access.numQueues()).toBe(2);
    expect(access.counters.valuesMasked).toBe(2);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
  });

  it('mmio: a lying window is masked at the 32-bit register width', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const w = new LyingMmio(new VirtioMmioTransport(new EchoDevice(mem)), [
      { space: 'mmio', offset: MmioReg.CONFIG + 4, answer: () => -2 },
    ]);
    const access = new MmioDriverAccess(w);
    expect(access.readConfig(4, 4)).toBe(0xfffffffe);
    expect(access.counters.valuesMasked).toBe(1);
  });
});

describe('queue sizes', () => {
  const sizeLie = (queue: number, v: number): Lie => ({
    space: 'common',
    offset: PciCommon.QUEUE_SIZE,
    queue,
    answer: () => v,
  });

  it.each([
    [0, 'QUEUE_UNAVAILABLE'],
    [100, 'QUEUE_SIZE'],
    [0xffff, 'QUEUE_SIZE'],
    [0x10000, 'QUEUE_UNAVAILABLE'], // a 16-bit register: 0x10000 reads as 0
  ] as const)('queue 1 reporting %i fails the probe with %s, FAILED set', (v, c) => {
    const { access, mem, t } = pci([sizeLie(1, v)]);
    expect(() => probeDevice(access, mem, { features: 0n, queueSize: 64 })).toThrow(code(c));
    expect(t.core.status).toBe(S.FAILED); // queue 0 existed: reset, then FAILED
  });

  it('32768 is the largest size taken; a packed ring takes a size that is not a power of two', () => {
    const a = pci([sizeLie(0, 32768)]);
    expect(probeDevice(a.access, a.mem, { features: 0n, queueSize: 64 }).queues[0]!.size).toBe(64);
    const packed = (1n << BigInt(Feature.VERSION_1)) | (1n << BigInt(Feature.RING_PACKED));
    const b = pci([sizeLie(0, 100)], { features: packed, maxQueueSize: 100 });
    const d = probeDevice(b.access, b.mem, { features: 1n << BigInt(Feature.RING_PACKED), queueSize: 128 });
    expect(d.queues.map((q) => q.size)).toEqual([100, 100]);
  });

  it('naive: a size that is not a power of two is rounded down and used', () => {
    const { access, mem } = pci([sizeLie(0, 100)], {}, false);
    expect(probeDevice(access, mem, { features: 0n, queueSize: 256 }).queues[0]!.size).toBe(64);
  });
});

describe('NEEDS_RESET before DRIVER_OK', () => {
  it('set while the features are validated: DEVICE_FAILED, the device is reset, FAILED, never DRIVER_OK', () => {
    let driverOk = 0;
    const { access, mem, t, dev } = pci([], {
      validateFeatures: (_f, ctx) => {
        ctx.needsReset('validation failed');
        return true;
      },
    });
    const onDriverOk = dev.onDriverOk.bind(dev);
    dev.onDriverOk = () => {
      driverOk++;
      onDriverOk();
    };
    expect(() => probeDevice(access, mem, { features: 0n })).toThrow(code('DEVICE_FAILED'));
    expect(t.core.status).toBe(S.FAILED);
    expect(t.counters().resets).toBe(2); // the probe's first reset and the one on failure
    expect(driverOk).toBe(0);
  });

  it('set while the last queue is set up: DEVICE_FAILED before DRIVER_OK', () => {
    const { access, mem, t, dev } = pci([], { numQueues: 3 });
    const ready = dev.onQueueReady.bind(dev);
    dev.onQueueReady = (i, q) => {
      ready(i, q);
      if (i === 2) dev.ctx.needsReset('queue 2 broke');
    };
    expect(() => probeDevice(access, mem, { features: 0n, queueSize: 8 })).toThrow(code('DEVICE_FAILED'));
    expect(t.core.status).toBe(S.FAILED);
  });

  it('naive: the probe sets DRIVER_OK on a device that asked for a reset', () => {
    const { access, mem } = pci(
      [],
      {
        validateFeatures: (_f, ctx) => {
          ctx.needsReset('validation failed');
          return true;
        },
      },
      false,
    );
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK | S.NEEDS_RESET);
  });
});

describe('features', () => {
  const hiWord =
    (bits: number): Lie['answer'] =>
    (h, n) =>
      n % 2 === 1 ? h | bits : h;

  it('an offer that changes after FEATURES_OK: FEATURES_CHANGED', () => {
    const { access, mem } = pci([{ space: 'common', offset: PciCommon.DEVICE_FEATURE, from: 2, answer: hiWord(4) }]);
    expect(() => probeDevice(access, mem, { features: EVENT_IDX })).toThrow(code('FEATURES_CHANGED'));
  });

  it('driver features read back with a bit the driver did not write: FEATURES_MISMATCH', () => {
    const { access, mem } = pci([{ space: 'common', offset: PciCommon.DRIVER_FEATURE, answer: hiWord(4) }]);
    expect(() => probeDevice(access, mem, { features: EVENT_IDX })).toThrow(code('FEATURES_MISMATCH'));
  });

  it('the driver accepts only the intersection, and an honest device holds exactly that', () => {
    const { access, mem, t } = pci();
    const d = probeDevice(access, mem, { features: EVENT_IDX | (1n << 40n) | (1n << 3n) });
    expect(d.features).toBe((1n << BigInt(Feature.VERSION_1)) | EVENT_IDX);
    expect(access.getDriverFeatures()).toBe(d.features);
    expect(t.core.negotiated).toBe(d.features);
  });

  it('mmio: DriverFeatures is write-only, so there is nothing to read back', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const access = new MmioDriverAccess(new VirtioMmioTransport(new EchoDevice(mem)));
    expect((access as { getDriverFeatures?: unknown }).getDriverFeatures).toBeUndefined();
  });
});

describe('queue_notify_off (vp_modern_map_vq_notify)', () => {
  // Two queues × multiplier 4: the notify region is 8 bytes; a doorbell is 2.
  it.each([
    [1, undefined],
    [2, 'BAD_NOTIFY_OFFSET'],
    [0xffff, 'BAD_NOTIFY_OFFSET'],
  ] as const)('queue 1 at notify_off %i: %s', (off, c) => {
    const { access, mem } = pci([{ space: 'common', offset: PciCommon.QUEUE_NOTIFY_OFF, queue: 1, answer: () => off }]);
    const run = () => probeDevice(access, mem, { features: 0n, queueSize: 8 });
    if (c) expect(run).toThrow(code(c));
    else expect(run().queues.length).toBe(2);
  });

  it('the message is the one Linux prints', () => {
    const { access, mem } = pci([{ space: 'common', offset: PciCommon.QUEUE_NOTIFY_OFF, queue: 1, answer: () => 2 }]);
    expect(() => probeDevice(access, mem, { features: 0n, queueSize: 8 })).toThrow(
      'virtio-pci: bad notification offset 2 (x 4) for queue 1 > 8',
    );
  });
});

describe('named budgets', () => {
  it(`a reset that never finishes: RESET_TIMEOUT after ${RESET_POLL_BUDGET} status reads`, () => {
    const { access, fn } = pci([{ space: 'common', offset: PciCommon.DEVICE_STATUS, answer: (h) => h | 1 }]);
    expect(() => access.reset()).toThrow(code('RESET_TIMEOUT'));
    expect(fn.told).toBe(RESET_POLL_BUDGET);
  });

  it(`a generation that never settles: CONFIG_UNSTABLE after ${CONFIG_GENERATION_RETRIES} rounds`, () => {
    const { access, mem, fn, dev } = pci([
      { space: 'common', offset: PciCommon.CONFIG_GENERATION, answer: (_h, n) => n & 0xff },
    ]);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    const reads = dev.configReads;
    expect(() => readConfigStable(access, () => access.readConfig(0, 4))).toThrow(code('CONFIG_UNSTABLE'));
    expect(fn.told).toBe(2 * CONFIG_GENERATION_RETRIES);
    expect(dev.configReads - reads).toBe(CONFIG_GENERATION_RETRIES);
  });
});

describe('a failed probe frees what it allocated', () => {
  it('failing on the last of 4 queues: guest pages and coherent DMA allocations return to their start', () => {
    const mem = new GuestMemory({ size: 1 << 23 });
    const dma = new DmaApi(mem);
    const dev = new EchoDevice(mem, {
      numQueues: 4,
      features: (1n << BigInt(Feature.VERSION_1)) | (1n << BigInt(Feature.INDIRECT_DESC)),
    });
    const t = new VirtioPciTransport(dev);
    // Queue 3's enable reads back 0 once: the first probe fails there, a second one succeeds.
    const fn = new LyingPci(t, [
      { space: 'common', offset: PciCommon.QUEUE_ENABLE, queue: 3, times: 1, answer: () => 0 },
    ]);
    const access = new PciDriverAccess(fn, { name: 'virtio0' });
    const pages = mem.pages.freePages();
    const before = dma.counters();
    const opts = { features: 1n << BigInt(Feature.INDIRECT_DESC), queueSize: 64, dma: dma.driverDma() };
    expect(() => probeDevice(access, mem, opts)).toThrow(code('QUEUE_ENABLE_REFUSED'));
    const after = dma.counters();
    // Four rings and four indirect pools were allocated, and all were freed.
    expect(after.coherentAllocs - before.coherentAllocs).toBe(8);
    expect(after.coherentFrees - before.coherentFrees).toBe(8);
    expect(after.liveMappings).toBe(before.liveMappings);
    expect(mem.pages.freePages()).toBe(pages);
    // The device was reset before the rings went back: no queue of it is enabled.
    expect(t.core.queues.every((q) => !q.enabled)).toBe(true);
    expect(t.core.status).toBe(S.FAILED);
  });
});

describe('queues capped at the guest CPU count', () => {
  it('capQueues: the naive access takes the device at its word, the hardened one cuts and counts', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const t = new VirtioPciTransport(new EchoDevice(mem));
    const hard = new PciDriverAccess(t, { cpus: 3 });
    expect([capQueues(hard, 2), capQueues(hard, 3), capQueues(hard, 64)]).toEqual([2, 3, 3]);
    expect(hard.counters.queuesCapped).toBe(1);
    const naive = new PciDriverAccess(t, { cpus: 3, hardened: false });
    expect(capQueues(naive, 64)).toBe(64);
    expect(naive.counters.queuesCapped).toBe(0);
    expect(() => new PciDriverAccess(t, { cpus: 0 })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });

  it.each([
    [undefined, 8], // default: 4, or the most queues a device is given
    [2, 2],
    [16, 8],
  ] as const)('a machine with cpus %s and a blk device of 8 queues: the driver uses %i', (cpus, want) => {
    const m = createMachine({
      ...(cpus === undefined ? {} : { cpus }),
      devices: [{ kind: 'blk', queues: 8, queueSize: 32, capacityBytes: 1 << 20, depth: 4, maxIoBytes: 8192 }],
    });
    try {
      const d = m.devices[0]!;
      if (d.kind !== 'blk') throw new Error('not blk');
      expect(d.driver.info.numQueues).toBe(want);
      expect(d.access.counters.queuesCapped).toBe(want < 8 ? 1 : 0);
    } finally {
      m.close();
    }
  });
});

it('machine config cpus: a whole number from 1 to 1024', () => {
  expect(() => createMachine({ cpus: 0, devices: [{ kind: 'console' }] })).toThrow(
    'cpus: 0 is not a whole number from 1 to 1024',
  );
});

it('a machine with 2 cpus and a net device of 4 queue pairs: the driver turns on 2 (virtnet_probe)', () => {
  // As Linux: every pair's queues exist (the control queue is queue 2 × max_virtqueue_pairs),
  // MQ_VQ_PAIRS_SET asks for min(max_virtqueue_pairs, CPUs).
  const m = createMachine({ cpus: 2, devices: [{ kind: 'net', queues: 4, queueSize: 64 }] });
  try {
    const d = m.net();
    expect(d.driver.maxPairs).toBe(4);
    expect(d.access.counters.queuesCapped).toBe(1);
    expect(d.device.curPairs).toBe(2);
    // The access counts in the machine's stats registry.
    expect(m.stats()['net0.driver.transport']!.counters).toMatchObject({ queuesCapped: 1, irqNotReady: 0 });
  } finally {
    m.close();
  }
});

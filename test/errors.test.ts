// Every error vqsim throws on purpose is a VqsimError with a stable `code` and
// the `side` that committed the fault (src/errors.ts): a few of each kind,
// raised the way a run raises them.
import { describe, expect, it } from 'vitest';
import * as vqsim from '../src/internal.js';
import {
  BlkDevice,
  BlkDriver,
  BlkDriverError,
  BlkRequestError,
  ConfigError,
  ConsoleDevice,
  DeviceError,
  DmaApi,
  GuestMemory,
  GuestMemoryError,
  MemoryBackend,
  NetDriverError,
  PciDriverAccess,
  TransportError,
  VirtioPciTransport,
  VirtioStatus,
  VirtqueueError,
  VqsimError,
  probeDevice,
  toVqsimError,
  type FaultSide,
  type VirtioDeviceModel,
} from '../src/internal.js';
import { parseBlkArgs } from '../src/cli/bench/blk.js';
import { BenchSanityError } from '../src/cli/bench/ring.js';
import { UsageError } from '../src/cli/usage.js';
import { machine } from './helpers/machine.js';

/** What fn throws, which must be a VqsimError with this code and side. */
function thrown(fn: () => unknown, code: string, side: FaultSide): VqsimError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(VqsimError);
  expect(caught).toMatchObject({ code, side });
  return caught as VqsimError;
}

describe('errors: code and side', () => {
  it('every error class the library exports is a VqsimError', () => {
    const classes = Object.entries(vqsim).filter(
      ([name, v]) => /^[A-Z]\w*Error$/.test(name) && typeof v === 'function',
    );
    expect(classes.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'VqsimError',
        'ConfigError',
        'GuestMemoryError',
        'DeviceError',
        'TransportError',
        'VirtqueueError',
        'DmaError',
        'BlkDriverError',
        'BlkRequestError',
        'ConsoleDriverError',
        'NetDriverError',
      ]),
    );
    for (const [name, cls] of classes) {
      expect((cls as { prototype: object }).prototype instanceof VqsimError || cls === VqsimError, name).toBe(true);
    }
    for (const cls of [UsageError, BenchSanityError]) expect(cls.prototype).toBeInstanceOf(VqsimError);
  });

  it('a bare VqsimError is the host’s; toVqsimError keeps a VqsimError and wraps anything else', () => {
    expect(new VqsimError('X', 'x')).toMatchObject({ code: 'X', side: 'host', message: 'x' });
    const e = new ConfigError('bad');
    expect(toVqsimError(e, 'IGNORED')).toBe(e);
    expect(toVqsimError(new TypeError('oops'), 'DEVICE_INTERNAL')).toMatchObject({
      code: 'DEVICE_INTERNAL',
      side: 'host',
      message: 'oops',
    });
  });

  it('user: a bad option, an address outside guest RAM, a bad command line', () => {
    const e = thrown(() => new GuestMemory({ size: 3 }), 'CONFIG', 'user');
    expect(e).toBeInstanceOf(ConfigError);
    const mem = new GuestMemory({ size: 1 << 20 });
    expect(thrown(() => mem.readU8(1 << 20), 'ADDRESS_OUTSIDE_GUEST_RAM', 'user')).toBeInstanceOf(GuestMemoryError);
    expect(thrown(() => parseBlkArgs(['--bogus']), 'USAGE', 'user')).toBeInstanceOf(UsageError);
    const pci = () => new VirtioPciTransport(new ConsoleDevice(new DmaApi(mem).deviceView()), { msixVectors: -1 });
    expect(thrown(pci, 'BAD_OPTION', 'user')).toBeInstanceOf(TransportError);
  });

  it('virtqueue: a violation is the lying end’s, a refused request the asking end’s', () => {
    const m = machine();
    expect(m.q.driver.add([{ addr: m.buf, len: 64 }], [], 5)).toBe(true);
    m.mock.addUsed(8, 0); // the device names a used id the queue does not have
    const lie = thrown(() => m.q.driver.reap(), 'USED_ID_OUT_OF_RANGE', 'device') as VirtqueueError;
    expect(lie).toMatchObject({ detectedBy: 'driver', violation: true });
    // The queue is broken now: the device's earlier lie is why.
    const broken = thrown(() => m.q.driver.add([{ addr: m.buf, len: 64 }], [], 6), 'QUEUE_BROKEN', 'device');
    expect(broken).toMatchObject({ detectedBy: 'driver' });

    const d = machine();
    d.mock.addAvail(8); // the driver names a head the queue does not have
    const lied = thrown(() => d.q.device.popBatch(), 'AVAIL_HEAD_OUT_OF_RANGE', 'driver') as VirtqueueError;
    expect(lied).toMatchObject({ detectedBy: 'device', violation: true });

    const r = machine();
    const empty = thrown(() => r.q.driver.add([], [], 1), 'EMPTY_CHAIN', 'driver') as VirtqueueError;
    expect(empty).toMatchObject({ detectedBy: 'driver', violation: false });
  });

  it('device: a lying device fails the probe; the driver refuses a value, with its errno', () => {
    // A device that does not offer VIRTIO_F_VERSION_1.
    const toy: VirtioDeviceModel = {
      deviceId: 42,
      deviceFeatures: 0n,
      numQueues: 1,
      maxQueueSize: 8,
      configSize: 0,
      attach: () => {},
      readConfig: () => 0,
      writeConfig: () => {},
      onQueueReady: () => {},
      onDriverOk: () => {},
      onNotify: () => {},
      onReset: () => {},
    };
    const mem = new GuestMemory({ size: 1 << 20 });
    const access = new PciDriverAccess(new VirtioPciTransport(toy));
    thrown(() => probeDevice(access, mem, { features: 0n }), 'NO_VERSION_1', 'device');
    expect(access.getStatus() & VirtioStatus.FAILED).toBe(VirtioStatus.FAILED);

    expect(new NetDriverError('RX_SHORT', 'short packet 4')).toMatchObject({ code: 'RX_SHORT', side: 'device' });
    expect(new BlkDriverError('BLK_USED_LEN', 'used len', 5)).toMatchObject({ side: 'device', errno: 5 });
  });

  it('user: a driver handed a device of another kind', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const dma = new DmaApi(mem);
    const access = new PciDriverAccess(new VirtioPciTransport(new ConsoleDevice(dma.deviceView())));
    thrown(() => BlkDriver.probe(access, mem, dma), 'BLK_NOT_BLOCK', 'user');
  });

  it('a device failure carries a code: the device keeps it and the transport holds it with NEEDS_RESET', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const dma = new DmaApi(mem);
    const view = dma.deviceView();
    const dev = new BlkDevice(view, MemoryBackend.create(view, 1 << 20));
    const pci = new VirtioPciTransport(dev);
    const access = new PciDriverAccess(pci);
    const blk = BlkDriver.probe(access, mem, dma, { queueSize: 16 });
    // A request of 4 readable bytes: no virtio_blk_outhdr, no status byte.
    const buf = mem.alloc(4096, { shared: true });
    expect(blk.queues[0]!.vq.driver.add([{ addr: buf, len: 4 }], [], 99)).toBe(true);
    access.notify(0);

    expect(dev.fault).toBeInstanceOf(BlkRequestError);
    expect(dev.fault).toBeInstanceOf(DeviceError);
    expect(dev.fault).toMatchObject({ code: 'BLK_BAD_REQUEST', side: 'driver', message: 'virtio-blk missing headers' });
    expect(dev.failure).toBe('virtio-blk missing headers');
    expect(access.getStatus() & VirtioStatus.NEEDS_RESET).toBe(VirtioStatus.NEEDS_RESET);
    expect(pci.core.needsResetFault()).toBe(dev.fault);
    expect(pci.core.needsResetReason()).toBe('virtio-blk missing headers');
  });

  it('a reset asked for with a message only is the device’s, code DEVICE_NEEDS_RESET', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const dev = new ConsoleDevice(new DmaApi(mem).deviceView());
    const pci = new VirtioPciTransport(dev);
    pci.core.ctx.needsReset('out of paper');
    expect(pci.core.needsResetFault()).toMatchObject({ code: 'DEVICE_NEEDS_RESET', side: 'device' });
    expect(pci.core.needsResetFault()).toBeInstanceOf(DeviceError);
  });

  it('host: a benchmark whose counters disagree', () => {
    expect(new BenchSanityError('counted 3, stats say 4')).toMatchObject({ code: 'BENCH_SANITY', side: 'host' });
  });
});

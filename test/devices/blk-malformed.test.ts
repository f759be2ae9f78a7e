// virtio-blk requests the device cannot parse: an out header shorter than 16
// bytes, no status byte, a status byte the device may not write. Each is the
// device's named error in QEMU's words (virtio_blk_handle_request); the
// request is not completed, and a device serving on doorbells stops and asks
// for a reset (VIRTIO_CONFIG_S_NEEDS_RESET), as QEMU's virtio_error() does.
import { describe, expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkQueueServer,
  BlkRequestError,
  BlkStatus,
  BlkType,
  DmaApi,
  Feature,
  GuestMemory,
  MemoryBackend,
  PciDriverAccess,
  VirtioPciTransport,
  VirtioStatus,
  blkDeviceQueue,
  type GuestBuffer,
} from '../../src/internal.js';

const SPLIT = ~(1n << BigInt(Feature.RING_PACKED));

function machine(ring: 'split' | 'packed', serve: 'notify' | 'manual') {
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const backend = MemoryBackend.create(view, 1 << 20);
  const dev = new BlkDevice(view, backend, { serve });
  const access = new PciDriverAccess(new VirtioPciTransport(dev));
  const features = ring === 'split' ? BlkDriver.ALL_FEATURES & SPLIT : BlkDriver.ALL_FEATURES;
  const blk = BlkDriver.probe(access, mem, dma, { queueSize: 16, features });
  expect(blk.ring).toBe(ring);
  // A header, a data page and a status byte in shared pages (the direct DMA
  // backend: the device sees guest physical addresses).
  const hdr = mem.alloc(4096, { shared: true });
  const data = mem.alloc(4096, { shared: true });
  mem.writeU32(hdr, BlkType.IN);
  mem.writeU32(hdr + 4, 0);
  mem.writeU64(hdr + 8, 0);
  mem.writeU8(hdr + 16, 0xff);
  return { mem, dma, view, backend, dev, access, blk, hdr, data, status: hdr + 16 };
}

type M = ReturnType<typeof machine>;

const cases: {
  name: string;
  chain: (m: M) => [GuestBuffer[], GuestBuffer[]];
  message: string;
  variant: 'no-header' | 'no-status' | 'short-header';
}[] = [
  {
    name: 'an out header of 8 bytes',
    chain: (m) => [[{ addr: m.hdr, len: 8 }], [{ addr: m.status, len: 1 }]],
    message: 'virtio-blk request outhdr too short',
    variant: 'short-header',
  },
  {
    name: 'an out header of 15 bytes, with data',
    chain: (m) => [
      [{ addr: m.hdr, len: 15 }],
      [
        { addr: m.data, len: 512 },
        { addr: m.status, len: 1 },
      ],
    ],
    message: 'virtio-blk request outhdr too short',
    variant: 'short-header',
  },
  {
    name: 'no status byte (nothing device-writable)',
    chain: (m) => [[{ addr: m.hdr, len: 16 }], []],
    message: 'virtio-blk missing headers',
    variant: 'no-status',
  },
  {
    name: 'a status byte the device may not write (device-readable)',
    chain: (m) => [
      [
        { addr: m.hdr, len: 16 },
        { addr: m.status, len: 1 },
      ],
      [],
    ],
    message: 'virtio-blk missing headers',
    variant: 'no-status',
  },
  {
    name: 'no out header (nothing device-readable)',
    chain: (m) => [[], [{ addr: m.status, len: 1 }]],
    message: 'virtio-blk missing headers',
    variant: 'no-header',
  },
];

describe.each(['split', 'packed'] as const)('malformed virtio-blk requests, %s ring', (ring) => {
  it.each(cases)('$name: BLK_BAD_REQUEST "$message" ($variant), nothing completed', ({ chain, message, variant }) => {
    const m = machine(ring, 'manual');
    const server = new BlkQueueServer(
      m.view,
      blkDeviceQueue(m.view, m.dev.queueConfig(0)!, 0),
      m.backend,
      m.dev.serverConfig(),
    );
    const vq = m.blk.queues[0]!.vq;
    const [out, inBufs] = chain(m);
    expect(vq.driver.add(out, inBufs, 7)).toBe(true);
    let caught: unknown;
    try {
      server.serve();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(BlkRequestError);
    expect(caught).toMatchObject({ code: 'BLK_BAD_REQUEST', message, variant, side: 'driver' });
    // Not completed: no used entry, the status byte untouched, no I/O counted.
    expect(vq.driver.reap()).toBe(0);
    expect(m.mem.readU8(m.status)).toBe(0xff);
    expect(server.counters).toMatchObject({ requests: 0, reads: 0, writes: 0, ioErrors: 0 });
    expect(vq.stats()).toMatchObject({ chainsAdded: 1, chainsCompleted: 0 });
    // The device's face counts in its own stats block: popped, never used.
    expect(server.queue.stats()).toMatchObject({ chainsPopped: 1, chainsUsed: 0 });
  });

  it.each(cases)('$name: a device serving on doorbells stops and needs a reset', ({ chain, message }) => {
    const m = machine(ring, 'notify');
    const q = m.blk.queues[0]!;
    // A good request first: the device serves it.
    const good = m.blk.read(0, 512);
    expect(good.status).toBe(BlkStatus.OK);
    const [out, inBufs] = chain(m);
    expect(q.vq.driver.add(out, inBufs, 7)).toBe(true);
    m.access.notify(0);
    expect(m.dev.failure).toBe(message);
    expect(m.access.getStatus() & VirtioStatus.NEEDS_RESET).toBe(VirtioStatus.NEEDS_RESET);
    expect(q.vq.driver.reap()).toBe(0);
    expect(m.dev.counters()).toMatchObject({ requests: 1, reads: 1 });
    // Until the reset, later requests are not served.
    expect(q.submit(BlkType.IN, 0, m.data, 512)).toBeGreaterThanOrEqual(0);
    q.kick();
    expect(q.reap()).toBe(0);
  });
});

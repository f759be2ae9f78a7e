// virtio-blk: device model and guest driver over PCI and MMIO, split and
// packed rings; every request type, range errors, the driver's checks against
// a lying device, and persistence across a device reset.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  BlkType,
  BlkConfig,
  BlkFeature,
  DmaApi,
  Feature,
  FileBackend,
  GuestMemory,
  MemoryBackend,
  MmioDriverAccess,
  PciDriverAccess,
  VirtioMmioTransport,
  VirtioPciTransport,
  VirtioStatus,
  type BlkBackend,
  type BlkDeviceOptions,
  type BlkDriverOptions,
  type TransportAccess,
} from '../../src/internal.js';

const dir = mkdtempSync(join(tmpdir(), 'vqsim-blk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function machine(
  kind: 'pci' | 'mmio',
  opts: { dev?: BlkDeviceOptions; backend?: (mem: GuestMemory) => BlkBackend; make?: typeof BlkDevice } = {},
) {
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const backend = opts.backend?.(mem) ?? MemoryBackend.create(view, 1 << 20);
  const Make = opts.make ?? BlkDevice;
  const dev = new Make(view, backend, opts.dev);
  const access: TransportAccess =
    kind === 'pci'
      ? new PciDriverAccess(new VirtioPciTransport(dev))
      : new MmioDriverAccess(new VirtioMmioTransport(dev));
  return { mem, dma, view, backend, dev, access };
}

/** Byte equality without vitest's element-by-element diff (slow on 4 KiB arrays). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x & 0xff;
  }
  return a;
}

const SPLIT = ~(1n << BigInt(Feature.RING_PACKED));

describe.each([
  ['pci', 'split'],
  ['pci', 'packed'],
  ['mmio', 'split'],
  ['mmio', 'packed'],
] as const)('virtio-blk over %s, %s ring', (kind, ring) => {
  const drvOpts = (o: BlkDriverOptions = {}): BlkDriverOptions => ({
    queueSize: 64,
    ...o,
    features: ring === 'split' ? (o.features ?? BlkDriver.ALL_FEATURES) & SPLIT : o.features,
  });

  it('probes and serves every request type', () => {
    const m = machine(kind, { dev: { queues: 2, id: 'disk-7' } });
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, drvOpts());
    expect(blk.ring).toBe(ring);
    expect(blk.info).toEqual({ capacity: 2048, sizeMax: 0, segMax: 254, blkSize: 512, numQueues: 2, readOnly: false });
    const data = pattern(8192, 1);
    expect(blk.write(10, data)).toBe(BlkStatus.OK);
    expect(blk.read(10, 8192, 1)).toEqual({ status: BlkStatus.OK, data });
    expect(blk.flush()).toBe(BlkStatus.OK);
    expect(blk.getId()).toEqual({ status: BlkStatus.OK, id: 'disk-7' });
    expect(blk.zeroRanges('write-zeroes', [{ sector: 11, sectors: 2 }], true)).toBe(BlkStatus.OK);
    expect(blk.zeroRanges('discard', [{ sector: 25, sectors: 1 }])).toBe(BlkStatus.OK);
    const back = blk.read(10, 8192).data;
    const want = data.slice();
    want.fill(0, 512, 1536);
    want.fill(0, 15 * 512, 16 * 512);
    expect(back).toEqual(want);
    expect(m.dev.counters()).toMatchObject({ reads: 2, writes: 1, flushes: 1, getIds: 1, discards: 1, writeZeroes: 1 });
    expect(m.dma.counters().liveMappings).toBe(0);
  });

  it('range checks give IOERR, an unknown type UNSUPP, and the queue goes on', () => {
    const m = machine(kind);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, drvOpts());
    expect(blk.read(2047, 512).status).toBe(BlkStatus.OK);
    expect(blk.read(2047, 1024).status).toBe(BlkStatus.IOERR); // runs past the end
    expect(blk.write(2048, new Uint8Array(512))).toBe(BlkStatus.IOERR);
    expect(blk.read(0, 100).status).toBe(BlkStatus.IOERR); // not whole sectors
    expect(blk.zeroRanges('discard', [{ sector: 2040, sectors: 9 }])).toBe(BlkStatus.IOERR);
    expect(blk.raw(99, 0, 0).status).toBe(BlkStatus.UNSUPP);
    expect(blk.raw(BlkType.IN, 2 ** 40, 512).status).toBe(BlkStatus.IOERR);
    expect(blk.read(0, 512).status).toBe(BlkStatus.OK);
    expect(m.dev.counters()).toMatchObject({ ioErrors: 5, unsupported: 1 });
  });

  it('a read-only device refuses writes; features not negotiated are UNSUPP', () => {
    const m = machine(kind, { dev: { readOnly: true } });
    const features = BlkDriver.ALL_FEATURES & ~(1n << BigInt(BlkFeature.FLUSH)) & ~(1n << BigInt(BlkFeature.DISCARD));
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, drvOpts({ features }));
    expect(blk.info.readOnly).toBe(true);
    expect(blk.write(0, new Uint8Array(512))).toBe(BlkStatus.IOERR);
    expect(blk.flush()).toBe(BlkStatus.UNSUPP);
    expect(blk.zeroRanges('discard', [{ sector: 0, sectors: 1 }])).toBe(BlkStatus.UNSUPP);
  });

  it('every acknowledged write survives a device reset and re-probe', () => {
    const path = join(dir, `reset-${kind}-${ring}.img`);
    for (const backend of ['memory', 'file'] as const) {
      const m = machine(kind, {
        backend:
          backend === 'file'
            ? (mem) => new FileBackend((at, len) => mem.bytes.subarray(at, at + len), path, 1 << 20)
            : undefined,
      });
      let blk = BlkDriver.probe(m.access, m.mem, m.dma, drvOpts());
      const acked = new Map<number, Uint8Array>();
      for (let i = 0; i < 20; i++) {
        const data = pattern(4096, 100 + i);
        if (blk.write(i * 8, data) === BlkStatus.OK) acked.set(i * 8, data);
      }
      m.access.reset();
      blk = BlkDriver.probe(m.access, m.mem, m.dma, drvOpts());
      for (const [sector, data] of acked) expect(same(blk.read(sector, 4096).data, data)).toBe(true);
      expect(acked.size).toBe(20);
      if (backend === 'file') {
        const file = readFileSync(path);
        for (const [sector, data] of acked)
          expect(same(file.subarray(sector * 512, sector * 512 + 4096), data)).toBe(true);
        m.backend.close();
      }
    }
  });
});

describe('virtio-blk driver checks against a lying device', () => {
  it('MQ with num_queues 0: hardened refuses with -EINVAL, naive probes with no queues', () => {
    const m = machine('pci', { dev: { mq: true } });
    m.dev.config.setUint16(BlkConfig.NUM_QUEUES, 0, true);
    let caught: unknown;
    try {
      BlkDriver.probe(m.access, m.mem, m.dma);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({
      code: 'BLK_MQ_ZERO_QUEUES',
      message: 'MQ advertised but zero queues reported',
      errno: -22,
    });
    expect(m.access.getStatus() & VirtioStatus.FAILED).toBe(VirtioStatus.FAILED);
    const naive = BlkDriver.probe(m.access, m.mem, m.dma, { hardened: false });
    expect(naive.queues).toHaveLength(0);
  });

  it.each([0, 100, 513, 8192])('blk_size 0x%s: hardened refuses, naive takes it', (size) => {
    const m = machine('mmio');
    m.dev.config.setUint32(BlkConfig.BLK_SIZE, size, true);
    expect(() => BlkDriver.probe(m.access, m.mem, m.dma)).toThrow(
      expect.objectContaining({
        code: 'BLK_INVALID_BLOCK_SIZE',
        message: `virtio_blk: invalid block size: 0x${size.toString(16)}`,
      }),
    );
    expect(BlkDriver.probe(m.access, m.mem, m.dma, { hardened: false }).info.blkSize).toBe(size);
  });

  it('a used len that leaves the status byte unwritten, or exceeds what was posted', () => {
    class Liar extends BlkDevice {
      len = 0;
      override onNotify(index: number): void {
        const q = this.server(index)!.queue;
        const chains = q.pop();
        q.push(chains.map((c) => ({ id: c.id, len: this.len })));
        if (q.shouldNotify()) this.ctx.raiseQueueInterrupt(index);
      }
    }
    for (const [len, code] of [
      [0, 'BLK_NO_STATUS'],
      [4098, 'BLK_USED_LEN'],
    ] as const) {
      const m = machine('pci', { make: Liar });
      (m.dev as Liar).len = len;
      const blk = BlkDriver.probe(m.access, m.mem, m.dma);
      expect(() => blk.read(0, 4096)).toThrow(expect.objectContaining({ code }));
      const naive = BlkDriver.probe(m.access, m.mem, m.dma, { hardened: false });
      // The naive driver takes the completion; the status byte is what the driver left there.
      expect(naive.read(0, 4096).status).toBe(0xff);
    }
  });
});

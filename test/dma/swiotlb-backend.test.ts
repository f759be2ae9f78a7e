// The `swiotlb` DMA backend: which bytes each direction and attribute moves
// (poisoned buffers show it), rings and the net, blk and console devices end
// to end giving the same data as `direct` with every payload bounced and
// counted, a device that cannot reach the guest's own (private) buffers, and
// drivers that survive a full pool without losing what they had queued.
import { describe, expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  BlkType,
  ConsoleDevice,
  ConsoleDriver,
  DmaApi,
  DmaAttr,
  DmaDirection as D,
  DmaError,
  GuestMemory,
  MemoryBackend,
  MmioDriverAccess,
  PciDriverAccess,
  Swiotlb,
  SwiotlbDmaBackend,
  VirtioMmioTransport,
  VirtioNetDevice,
  VirtioNetDriver,
  VirtioPciTransport,
  VirtqueueError,
  createMachine,
  createQueue,
  type RingKind,
  type SwiotlbCounters,
  type TransportAccess,
  type VirtioDeviceModel,
} from '../../src/internal.js';
import { runNetPackets } from '../../src/sim/net.js';
import { blkWork, consoleWork, expectSameAsDirect, netWork, ringRun } from './runs.js';

type Backend = 'direct' | 'swiotlb';
const RINGS: RingKind[] = ['split', 'packed'];
const DIRS = [
  ['TO_DEVICE', D.TO_DEVICE],
  ['FROM_DEVICE', D.FROM_DEVICE],
  ['BIDIRECTIONAL', D.BIDIRECTIONAL],
] as const;

function access(kind: 'pci' | 'mmio', device: VirtioDeviceModel): TransportAccess {
  return kind === 'pci'
    ? new PciDriverAccess(new VirtioPciTransport(device))
    : new MmioDriverAccess(new VirtioMmioTransport(device));
}

/** The pool behind a DMA API on the swiotlb backend. */
function poolOf(api: DmaApi): Swiotlb {
  return (api.backend as SwiotlbDmaBackend).swiotlb;
}

describe('swiotlb copy directions, every direction and attribute', () => {
  const LEN = 3000;
  const GUARD = 64;
  for (const [name, dir] of DIRS) {
    for (const skip of [false, true]) {
      it(`${name}${skip ? ', unmap with SKIP_CPU_SYNC' : ''}: map copies in always; the syncs and unmap as mainline`, () => {
        const mem = new GuestMemory({ size: 4 << 20 });
        const sw = new Swiotlb(mem, { slots: 256 });
        const be = new SwiotlbDmaBackend(mem, { swiotlb: sw });
        const region = mem.alloc(LEN + 2 * GUARD); // private: the guest's own buffer
        const orig = region + GUARD;
        // Poison: the guards 0xee, the buffer 0x11; the pool 0xdd outside what is mapped.
        mem.fill(region, LEN + 2 * GUARD, 0xee);
        mem.fill(orig, LEN, 0x11);
        mem.fill(sw.start, sw.bytes, 0xdd);
        const a = be.map(orig, LEN, dir);
        const bounce = () => mem.read(a, LEN);
        const buffer = () => mem.read(orig, LEN);
        const fill = (v: number) => new Uint8Array(LEN).fill(v);
        // map: orig -> bounce for the whole buffer, whatever the direction (mainline since 5.16).
        expect(bounce()).toEqual(fill(0x11));
        expect(mem.readU8(a + LEN)).toBe(0xdd);
        // The CPU writes; sync for device copies in for TO_DEVICE and BIDIRECTIONAL only.
        mem.fill(orig, LEN, 0x22);
        be.syncForDevice(a, orig, LEN, dir);
        expect(bounce()).toEqual(fill(dir === D.FROM_DEVICE ? 0x11 : 0x22));
        // The device writes; sync for cpu copies out for FROM_DEVICE and BIDIRECTIONAL only.
        mem.fill(a, LEN, 0x33);
        be.syncForCpu(a, orig, LEN, dir);
        expect(buffer()).toEqual(fill(dir === D.TO_DEVICE ? 0x22 : 0x33));
        // The device writes again; unmap copies out for FROM_DEVICE and BIDIRECTIONAL, unless SKIP_CPU_SYNC.
        mem.fill(a, LEN, 0x44);
        const before = buffer();
        sw.unmap(a, LEN, { dir, attrs: skip ? DmaAttr.SKIP_CPU_SYNC : 0 });
        expect(buffer()).toEqual(dir !== D.TO_DEVICE && !skip ? fill(0x44) : before);
        // Nothing outside the buffer moved.
        expect(mem.read(region, GUARD)).toEqual(new Uint8Array(GUARD).fill(0xee));
        expect(mem.read(orig + LEN, GUARD)).toEqual(new Uint8Array(GUARD).fill(0xee));
        const n = sw.counters();
        const outs = (dir === D.TO_DEVICE ? 0 : 1) + (dir !== D.TO_DEVICE && !skip ? 1 : 0);
        const ins = 1 + (dir === D.FROM_DEVICE ? 0 : 1);
        expect([n.bouncesToDevice, n.bytesToDevice]).toEqual([ins, ins * LEN]);
        expect([n.bouncesFromDevice, n.bytesFromDevice]).toEqual([outs, outs * LEN]);
        expect(sw.used).toBe(0);
      });
    }
  }

  it('through the DMA API: NO_WARN silences a full pool, SKIP_CPU_SYNC skips the copy back', () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const sw = new Swiotlb(mem, { slots: 128 });
    const api = new DmaApi(mem, { backend: new SwiotlbDmaBackend(mem, { swiotlb: sw }) });
    const orig = mem.alloc(8192);
    mem.fill(orig, 8192, 0x11);
    const a = api.map(orig, 4096, D.FROM_DEVICE);
    mem.fill(a, 4096, 0x66);
    api.unmap(a, 4096, D.FROM_DEVICE, DmaAttr.SKIP_CPU_SYNC);
    expect(mem.read(orig, 4096)).toEqual(new Uint8Array(4096).fill(0x11));
    const held = api.map(orig, 256 << 10, D.TO_DEVICE); // the whole pool
    let e: unknown;
    try {
      api.map(orig, 64, D.TO_DEVICE, DmaAttr.NO_WARN);
    } catch (x) {
      e = x;
    }
    expect((e as DmaError).code).toBe('DMA_MAPPING_ERROR');
    expect(sw.counters()).toMatchObject({ full: 1, warnings: 0 });
    expect(() => api.map(orig, 64, D.TO_DEVICE)).toThrow(/swiotlb buffer is full/);
    expect(sw.counters()).toMatchObject({ full: 2, warnings: 1 });
    expect(api.counters().errors).toBe(2);
    api.unmap(held, 256 << 10, D.TO_DEVICE);
    expect(sw.used).toBe(0);
  });

  it('a partial sync through the DMA API moves only the bytes it names', () => {
    const mem = new GuestMemory({ size: 4 << 20 });
    const api = new DmaApi(mem, { backend: 'swiotlb' });
    const orig = mem.alloc(8192);
    mem.fill(orig, 8192, 0x11);
    const a = api.map(orig, 6000, D.BIDIRECTIONAL);
    mem.fill(a, 6000, 0x55);
    api.syncForCpu(a, 100, D.BIDIRECTIONAL); // the first 100 bytes only
    expect(mem.read(orig, 101)).toEqual(new Uint8Array([...new Uint8Array(100).fill(0x55), 0x11]));
    api.unmap(a, 6000, D.BIDIRECTIONAL);
    expect(mem.read(orig, 6000)).toEqual(new Uint8Array(6000).fill(0x55));
    expect(api.needSync).toBe(true);
  });
});

describe('rings through the swiotlb backend', () => {
  for (const ring of RINGS) {
    it(`${ring} ring with indirect tables: the same run as direct, every payload bounced`, () => {
      // The guest's buffers are private: only their bounce copies are reachable.
      const direct = ringRun(ring, 'direct', 5, { pool: 'private' });
      const sw = ringRun(ring, 'swiotlb', 5, { pool: 'private' });
      expectSameAsDirect(sw, direct);
      expect(sw.dma.bytesRead).toBe(direct.dma.bytesRead);
      const b = (sw.backend as SwiotlbDmaBackend).swiotlb.counters();
      const live = sw.api.liveMappings;
      // Every buffer was copied in at map; the device's writes copied out at unmap.
      expect(b.bytesToDevice).toBeGreaterThan(sw.dma.bytesRead);
      expect(b.bytesFromDevice).toBeGreaterThanOrEqual(sw.dma.bytesWritten);
      expect(b.maps - b.releases).toBe(live);
      expect(b.used).toBeGreaterThanOrEqual(live);
    });

    it(`${ring} ring: the device cannot reach a private guest buffer that was not bounced`, () => {
      const mem = new GuestMemory({ size: 4 << 20 });
      const api = new DmaApi(mem, { backend: 'swiotlb' });
      const q = createQueue(mem, { ring, size: 8, dma: api.driverDma(), device: api.deviceView() });
      const secret = mem.alloc(4096); // private
      mem.fill(secret, 16, 0x5e);
      // Mapped through the API, the device reads the bounce copy.
      const d = api.map(secret, 16, D.TO_DEVICE);
      expect(d).not.toBe(secret);
      expect(mem.isShared(d)).toBe(true);
      expect(q.driver.add([{ addr: d, len: 16 }], [], 1)).toBe(true);
      const [c] = q.device.pop();
      expect([...api.deviceView().bytesAt(c!.readable[0]!.linear, 16)]).toEqual(new Array(16).fill(0x5e));
      q.device.push([{ id: c!.id, len: 0 }]);
      // The guest-physical address itself, in a descriptor: DMA_PRIVATE_PAGE.
      expect(q.driver.add([{ addr: secret, len: 16 }], [], 2)).toBe(true);
      let e: unknown;
      try {
        q.device.pop();
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(VirtqueueError);
      expect((e as VirtqueueError).code).toBe('DMA_PRIVATE_PAGE');
      expect(api.deviceView().counters().faults).toBe(1);
    });
  }
});

function netRun(ring: RingKind, kind: 'pci' | 'mmio', backend: Backend) {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem, { backend });
  const device = new VirtioNetDevice(dma.deviceView(), { queuePairs: 2 });
  const driver = VirtioNetDriver.probe(access(kind, device), mem, dma, { ring, queueSize: 64 });
  const { frames: got, burst, counted } = netWork(driver);
  const bounced = backend === 'swiotlb' ? poolOf(dma).counters() : undefined;
  driver.remove();
  return { got, burst, counted, dev: device.counters, view: dma.deviceView().counters(), bounced, dma };
}

describe('virtio-net, virtio-blk and virtio-console on the swiotlb backend', () => {
  for (const ring of RINGS) {
    for (const kind of ['pci', 'mmio'] as const) {
      it(`net over ${kind}, ${ring}: loopback frames byte for byte as on direct, bounced both ways`, () => {
        const direct = netRun(ring, kind, 'direct');
        const sw = netRun(ring, kind, 'swiotlb');
        expect(sw.got).toEqual(direct.got);
        expect([sw.burst, sw.counted]).toEqual([32, 32]);
        expect(sw.dev).toEqual(direct.dev);
        expect(sw.view.faults).toBe(0);
        expect(sw.view.bytesRead).toBe(direct.view.bytesRead);
        const b = sw.bounced!;
        // TX frames synced in per frame; RX synced out per buffer reaped.
        const frames = 2 * 5 * (60 + 700 + 1500);
        expect(b.bytesToDevice).toBeGreaterThan(frames);
        expect(b.bytesFromDevice).toBeGreaterThanOrEqual(frames + 32 * 64);
        // Removed: every premapped buffer given back.
        expect(poolOf(sw.dma).used).toBe(0);
      });

      it(`blk over ${kind}, ${ring}: writes, reads, flush and get-id as on direct`, () => {
        const run = (backend: Backend) => {
          const mem = new GuestMemory({ size: 16 << 20 });
          const dma = new DmaApi(mem, { backend });
          const view = dma.deviceView();
          const dev = new BlkDevice(view, MemoryBackend.create(view, 1 << 20), { queues: 2 });
          const blk = BlkDriver.probe(access(kind, dev), mem, dma, { queueSize: 32 });
          const out = { ...blkWork(blk), faults: view.counters().faults };
          return { out, bounced: backend === 'swiotlb' ? poolOf(dma).counters() : undefined };
        };
        const direct = run('direct');
        const sw = run('swiotlb');
        expect(sw.out.statuses).toEqual([BlkStatus.OK, BlkStatus.OK, BlkStatus.OK]);
        expect(sw.out).toEqual(direct.out);
        const b = sw.bounced!;
        // Headers (32 bytes) in and out for 6 requests, the data one way each.
        expect(b.bytesToDevice).toBe(6 * 32 + 8192 + 512 + 8192 + 512 + 20);
        expect(b.bytesFromDevice).toBe(6 * 32 + 8192 + 512 + 20);
        expect(b.used).toBe(0);
      });

      it(`console over ${kind}, ${ring}: loopback bytes as on direct`, () => {
        const run = (backend: Backend) => {
          const mem = new GuestMemory({ size: 8 << 20 });
          const dma = new DmaApi(mem, { backend });
          const dev = new ConsoleDevice(dma.deviceView(), { backend: 'loopback' });
          const con = ConsoleDriver.probe(access(kind, dev), mem, dma);
          return { ...consoleWork(con, 'hello through a bounce buffer\n'), faults: dma.deviceView().counters().faults };
        };
        const direct = run('direct');
        const sw = run('swiotlb');
        expect(sw.sent).toBeGreaterThan(0);
        expect(sw).toEqual(direct);
      });
    }
  }
});

describe('createMachine({ dma: "swiotlb" }): one pool for every device, counted in the registry', () => {
  const text = new TextEncoder();
  const run = (dma: Backend) => {
    const m = createMachine({
      dma,
      devices: [
        { kind: 'net', queueSize: 64, packetBytes: 128 },
        { kind: 'blk', capacityBytes: 1 << 20 },
        { kind: 'console', ring: 'packed' },
      ],
    });
    const moved = runNetPackets(m.net(), 0, 300).packets;
    const w = m.blk().driver.write(
      3,
      new Uint8Array(1024).map((_, i) => i & 0xff),
    );
    const r = m.blk().driver.read(3, 1024);
    m.console().driver.write(text.encode('bounced'));
    const back = new TextDecoder().decode(m.console().driver.read());
    const s = m.stats();
    m.close();
    return { m, moved, w, r, back, s };
  };

  it('net, blk and console give what direct gives; the pool is 64 MiB of shared pages; nothing else is reachable', () => {
    const direct = run('direct');
    const sw = run('swiotlb');
    expect(sw.m.dmaBackend).toBe('swiotlb');
    expect([sw.moved >= 300, sw.w, sw.r, sw.back]).toEqual([direct.moved >= 300, direct.w, direct.r, direct.back]);
    expect(sw.back).toBe('bounced');
    // The machine's RAM has room for Linux's default pool, shared by all three devices.
    const pool = Swiotlb.forMemory(sw.m.mem);
    expect(pool.bytes).toBe(64 << 20);
    expect(sw.m.mem.size).toBe(direct.m.mem.size + (64 << 20));
    for (const d of sw.m.devices) expect((d.dma.backend as SwiotlbDmaBackend).swiotlb).toBe(pool);
    const rec = sw.s.swiotlb!;
    expect(rec.kind).toBe('swiotlb');
    expect(rec.counters.nslabs).toBe(32768);
    const items = rec.items!;
    const sum = (k: keyof SwiotlbCounters) => items.reduce((n, x) => n + x[k]!, 0);
    expect(sum('bytesToDevice')).toBeGreaterThan(300 * 128);
    expect(sum('bytesFromDevice')).toBeGreaterThan(300 * 128);
    expect(rec.counters.usedHiwater).toBeGreaterThan(0);
    for (const d of ['net0', 'blk0', 'console0']) expect(sw.s[`${d}.dma-context`]!.counters.faults).toBe(0);
    // Closed: net and blk gave every mapping back; the console driver keeps its
    // receive buffers mapped through a reset (it has no remove): 2 slots each.
    const after = sw.m.stats();
    const live = (d: string) => after[`${d}.dma-api`]!.counters.liveMappings!;
    expect([live('net0'), live('blk0')]).toEqual([0, 0]);
    expect(pool.used).toBe(2 * live('console0'));
  });

  it('a machine given its memory fits the pool into it, as Linux halves a pool it cannot allocate', () => {
    const m = createMachine({ dma: 'swiotlb', memory: 48 << 20, devices: [{ kind: 'console' }] });
    const pool = Swiotlb.forMemory(m.mem);
    expect(pool.bytes).toBe(16 << 20);
    m.console().driver.write(text.encode('small'));
    expect(new TextDecoder().decode(m.console().driver.read())).toBe('small');
    m.close();
  });
});

describe('blk requests larger than one swiotlb mapping (virtio_max_dma_size)', () => {
  const machine = (backend: Backend, slots?: number, segMax?: number) => {
    const mem = new GuestMemory({ size: 32 << 20 });
    const dma = new DmaApi(mem, {
      backend:
        backend === 'swiotlb' && slots ? new SwiotlbDmaBackend(mem, { swiotlb: new Swiotlb(mem, { slots }) }) : backend,
    });
    const view = dma.deviceView();
    const dev = new BlkDevice(view, MemoryBackend.create(view, 4 << 20), { segMax });
    const blk = BlkDriver.probe(access('pci', dev), mem, dma, { queueSize: 32, maxIoBytes: 1 << 20 });
    return { mem, dma, blk };
  };
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 7 + (i >> 12)) & 0xff);

  it('a 1 MiB write and read go in 256 KiB segments, each mapped and bounced on its own', () => {
    const { dma, blk } = machine('swiotlb');
    expect(dma.maxMappingSize).toBe(256 << 10);
    expect(blk.maxSegmentBytes).toBe(256 << 10);
    const maps = dma.counters().maps;
    expect(blk.write(16, data)).toBe(BlkStatus.OK);
    // The header and four data segments.
    expect(dma.counters().maps - maps).toBe(5);
    const r = blk.read(16, 1 << 20);
    expect(r.status).toBe(BlkStatus.OK);
    expect(Buffer.from(r.data).equals(data)).toBe(true);
    expect(dma.counters().liveMappings).toBe(0);
    expect(poolOf(dma).used).toBe(0);
  });

  it('on direct DMA the same request is one segment', () => {
    const { dma, blk } = machine('direct');
    const maps = dma.counters().maps;
    expect(blk.write(16, data)).toBe(BlkStatus.OK);
    expect(dma.counters().maps - maps).toBe(2);
  });

  it('a pool that fills half-way through a request gives back the segments it mapped', () => {
    const { dma, blk } = machine('swiotlb', 384); // 768 KiB: three segments, not four
    expect(() => blk.write(16, data)).toThrow(/swiotlb buffer is full/);
    expect(dma.counters().liveMappings).toBe(0);
    expect(poolOf(dma).used).toBe(0);
    expect(blk.queues[0]!.inflight).toBe(0);
    expect(blk.write(16, data.subarray(0, 512 << 10))).toBe(BlkStatus.OK);
  });

  it("more segments than seg_max allows is the caller's error, named, with nothing mapped", () => {
    const { dma, blk } = machine('swiotlb', undefined, 2);
    expect(blk.maxSegments).toBe(2);
    let e: unknown;
    try {
      blk.write(16, data);
    } catch (x) {
      e = x;
    }
    expect((e as { code?: string }).code).toBe('BLK_TOO_MANY_SEGMENTS');
    expect((e as Error).message).toBe(
      'blk request of 1048576 bytes: 4 segments of at most 262144 bytes, the queue takes 2',
    );
    expect(dma.counters().liveMappings).toBe(0);
    expect(blk.write(16, data.subarray(0, 512 << 10))).toBe(BlkStatus.OK);
  });
});

describe('drivers and a full pool: DMA_MAPPING_ERROR, nothing queued is lost', () => {
  it('blk: a request that cannot be mapped is refused (-1), the queued ones complete, then it goes through', () => {
    const mem = new GuestMemory({ size: 16 << 20 });
    const sw = new Swiotlb(mem, { slots: 512 }); // 1 MiB
    const dma = new DmaApi(mem, { backend: new SwiotlbDmaBackend(mem, { swiotlb: sw }) });
    const view = dma.deviceView();
    const dev = new BlkDevice(view, MemoryBackend.create(view, 4 << 20));
    const blk = BlkDriver.probe(access('pci', dev), mem, dma, { queueSize: 32, maxIoBytes: 256 << 10 });
    const q = blk.queues[0]!;
    const IO = 200 << 10; // 100 slots: with its header, 4 fit in 512 slots
    const bufs = Array.from({ length: 6 }, (_, k) => {
      const b = mem.alloc(IO);
      mem.fill(b, IO, 0x10 + k);
      return b;
    });
    const tags: number[] = [];
    for (const b of bufs) tags.push(q.submit(BlkType.OUT, (tags.length * IO) / 512, b, IO));
    expect(tags.map((t) => t >= 0)).toEqual([true, true, true, true, false, false]);
    expect(q.mapErrors).toBe(2);
    expect(q.mapError).toBeInstanceOf(DmaError);
    expect(q.mapError!.code).toBe('DMA_MAPPING_ERROR');
    expect(q.mapError!.message).toMatch(
      /^swiotlb buffer is full \(sz: 204800 bytes\), total 512 \(slots\), used 4.. \(slots\)$/,
    );
    // The refused requests left nothing behind: their headers' slots were given back.
    expect(q.inflight).toBe(4);
    expect(sw.used).toBe(4 * 101);
    q.kick();
    const statuses: number[] = [];
    expect(q.reap((c) => statuses.push(c.status))).toBe(4);
    expect(statuses).toEqual([0, 0, 0, 0]);
    expect(sw.used).toBe(0);
    // Retried after the reap: they go through.
    for (let k = 4; k < 6; k++) expect(q.submit(BlkType.OUT, (k * IO) / 512, bufs[k]!, IO)).toBeGreaterThanOrEqual(0);
    expect(q.mapError).toBeUndefined();
    q.kick();
    expect(q.reap()).toBe(2);
    for (let k = 0; k < 6; k++)
      expect(blk.read((k * IO) / 512, 4096).data).toEqual(new Uint8Array(4096).fill(0x10 + k));
    // The one-request helpers name the mapping error rather than a full queue.
    const hold = sw.map(bufs[0]!, 256 << 10);
    sw.map(bufs[0]!, 256 << 10);
    sw.map(bufs[0]!, 256 << 10);
    sw.map(bufs[0]!, 250 << 10);
    expect(() => blk.read(0, 8192)).toThrow(/swiotlb buffer is full/);
    expect(q.inflight).toBe(0);
    sw.unmap(hold, 256 << 10);
    expect(blk.read(0, 8192).status).toBe(BlkStatus.OK);
  });

  it('console: a write queues what maps and the rest goes later; receive buffers wait for room and are posted at the next read', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const sw = new Swiotlb(mem, { slots: 256 });
    const dma = new DmaApi(mem, { backend: new SwiotlbDmaBackend(mem, { swiotlb: sw }) });
    const dev = new ConsoleDevice(dma.deviceView(), { backend: 'loopback' });
    // Hold 200 slots: 56 are left, room for 28 of the 64 receive buffers (2 slots each).
    const orig = mem.alloc(1 << 20);
    const held = [sw.map(orig, 128 * 2048), sw.map(orig, 72 * 2048)];
    const con = ConsoleDriver.probe(access('pci', dev), mem, dma, { queueSize: 64 });
    expect(con.mapErrors).toBe(1);
    expect(sw.used).toBe(256);
    // No room for a transmit buffer: nothing is queued, nothing is lost.
    const text = new TextEncoder().encode('x'.repeat(10000));
    expect(con.write(text)).toBe(0);
    expect(con.mapErrors).toBe(2);
    // Room again: the write goes (3 chains), and the waiting receive buffers are posted at the read.
    sw.unmap(held[1]!, 72 * 2048);
    let sent = con.write(text);
    expect(sent).toBe(10000);
    let back = con.read();
    expect(back.length).toBe(10000);
    expect(sw.used).toBe(128 + 64 * 2);
    sw.unmap(held[0]!, 128 * 2048);
    sent = con.write(text.subarray(0, 5000));
    back = con.read();
    expect(new TextDecoder().decode(back)).toBe('x'.repeat(5000));
  });

  it('net: premapped at probe, so a full pool fails the probe with the mapping error and gives every slot back', () => {
    const mem = new GuestMemory({ size: 32 << 20 });
    const sw = new Swiotlb(mem, { slots: 256 });
    const dma = new DmaApi(mem, { backend: new SwiotlbDmaBackend(mem, { swiotlb: sw }) });
    const device = new VirtioNetDevice(dma.deviceView(), { queuePairs: 2 });
    const acc = access('pci', device);
    let e: unknown;
    try {
      VirtioNetDriver.probe(acc, mem, dma, { queueSize: 256 });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(DmaError);
    expect((e as DmaError).code).toBe('DMA_MAPPING_ERROR');
    expect(sw.used).toBe(0);
    expect(dma.counters().liveMappings).toBe(0);
    expect(acc.getStatus() & 0x80).toBe(0x80); // FAILED
  });
});

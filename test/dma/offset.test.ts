// The proof that there is one way into guest memory (issue 8): every ring,
// device and driver path runs on the test-only `offset` DMA backend, whose
// DMA addresses are guest physical + 1 TiB and whose device context refuses
// anything not mapped, with results identical to the `direct` backend. A
// guest-physical address anywhere a DMA address belongs, or a device access
// that skips its context, faults there.
import { describe, expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  ConsoleDevice,
  ConsoleDriver,
  DmaApi,
  DmaDirection as D,
  GuestMemory,
  MemoryBackend,
  MmioDriverAccess,
  PciDriverAccess,
  VirtioMmioTransport,
  VirtioNetDevice,
  VirtioNetDriver,
  VirtioPciTransport,
  VirtqueueError,
  createQueue,
  type RingKind,
  type TransportAccess,
  type VirtioDeviceModel,
} from '../../src/index.js';
import { DMA_OFFSET } from '../../src/dma/offset.js';
import { rng, int } from '../helpers/ring.js';

type Backend = 'direct' | 'offset';
const RINGS: RingKind[] = ['split', 'packed'];

function access(kind: 'pci' | 'mmio', device: VirtioDeviceModel): TransportAccess {
  return kind === 'pci'
    ? new PciDriverAccess(new VirtioPciTransport(device))
    : new MmioDriverAccess(new VirtioMmioTransport(device));
}

/**
 * A seeded run of chains of 1 to 4 buffers (some indirect) through one queue
 * pair whose driver side takes its DMA window and coherent memory from `api`
 * and whose device face is built through `api`'s device view. The device
 * reads every readable iovec and writes a pattern into every writable one;
 * returns what each side saw.
 */
function ringRun(ring: RingKind, backend: Backend, seed: number) {
  const mem = new GuestMemory({ size: 4 << 20 });
  const api = new DmaApi(mem, { backend });
  const view = api.deviceView();
  const q = createQueue(mem, {
    ring,
    size: 16,
    eventIdx: true,
    indirect: true,
    indirectMax: 4,
    dma: api.driverDma(),
    device: view,
  });
  const pool = mem.alloc(64 * 1024, { shared: true });
  for (let k = 0; k < 64 * 1024; k++) mem.bytes[mem.linear(pool) + k] = (k * 7 + seed) & 0xff;
  const r = rng(seed);
  const seen: number[] = [];
  const done: { token: number; len: number }[] = [];
  const maps = new Map<number, { dma: number; len: number; dir: D }[]>();
  let token = 0;
  for (let step = 0; step < 200; step++) {
    // Driver: map and add a chain (a buffer never crosses into the next one's bytes).
    const nOut = int(r, 0, 2);
    const nIn = int(r, nOut === 0 ? 1 : 0, 2);
    const bufs: { dma: number; len: number; dir: D }[] = [];
    for (let k = 0; k < nOut + nIn; k++) {
      const len = int(r, 1, 3000);
      const at = pool + ((token * 4 + k) % 16) * 4096;
      const dir = k < nOut ? D.TO_DEVICE : D.FROM_DEVICE;
      bufs.push({ dma: api.map(at, len, dir), len, dir });
    }
    const out = bufs.slice(0, nOut).map((b) => ({ addr: b.dma, len: b.len }));
    const inBufs = bufs.slice(nOut).map((b) => ({ addr: b.dma, len: b.len }));
    if (q.driver.add(out, inBufs, token, { indirect: r() < 0.5 })) {
      maps.set(token, bufs);
      token++;
    } else {
      for (const b of bufs) api.unmap(b.dma, b.len, b.dir);
    }
    q.driver.kick();
    // Device: every few steps, take what is there through its iovecs.
    if (r() < 0.4) {
      const used = [];
      for (const c of q.device.pop()) {
        let sum = 0;
        for (const b of c.readable) for (const x of view.bytesAt(b.linear, b.len)) sum = (sum * 31 + x) >>> 0;
        seen.push(c.readable.length, sum);
        let wrote = 0;
        for (const b of c.writable) {
          view.bytesAt(b.linear, b.len).fill((c.id + wrote) & 0xff);
          wrote += b.len;
        }
        used.push({ id: c.id, len: wrote });
      }
      q.device.push(used);
    }
    for (const c of q.driver.getUsed()) {
      done.push(c);
      for (const b of maps.get(c.token)!) api.unmap(b.dma, b.len, b.dir);
      maps.delete(c.token);
    }
  }
  return { seen, done, bytes: mem.read(pool, 64 * 1024), stats: q.stats(), dma: view.counters() };
}

describe('the offset backend: DMA address = guest physical + 1 TiB, nothing reachable unless mapped', () => {
  for (const ring of RINGS) {
    it(`${ring} ring with indirect tables: the same run as direct, through the mapped pages only`, () => {
      const direct = ringRun(ring, 'direct', 11);
      const offset = ringRun(ring, 'offset', 11);
      expect(direct.done.length).toBeGreaterThan(100);
      expect(offset.done).toEqual(direct.done);
      expect(offset.seen).toEqual(direct.seen);
      expect(offset.bytes).toEqual(direct.bytes);
      expect(offset.stats).toEqual(direct.stats);
      expect(direct.stats.indirectAdded).toBeGreaterThan(10);
      // Pages not contiguous in IOVA space would split iovecs; these are, and
      // nothing faulted either way.
      expect(offset.dma.faults).toBe(0);
      expect(offset.dma.maps).toBe(direct.dma.maps);
    });

    it(`${ring} ring: a guest-physical address where a DMA address belongs is refused on both sides`, () => {
      const mem = new GuestMemory({ size: 4 << 20 });
      const api = new DmaApi(mem, { backend: 'offset' });
      const q = createQueue(mem, { ring, size: 8, dma: api.driverDma(), device: api.deviceView() });
      const buf = mem.alloc(4096, { shared: true });
      // The driver's window is the DMA API's: a GPA is outside it.
      expect(() => q.driver.add([{ addr: buf, len: 16 }], [], 1)).toThrow(/address outside guest RAM/);
      // A DMA address the API never mapped passes the driver's window check
      // (it is in the window) and the device's context refuses it: an IOTLB miss.
      expect(q.driver.add([{ addr: buf + DMA_OFFSET, len: 16 }], [], 2)).toBe(true);
      let e: unknown;
      try {
        q.device.pop();
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(VirtqueueError);
      expect((e as VirtqueueError).code).toBe('DMA_UNMAPPED');
      expect(api.deviceView().counters().faults).toBe(1);
    });
  }
});

function netRun(ring: RingKind, kind: 'pci' | 'mmio', backend: Backend) {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem, { backend });
  const device = new VirtioNetDevice(dma.deviceView(), { queuePairs: 2 });
  const driver = VirtioNetDriver.probe(access(kind, device), mem, dma, { ring, queueSize: 64 });
  const got: number[][] = [];
  for (const bytes of [60, 700, 1500]) {
    for (const pair of [0, 1]) {
      const frames = Array.from({ length: 5 }, (_, k) =>
        new Uint8Array(bytes).map((_, i) => (i * 3 + k + pair) & 0xff),
      );
      const sent = driver.send(pair, frames);
      const recv = driver.receive(pair);
      driver.reapTx(pair);
      got.push([sent, recv.length, ...recv.map((p) => p.data.reduce((s, x) => (s * 31 + x) >>> 0, p.buffers))]);
    }
  }
  // The bench's burst path too (no per-frame JavaScript).
  const burst = driver.sendBurst(0, 32, 64);
  const counted = driver.receiveCount(0);
  driver.reapTx(0);
  return { got, burst, counted, dev: device.counters, view: dma.deviceView().counters() };
}

describe('virtio-net, virtio-blk and virtio-console end to end on the offset backend', () => {
  for (const ring of RINGS) {
    for (const kind of ['pci', 'mmio'] as const) {
      it(`net over ${kind}, ${ring}: loopback frames byte for byte as on direct`, () => {
        const direct = netRun(ring, kind, 'direct');
        const offset = netRun(ring, kind, 'offset');
        expect(offset.got).toEqual(direct.got);
        expect([offset.burst, offset.counted]).toEqual([32, 32]);
        expect(offset.dev).toEqual(direct.dev);
        expect(offset.view.faults).toBe(0);
        // The device counted every frame it read and every buffer it wrote.
        expect(offset.view.bytesRead).toBe(direct.view.bytesRead);
        expect(offset.view.bytesWritten).toBe(direct.view.bytesWritten);
        expect(offset.view.bytesRead).toBeGreaterThan(2 * 5 * (60 + 700 + 1500));
      });

      it(`blk over ${kind}, ${ring}: writes, reads, flush and get-id as on direct`, () => {
        const run = (backend: Backend) => {
          const mem = new GuestMemory({ size: 16 << 20 });
          const dma = new DmaApi(mem, { backend });
          const view = dma.deviceView();
          const dev = new BlkDevice(view, MemoryBackend.create(view, 1 << 20), { queues: 2 });
          const blk = BlkDriver.probe(access(kind, dev), mem, dma, { queueSize: 32 });
          const data = new Uint8Array(8192).map((_, i) => (i * 13) & 0xff);
          const statuses = [blk.write(8, data), blk.write(100, data.subarray(0, 512), 1), blk.flush()];
          const r1 = blk.read(8, 8192);
          const r2 = blk.read(100, 512, 1);
          return {
            statuses,
            r: [r1.status, r2.status],
            data: [r1.data, r2.data],
            id: blk.getId(),
            faults: view.counters().faults,
          };
        };
        const direct = run('direct');
        const offset = run('offset');
        expect(offset.statuses).toEqual([BlkStatus.OK, BlkStatus.OK, BlkStatus.OK]);
        expect(offset).toEqual(direct);
        expect(offset.faults).toBe(0);
      });

      it(`console over ${kind}, ${ring}: loopback bytes as on direct`, () => {
        const run = (backend: Backend) => {
          const mem = new GuestMemory({ size: 8 << 20 });
          const dma = new DmaApi(mem, { backend });
          const dev = new ConsoleDevice(dma.deviceView(), { backend: 'loopback' });
          const con = ConsoleDriver.probe(access(kind, dev), mem, dma);
          const text = new TextEncoder().encode('hello through a paged DMA context\n'.repeat(40));
          const sent = con.write(text);
          return { sent, back: con.read(), faults: dma.deviceView().counters().faults };
        };
        const direct = run('direct');
        const offset = run('offset');
        expect(offset.sent).toBeGreaterThan(0);
        expect(offset).toEqual(direct);
      });
    }
  }
});

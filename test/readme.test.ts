// The README's library example, run as written (keep the two in step).
import { expect, it } from 'vitest';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  DmaApi,
  GuestMemory,
  MemoryBackend,
  PciDriverAccess,
  SplitQueue,
  VirtioPciTransport,
  createMachine,
  DmaDirection,
  Swiotlb,
  parseSwiotlbParam,
} from '../src/internal.js';

it('the README example runs and echoes the request', () => {
  const mem = new GuestMemory({ size: 64 << 20 }); // 64 MiB of guest RAM
  const q = new SplitQueue(mem, { size: 256, eventIdx: true, indirect: true });

  // A request buffer and a response buffer in pages shared with the host.
  const buf = mem.alloc(8192, { shared: true });
  mem.write(buf, new TextEncoder().encode('ping'));

  q.driver.add([{ addr: buf, len: 4 }], [{ addr: buf + 4096, len: 64 }], /* token */ 1);
  expect(q.driver.kick()).toBe(true);

  for (const chain of q.device.pop()) {
    const [req] = chain.readable;
    const [resp] = chain.writable;
    const bytes = mem.read(req!.addr, req!.len);
    mem.write(resp!.addr, bytes); // echo it back
    q.device.push([{ id: chain.id, len: bytes.length }]);
  }
  expect(q.device.shouldNotify()).toBe(true);

  expect(q.driver.getUsed()).toEqual([{ token: 1, len: 4 }]);
  expect(new TextDecoder().decode(mem.read(buf + 4096, 4))).toBe('ping');
  expect(q.stats()).toMatchObject({ chainsAdded: 1, chainsCompleted: 1, kicks: 1, interrupts: 1 });
});

it('the README device example runs: virtio-blk over virtio-pci', () => {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem); // the guest's DMA API (direct backend)
  const view = dma.deviceView(); // the device's only way into guest RAM
  const disk = new BlkDevice(view, MemoryBackend.create(view, 16 << 20));
  const pci = new VirtioPciTransport(disk);
  const blk = BlkDriver.probe(new PciDriverAccess(pci), mem, dma, { queueSize: 128 });

  expect(blk.write(8, new Uint8Array(4096).fill(7))).toBe(BlkStatus.OK); // sector 8
  const { status, data } = blk.read(8, 4096);
  expect(status).toBe(BlkStatus.OK);
  expect(data?.every((b: number) => b === 7)).toBe(true);
  const c = pci.counters(); // every one of these is an exit in a real VM
  expect(c.notifications).toBeGreaterThan(0);
  expect(c.registerWrites).toBeGreaterThan(0);
});

it('drivers take their rings and indirect tables from dma_alloc_coherent, one of each per queue', () => {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const blk = BlkDriver.probe(
    new PciDriverAccess(new VirtioPciTransport(new BlkDevice(view, MemoryBackend.create(view, 1 << 20)))),
    mem,
    dma,
    { queueSize: 64 },
  );
  // virtio-blk negotiates VIRTIO_F_INDIRECT_DESC: a ring and an indirect pool per queue.
  expect(dma.counters().coherentAllocs).toBe(2 * blk.queues.length);
  expect(blk.write(0, new Uint8Array(512).fill(1))).toBe(BlkStatus.OK);
});

it('a queue on caller-allocated ring memory gives the device its DMA address', () => {
  const mem = new GuestMemory({ size: 4 << 20 });
  const addr = mem.alloc(8192, { shared: true });
  const q = new SplitQueue(mem, { size: 16, ringMemory: { addr, dma: addr + 0x100000 } });
  expect(q.ringAddr).toBe(addr);
  expect(q.areas.desc).toBe(addr + 0x100000);
  expect(() => new SplitQueue(mem, { size: 16, ringMemory: { addr: addr + 8 } })).toThrow(
    /ringMemory.addr .*aligned to 4096/,
  );
});

it('the README machine example runs: one config, every counter by name', () => {
  const m = createMachine({
    dma: 'direct',
    devices: [
      {
        kind: 'net',
        transport: 'pci',
        ring: 'packed',
        queues: 2,
        queueSize: 256,
        backend: 'loopback',
        packetBytes: 1500,
      },
      { kind: 'blk', transport: 'mmio', ring: 'split', backend: 'memory', capacityBytes: 16 << 20 },
    ],
  });
  expect(m.net().driver.send(0, [new Uint8Array(64)])).toBe(1);
  expect(m.blk().driver.write(0, new Uint8Array(512).fill(1))).toBe(BlkStatus.OK);
  const s = m.stats(); // every counter of the machine, by name
  expect(s['net0.transport']!.counters.notifications).toBeGreaterThan(0);
  expect(s['blk0.device.q0']!.counters.writes).toBe(1);
  m.close();
});

it('the README DMA-context example runs: a machine on the offset backend, counted in its context', () => {
  const m = createMachine({ dma: 'offset', devices: [{ kind: 'blk' }, { kind: 'net' }] });
  expect(m.blk().driver.write(8, new Uint8Array(4096).fill(1))).toBe(BlkStatus.OK);
  const c = m.stats()['blk0.dma-context']!.counters;
  // The header and the data read, the status byte written.
  expect(c).toMatchObject({ reads: 2, bytesRead: 16 + 4096, writes: 1, bytesWritten: 1, faults: 0, splits: 0 });
  m.close();
});

it('the README iommu and vduse example runs: IOTLB and bounce counters as it says', () => {
  const m = createMachine({ dma: 'iommu', devices: [{ kind: 'blk' }] });
  expect(m.blk().driver.write(8, new Uint8Array(4096).fill(1))).toBe(BlkStatus.OK);
  expect(m.stats()['blk0.dma-context']!.counters).toMatchObject({
    iotlbMisses: 6,
    iotlbHits: 1,
    iotlbInvalidations: 2,
    faults: 0,
  });
  m.close();
  const v = createMachine({ dma: 'vduse', devices: [{ kind: 'blk' }] });
  expect(v.blk().driver.write(8, new Uint8Array(4096).fill(1))).toBe(BlkStatus.OK);
  expect(v.stats()['blk0.bounce']!.counters).toMatchObject({ bytesToDevice: 4128, bytesFromDevice: 32 });
  v.close();
});

it('the README TDISP example runs: an accepted blk device in RUN, net bouncing, a config change → ERROR', () => {
  const m = createMachine(
    { deployment: 'cvm-tdisp', devices: [{ kind: 'blk' }, { kind: 'net' }] },
    { acceptDevice: (r) => r.device === 0x1042 },
  );
  expect(m.blk().tdisp!.state).toBe('RUN');
  expect(m.net().dma.backend.name).toBe('swiotlb');
  m.blk().tdisp!.configChange('BAR0 moved');
  expect(m.blk().tdisp!.state).toBe('ERROR');
  expect(() => m.blk().driver.write(0, new Uint8Array(512))).toThrow();
  m.close();
});

it('the README swiotlb example runs: a 64 MiB pool of 4 areas, a bounce and a full pool', () => {
  const mem = new GuestMemory({ size: 256 << 20 });
  const pool = new Swiotlb(mem, { ...parseSwiotlbParam('swiotlb=32768,4'), cpus: 4 }); // 64 MiB, 4 areas
  const buf = mem.alloc(4096); // the guest's own buffer: private
  const dma = pool.map(buf, 1500, { dir: DmaDirection.FROM_DEVICE, cpu: 2 }); // a slot in area 2
  mem.fill(dma, 1500, 0xab); // the device writes the bounce buffer
  pool.unmap(dma, 1500, { dir: DmaDirection.FROM_DEVICE, cpu: 2 }); // copies back, frees the slot
  expect([mem.readU8(buf), pool.state().areas[2], pool.counters().bytesFromDevice]).toEqual([
    171,
    { used: 0, index: 1 },
    1500,
  ]);
  expect(() => pool.map(buf, 300 << 10)).toThrow(
    /^swiotlb buffer is full \(sz: 307200 bytes\), total 32768 \(slots\), used 0 \(slots\)$/,
  );
});

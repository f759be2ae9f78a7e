// The stats registry in shared memory: the table any thread attached to a
// machine memory walks, the kinds and their schemas, u64 counters written from
// JavaScript, and the ring blocks every queue registers when it is made.
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import {
  BlkDevice,
  BlkDriver,
  BlkStatus,
  BlkType,
  ConfigError,
  ConsoleDevice,
  ConsoleDriver,
  CounterBlock,
  DmaApi,
  GuestMemory,
  GuestMemoryError,
  MemoryBackend,
  MmioDriverAccess,
  PciDriverAccess,
  STATS_KINDS,
  STATS_REGISTRY_CAPACITY,
  SplitQueue,
  StatsRegistry,
  VirtioMmioTransport,
  VirtioNetDevice,
  VirtioNetDriver,
  VirtioPciTransport,
  createQueue,
  readStatsRegistry,
  statsBlockBytes,
  wasmModule,
  type TransportCounters,
} from '../../src/internal.js';
import type { BlkDeviceWorkerApi } from '../../workers/blk-device.js';
import { bundleWorker } from '../helpers/bundle-worker.js';

describe('stats kinds', () => {
  it('each kind has a distinct id and its u64 fields inside its block, aligned', () => {
    const ids = new Set<number>();
    for (const [kind, s] of Object.entries(STATS_KINDS)) {
      expect(ids.has(s.id), kind).toBe(false);
      ids.add(s.id);
      for (const off of Object.values(s.fields)) {
        expect(off % 8).toBe(0);
        expect(off + 8).toBeLessThanOrEqual(s.bytes);
      }
    }
  });

  it('ring is the ST_* block: driver counters below 128, device counters from 128', () => {
    const f = STATS_KINDS.ring.fields;
    expect(STATS_KINDS.ring.bytes).toBe(L.ST_SIZE);
    for (const k of ['chainsAdded', 'kicks', 'chainsCompleted', 'driverChecksFailed'] as const)
      expect(f[k]).toBeLessThan(128);
    for (const k of ['chainsPopped', 'chainsUsed', 'interrupts', 'deviceChecksFailed'] as const)
      expect(f[k]).toBeGreaterThanOrEqual(128);
  });
});

describe('CounterBlock', () => {
  it('counts u64 values past 2^32, and a gauge goes down', () => {
    const b = CounterBlock.detached('dma-api');
    b.add('bytesMapped', 0xffff_fff0);
    b.add('bytesMapped', 0x20);
    expect(b.get('bytesMapped')).toBe(2 ** 32 + 0x10);
    b.add('bytesMapped', 5);
    expect(b.get('bytesMapped')).toBe(2 ** 32 + 0x15);
    b.add('liveMappings', 3);
    b.add('liveMappings', -1);
    expect(b.read()).toMatchObject({ bytesMapped: 2 ** 32 + 0x15, liveMappings: 2, maps: 0 });
  });

  it('a block with items keeps their count and counters after its fields', () => {
    const b = CounterBlock.detached('transport', 3);
    b.add('notifications');
    b.addItem(2, 'interrupts', 4);
    expect(b.readItems()).toEqual([
      { notifications: 0, interrupts: 0 },
      { notifications: 0, interrupts: 0 },
      { notifications: 0, interrupts: 4 },
    ]);
    expect(b.read().notifications).toBe(1);
    expect(statsBlockBytes('transport', 3)).toBe(STATS_KINDS.transport.items.at + 3 * 16);
  });
});

describe('StatsRegistry', () => {
  it('a block registered through one face of a memory is read by name through another', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const other = new GuestMemory({ memory: mem.memory });
    expect(StatsRegistry.attach(other.memory).entries()).toEqual([]);
    const b = CounterBlock.alloc(mem, 'console', 'console0');
    b.add('txBytes', 42);
    const seen = readStatsRegistry(other.memory);
    expect(seen['console0']).toMatchObject({ kind: 'console', addr: b.addr, counters: { txBytes: 42, rxBytes: 0 } });
    expect(StatsRegistry.attach(other.memory).counters('console0', 'console').txBytes).toBe(42);
    // The table's address is in the config block, where any thread finds it.
    expect(mem.view.getUint32(L.CONFIG_BASE + L.CFG_STATS, true)).toBeGreaterThanOrEqual(L.HOST_BASE);
  });

  it('registering a name again rebinds it (a device rebuilt after a reset); another kind is refused', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const reg = StatsRegistry.attach(mem.memory);
    const a = CounterBlock.alloc(mem, 'blk', 'blk0.q0');
    a.add('reads', 7);
    const b = CounterBlock.alloc(mem, 'blk', 'blk0.q0');
    b.add('reads', 1);
    expect(reg.entries().filter((e) => e.name === 'blk0.q0')).toEqual([{ name: 'blk0.q0', kind: 'blk', addr: b.addr }]);
    expect(reg.read()['blk0.q0']!.counters.reads).toBe(1);
    expect(() => reg.register('console', 'blk0.q0', b.addr)).toThrow(ConfigError);
    expect(() => reg.register('console', 'blk0.q0', b.addr)).toThrow(/already names a blk block, not console/);
    expect(() => reg.counters('blk0.q0', 'net')).toThrow(/is a blk block, not net/);
    expect(() => reg.counters('nope', 'net')).toThrow(/stats block nope: not registered/);
  });

  it('names are short printable ASCII; blocks lie in the host area', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const reg = StatsRegistry.attach(mem.memory);
    const at = mem.hostAlloc(64);
    expect(() => reg.register('net', 'has space', at)).toThrow(/must be 1 to 56 printable ASCII characters/);
    expect(() => reg.register('net', 'x'.repeat(57), at)).toThrow(ConfigError);
    expect(() => reg.register('net', '', at)).toThrow(ConfigError);
    expect(() => reg.register('net', 'g', L.GUEST_BASE)).toThrow(GuestMemoryError);
    reg.register('net', 'x'.repeat(56), at);
    expect(reg.find('x'.repeat(56))?.addr).toBe(at);
  });

  it('a full table is STATS_REGISTRY_FULL, and what was registered stays readable', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const reg = StatsRegistry.attach(mem.memory);
    const at = mem.hostAlloc(16);
    for (let k = 0; k < STATS_REGISTRY_CAPACITY; k++) reg.register('net', `n${k}`, at);
    let caught: unknown;
    try {
      reg.register('net', 'one-more', at);
    } catch (e) {
      caught = e;
    }
    expect((caught as GuestMemoryError).code).toBe('STATS_REGISTRY_FULL');
    expect(reg.entries()).toHaveLength(STATS_REGISTRY_CAPACITY);
    reg.register('net', 'n7', at); // rebinding needs no new slot
  });

  it("a queue pair registers each side's ring block, the one it counts in, by side", () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    for (const ring of ['split', 'packed'] as const) {
      const q = createQueue(mem, { ring, size: 8, name: `${ring}.vq0` });
      const buf = mem.alloc(4096, { shared: true });
      q.driver.add([{ addr: buf, len: 64 }], [], 1);
      q.driver.kick();
      q.device.pop();
      const all = readStatsRegistry(mem.memory);
      const drv = all[`${ring}.vq0.driver`]!;
      const dev = all[`${ring}.vq0.device`]!;
      expect([drv.kind, dev.kind]).toEqual(['ring', 'ring']);
      expect(drv.addr).toBe((q as SplitQueue).statsBlock);
      expect(dev.addr).toBe(q.device.statsBlock);
      expect(drv.counters).toMatchObject({ chainsAdded: 1, bytesAdded: 64, kicks: 1, chainsPopped: 0 });
      expect(dev.counters).toMatchObject({ chainsAdded: 0, chainsPopped: 1, descsPopped: 1 });
    }
  });
});

/** Transport counters without the per-queue array (the registry reads those as the block's items). */
function withoutPerQueue(t: TransportCounters): Omit<TransportCounters, 'perQueue'> {
  const { perQueue, ...rest } = t;
  void perQueue;
  return rest;
}

describe('DMA API, transport and device counters live in registry blocks', () => {
  it('three devices in one memory: every block is read by name and matches the objects counters()', () => {
    const mem = new GuestMemory({ size: 32 << 20 });
    // virtio-net over MMIO.
    const netDma = new DmaApi(mem, { name: 'net0.dma-api' });
    const netDev = new VirtioNetDevice(netDma.deviceView(), { name: 'net0.device', queuePairs: 2 });
    const netT = new VirtioMmioTransport(netDev, { stats: { host: mem, name: 'net0.transport' } });
    const net = VirtioNetDriver.probe(new MmioDriverAccess(netT), mem, netDma, { queueSize: 32 });
    const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(net.send(0, [frame, frame, frame])).toBe(3);
    expect(net.receive(0)).toHaveLength(3);
    // virtio-blk over PCI, memory store.
    const blkDma = new DmaApi(mem, { name: 'blk0.dma-api' });
    const view = blkDma.deviceView();
    const blkDev = new BlkDevice(view, MemoryBackend.create(view, 1 << 20), { name: 'blk0.device' });
    const blkT = new VirtioPciTransport(blkDev, { stats: { host: mem, name: 'blk0.transport' } });
    const blk = BlkDriver.probe(new PciDriverAccess(blkT), mem, blkDma, { queueSize: 16 });
    const buf = mem.alloc(4096, { shared: true });
    expect(blk.queues[0]!.submit(BlkType.OUT, 8, buf, 4096)).toBeGreaterThanOrEqual(0);
    blk.queues[0]!.kick();
    expect(blk.queues[0]!.reap((c) => expect(c.status).toBe(BlkStatus.OK))).toBe(1);
    // virtio-console over PCI.
    const conDma = new DmaApi(mem, { name: 'console0.dma-api' });
    const conDev = new ConsoleDevice(conDma.deviceView(), { name: 'console0.device' });
    const conT = new VirtioPciTransport(conDev, { stats: { host: mem, name: 'console0.transport' } });
    const con = ConsoleDriver.probe(new PciDriverAccess(conT), mem, conDma, { queueSize: 16 });
    con.write(new TextEncoder().encode('hi'));
    expect(new TextDecoder().decode(con.read())).toBe('hi');

    // Read from a second face, as another thread would.
    const stats = readStatsRegistry(new GuestMemory({ memory: mem.memory }).memory);
    const c = (name: string) => stats[name]!.counters;
    expect(stats['net0.transport']!.kind).toBe('transport');
    const { perQueue, ...netTc } = netT.counters();
    expect(c('net0.transport')).toEqual(netTc);
    expect(stats['net0.transport']!.items).toEqual(perQueue);
    expect(netTc.notifications).toBeGreaterThan(0);
    expect(c('net0.dma-api')).toEqual(netDma.counters());
    expect(c('net0.dma-api').maps).toBeGreaterThan(0);
    expect(c('net0.device.pair0')).toMatchObject({ txPackets: 3, rxPackets: 3, txBytes: 300 });
    expect(stats['net0.device.pair0']!.kind).toBe('net-pair');
    expect(c('net0.device')).toEqual({ ctrlOk: netDev.ctrlCounters.ok, ctrlErr: netDev.ctrlCounters.err });
    expect(c('net0.device.vq1')).toMatchObject({ chainsPopped: 3, chainsUsed: 3 }); // TX, device side
    expect(c('blk0.device.q0')).toEqual(blkDev.counters());
    expect(c('blk0.device.q0')).toMatchObject({ requests: 1, writes: 1, bytesWritten: 4096 });
    expect(c('blk0.dma-api')).toEqual(blkDma.counters());
    expect(c('blk0.transport')).toEqual(withoutPerQueue(blkT.counters()));
    expect(c('console0.device')).toEqual(conDev.counters);
    expect(c('console0.device')).toMatchObject({ txBytes: 2, rxBytes: 2 });
    expect(c('console0.dma-api')).toEqual(conDma.counters());
    expect(c('console0.transport').configReads).toBeGreaterThan(0);
  });

  it('a transport built without a machine memory keeps private counters', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const before = StatsRegistry.attach(mem.memory).entries().length;
    const dev = new ConsoleDevice(new DmaApi(mem).deviceView());
    const t = new VirtioPciTransport(dev);
    ConsoleDriver.probe(new PciDriverAccess(t), mem, new DmaApi(mem), { queueSize: 8 });
    expect(t.counters().statusWrites).toBeGreaterThan(0);
    expect(
      StatsRegistry.attach(mem.memory)
        .entries()
        .some((e) => e.kind === 'transport'),
    ).toBe(false);
    expect(StatsRegistry.attach(mem.memory).entries().length).toBeGreaterThan(before);
  });
});

describe('a device on a worker thread counts into blocks the main thread reads by name', () => {
  const workerFile = fileURLToPath(new URL('../../dist/workers/blk-device.js', import.meta.url));
  beforeAll(() => bundleWorker('blk-device'));

  it('virtio-blk queue 0 served on a worker: its server and ring blocks, registered there, read here', async () => {
    const mem = new GuestMemory({ size: 16 << 20 });
    const dma = new DmaApi(mem, { name: 'blk0.dma-api' });
    const view = dma.deviceView();
    const store = MemoryBackend.create(view, 1 << 20);
    const dev = new BlkDevice(view, store, { serve: 'manual', name: 'blk0' });
    const blk = BlkDriver.probe(new PciDriverAccess(new VirtioPciTransport(dev)), mem, dma, { queueSize: 16 });
    const worker = new Worker(workerFile);
    const api: Remote<BlkDeviceWorkerApi> = wrap(nodeEndpoint(worker));
    try {
      const arena = { at: mem.hostAlloc(1 << 16, 4096), bytes: 1 << 16 };
      const desc = store.describe();
      await api.attach(mem.memory, wasmModule(), arena, 0, dev.queueConfig(0)!, desc, dev.serverConfig(), 'blk0');
      const q = blk.queues[0]!;
      const buf = mem.alloc(4 * 4096, { shared: true });
      for (let k = 0; k < 4; k++) expect(q.submit(BlkType.OUT, 8 * k, buf + 4096 * k, 4096)).toBeGreaterThanOrEqual(0);
      expect(q.submit(BlkType.IN, 0, buf, 4096)).toBeGreaterThanOrEqual(0);
      q.kick();
      expect((await api.serve()).requests).toBe(5);
      expect(q.reap(() => {})).toBe(5);

      const stats = StatsRegistry.attach(mem.memory).read();
      expect(stats['blk0.q0']).toMatchObject({
        kind: 'blk',
        counters: { requests: 5, writes: 4, reads: 1, bytesWritten: 4 * 4096, bytesRead: 4096 },
      });
      // The block lies in the arena this thread reserved for the worker.
      expect(stats['blk0.q0']!.addr).toBeGreaterThanOrEqual(arena.at);
      expect(stats['blk0.q0']!.addr).toBeLessThan(arena.at + arena.bytes);
      expect(stats['blk0.vq0']).toMatchObject({ kind: 'ring', counters: { chainsPopped: 5, chainsUsed: 5 } });
      expect(stats['blk0.q0']!.counters).toEqual(await api.counters());
    } finally {
      api[releaseProxy]();
      await worker.terminate();
    }
  });
});

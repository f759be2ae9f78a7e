// The stats registry in shared memory: the table any thread attached to a
// machine memory walks, the kinds and their schemas, u64 counters written from
// JavaScript, and the ring blocks every queue registers when it is made.
import { describe, expect, it } from 'vitest';
import * as L from '../assembly/layout.js';
import {
  ConfigError,
  CounterBlock,
  GuestMemory,
  GuestMemoryError,
  STATS_KINDS,
  STATS_REGISTRY_CAPACITY,
  SplitQueue,
  StatsRegistry,
  createQueue,
  readStatsRegistry,
  statsBlockBytes,
} from '../src/index.js';

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

  it('a queue registers its ring block under its name, and the block is the one it counts in', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    for (const ring of ['split', 'packed'] as const) {
      const q = createQueue(mem, { ring, size: 8, name: `${ring}.vq0` });
      const buf = mem.alloc(4096, { shared: true });
      q.driver.add([{ addr: buf, len: 64 }], [], 1);
      q.driver.kick();
      q.device.pop();
      const rec = readStatsRegistry(mem.memory)[`${ring}.vq0`]!;
      expect(rec.kind).toBe('ring');
      expect(rec.addr).toBe((q as SplitQueue).statsBlock);
      expect(rec.counters).toEqual(q.stats());
      expect(rec.counters).toMatchObject({ chainsAdded: 1, bytesAdded: 64, chainsPopped: 1 });
    }
  });
});

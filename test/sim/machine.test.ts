// createMachine: one builder for every device kind, transport and ring, from a
// plain object; its stats by name from the registry; and config errors that
// name the field and what is allowed.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BlkStatus,
  BlkType,
  ConfigError,
  DMA_BACKEND_NAMES,
  MemoryBackend,
  VqsimError,
  createMachine,
  readStatsRegistry,
  type MachineConfig,
} from '../../src/internal.js';
import { runNetPackets } from '../../src/sim/net.js';
import { MAX_GUEST_RAM } from '../../assembly/layout.js';

const dir = mkdtempSync(join(tmpdir(), 'vqsim-machine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const text = new TextEncoder();

describe('createMachine', () => {
  describe.each([
    ['pci', 'split'],
    ['pci', 'packed'],
    ['mmio', 'split'],
    ['mmio', 'packed'],
  ] as const)('net, blk and console over %s with %s rings, in one machine', (transport, ring) => {
    it('each device works end to end and stats() names every block', () => {
      const m = createMachine({
        devices: [
          { kind: 'net', transport, ring, queues: 2, queueSize: 64, packetBytes: 128 },
          { kind: 'blk', transport, ring, queueSize: 32, capacityBytes: 1 << 20, depth: 8, maxIoBytes: 8192 },
          { kind: 'console', transport, ring, queueSize: 16 },
        ],
      });
      expect(m.devices.map((d) => `${d.name}:${d.kind}:${d.transport.kind}:${d.ring}`)).toEqual([
        `net0:net:${transport}:${ring}`,
        `blk0:blk:${transport}:${ring}`,
        `console0:console:${transport}:${ring}`,
      ]);
      expect(m.dmaBackend).toBe('direct');
      expect(m.seed).toBe(1);

      const net = m.net();
      expect(runNetPackets(net, 1, 500).packets).toBeGreaterThanOrEqual(500);
      expect(net.driver.pairs[0]!.tx.size).toBe(64);

      const blk = m.blk();
      const q = blk.driver.queues[0]!;
      const buf = m.mem.alloc(4096, { shared: true });
      m.mem.write(buf, text.encode('sector 8'));
      expect(q.submit(BlkType.OUT, 8, buf, 4096)).toBeGreaterThanOrEqual(0);
      q.kick();
      expect(q.reap((c) => expect(c.status).toBe(BlkStatus.OK))).toBe(1);
      expect(new TextDecoder().decode((blk.store as MemoryBackend).contents().subarray(8 * 512, 8 * 512 + 8))).toBe(
        'sector 8',
      );

      const con = m.console();
      con.driver.write(text.encode('hello'));
      expect(new TextDecoder().decode(con.driver.read())).toBe('hello');

      const s = m.stats();
      const kinds = Object.fromEntries(Object.values(s).map((r) => [r.name, r.kind]));
      expect(kinds).toMatchObject({
        'net0.transport': 'transport',
        'net0.dma-api': 'dma-api',
        'net0.driver.vq0': 'ring',
        'net0.driver.vq4': 'ring', // the control queue
        'net0.device.vq3': 'ring',
        'net0.device': 'net',
        'net0.device.pair1': 'net-pair',
        'blk0.transport': 'transport',
        'blk0.dma-api': 'dma-api',
        'blk0.driver.vq0': 'ring',
        'blk0.device.vq0': 'ring',
        'blk0.device.q0': 'blk',
        'console0.transport': 'transport',
        'console0.dma-api': 'dma-api',
        'console0.driver.vq1': 'ring',
        'console0.device': 'console',
        'net0.dma-context': 'dma-context',
        'blk0.dma-context': 'dma-context',
        'console0.dma-context': 'dma-context',
      });
      const c = (name: string) => s[name]!.counters;
      // Pair 1 moved the frames: the driver queued them, the device popped and used them.
      expect(c('net0.driver.vq3').chainsAdded).toBeGreaterThanOrEqual(500);
      expect(c('net0.device.vq3').chainsUsed).toBe(c('net0.driver.vq3').chainsCompleted);
      expect(c('net0.device.pair1').rxPackets).toBeGreaterThanOrEqual(500);
      expect(c('net0.device.pair0').rxPackets).toBe(0);
      expect(c('net0.transport')).toMatchObject({ notifications: expect.any(Number), statusWrites: 5 });
      expect(c('net0.transport').notifications).toBeGreaterThan(0);
      expect(c('net0.dma-api')).toEqual(net.dma.counters());
      expect(c('blk0.device.q0')).toMatchObject({ requests: 1, writes: 1, bytesWritten: 4096 });
      expect(c('blk0.dma-api')).toMatchObject({ maps: 2, unmaps: 2, liveMappings: 0 });
      expect(c('console0.device')).toMatchObject({ txBytes: 5, rxBytes: 5 });
      // Every device access went through its DMA context and was counted there.
      expect(c('console0.dma-context')).toMatchObject({
        reads: 1,
        bytesRead: 5,
        writes: 1,
        bytesWritten: 5,
        faults: 0,
      });
      expect(c('blk0.dma-context')).toMatchObject({ bytesRead: 16 + 4096, writes: 1, bytesWritten: 1, faults: 0 });
      expect(c('net0.dma-context').bytesRead).toBeGreaterThanOrEqual(500 * (12 + 128));
      // The registry lives in the memory: a second face of it reads the same.
      expect(readStatsRegistry(m.mem.memory)).toEqual(m.stats());

      m.close();
      m.close();
      for (const d of m.devices) expect(d.transport.core.status).toBe(0);
      expect(net.dma.counters().liveMappings).toBe(0);
    });
  });

  it('sizes guest RAM to fit by default, and takes a size when given', () => {
    const small = createMachine({ devices: [{ kind: 'console', queueSize: 8 }] });
    expect(small.mem.size).toBe(17 << 20);
    const big = createMachine({ devices: [{ kind: 'net', queues: 4, packetBytes: 9000 }] });
    expect(big.mem.size).toBeGreaterThan(small.mem.size);
    expect(big.mem.size % (1 << 20)).toBe(0);
    const given = createMachine({ memory: 64 << 20, devices: [{ kind: 'console' }], seed: 9 });
    expect(given.mem.size).toBe(64 << 20);
    expect(given.seed).toBe(9);
    expect(given.config.devices[0]).toMatchObject({
      name: 'console0',
      transport: 'pci',
      ring: 'split',
      queueSize: 256,
    });
  });

  it('names devices by kind and index, or as told, and finds them by name', () => {
    const m = createMachine({
      devices: [
        { kind: 'net', queueSize: 16 },
        { kind: 'console', queueSize: 8, name: 'tty' },
        { kind: 'net', queueSize: 16, backend: 'sink' },
      ],
    });
    expect(m.devices.map((d) => d.name)).toEqual(['net0', 'tty', 'net1']);
    expect(m.net(1)).toBe(m.device('net1'));
    expect(m.net(1).backend).toBe('sink');
    expect(m.console().name).toBe('tty');
    expect(Object.keys(m.stats())).toContain('tty.device');
    const missing = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as VqsimError;
      }
      throw new Error('no error');
    };
    expect(missing(() => m.blk()).message).toBe('machine: no blk device number 0 (it has 0 blk devices)');
    expect(missing(() => m.device('blk0')).message).toBe('machine: no device blk0 (devices: net0, tty, net1)');
    expect(missing(() => m.device('blk0')).code).toBe('NO_SUCH_DEVICE');
  });

  it('a blk device over a file store: the file holds what was written, and close() closes it', () => {
    const path = join(dir, 'disk.img');
    const m = createMachine({
      devices: [{ kind: 'blk', backend: 'file', path, capacityBytes: 1 << 20, ring: 'packed' }],
    });
    const blk = m.blk();
    expect(blk.store.kind).toBe('file');
    expect(statSync(path).size).toBe(1 << 20);
    const q = blk.driver.queues[0]!;
    const buf = m.mem.alloc(4096, { shared: true });
    m.mem.write(buf, text.encode('on disk'));
    expect(q.submit(BlkType.OUT, 0, buf, 4096)).toBeGreaterThanOrEqual(0);
    q.kick();
    expect(q.reap(() => {})).toBe(1);
    m.close();
    expect(() => blk.store.read(0, buf, 512)).toThrow(/closed/);
    // The file's size is the capacity when none is given.
    const again = createMachine({ devices: [{ kind: 'blk', backend: 'file', path }] });
    expect(again.blk().store.bytes).toBe(1 << 20);
    again.close();
  });

  it('builds on the offset DMA backend too: every device through its context, nothing else reachable', () => {
    const m = createMachine({
      dma: 'offset',
      devices: [
        { kind: 'net', queueSize: 64, packetBytes: 128 },
        { kind: 'blk', capacityBytes: 1 << 20 },
        { kind: 'console', ring: 'packed' },
      ],
    });
    expect(m.dmaBackend).toBe('offset');
    expect(runNetPackets(m.net(), 0, 300).packets).toBeGreaterThanOrEqual(300);
    expect(m.blk().driver.write(3, new Uint8Array(1024).fill(7))).toBe(BlkStatus.OK);
    expect(m.blk().driver.read(3, 1024).data).toEqual(new Uint8Array(1024).fill(7));
    m.console().driver.write(text.encode('offset'));
    expect(new TextDecoder().decode(m.console().driver.read())).toBe('offset');
    const s = m.stats();
    for (const d of ['net0', 'blk0', 'console0']) expect(s[`${d}.dma-context`]!.counters.faults).toBe(0);
    m.close();
  });

  it('lists its DMA backends in one place', () => {
    expect(DMA_BACKEND_NAMES).toEqual(['direct', 'offset', 'iommu', 'vduse', 'swiotlb']);
  });
});

describe('createMachine config errors name the field and what is allowed', () => {
  const net = { kind: 'net' } as const;
  const cases: [string, unknown, string][] = [
    [
      'a misspelt ring',
      { devices: [net, { kind: 'blk', ring: 'pakced' }] },
      'devices[1].ring: "pakced" is not one of split, packed',
    ],
    ['an unknown kind', { devices: [{ kind: 'scsi' }] }, 'devices[0].kind: "scsi" is not one of net, blk, console'],
    ['no kind', { devices: [{ ring: 'split' }] }, 'devices[0].kind: missing: one of net, blk, console'],
    ['a device that is not an object', { devices: ['net'] }, 'devices[0]: "net" is not an object'],
    [
      'an unknown transport',
      { devices: [{ kind: 'net', transport: 'usb' }] },
      'devices[0].transport: "usb" is not one of pci, mmio',
    ],
    [
      'a split queue size that is not a power of two',
      { devices: [{ kind: 'net', queueSize: 100 }] },
      "devices[0].queueSize: 100 is not a power of two (a split ring's size must be, from 1 to 32768)",
    ],
    [
      'a queue size out of range',
      { devices: [{ kind: 'net', ring: 'packed', queueSize: 0 }] },
      'devices[0].queueSize: 0 is not a whole number from 1 to 32768',
    ],
    [
      'too many queue pairs',
      { devices: [{ kind: 'net', queues: 300 }] },
      'devices[0].queues: 300 is not a whole number from 1 to 256',
    ],
    [
      'a console with two ports',
      { devices: [{ kind: 'console', queues: 2 }] },
      'devices[0].queues: 2 is not a whole number from 1 to 1 (one port)',
    ],
    [
      'a net backend',
      { devices: [{ kind: 'net', backend: 'tap' }] },
      'devices[0].backend: "tap" is not one of loopback, sink, source',
    ],
    [
      'a blk backend',
      { devices: [{ kind: 'blk', backend: 'disk' }] },
      'devices[0].backend: "disk" is not one of memory, file',
    ],
    [
      'a console backend',
      { devices: [{ kind: 'console', backend: 'tap' }] },
      'devices[0].backend: "tap" is not one of loopback, sink',
    ],
    [
      'an option of another kind',
      { devices: [{ kind: 'blk', packetBytes: 64 }] },
      'devices[0].packetBytes: not an option of a blk device (options: kind, name, transport, ring, queues, queueSize, eventIdx, hardened, backend, vendor, revision, measurement, behaviour, capacityBytes, path, depth, maxIoBytes, readOnly)',
    ],
    [
      'a file backend without a path',
      { devices: [{ kind: 'blk', backend: 'file' }] },
      'devices[0].path: undefined: the file backend needs a path',
    ],
    [
      'a path without the file backend',
      { devices: [{ kind: 'blk', path: '/tmp/x' }] },
      'devices[0].path: only the file backend takes a path',
    ],
    [
      'a capacity in part sectors',
      { devices: [{ kind: 'blk', capacityBytes: 1000 }] },
      'devices[0].capacityBytes: 1000 is not a multiple of 512',
    ],
    [
      'a memory store beyond the host area',
      { devices: [{ kind: 'blk', capacityBytes: 100 << 20 }] },
      'devices[0].capacityBytes: 104857600 is not a whole number from 512 to 50331648 bytes, a multiple of 512',
    ],
    [
      'a depth beyond the queue',
      { devices: [{ kind: 'blk', queueSize: 16, depth: 17 }] },
      'devices[0].depth: 17 is not a whole number from 1 to 16 (the queue size)',
    ],
    [
      'a frame too small',
      { devices: [{ kind: 'net', packetBytes: 10 }] },
      'devices[0].packetBytes: 10 is not a whole number from 14 to 65535',
    ],
    [
      'a flag that is not a boolean',
      { devices: [{ kind: 'net', mergeable: 'yes' }] },
      'devices[0].mergeable: "yes" is not true or false',
    ],
    [
      'a name taken twice',
      { devices: [net, { kind: 'blk', name: 'net0' }] },
      'devices[1].name: "net0" is already the name of devices[0]',
    ],
    [
      'a name with a space',
      { devices: [{ kind: 'blk', name: 'my disk' }] },
      'devices[0].name: "my disk" is not a letter then up to 23 letters, digits, _ or -',
    ],
    [
      'an unknown DMA backend',
      { dma: 'swiotbl', devices: [net] },
      'dma: "swiotbl" is not one of direct, offset, iommu, vduse, swiotlb',
    ],
    ['a memory size not in pages', { memory: 65537, devices: [net] }, 'memory: 65537 is not a multiple of 4096'],
    [
      'a memory size out of range',
      { memory: 4096, devices: [net] },
      `memory: 4096 is not a whole number from 65536 to ${MAX_GUEST_RAM} bytes`,
    ],
    ['a bad seed', { seed: -1, devices: [net] }, 'seed: -1 is not a whole number from 0 to 4294967295'],
    ['no device list', {}, 'devices: undefined is not a list of devices'],
    [
      'an unknown machine option',
      { devices: [net], colour: 'red' },
      'machine config.colour: not an option of a machine (options: memory, deployment, dma, encryption, acceptMeasurements, policy, devices, seed, cpus)',
    ],
    ['a config that is not an object', 42, 'machine config: 42 is not an object'],
  ];
  it.each(cases)('%s', (_what, config, message) => {
    let caught: unknown;
    try {
      createMachine(config as MachineConfig);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe('CONFIG');
    expect((caught as ConfigError).message).toBe(message);
  });
});

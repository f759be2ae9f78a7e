// PCI hotplug: a device that arrives at run time goes through the policy as
// at boot; one that leaves, orderly or by surprise, fails what it had in
// flight with an I/O error, loses no acknowledged write and leaks no tag,
// and an interrupt that races the removal is ignored and counted.
import { describe, expect, it } from 'vitest';
import {
  BlkStatus,
  BlkType,
  ConfigError,
  createMachine,
  TrustPolicy,
  VirtioPciTransport,
  type BlkMachineDevice,
} from '../../src/internal.js';
import type { InterruptEvent } from '../../src/transport/core.js';

const MEM = 96 << 20;

describe('hotplug', () => {
  it('a blk device plugged at run time is probed, serves I/O, and its decision is recorded as hotplug', () => {
    const m = createMachine({ memory: MEM, policy: 'tdx-default', deployment: 'cvm', devices: [{ kind: 'net' }] });
    const d = m.hotplug({ kind: 'blk', capacityBytes: 1 << 20 });
    expect(d?.name).toBe('blk0');
    const b = m.blk();
    expect(b.dma.backend.name).toBe('swiotlb');
    const data = new Uint8Array(4096).fill(0x5a);
    expect(b.driver.write(16, data)).toBe(BlkStatus.OK);
    expect(b.driver.read(16, 4096).data).toEqual(data);
    const hp = m.decisions().filter((x) => x.event === 'hotplug' && x.device === 'blk0');
    expect(hp.map((x) => [x.action, x.allowed])).toContainEqual(['hotplug', true]);
    m.close();
  });

  it('a policy that forbids hotplug keeps the device out: refused, not built', () => {
    const policy = TrustPolicy.fromText({
      name: 'no-hotplug.cedar',
      text: '// @extends tdx-default\n@id("no-hotplug")\nforbid (principal, action == Vqsim::Action::"hotplug", resource);\n',
    });
    const m = createMachine({ memory: MEM, policy, deployment: 'cvm', devices: [{ kind: 'net' }] });
    expect(m.hotplug({ kind: 'blk', capacityBytes: 1 << 20 })).toBeUndefined();
    expect(m.refused).toEqual([{ name: 'blk0', kind: 'blk', reason: 'hotplug not allowed', policies: ['no-hotplug'] }]);
    expect(m.devices.map((x) => x.name)).toEqual(['net0']);
    m.close();
  });

  it('only virtio-pci devices are hotplugged', () => {
    const m = createMachine({ memory: MEM, devices: [{ kind: 'net' }] });
    expect(() => m.hotplug({ kind: 'console', transport: 'mmio' })).toThrow(ConfigError);
    m.close();
  });
});

describe('unplug', () => {
  /** Two acknowledged writes, then three submitted and not yet seen by the device. */
  function inFlight(b: BlkMachineDevice) {
    const acked = [new Uint8Array(512).fill(1), new Uint8Array(512).fill(2)];
    expect(b.driver.write(0, acked[0]!)).toBe(BlkStatus.OK);
    expect(b.driver.write(1, acked[1]!)).toBe(BlkStatus.OK);
    const q = b.driver.queues[0]!;
    const buf = b.mem.alloc(4096);
    b.mem.fill(buf, 4096, 9);
    const tags = [2, 3, 4].map((s) => q.submit(BlkType.OUT, s, buf, 512));
    return { q, tags, acked };
  }

  it('surprise: the function leaves first; requests in flight end with IOERR, acknowledged writes stay, no tag leaks', () => {
    const m = createMachine({ memory: MEM, devices: [{ kind: 'blk', capacityBytes: 1 << 20, queueSize: 16 }] });
    const b = m.blk();
    const { q, tags, acked } = inFlight(b);
    expect(m.unplug('blk0', { surprise: true })).toEqual({ failed: 3 });
    expect(m.devices).toEqual([]);
    const done: { tag: number; status: number }[] = [];
    q.reap((c) => done.push({ tag: c.tag, status: c.status }));
    expect(done).toEqual(tags.map((tag) => ({ tag, status: BlkStatus.IOERR })));
    expect(q.freeTags).toBe(16);
    // The acknowledged writes are on the disk; the failed ones never reached it.
    const disk = (b.store as unknown as { contents(): Uint8Array }).contents();
    expect(disk.subarray(0, 512)).toEqual(acked[0]);
    expect(disk.subarray(512, 1024)).toEqual(acked[1]);
    expect(disk.subarray(1024, 2560).every((x) => x === 0)).toBe(true);
    // Its registers read all ones now; the driver takes no more requests.
    expect((b.transport as VirtioPciTransport).readCommon(0x14, 1)).toBe(0xff);
    expect(() => b.driver.read(0, 512)).toThrow(/BLK_DEVICE_REMOVED|removed/);
    // Rings, slabs and mappings given back.
    const c = b.dma.counters();
    expect([c.liveMappings, c.coherentAllocs - c.coherentFrees]).toEqual([0, 0]);
    m.close();
  });

  it('orderly: the device completes what it was given first; an interrupt it raises during the removal is ignored and counted', () => {
    const m = createMachine({ memory: MEM, devices: [{ kind: 'blk', capacityBytes: 1 << 20, queueSize: 16 }] });
    const b = m.blk();
    const { q, tags } = inFlight(b);
    // The race: an MSI-X message the device sent before the removal is taken
    // by the guest only after the driver let go (held here, then delivered).
    const core = b.transport.core as unknown as { handler?: (e: InterruptEvent) => void };
    const take = core.handler!;
    const late: InterruptEvent[] = [];
    core.handler = (e) => late.push(e);
    expect(b.transport.core.raiseQueueInterrupt(0)).toBe(true);
    core.handler = take;
    expect(m.unplug('blk0')).toEqual({ failed: 0 });
    const done: { tag: number; status: number }[] = [];
    q.reap((c) => done.push({ tag: c.tag, status: c.status }));
    expect(done).toEqual(tags.map((tag) => ({ tag, status: BlkStatus.OK })));
    const disk = (b.store as unknown as { contents(): Uint8Array }).contents();
    expect(disk.subarray(1024, 2560).every((x) => x === 9)).toBe(true);
    const before = b.access.counters.irqNotReady;
    for (const e of late) take(e);
    expect(late).toHaveLength(1);
    expect(b.access.counters.irqNotReady).toBe(before + 1);
    m.close();
  });

  it('net and console leave by surprise too, without a reset they could not answer', () => {
    const m = createMachine({ memory: MEM, devices: [{ kind: 'net' }, { kind: 'console' }] });
    m.unplug('net0', { surprise: true });
    m.unplug('console0', { surprise: true });
    expect(m.devices).toEqual([]);
    m.close();
  });
});

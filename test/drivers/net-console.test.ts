// virtio-net and virtio-console drivers against a device that floods or
// lies, and a driver that lies to the device: a 65535-byte MTU works end to
// end, a frame larger than MTU + 18 is refused on either side (the user's
// error at the driver, the driver's violation at the device), and a device
// that fills receive buffers as fast as they are posted cannot keep
// receive()/read() from returning.
import { describe, expect, it } from 'vitest';
import {
  CONSOLE_RECEIVEQ,
  ConsoleDevice,
  ConsoleDriver,
  DmaApi,
  MockSplitQueue,
  NetDriverError,
  SplitQueue,
  GuestMemory,
  PciDriverAccess,
  VirtioNetDevice,
  VirtioNetDriver,
  VirtioPciTransport,
  VirtioStatus,
  type NetDeviceOptions,
  type NetDriverOptions,
} from '../../src/internal.js';

function net(dev: NetDeviceOptions = {}, drv: NetDriverOptions = {}) {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem);
  const device = new VirtioNetDevice(dma.deviceView(), dev);
  const access = new PciDriverAccess(new VirtioPciTransport(device));
  const driver = VirtioNetDriver.probe(access, mem, dma, drv);
  return { mem, dma, device, access, driver };
}

function frame(bytes: number, seed: number): Uint8Array {
  const f = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) f[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return f;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('virtio-net: MTU 65535 and frames past the negotiated maximum', () => {
  it.each([
    ['mergeable', { queueSize: 64 }],
    ['big', { queueSize: 8, mergeable: false }],
  ] as const)('a 65535-byte MTU device moves a 65553-byte frame (%s buffers)', (_, drv) => {
    const m = net({ mtu: 65535 }, drv);
    expect(m.driver.mtu).toBe(65535);
    expect(m.driver.maxFrameBytes).toBe(65553);
    const f = frame(65553, 1);
    expect(m.driver.send(0, [f])).toBe(1);
    const got = m.driver.receive(0);
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.data).equals(f)).toBe(true);
    expect(got[0]!.buffers).toBe((drv as NetDriverOptions).mergeable === false ? 1 : Math.ceil((65553 + 12) / 1536));
    expect(m.driver.reapTx(0)).toBe(1);
    expect(m.device.txOversize).toBe(0);
  });

  it("the driver refuses a frame larger than MTU + 18 (NET_FRAME_TOO_BIG, the caller's)", () => {
    const m = net({ mtu: 1500 });
    expect(caught(() => m.driver.send(0, [frame(1519, 1)]))).toMatchObject({
      code: 'NET_FRAME_TOO_BIG',
      side: 'user',
      message: 'virtio-net: frame of 1519 bytes exceeds MTU 1500 + 18 bytes of header',
    });
    expect(caught(() => m.driver.sendBurst(0, 1, 1519))).toMatchObject({ code: 'NET_FRAME_TOO_BIG' });
    expect(m.driver.counters.txPackets).toBe(0);
    expect(m.driver.send(0, [frame(1518, 1)])).toBe(1);
  });

  it('the device refuses a TX chain larger than header + MTU + 18: NET_TX_FRAME_TOO_BIG, counted, NEEDS_RESET', () => {
    const m = net({ mtu: 1500, backend: { kind: 'sink' } });
    const buf = m.mem.alloc(4096, { shared: true });
    const tx = m.driver.pairs[0]!.tx;
    // A lying driver: one TX chain of 12 + 1519 bytes.
    expect(tx.driver.add([{ addr: buf, len: 12 + 1519 }], [], 0)).toBe(true);
    tx.driver.kick();
    m.access.notify(1);
    expect(m.device.txOversize).toBe(1);
    expect(m.device.fault).toMatchObject({
      code: 'NET_TX_FRAME_TOO_BIG',
      side: 'driver',
      message: 'virtio-net: queue 1: TX packet of 1531 bytes exceeds 1530 (header + MTU + 18)',
    });
    expect(m.access.getStatus() & VirtioStatus.NEEDS_RESET).toBe(VirtioStatus.NEEDS_RESET);
    expect(m.device.totals().sinkPackets).toBe(0); // nothing of it was read
  });

  it('without VIRTIO_NET_F_MTU the device takes 1518-byte frames and no more', () => {
    const m = net({ mtu: null, backend: { kind: 'sink' } });
    expect(m.driver.mtu).toBeUndefined();
    expect(m.device.maxTxChainBytes).toBe(12 + 1500 + 18);
    expect(m.driver.send(0, [frame(1518, 2)])).toBe(1);
    expect(m.device.totals().sinkPackets).toBe(1);
  });
});

describe('virtio-net: nothing lost in a batch', () => {
  it("onError 'throw': a lie in the middle of a reap throws, with the good frames around it delivered", () => {
    const m = net({}, { mergeable: false, onError: 'throw', queueSize: 16 });
    const rx = m.driver.pairs[0]!.rx;
    if (!(rx instanceof SplitQueue)) throw new Error('split ring expected');
    const mock = new MockSplitQueue(rx);
    const frames = [frame(100, 1), frame(100, 2), frame(100, 3)];
    expect(m.driver.send(0, frames)).toBe(3);
    expect(mock.usedIdx).toBe(3);
    mock.setUsedRing(1, { ...mock.usedRing(1), len: 5000 });
    let caught: unknown;
    try {
      m.driver.receive(0);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NetDriverError);
    const e = caught as NetDriverError;
    expect(e.code).toBe('RX_LEN_EXCEEDS');
    expect(e.delivered.map((p) => Array.from(p.data))).toEqual([Array.from(frames[0]!), Array.from(frames[2]!)]);
    expect(m.driver.counters).toMatchObject({ rxPackets: 2, rxLenExceeds: 1 });
    expect(rx.driver.numFree).toBe(0); // all three buffers posted again
  });
});

describe('virtio-net: NEEDS_RESET after DRIVER_OK', () => {
  it('the driver notices it, resets, re-probes and re-posts its RX buffers; traffic goes on', () => {
    const m = net({ mtu: 1500 }, { queueSize: 16 });
    const f = frame(200, 9);
    expect(m.driver.send(0, [f])).toBe(1);
    expect(m.driver.receive(0)).toHaveLength(1);
    // A lying TX chain breaks the device (NET_TX_FRAME_TOO_BIG).
    const buf = m.mem.alloc(4096, { shared: true });
    m.driver.pairs[0]!.tx.driver.add([{ addr: buf, len: 12 + 4000 }], [], 0);
    m.access.notify(1);
    expect(m.driver.needsReset()).toBe(true);
    const liveBefore = m.dma.counters().liveMappings;
    const next = m.driver.recover();
    expect(next.needsReset()).toBe(false);
    expect(next.counters.resets).toBe(1);
    expect(m.device.fault).toBeUndefined();
    // Every buffer of the old driver unmapped; the new one premapped as many.
    expect(m.dma.counters().liveMappings).toBe(liveBefore);
    expect(next.pairs[0]!.rx.driver.numFree).toBe(0); // every RX buffer posted again
    expect(next.send(0, [f])).toBe(1);
    const got = next.receive(0);
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.data).equals(f)).toBe(true);
  });
});

describe('denial of service: receive loops have a budget', () => {
  it('net receive() takes at most one ring of frames from an endless source', () => {
    const m = net({ backend: { kind: 'source', packetBytes: 64 } }, { queueSize: 32 });
    // The source fills every buffer as soon as it is posted again (inside receive's kick).
    for (let round = 0; round < 3; round++) expect(m.driver.receive(0)).toHaveLength(32);
    expect(m.driver.counters.rxPackets).toBe(96);
  });

  /** A console that answers every receive-queue kick with enough bytes to fill every buffer posted. */
  class Flood extends ConsoleDevice {
    kicks = 0;
    override onNotify(index: number): void {
      super.onNotify(index);
      if (index === CONSOLE_RECEIVEQ) {
        this.kicks++;
        this.input(new Uint8Array(16 * 64).fill(0x41));
      }
    }
  }

  it('console read() stops at rxBudget buffers when the device refills inside the reap', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const dma = new DmaApi(mem);
    const dev = new Flood(dma.deviceView(), {});
    const access = new PciDriverAccess(new VirtioPciTransport(dev));
    const con = ConsoleDriver.probe(access, mem, dma, { queueSize: 16, rxBufferBytes: 64, rxBudget: 300 });
    const got = con.read();
    expect(got.length).toBe(300 * 64);
    expect(con.budgetStops).toBe(1);
    // Bounded, and the next read goes on where it stopped.
    expect(con.read().length).toBe(300 * 64);
    expect(con.budgetStops).toBe(2);
  });

  it('a console used len past the buffer is clamped and counted (hardened), taken whole (naive)', () => {
    for (const hardened of [true, false]) {
      const mem = new GuestMemory({ size: 8 << 20 });
      const dma = new DmaApi(mem);
      const dev = new ConsoleDevice(dma.deviceView(), {});
      const access = new PciDriverAccess(new VirtioPciTransport(dev));
      const con = ConsoleDriver.probe(access, mem, dma, { queueSize: 16, rxBufferBytes: 64, hardened });
      const rx = con.rxq;
      // Play the device: use the first posted buffer with a length of 200.
      const face = dev as unknown as { rx: { pop(): { id: number }[]; push(u: { id: number; len: number }[]): void } };
      const chains = face.rx.pop();
      face.rx.push([{ id: chains[0]!.id, len: 200 }]);
      expect(rx.driver.numFree).toBe(0);
      expect(con.read().length).toBe(hardened ? 64 : 200);
      expect(con.rxLenClamped).toBe(hardened ? 1 : 0);
    }
  });
});

describe('a net run against a device that stops serving', () => {
  it('ends after three rounds that move nothing with NO_PROGRESS, naming the device fault', async () => {
    const { createMachine, runNetPackets } = await import('../../src/internal.js');
    const m = createMachine({ devices: [{ kind: 'net', backend: 'source', queueSize: 16 }] });
    try {
      const net = m.net();
      expect(runNetPackets(net, 0, 64).packets).toBeGreaterThanOrEqual(64);
      // The device breaks (a lying TX chain; a source's guest only receives): it needs a reset and serves nothing more.
      const buf = net.mem.alloc(4096, { shared: true });
      net.driver.pairs[0]!.tx.driver.add([{ addr: buf, len: 12 + 9000 }], [], 0);
      net.access.notify(1);
      expect(caught(() => runNetPackets(net, 0, 64))).toMatchObject({
        code: 'NO_PROGRESS',
        side: 'device',
        message: expect.stringMatching(
          /^net pair 0: no frame moved in 3 rounds \(16 of 64\): the device failed \(virtio-net: queue 1: TX packet of 9012 bytes exceeds/,
        ),
      });
    } finally {
      m.close();
    }
  });
});

describe('virtio-console: NEEDS_RESET after DRIVER_OK', () => {
  /** Asks for a reset at the first transmit doorbell, then behaves. */
  class BreaksOnce extends ConsoleDevice {
    broke = false;
    override onNotify(index: number): void {
      if (!this.broke && index === 1) {
        this.broke = true;
        this.ctx.needsReset('virtio-console: backend gone');
        return;
      }
      super.onNotify(index);
    }
  }

  it('the driver notices it, resets, re-probes and re-posts its receive buffers; the loopback goes on', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    const dma = new DmaApi(mem);
    const dev = new BreaksOnce(dma.deviceView(), {});
    const access = new PciDriverAccess(new VirtioPciTransport(dev));
    const con = ConsoleDriver.probe(access, mem, dma, { queueSize: 16, rxBufferBytes: 64 });
    expect(con.write(new TextEncoder().encode('lost'))).toBe(4);
    expect(con.needsReset()).toBe(true);
    expect(con.read().length).toBe(0);
    const next = con.recover();
    expect(next.needsReset()).toBe(false);
    expect(next.resets).toBe(1);
    // The old driver's buffers are all unmapped: only the new one's 16 receive buffers are live.
    expect(dma.counters().liveMappings).toBe(16);
    expect(next.write(new TextEncoder().encode('hello'))).toBe(5);
    expect(new TextDecoder().decode(next.read())).toBe('hello');
  });
});

// virtio-net: probe on PCI and MMIO, loopback byte-exact (mergeable and big
// buffers, 64/1500/9000 bytes, several pairs, split and packed), sink and
// source, the control queue, link status, and every driver check against a
// lying device, hardened and naive.
import { describe, expect, it } from 'vitest';
import {
  DmaApi,
  GuestMemory,
  MmioDriverAccess,
  NetConfig,
  NetDriverError,
  NetFeature,
  PciDriverAccess,
  VirtioMmioTransport,
  VirtioNetDevice,
  VirtioNetDriver,
  VirtioPciTransport,
  MockSplitQueue,
  SplitQueue,
  VirtioStatus,
  hasFeature,
  type ConfigWidth,
  type NetDeviceOptions,
  type NetDriverOptions,
  type NetPacket,
  type TransportAccess,
} from '../../src/internal.js';

function machine(
  dev: NetDeviceOptions = {},
  drv: NetDriverOptions = {},
  kind: 'pci' | 'mmio' = 'pci',
  make?: (view: ReturnType<DmaApi['deviceView']>) => VirtioNetDevice,
) {
  const mem = new GuestMemory({ size: 64 << 20 });
  const dma = new DmaApi(mem);
  const device = make ? make(dma.deviceView()) : new VirtioNetDevice(dma.deviceView(), dev);
  let access: TransportAccess;
  if (kind === 'pci') access = new PciDriverAccess(new VirtioPciTransport(device));
  else access = new MmioDriverAccess(new VirtioMmioTransport(device));
  const driver = VirtioNetDriver.probe(access, mem, dma, drv);
  return { mem, dma, device, access, driver };
}

function frame(bytes: number, seed: number): Uint8Array {
  const f = new Uint8Array(bytes);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    f[i] = x >>> 24;
  }
  return f;
}

/**
 * Sends `frames` on `pair` and receives what the loopback device returns, in
 * rounds of send, receive, reap; fails (instead of looping on) when a round
 * budget passes with frames still missing.
 */
function sendAll(m: ReturnType<typeof machine>, pair: number, frames: Uint8Array[]) {
  const got: Uint8Array[] = [];
  let sent = 0;
  let round = 0;
  for (; round < 1000 && got.length < frames.length; round++) {
    if (sent < frames.length) sent += m.driver.send(pair, frames.slice(sent));
    for (const p of m.driver.receive(pair)) got.push(p.data);
    m.driver.reapTx(pair);
  }
  expect(got.length, `frames back after ${round} rounds (${sent} of ${frames.length} sent)`).toBe(frames.length);
  return got;
}

describe('probe', () => {
  for (const kind of ['pci', 'mmio'] as const) {
    it(`negotiates and reads the config on ${kind}`, () => {
      const m = machine({ queuePairs: 2, mac: [2, 0, 0, 0, 0, 7], mtu: 9000 }, {}, kind);
      const f = m.driver.features;
      for (const b of [
        NetFeature.MAC,
        NetFeature.MTU,
        NetFeature.STATUS,
        NetFeature.CTRL_VQ,
        NetFeature.MQ,
        NetFeature.MRG_RXBUF,
      ]) {
        expect(hasFeature(f, b)).toBe(true);
      }
      expect(m.driver.mac).toEqual([2, 0, 0, 0, 0, 7]);
      expect(m.driver.mtu).toBe(9000);
      expect(m.driver.maxPairs).toBe(2);
      expect(m.driver.activePairs).toBe(2);
      expect(m.device.curPairs).toBe(2);
      expect(m.driver.linkUp).toBe(true);
      expect(m.device.pairCount).toBe(2);
      expect(m.access.getStatus() & 0x04).toBe(0x04); // DRIVER_OK
    });
  }

  it('asks only for what it wants: no MRG_RXBUF, no MQ', () => {
    const m = machine({ queuePairs: 2 }, { mergeable: false, multiqueue: false });
    expect(hasFeature(m.driver.features, NetFeature.MRG_RXBUF)).toBe(false);
    expect(hasFeature(m.driver.features, NetFeature.MQ)).toBe(false);
    expect(m.driver.maxPairs).toBe(1);
    expect(m.device.negotiatedPairs).toBe(1);
  });
});

describe('frame copy', () => {
  // Every length the vector copy treats in its own way (under 16, 16..32,
  // 33..64, 65..128, and over 128 bytes with the header): the frame arrives
  // byte-exact and nothing past it in its RX buffer is written.
  it('loopback is byte-exact for every frame length from 1 to 160 bytes, and writes nothing past the frame', () => {
    for (const ring of ['split', 'packed'] as const) {
      const m = machine({ maxQueueSize: 64 }, { ring, queueSize: 64 });
      const p = m.driver.pairs[0]!;
      const bytes = m.mem.bytes;
      const stride = (p.rxSlots.bufBytes + 63) & ~63;
      const rxStart = m.mem.linear(p.rxSlots.gpa, p.rxSlots.count * stride);
      bytes.fill(0xaa, rxStart, rxStart + p.rxSlots.count * stride);
      for (let len = 1; len <= 160; len++) {
        const f = frame(len, 7000 + len);
        expect(m.driver.send(0, [f])).toBe(1);
        const got = m.driver.receive(0);
        m.driver.reapTx(0);
        expect(got.length).toBe(1);
        expect(Buffer.from(got[0]!.data).equals(Buffer.from(f))).toBe(true);
        // The buffer it came in: the first completion's token is its slot.
        const slot = p.rx.driver.completions[0]!;
        const end = rxStart + slot * stride + 12 + len;
        expect(bytes.subarray(end, end + 64).every((b) => b === 0xaa)).toBe(true);
      }
    }
  });
});

describe('loopback moves frames byte-exact', () => {
  for (const ring of ['split', 'packed'] as const) {
    for (const mergeable of [true, false]) {
      for (const bytes of [64, 1500, 9000]) {
        it(`${ring} ring, ${mergeable ? 'mergeable' : 'big'} RX buffers, ${bytes}-byte frames, 2 pairs`, () => {
          const m = machine({ queuePairs: 2, mtu: 9000, maxQueueSize: 64 }, { ring, mergeable, queueSize: 64 });
          expect(hasFeature(m.driver.features, 34)).toBe(ring === 'packed');
          for (const pair of [0, 1]) {
            const frames = Array.from({ length: 100 }, (_, k) => frame(bytes, pair * 1000 + k));
            const got = sendAll(m, pair, frames);
            expect(got.length).toBe(frames.length);
            got.forEach((g, k) => expect(Buffer.from(g).equals(Buffer.from(frames[k]!))).toBe(true));
            const c = m.device.counters(pair);
            expect(c.txPackets).toBe(100);
            expect(c.rxPackets).toBe(100);
            expect(c.txBytes).toBe(100 * bytes);
            expect(c.rxBytes).toBe(100 * bytes);
            const perFrame = mergeable ? Math.ceil((bytes + 12) / 1536) : 1;
            expect(c.rxBuffers).toBe(100 * perFrame);
            expect(c.drops).toBe(0);
          }
          expect(m.driver.counters.rxPackets).toBe(200);
          expect(m.driver.counters.rxLengthErrors).toBe(0);
          expect(m.driver.counters.txCompleted).toBe(200);
          expect(m.dma.counters().errors).toBe(0);
        });
      }
    }
  }

  it('a frame waits in the device until RX buffers are posted', () => {
    const m = machine({ maxQueueSize: 8, mtu: 9000 }, { queueSize: 8, mergeable: true });
    // 8 RX buffers posted; 8 frames of 3000 bytes need 2 buffers each: 4 go through, 4 wait.
    const frames = Array.from({ length: 8 }, (_, k) => frame(3000, k));
    expect(m.driver.send(0, frames)).toBe(8);
    expect(m.device.counters(0).txWaiting).toBe(4);
    const first = m.driver.receive(0); // reposts 8 buffers: the waiting frames go through
    expect(first.length).toBe(4);
    const second = m.driver.receive(0);
    expect(second.length).toBe(4);
    [...first, ...second].forEach((p, k) => expect(Buffer.from(p.data).equals(Buffer.from(frames[k]!))).toBe(true));
    expect(first[0]!.buffers).toBe(2);
    expect(first[0]!.header[10]).toBe(2); // num_buffers
  });

  it('frames sent while others wait queue up behind them, in order (pop output and pool together)', () => {
    const m = machine({ maxQueueSize: 16, mtu: 9000 }, { queueSize: 16, mergeable: true });
    // 16 RX buffers; 12 frames of 3000 bytes need 2 each: 8 go through straight from the pop, 4 wait.
    const frames = Array.from({ length: 12 }, (_, k) => frame(3000, k));
    expect(m.driver.send(0, frames)).toBe(12);
    expect(m.device.counters(0).txWaiting).toBe(4);
    expect(m.driver.reapTx(0)).toBe(8);
    // Two more while four wait: they go behind the waiting ones.
    const more = [frame(64, 100), frame(64, 101)];
    expect(m.driver.send(0, more)).toBe(2);
    expect(m.device.counters(0).txWaiting).toBe(6);
    const got: NetPacket[] = [];
    for (let r = 0; r < 6 && got.length < 14; r++) got.push(...m.driver.receive(0));
    expect(got.length).toBe(14);
    [...frames, ...more].forEach((f, k) => expect(Buffer.from(got[k]!.data).equals(Buffer.from(f))).toBe(true));
    expect(m.device.counters(0).txWaiting).toBe(0);
    expect(m.device.counters(0).txPackets).toBe(14);
    expect(m.driver.counters.rxLengthErrors).toBe(0);
  });
});

describe('DMA', () => {
  it('maps every buffer once with its direction and unmaps them all on remove (MMIO loopback)', () => {
    const m = machine({ maxQueueSize: 32 }, { queueSize: 32 }, 'mmio');
    const c = m.dma.counters();
    // 32 RX (FROM_DEVICE) + 32 TX (TO_DEVICE) buffers, and the control header and ack.
    expect(c.maps).toBe(32 + 32 + 2);
    expect(c.liveMappings).toBe(66);
    const frames = Array.from({ length: 50 }, (_, k) => frame(700, k));
    const got = sendAll(m, 0, frames);
    got.forEach((g, k) => expect(Buffer.from(g).equals(Buffer.from(frames[k]!))).toBe(true));
    expect(m.dma.counters().maps).toBe(66); // premapped: nothing mapped per packet
    m.driver.remove();
    expect(m.dma.counters().liveMappings).toBe(0);
    expect(m.dma.counters().errors).toBe(0);
  });
});

describe('backends', () => {
  it('sink counts and drops', () => {
    const m = machine({ backend: { kind: 'sink' } });
    const frames = Array.from({ length: 300 }, (_, k) => frame(1500, k));
    let sent = 0;
    // Bounded: a device that stops completing must fail the test, not hang it.
    for (let round = 0; round < 100 && sent < frames.length; round++) {
      sent += m.driver.send(0, frames.slice(sent));
      m.driver.reapTx(0);
    }
    expect(sent).toBe(300);
    const c = m.device.counters(0);
    expect(c.sinkPackets).toBe(300);
    expect(c.txBytes).toBe(300 * 1500);
    expect(c.rxPackets).toBe(0);
    expect(m.driver.receive(0)).toEqual([]);
    // The device read every byte of the last frame (its DMA), header first.
    const got = m.device.lastSinkFrame(0, 12 + 1500);
    expect(Buffer.from(got.subarray(12)).equals(Buffer.from(frames[299]!))).toBe(true);
  });

  it('sink reads frames of every length, from one buffer or a chain of several', () => {
    const m = machine({ backend: { kind: 'sink' }, mtu: 9000 });
    for (const len of [1, 15, 16, 40, 100, 127, 128, 129, 4000, 9000]) {
      const f = frame(len, len);
      expect(m.driver.send(0, [f])).toBe(1);
      m.driver.reapTx(0);
      expect(Buffer.from(m.device.lastSinkFrame(0, 12 + len).subarray(12)).equals(Buffer.from(f))).toBe(true);
    }
    // Header and frame in two buffers, as Linux sends when it cannot push the
    // header in front of the frame.
    const at = m.mem.alloc(4096, { shared: true });
    const f = frame(300, 77);
    m.mem.bytes.fill(0, m.mem.linear(at, 12), m.mem.linear(at, 12) + 12);
    m.mem.bytes.set(f, m.mem.linear(at + 64, 300));
    expect(
      m.driver.pairs[0]!.tx.driver.add(
        [
          { addr: at, len: 12 },
          { addr: at + 64, len: 300 },
        ],
        [],
        0,
      ),
    ).toBe(true);
    m.device.poll(0);
    expect(Buffer.from(m.device.lastSinkFrame(0, 312).subarray(12)).equals(Buffer.from(f))).toBe(true);
    expect(m.device.counters(0).txBytes).toBe(
      [1, 15, 16, 40, 100, 127, 128, 129, 4000, 9000, 300].reduce((a, b) => a + b),
    );
    expect(machine({ backend: { kind: 'loopback' } }).device.lastSinkFrame(0, 64).length).toBe(0);
  });

  it('source delivers frames of the set size, in sequence', () => {
    const m = machine(
      { backend: { kind: 'source', packetBytes: 200, packets: 1000 }, maxQueueSize: 128 },
      { queueSize: 128 },
    );
    const got = [];
    for (let r = 0; r < 20 && got.length < 1000; r++) got.push(...m.driver.receive(0));
    expect(got.length).toBe(1000);
    got.forEach((p, k) => {
      expect(p.data.length).toBe(200);
      expect(new DataView(p.data.buffer).getUint32(0, true)).toBe(k);
      expect(p.data[100]).toBe(100);
    });
    expect(m.device.counters(0).rxPackets).toBe(1000);
    expect(m.driver.receive(0)).toEqual([]);
  });
});

describe('backend edges', () => {
  it('the source backend completes TX frames as a sink', () => {
    const m = machine({ backend: { kind: 'source', packetBytes: 64, packets: 0 } });
    expect(m.driver.send(0, [frame(64, 1), frame(64, 2)])).toBe(2);
    expect(m.driver.reapTx(0)).toBe(2);
    expect(m.device.counters(0).sinkPackets).toBe(2);
    expect(m.device.counters(0).txWaiting).toBe(0);
  });

  it('a frame larger than every RX buffer of the ring together is dropped, not left waiting', () => {
    const m = machine({ maxQueueSize: 8, mtu: 20000 }, { queueSize: 8 });
    const big = frame(20000, 1); // needs 14 mergeable buffers; the ring has 8
    const small = frame(64, 2);
    expect(m.driver.send(0, [big, small])).toBe(2);
    const got = m.driver.receive(0);
    expect(got.map((p) => p.data.length)).toEqual([64]);
    expect(m.device.counters(0).drops).toBe(1);
    expect(m.driver.reapTx(0)).toBe(2);
  });
});

describe('control queue', () => {
  it('VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET acks OK in range and ERR outside', () => {
    const m = machine({ queuePairs: 4 }, { queuePairs: 1 });
    expect(m.device.curPairs).toBe(1);
    expect(m.driver.setQueuePairs(3)).toBe(true);
    expect(m.device.curPairs).toBe(3);
    expect(m.driver.activePairs).toBe(3);
    expect(m.driver.setQueuePairs(0)).toBe(false);
    expect(m.driver.setQueuePairs(5)).toBe(false);
    expect(m.device.curPairs).toBe(3);
    expect(m.device.ctrlCounters).toEqual({ ok: 1, err: 2 });
    // The pairs enabled later received RX buffers: loopback on pair 2 works.
    const f = frame(64, 9);
    expect(sendAll(m, 2, [f]).map((d) => Array.from(d))).toEqual([Array.from(f)]);
  });
});

describe('link status', () => {
  for (const kind of ['pci', 'mmio'] as const) {
    it(`link down raises a config interrupt and the driver reads it (${kind})`, () => {
      const m = machine({}, {}, kind);
      const seen: boolean[] = [];
      m.driver.onLinkChange = (up) => seen.push(up);
      m.device.setLink(false);
      expect(m.driver.linkUp).toBe(false);
      expect(m.driver.counters.configInterrupts).toBe(1);
      m.device.setLink(true);
      expect(seen).toEqual([false, true]);
    });
  }
});

describe('virtio-net smoke', () => {
  it('loopback one frame', () => {
    const m = machine();
    const f = frame(64, 1);
    expect(m.driver.send(0, [f])).toBe(1);
    const got = m.driver.receive(0);
    expect(got.length).toBe(1);
    expect(Array.from(got[0]!.data)).toEqual(Array.from(f));
    expect(m.driver.reapTx(0)).toBe(1);
  });
});

/** The driver's RX queue of pair 0 as a raw split ring, to play a lying device. */
function rxMock(m: ReturnType<typeof machine>): MockSplitQueue {
  const q = m.driver.pairs[0]!.rx;
  if (!(q instanceof SplitQueue)) throw new Error('split ring expected');
  return new MockSplitQueue(q);
}

/** Loops `frames` back and leaves them unreaped in the RX used ring; returns the used slots written. */
function loopedBack(m: ReturnType<typeof machine>, frames: Uint8Array[]): number[] {
  const mock = rxMock(m);
  const before = mock.usedIdx;
  m.driver.send(0, frames);
  const slots = [];
  for (let i = before; i !== mock.usedIdx; i = (i + 1) & 0xffff) slots.push(i % mock.size);
  return slots;
}

describe('driver checks against a lying device', () => {
  it('rx used len larger than the buffer posted: RX_LEN_EXCEEDS (big buffers)', () => {
    const m = machine({}, { mergeable: false });
    const [slot] = loopedBack(m, [frame(100, 1)]);
    const mock = rxMock(m);
    mock.setUsedRing(slot!, { ...mock.usedRing(slot!), len: 5000 });
    expect(m.driver.receive(0)).toEqual([]);
    const e = m.driver.errors[0]!;
    expect(e).toBeInstanceOf(NetDriverError);
    expect(e.code).toBe('RX_LEN_EXCEEDS');
    expect(e.message).toBe('eth0.rx0: rx error: len 5000 exceeds max size 1530');
    expect(m.driver.counters.rxLengthErrors).toBe(1);
    expect(m.driver.counters.rxLenExceeds).toBe(1);
    // The buffer was reposted: the next frame goes through.
    const f = frame(64, 2);
    expect(sendAll(m, 0, [f]).map((d) => Array.from(d))).toEqual([Array.from(f)]);
  });

  it('rx used len larger than the buffer posted: RX_LEN_EXCEEDS (mergeable buffers)', () => {
    const m = machine();
    const [slot] = loopedBack(m, [frame(100, 1)]);
    const mock = rxMock(m);
    mock.setUsedRing(slot!, { ...mock.usedRing(slot!), len: 1537 });
    expect(m.driver.receive(0)).toEqual([]);
    expect(m.driver.errors[0]!.message).toBe('eth0.rx0: rx error: len 1537 exceeds max size 1536');
  });

  it('a later buffer of a mergeable frame too long: RX_LEN_EXCEEDS (truesize)', () => {
    const m = machine({ mtu: 9000 });
    const slots = loopedBack(m, [frame(3000, 1)]);
    expect(slots.length).toBe(2);
    const mock = rxMock(m);
    mock.setUsedRing(slots[1]!, { ...mock.usedRing(slots[1]!), len: 4000 });
    expect(m.driver.receive(0)).toEqual([]);
    expect(m.driver.errors[0]!.code).toBe('RX_LEN_EXCEEDS');
    expect(m.driver.errors[0]!.message).toBe('eth0.rx0: rx error: len 4000 exceeds truesize 1536');
  });

  it('num_buffers larger than the buffers used: RX_BUFFERS_MISSING', () => {
    const m = machine();
    const [slot] = loopedBack(m, [frame(100, 1)]);
    const mock = rxMock(m);
    const buf = Number(mock.readDesc(mock.usedRing(slot!).id).addr);
    new DataView(m.mem.memory.buffer).setUint16(m.mem.linear(buf, 12) + 10, 5, true); // num_buffers = 5
    expect(m.driver.receive(0)).toEqual([]);
    const e = m.driver.errors[0]!;
    expect(e.code).toBe('RX_BUFFERS_MISSING');
    expect(e.message).toBe('eth0.rx0: rx error: 4 buffers out of 5 missing');
    expect(m.driver.counters.rxBuffersMissing).toBe(1);
  });

  it('a frame shorter than the header: RX_SHORT', () => {
    const m = machine();
    const [slot] = loopedBack(m, [frame(100, 1)]);
    const mock = rxMock(m);
    mock.setUsedRing(slot!, { ...mock.usedRing(slot!), len: 8 });
    expect(m.driver.receive(0)).toEqual([]);
    expect(m.driver.errors[0]!.code).toBe('RX_SHORT');
    expect(m.driver.errors[0]!.message).toBe('eth0.rx0: short packet 8');
  });

  it("onError 'throw' throws the named error after reposting the buffers", () => {
    const m = machine({}, { onError: 'throw' });
    const [slot] = loopedBack(m, [frame(100, 1)]);
    const mock = rxMock(m);
    mock.setUsedRing(slot!, { ...mock.usedRing(slot!), len: 99999 });
    expect(() => m.driver.receive(0)).toThrow(NetDriverError);
    expect(m.driver.pairs[0]!.rx.driver.numFree).toBe(0); // every buffer posted again
  });

  it('naive mode lets the bad length through; hardened stops it', () => {
    const results = [true, false].map((hardened) => {
      const m = machine({}, { mergeable: false, hardened });
      const [slot] = loopedBack(m, [frame(100, 1)]);
      const mock = rxMock(m);
      mock.setUsedRing(slot!, { ...mock.usedRing(slot!), len: 3000 });
      return { got: m.driver.receive(0), errors: m.driver.errors.length };
    });
    expect(results[0]).toEqual({ got: [], errors: 1 });
    // The naive driver hands up 2988 bytes from a 1530-byte buffer: the rest is whatever lies beyond it.
    expect(results[1]!.errors).toBe(0);
    expect(results[1]!.got.length).toBe(1);
    expect(results[1]!.got[0]!.data.length).toBe(3000 - 12);
  });

  it('MTU below 68 at validate: VIRTIO_NET_F_MTU is dropped (counted)', () => {
    const m = machine({ mtu: 50 });
    expect(hasFeature(m.driver.features, NetFeature.MTU)).toBe(false);
    expect(m.driver.counters.mtuInvalid).toBe(1);
    expect(m.driver.mtu).toBeUndefined();
    const naive = machine({ mtu: 50 }, { hardened: false });
    expect(hasFeature(naive.driver.features, NetFeature.MTU)).toBe(true);
    expect(naive.driver.mtu).toBe(50);
  });

  it('MTU changed on re-read: MTU_CHANGED, the probe fails', () => {
    class ShiftyMtu extends VirtioNetDevice {
      reads = 0;
      override readConfig(offset: number, width: ConfigWidth): number {
        if (offset === NetConfig.MTU) return this.reads++ === 0 ? 1500 : 60;
        return super.readConfig(offset, width);
      }
    }
    let dev: ShiftyMtu | undefined;
    let err: unknown;
    try {
      machine({}, {}, 'pci', (view) => (dev = new ShiftyMtu(view)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetDriverError);
    expect((err as NetDriverError).code).toBe('MTU_CHANGED');
    expect((err as NetDriverError).message).toBe('device MTU appears to have changed it is now 60 < 68');
    expect(dev!.reads).toBeGreaterThanOrEqual(2);
  });

  for (const bad of [0, 0x8001]) {
    it(`max_virtqueue_pairs ${bad} is clamped to 1 (counted)`, () => {
      const m = machine({ queuePairs: 2, ctrlVq: false, mq: true }, {}, 'pci', (view) => {
        const d = new VirtioNetDevice(view, { queuePairs: 2 });
        d.config.setUint16(NetConfig.MAX_VIRTQUEUE_PAIRS, bad, true);
        return d;
      });
      expect(m.driver.maxPairs).toBe(1);
      expect(m.driver.counters.maxPairsInvalid).toBe(1);
    });
  }

  it('a probe failure sets FAILED', () => {
    class Mtu0 extends VirtioNetDevice {
      n = 0;
      override readConfig(offset: number, width: ConfigWidth): number {
        if (offset === NetConfig.MTU) return this.n++ === 0 ? 9000 : 0;
        return super.readConfig(offset, width);
      }
    }
    const mem = new GuestMemory({ size: 16 << 20 });
    const dma = new DmaApi(mem);
    const access = new PciDriverAccess(new VirtioPciTransport(new Mtu0(dma.deviceView())));
    expect(() => VirtioNetDriver.probe(access, mem, dma)).toThrow(/MTU appears to have changed/);
    expect(access.getStatus() & VirtioStatus.FAILED).toBe(VirtioStatus.FAILED);
  });
});

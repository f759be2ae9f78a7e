// virtio-console: one port over PCI and MMIO, split and packed rings; the
// loopback and sink backends, host input, emergency writes, resize, and the
// driver's clamp of a used length above the receive buffer.
import { describe, expect, it } from 'vitest';
import {
  ConsoleDevice,
  ConsoleDriver,
  CONSOLE_DRIVER_FEATURES,
  DmaApi,
  Feature,
  GuestMemory,
  MmioDriverAccess,
  PciDriverAccess,
  VirtioMmioTransport,
  VirtioPciTransport,
  type ConsoleDeviceOptions,
  type TransportAccess,
} from '../../src/internal.js';

function machine(kind: 'pci' | 'mmio', opts: ConsoleDeviceOptions = {}) {
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const dev = new ConsoleDevice(dma.deviceView(), opts);
  const access: TransportAccess =
    kind === 'pci'
      ? new PciDriverAccess(new VirtioPciTransport(dev))
      : new MmioDriverAccess(new VirtioMmioTransport(dev));
  return { mem, dma, dev, access };
}

const text = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe.each([
  ['pci', 'split'],
  ['pci', 'packed'],
  ['mmio', 'split'],
  ['mmio', 'packed'],
] as const)('virtio-console over %s, %s ring', (kind, ring) => {
  const features = ring === 'split' ? CONSOLE_DRIVER_FEATURES & ~(1n << BigInt(Feature.RING_PACKED)) : undefined;

  it('loopback: bytes written come back, across many buffers', () => {
    const m = machine(kind, { cols: 132, rows: 43 });
    const con = ConsoleDriver.probe(m.access, m.mem, m.dma, { features, queueSize: 16, rxBufferBytes: 1024 });
    expect([con.cols, con.rows]).toEqual([132, 43]);
    const msg = new TextEncoder().encode('hello, virtio-console\n');
    expect(con.write(msg)).toBe(msg.length);
    expect(new TextDecoder().decode(con.read())).toBe('hello, virtio-console\n');
    // More than the receive ring holds at once (16 × 1 KiB): it comes back over several reads.
    const big = text(40000, 3);
    let sent = 0;
    const got: number[] = [];
    for (let round = 0; sent < big.length || got.length < big.length; round++) {
      if (round > 100) throw new Error(`stuck: sent ${sent} got ${got.length} ${JSON.stringify(m.dev.counters)}`);
      if (sent < big.length) sent += con.write(big.subarray(sent, Math.min(big.length, sent + 8192)));
      got.push(...con.read());
    }
    expect(Uint8Array.from(got)).toEqual(big);
    expect(m.dev.counters).toMatchObject({
      txBytes: msg.length + big.length,
      rxBytes: msg.length + big.length,
      dropped: 0,
    });
    expect(m.dma.counters().liveMappings).toBe(16); // only the posted receive buffers
  });

  it('sink: the host collects what the guest writes, and its input reaches the guest', () => {
    const m = machine(kind, { backend: 'sink' });
    const con = ConsoleDriver.probe(m.access, m.mem, m.dma, { features, queueSize: 8 });
    con.write(text(10000, 1));
    expect(m.dev.take()).toEqual(text(10000, 1));
    expect(con.read()).toHaveLength(0);
    m.dev.input(new TextEncoder().encode('login: '));
    expect(new TextDecoder().decode(con.read())).toBe('login: ');
    con.emergencyWrite(0x21);
    expect(m.dev.take()).toEqual(Uint8Array.of(0x21));
    m.dev.resize(100, 30);
    expect([con.cols, con.rows]).toEqual([100, 30]);
  });
});

describe('virtio-console driver checks', () => {
  it('a used len above the receive buffer is clamped by the hardened driver, taken by the naive one', () => {
    for (const hardened of [true, false]) {
      const m = machine('pci');
      const con = ConsoleDriver.probe(m.access, m.mem, m.dma, { queueSize: 4, rxBufferBytes: 64, hardened });
      // The device lies about what it wrote to receive buffer 0.
      const rx = (
        m.dev as unknown as {
          rx: { popBatch(n: number): number; chain(k: number): { id: number }; push(e: object[]): number };
        }
      ).rx;
      rx.popBatch(1);
      rx.push([{ id: rx.chain(0).id, len: 4096 }]);
      expect(con.read()).toHaveLength(hardened ? 64 : 4096);
    }
  });
});

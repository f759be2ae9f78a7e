// A device's own face of a queue, built from the areas a driver programmed
// (as a transport hands them over), reaching guest RAM only through its DMA
// view; and the Wasm copy the DMA view uses for payload.
import { describe, expect, it } from 'vitest';
import { iov } from '../helpers/ring.js';
import {
  DmaApi,
  GuestMemory,
  SplitDevice,
  SplitQueue,
  createQueue,
  deviceQueueFromAreas,
  layout as L,
  queueAreas,
} from '../../src/internal.js';

describe('SplitDevice.fromAreas', () => {
  it('serves the driver through the programmed areas, counting in its own stats block', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = createQueue(mem, { size: 16, eventIdx: true, indirect: true }) as SplitQueue;
    const view = new DmaApi(mem).deviceView();
    const { desc, avail, used } = q.areas;
    const dev = SplitDevice.fromAreas(
      view,
      { size: 16, desc, driver: avail, device: used, eventIdx: true, indirect: true },
      { name: 'rx0' },
    );
    const buf = mem.alloc(4096, { shared: true });
    mem.write(buf, new Uint8Array([1, 2, 3, 4]));
    for (let k = 0; k < 40; k++) {
      expect(
        q.driver.add(
          [{ addr: buf, len: 4 }],
          [
            { addr: buf + 64, len: 4 },
            { addr: buf + 128, len: 8 },
          ],
          k,
        ),
      ).toBe(true);
      const [chain] = dev.pop();
      expect(chain!.readable).toEqual([iov(mem, buf, 4)]);
      // The device copies the request into the first writable buffer through its view.
      view.copy(Number(chain!.writable[0]!.addr), Number(chain!.readable[0]!.addr), 4);
      expect(dev.push([{ id: chain!.id, len: 4 }])).toBe(1);
      expect(dev.shouldNotify()).toBe(true);
      expect(q.driver.getUsed()).toEqual([{ token: k, len: 4 }]);
    }
    expect([...mem.read(buf + 64, 4)]).toEqual([1, 2, 3, 4]);
    // The driver's block counts the driver's side only; the device has its own.
    expect(q.stats()).toMatchObject({ chainsAdded: 40, chainsCompleted: 40, chainsPopped: 0 });
    expect(dev.stats()).toMatchObject({ chainsAdded: 0, chainsPopped: 40, chainsUsed: 40, bytesUsed: 160 });
  });

  it('is a DMA fault when the driver programs an area outside what the device may reach', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const view = new DmaApi(mem).deviceView();
    const ring = { size: 256, desc: (1 << 20) - 1024, driver: 0, device: 8192, eventIdx: false, indirect: false };
    expect(() => SplitDevice.fromAreas(view, ring)).toThrow(/DMA fault: device read of 4096 bytes/);
    expect(view.counters().faults).toBe(1);
  });
});

describe('deviceQueueFromAreas, either ring kind', () => {
  for (const ring of ['split', 'packed'] as const) {
    it(`${ring}: a device face from the areas moves chains both ways`, () => {
      const mem = new GuestMemory({ size: 1 << 20 });
      const q = createQueue(mem, { ring, size: 8, eventIdx: true });
      const view = new DmaApi(mem).deviceView();
      const dev = deviceQueueFromAreas(view, { ring, size: 8, ...queueAreas(q), eventIdx: true, indirect: false });
      const buf = mem.alloc(4096, { shared: true });
      for (let k = 0; k < 30; k++) {
        expect(q.driver.add([{ addr: buf, len: 10 }], [{ addr: buf + 100, len: 20 }], k)).toBe(true);
        expect(dev.popBatch()).toBe(1);
        expect(dev.pushPopped(1)).toBe(1);
        expect(q.driver.getUsed()).toEqual([{ token: k, len: 20 }]);
      }
      expect(dev.stats()).toMatchObject({ chainsPopped: 30, chainsUsed: 30 });
    });
  }
});

describe('dma_copy (Wasm)', () => {
  it('copies small (v128 loop) and large (memory.copy) ranges exactly, overlapping ones too', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const base = L.GUEST_BASE;
    for (const len of [0, 1, 15, 16, 17, 63, 64, 255, 256, 257, 1500, 9000]) {
      const src = new Uint8Array(len).map((_, i) => (i * 7 + len) & 0xff);
      mem.bytes.set(src, base);
      mem.core.dma_copy(base + 65536, base, len);
      expect(mem.bytes.subarray(base + 65536, base + 65536 + len)).toEqual(src);
      // Overlapping forward move behaves as memmove.
      mem.core.dma_copy(base + 3, base, len);
      expect(mem.bytes.subarray(base + 3, base + 3 + len)).toEqual(src);
    }
  });
});

describe('popBatch with fewer chains than the output holds', () => {
  for (const ring of ['split', 'packed'] as const) {
    it(`${ring}: chain(k) finds the elements the core laid out after the records it asked for`, () => {
      const mem = new GuestMemory({ size: 1 << 20 });
      const q = createQueue(mem, { ring, size: 16 });
      const buf = mem.alloc(4096, { shared: true });
      for (let k = 0; k < 6; k++) q.driver.add([{ addr: buf + 64 * k, len: 8 + k }], [], k);
      expect(q.device.popBatch(2)).toBe(2);
      expect(q.device.chain(1).readable).toEqual([iov(mem, buf + 64, 9)]);
      expect(q.device.pop(3).map((c) => c.readable[0]!.len)).toEqual([10, 11, 12]);
    });
  }
});

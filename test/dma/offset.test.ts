// The proof that there is one way into guest memory (issue 8): every ring,
// device and driver path runs on the test-only `offset` DMA backend, whose
// DMA addresses are guest physical + 1 TiB and whose device context refuses
// anything not mapped, with results identical to the `direct` backend. A
// guest-physical address anywhere a DMA address belongs, or a device access
// that skips its context, faults there.
import { describe, expect, it } from 'vitest';
import { DmaApi, GuestMemory, VirtqueueError, createQueue, type RingKind } from '../../src/internal.js';
import { DMA_OFFSET } from '../../src/dma/offset.js';
import { expectSameAsDirect, machineRun, ringRun } from './runs.js';

const RINGS: RingKind[] = ['split', 'packed'];

describe('the offset backend: DMA address = guest physical + 1 TiB, nothing reachable unless mapped', () => {
  for (const ring of RINGS) {
    it(`${ring} ring with indirect tables: the same run as direct, through the mapped pages only`, () => {
      const direct = ringRun(ring, 'direct', 11);
      const offset = ringRun(ring, 'offset', 11);
      expectSameAsDirect(offset, direct);
      expect(offset.api.liveMappings).toBe(0);
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

describe('virtio-net, virtio-blk and virtio-console end to end on the offset backend', () => {
  for (const ring of RINGS) {
    for (const transport of ['pci', 'mmio'] as const) {
      it(`net, blk and console over ${transport}, ${ring} ring: the same data as direct, nothing refused`, () => {
        const direct = machineRun(ring, transport, 'direct');
        const offset = machineRun(ring, transport, 'offset');
        expect(offset.statuses).toEqual([offset.ok, offset.ok, offset.ok]);
        expect(offset.data).toEqual(direct.data);
        for (const c of Object.values(offset.ctx)) expect(c.faults).toBe(0);
        // The devices read and wrote the same bytes, every one through their contexts.
        expect(offset.ctx.net.bytesRead).toBe(direct.ctx.net.bytesRead);
        expect(offset.ctx.net.bytesWritten).toBe(direct.ctx.net.bytesWritten);
        expect(offset.ctx.blk.bytesWritten).toBe(direct.ctx.blk.bytesWritten);
        expect(offset.ctx.net.bytesRead).toBeGreaterThan(2 * 5 * (60 + 700 + 1500));
      });
    }
  }
});

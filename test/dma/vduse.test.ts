// The `vduse` DMA backend (src/dma/vduse.ts): VDUSE's bounce domain. Which
// bytes move at map, unmap and sync for each direction and SKIP_CPU_SYNC,
// shown with poisoned buffers; what the device can reach; the mapping errors;
// the `bounce` counters; and every ring and device end to end with the same
// results as direct.
import { describe, expect, it } from 'vitest';
import {
  DmaApi,
  DmaAttr,
  DmaDirection as D,
  DmaError,
  DmaView,
  GuestMemory,
  VDUSE_IOVA_SIZE,
  VduseDmaBackend,
  readStatsRegistry,
  type RingKind,
} from '../../src/internal.js';
import { expectSameAsDirect, machineRun, ringRun } from './runs.js';

const PAGE = 4096;
const MiB = 1 << 20;
const POISON = 0xee;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function setup(bounceBytes = MiB, ram = 8 * MiB) {
  const mem = new GuestMemory({ size: ram });
  const backend = new VduseDmaBackend(mem, { bounceBytes });
  const view = new DmaView(mem, backend.context, 'vduse');
  return { mem, backend, view };
}

const pattern = (len: number, seed: number) => new Uint8Array(len).map((_, i) => (i * 7 + seed) & 0x7f);

describe('the vduse backend: the domain', () => {
  it('takes a bounce size from 1 MiB to 1 GiB, in whole pages; its IOVA space is 1 GiB + 128 MiB', () => {
    const mem = new GuestMemory({ size: MiB });
    expect(new VduseDmaBackend(mem).bounceSize).toBe(64 * MiB);
    expect(new VduseDmaBackend(mem, { bounceBytes: MiB + 100 }).bounceSize).toBe(MiB);
    expect(() => new VduseDmaBackend(mem, { bounceBytes: MiB - 1 })).toThrow(
      'vduse bounce size 1048575: must be a whole number of bytes from 1 MiB to 1 GiB',
    );
    expect(() => new VduseDmaBackend(mem, { bounceBytes: 1024 * MiB + 1 })).toThrow(/from 1 MiB to 1 GiB/);
    const b = new VduseDmaBackend(mem, { bounceBytes: 2 * MiB });
    expect(b.window).toEqual({ base: 0, bytes: VDUSE_IOVA_SIZE });
    expect(VDUSE_IOVA_SIZE).toBe(1152 * MiB);
    expect(b.needSync).toBe(true);
  });

  it('maps streaming buffers at page-aligned IOVAs below the bounce size, coherent memory above it', () => {
    const { mem, backend } = setup(2 * MiB);
    const buf = mem.alloc(4 * PAGE, { shared: true });
    // Top-down from the bounce size; page aligned whatever the buffer's offset.
    expect(backend.map(buf + 100, 100, D.TO_DEVICE)).toBe(2 * MiB - PAGE);
    expect(backend.map(buf + 300, 5000, D.FROM_DEVICE)).toBe(2 * MiB - 3 * PAGE - PAGE); // 2 pages, aligned to 2
    expect(backend.bouncePages).toBe(3);
    // Coherent: real guest pages, read-write, from the top of the IOVA space; no bounce pages.
    const c = backend.allocCoherent(3 * PAGE);
    expect(c.dma).toBe(VDUSE_IOVA_SIZE - 4 * PAGE); // 3 pages, aligned to 4
    expect(backend.context.lookup(c.dma + PAGE)).toEqual({ gpa: c.cpu + PAGE, read: true, write: true });
    expect(backend.bouncePages).toBe(3);
    backend.freeCoherent(c);
    expect(backend.context.lookup(c.dma)).toBeUndefined();
  });
});

describe('the vduse backend: which bytes move (poisoned buffers)', () => {
  // [direction, attrs, copied in at map, copied back at unmap]
  const CASES: [string, D, number, boolean, boolean][] = [
    ['TO_DEVICE', D.TO_DEVICE, 0, true, false],
    ['TO_DEVICE, SKIP_CPU_SYNC', D.TO_DEVICE, DmaAttr.SKIP_CPU_SYNC, false, false],
    ['FROM_DEVICE', D.FROM_DEVICE, 0, false, true],
    ['FROM_DEVICE, SKIP_CPU_SYNC', D.FROM_DEVICE, DmaAttr.SKIP_CPU_SYNC, false, false],
    ['BIDIRECTIONAL', D.BIDIRECTIONAL, 0, true, true],
    ['BIDIRECTIONAL, SKIP_CPU_SYNC', D.BIDIRECTIONAL, DmaAttr.SKIP_CPU_SYNC, false, false],
  ];

  for (const [name, dir, attrs, copyIn, copyOut] of CASES) {
    it(`${name}: map copies ${copyIn ? 'in' : 'nothing'}, unmap copies ${copyOut ? 'back' : 'nothing'}`, () => {
      const { mem, backend, view } = setup();
      // 5000 bytes at offset 100 of three guest pages; everything around is poison.
      const region = mem.alloc(3 * PAGE, { shared: true });
      mem.fill(region, 3 * PAGE, POISON);
      const orig = region + 100;
      const len = 5000;
      const P = pattern(len, 1);
      const Q = pattern(len, 50);
      mem.write(orig, P);

      const dma = backend.map(orig, len, dir, attrs);
      // The device sees the original's bytes only if they were copied in;
      // else the fresh bounce pages' zeros.
      expect(view.read(dma, len)).toEqual(copyIn ? P : new Uint8Array(len));
      // The device writes every byte (bounce pages are read-write to it in any direction).
      view.write(dma, Q);
      expect(mem.read(orig, len)).toEqual(P); // nothing reaches the buffer before the unmap
      backend.unmap(dma, orig, len, dir, attrs);
      expect(mem.read(orig, len)).toEqual(copyOut ? Q : P);
      // Not a byte around the buffer moved.
      expect(mem.read(region, 100).every((b) => b === POISON)).toBe(true);
      expect(mem.read(orig + len, 3 * PAGE - 100 - len).every((b) => b === POISON)).toBe(true);
      // Counted: bytes and one copy per bounce page touched (two here), each way.
      expect(backend.stats.read()).toEqual({
        bytesToDevice: copyIn ? len : 0,
        bytesFromDevice: copyOut ? len : 0,
        copiesToDevice: copyIn ? 2 : 0,
        copiesFromDevice: copyOut ? 2 : 0,
        bouncePages: 2,
        mapErrors: 0,
      });
    });
  }

  for (const [name, dir] of [
    ['TO_DEVICE', D.TO_DEVICE],
    ['FROM_DEVICE', D.FROM_DEVICE],
    ['BIDIRECTIONAL', D.BIDIRECTIONAL],
  ] as const) {
    it(`${name}: sync for device copies in only for TO_DEVICE/BIDIRECTIONAL, sync for cpu back only for FROM_DEVICE/BIDIRECTIONAL`, () => {
      const { mem, backend, view } = setup();
      const api = new DmaApi(mem, { backend });
      const orig = mem.alloc(2 * PAGE, { shared: true });
      const len = 6000;
      const P = pattern(len, 3);
      const Q = pattern(len, 90);
      mem.write(orig, P);
      const dma = api.map(orig, len, dir, DmaAttr.SKIP_CPU_SYNC); // nothing moves at map
      expect(view.read(dma, len)).toEqual(new Uint8Array(len));
      api.syncForDevice(dma, len, dir);
      expect(view.read(dma, len)).toEqual(dir === D.FROM_DEVICE ? new Uint8Array(len) : P);
      view.write(dma, Q);
      api.syncForCpu(dma, len, dir);
      expect(mem.read(orig, len)).toEqual(dir === D.TO_DEVICE ? P : Q);
      api.unmap(dma, len, dir, DmaAttr.SKIP_CPU_SYNC);
      expect(backend.stats.read()).toMatchObject({
        bytesToDevice: dir === D.FROM_DEVICE ? 0 : len,
        bytesFromDevice: dir === D.TO_DEVICE ? 0 : len,
      });
    });
  }

  it('a partial sync moves only its bytes, through the original each bounce page shadows', () => {
    const { mem, backend, view } = setup();
    const orig = mem.alloc(3 * PAGE, { shared: true }) + 8;
    const len = 2 * PAGE + 100;
    mem.write(orig, pattern(len, 5));
    const dma = backend.map(orig, len, D.BIDIRECTIONAL, DmaAttr.SKIP_CPU_SYNC);
    view.write(dma, new Uint8Array(len).fill(0x55));
    // 20 bytes at offset 4096 + 10 of the mapping: the second bounce page.
    backend.syncForCpu(dma + PAGE + 10, orig, 20, D.BIDIRECTIONAL);
    const want = pattern(len, 5);
    want.fill(0x55, PAGE + 10, PAGE + 30);
    expect(mem.read(orig, len)).toEqual(want);
    expect(backend.stats.read()).toMatchObject({ bytesFromDevice: 20, copiesFromDevice: 1 });
  });

  it('FROM_DEVICE: what the device does not write comes back as the bounce page held (here, an earlier mapping)', () => {
    const { mem, backend, view } = setup();
    const secret = mem.alloc(PAGE, { shared: true });
    const S = pattern(PAGE, 17);
    mem.write(secret, S);
    const a = backend.map(secret, PAGE, D.TO_DEVICE);
    backend.unmap(a, secret, PAGE, D.TO_DEVICE);
    // The next mapping of one page gets the same IOVA, so the same bounce page.
    const buf = mem.alloc(PAGE, { shared: true });
    mem.fill(buf, PAGE, POISON);
    const b = backend.map(buf, PAGE, D.FROM_DEVICE);
    expect(b).toBe(a);
    // No copy in: the device reads the earlier mapping's bytes ...
    expect(view.read(b, PAGE)).toEqual(S);
    view.write(b, new Uint8Array(10).fill(1));
    backend.unmap(b, buf, PAGE, D.FROM_DEVICE);
    // ... and the unmap copies the whole page back over the buffer.
    const want = S.slice();
    want.fill(1, 0, 10);
    expect(mem.read(buf, PAGE)).toEqual(want);
  });
});

describe('the vduse backend: what the device reaches', () => {
  it('bounce pages ever used (read-write, also after unmap) and live coherent memory; nothing else', () => {
    const { mem, backend, view } = setup();
    const buf = mem.alloc(PAGE, { shared: true });
    mem.writeU32(buf, 0x600dcafe);
    const d = backend.map(buf, 64, D.TO_DEVICE);
    const c = backend.allocCoherent(PAGE);
    const two = backend.map(mem.alloc(2 * PAGE, { shared: true }), 2 * PAGE, D.FROM_DEVICE);
    expect(view.readU32(d)).toBe(0x600dcafe);
    backend.unmap(d, buf, 64, D.TO_DEVICE);
    // The bounce page is still there, with what it held.
    expect(view.readU32(d)).toBe(0x600dcafe);
    view.writeU32(c.dma, 9);
    expect(mem.readU32(c.cpu)).toBe(9);
    // A bounce IOVA with no bounce page behind it: VDUSE's fault handler has
    // nothing to give (SIGBUS): an IOTLB miss.
    expect(thrown(() => view.readU32(d - PAGE)).message).toMatch(/IOTLB miss/);
    // The driver's own buffer is nowhere in the device's space.
    expect(thrown(() => view.readU32(VDUSE_IOVA_SIZE + buf)).message).toMatch(
      /outside the device's DMA address space \(the vduse backend's\)/,
    );
    // A reset takes the bounce range away (the coherent memory stays); the next map brings it back.
    // One invalidation for the whole range, however many bounce pages it has (three).
    backend.resetBounceMap();
    expect(thrown(() => view.readU32(d)).message).toMatch(/IOTLB miss/);
    expect(thrown(() => view.readU32(two + PAGE)).message).toMatch(/IOTLB miss/);
    expect(view.readU32(c.dma)).toBe(9);
    const again = backend.map(buf, 64, D.TO_DEVICE);
    expect(view.readU32(again)).toBe(0x600dcafe);
    expect(backend.bouncePages).toBe(3);
    expect(view.counters()).toMatchObject({ faults: 4, iotlbInvalidations: 1 });
  });

  it('a full bounce range or no guest page for a bounce page is a mapping error, counted; nothing leaks', () => {
    const { mem, backend } = setup(MiB);
    const api = new DmaApi(mem, { backend, name: 'blk9.dma-api' });
    // 1 MiB of bounce range holds frames 1..255 (IOVA 0 is never handed out).
    const e = thrown(() => api.map(0, MiB, D.TO_DEVICE));
    expect(e).toBeInstanceOf(DmaError);
    expect((e as DmaError).code).toBe('DMA_MAPPING_ERROR');
    expect(e.message).toBe(
      'vduse: map 1048576 bytes at 0x0: no free IOVA range of 256 pages below the bounce size 0x100000 (0 pages in use)',
    );
    // Ranges are size-aligned (iova.c): half the range fits once, at its top half ...
    expect(api.map(0, MiB / 2, D.TO_DEVICE)).toBe(MiB / 2);
    // ... and not again: frames 1..127 are free, but not 128 of them from a multiple of 128.
    expect(() => api.map(0, MiB / 2, D.TO_DEVICE)).toThrow(
      'vduse: map 524288 bytes at 0x0: no free IOVA range of 128 pages below the bounce size 0x100000 (128 pages in use)',
    );
    expect(api.map(0, MiB / 4, D.TO_DEVICE)).toBe(MiB / 4);
    expect(api.counters().errors).toBe(2);

    const small = new GuestMemory({ size: 64 << 10 }); // 16 guest pages
    const b = new VduseDmaBackend(small, { bounceBytes: MiB });
    expect(() => b.map(0, 20 * PAGE, D.FROM_DEVICE)).toThrow(
      'vduse: map 81920 bytes at 0x0: no guest page for a bounce page',
    );
    expect(b.stream.used).toBe(0);
    expect(b.stats.read().mapErrors).toBe(1);
    // The pages it did get stay bounce pages (of the IOVA frames they were taken for).
    expect(b.bouncePages).toBe(16);
    // The counters are in the registry beside the API's.
    const reg = readStatsRegistry(mem.memory);
    expect(reg['blk9.bounce']).toMatchObject({ kind: 'bounce', counters: { mapErrors: 2, bouncePages: 192 } });
    expect(reg['blk9.dma-context']?.kind).toBe('dma-context');
  });
});

describe('the vduse backend end to end: the same results as direct, nothing refused', () => {
  for (const ring of ['split', 'packed'] as RingKind[]) {
    it(`${ring} ring with indirect tables, buffers sharing pages: bounce bytes counted exactly`, () => {
      const direct = ringRun(ring, 'direct', 9);
      const vduse = ringRun(ring, 'vduse', 9);
      expectSameAsDirect(vduse, direct);
      const s = (vduse.backend as VduseDmaBackend).stats.read();
      expect(s.bytesToDevice).toBe(vduse.bounce.toDevice);
      expect(s.bytesFromDevice).toBe(vduse.bounce.fromDevice);
      expect(s.bytesToDevice).toBeGreaterThan(50_000);
      expect(s.bytesFromDevice).toBeGreaterThan(50_000);
      // Bounce pages are reused, so the device's IOTLB mostly hits; nothing is ever invalidated.
      expect(vduse.dma.iotlbHits).toBeGreaterThan(vduse.dma.iotlbMisses);
      expect(vduse.dma.iotlbInvalidations).toBe(0);
    });
  }

  for (const ring of ['split', 'packed'] as RingKind[]) {
    for (const transport of ['pci', 'mmio'] as const) {
      it(`net, blk and console over ${transport}, ${ring} ring, built by createMachine`, () => {
        const direct = machineRun(ring, transport, 'direct');
        const vduse = machineRun(ring, transport, 'vduse');
        expect(vduse.statuses).toEqual([vduse.ok, vduse.ok, vduse.ok]);
        expect(vduse.data).toEqual(direct.data);
        for (const c of Object.values(vduse.ctx)) expect(c.faults).toBe(0);
        for (const d of ['net0', 'blk0', 'console0']) {
          const b = vduse.stats[`${d}.bounce`]!.counters;
          expect(b.bytesToDevice).toBeGreaterThan(0);
          expect(b.bytesFromDevice).toBeGreaterThan(0);
          expect(b.mapErrors).toBe(0);
        }
        expect(direct.stats['net0.bounce']).toBeUndefined();
      });
    }
  }
});

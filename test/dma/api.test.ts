// The guest DMA API with the direct backend (DMA address = guest physical
// address), its named errors and counters, and the device's DMA view.
import { describe, expect, it } from 'vitest';
import { DmaApi, DmaDirection as D, DmaError, GuestMemory, type DmaBackend } from '../../src/internal.js';
import { DMA_OFFSET, OffsetDmaBackend } from '../../src/dma/offset.js';

const RAM = 1 << 20;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DmaError);
    return (e as DmaError).code;
  }
  return undefined;
}

describe('DMA API, direct backend', () => {
  it('maps to the guest physical address, copies nothing, counts', () => {
    const mem = new GuestMemory({ size: RAM });
    const dma = new DmaApi(mem);
    expect(dma.backend.name).toBe('direct');
    const buf = mem.alloc(8192);
    mem.writeU32(buf, 0x12345678);
    const a = dma.map(buf, 100, D.TO_DEVICE);
    expect(a).toBe(buf);
    expect(mem.isShared(buf)).toBe(false); // direct mapping shares nothing
    const b = dma.map(buf + 4096, 64, D.FROM_DEVICE);
    dma.syncForCpu(b, 64, D.FROM_DEVICE);
    dma.syncForDevice(b, 32, D.FROM_DEVICE); // a sync may cover the start of a mapping
    dma.unmap(a, 100, D.TO_DEVICE);
    dma.unmap(b, 64, D.FROM_DEVICE);
    expect(mem.readU32(buf)).toBe(0x12345678);
    expect(dma.counters()).toEqual({
      maps: 2,
      unmaps: 2,
      syncsForCpu: 1,
      syncsForDevice: 1,
      bytesMapped: 164,
      coherentAllocs: 0,
      coherentFrees: 0,
      liveMappings: 0,
      errors: 0,
    });
  });

  it('the same buffer may be mapped twice; each unmap ends one mapping', () => {
    const mem = new GuestMemory({ size: RAM });
    const dma = new DmaApi(mem);
    const buf = mem.alloc(4096);
    dma.map(buf, 16, D.TO_DEVICE);
    dma.map(buf, 16, D.BIDIRECTIONAL);
    expect(dma.counters().liveMappings).toBe(2);
    dma.unmap(buf, 16, D.BIDIRECTIONAL);
    dma.unmap(buf, 16, D.TO_DEVICE);
    expect(code(() => dma.unmap(buf, 16, D.TO_DEVICE))).toBe('DMA_NOT_MAPPED');
  });

  it('names every misuse', () => {
    const mem = new GuestMemory({ size: RAM });
    const dma = new DmaApi(mem);
    const buf = mem.alloc(4096);
    expect(code(() => dma.map(buf, 16, 3 as D))).toBe('DMA_BAD_DIRECTION');
    expect(code(() => dma.map(buf, 0, D.TO_DEVICE))).toBe('DMA_BAD_LENGTH');
    expect(code(() => dma.map(RAM - 8, 16, D.TO_DEVICE))).toBe('DMA_OUTSIDE_RAM');
    expect(code(() => dma.map(-1, 16, D.TO_DEVICE))).toBe('DMA_OUTSIDE_RAM');
    expect(code(() => dma.unmap(buf, 16, D.TO_DEVICE))).toBe('DMA_NOT_MAPPED');
    expect(code(() => dma.syncForCpu(buf, 16, D.FROM_DEVICE))).toBe('DMA_NOT_MAPPED');
    const a = dma.map(buf, 64, D.TO_DEVICE);
    expect(code(() => dma.unmap(a, 32, D.TO_DEVICE))).toBe('DMA_SIZE_MISMATCH');
    expect(code(() => dma.unmap(a, 64, D.FROM_DEVICE))).toBe('DMA_DIRECTION_MISMATCH');
    expect(code(() => dma.syncForCpu(a, 64, D.FROM_DEVICE))).toBe('DMA_DIRECTION_MISMATCH');
    expect(code(() => dma.syncForCpu(a, 128, D.TO_DEVICE))).toBe('DMA_SIZE_MISMATCH');
    expect(code(() => dma.unmap(a, 64, 7 as D))).toBe('DMA_BAD_DIRECTION');
    let e: unknown;
    try {
      dma.unmap(buf + 8, 16, D.TO_DEVICE);
    } catch (x) {
      e = x;
    }
    expect((e as Error).message).toBe(
      `dma unmap: device driver tries to free DMA memory it has not allocated [0x${(buf + 8).toString(16)}] [16 bytes]`,
    );
    // A BIDIRECTIONAL mapping may be synced either way.
    const b = dma.map(buf + 128, 32, D.BIDIRECTIONAL);
    dma.syncForCpu(b, 32, D.FROM_DEVICE);
    dma.syncForDevice(b, 32, D.TO_DEVICE);
    expect(dma.counters().errors).toBe(12);
    dma.unmap(a, 64, D.TO_DEVICE);
  });

  it('coherent allocations are shared pages and must be freed as allocated', () => {
    const mem = new GuestMemory({ size: RAM });
    const dma = new DmaApi(mem);
    const r = dma.allocCoherent(6000);
    expect(r.dma).toBe(r.cpu);
    expect(r.bytes).toBe(6000);
    expect(mem.isShared(r.cpu)).toBe(true);
    expect(mem.isShared(r.cpu + 4096)).toBe(true);
    expect(code(() => dma.freeCoherent({ ...r, bytes: 10 }))).toBe('DMA_NOT_COHERENT');
    dma.freeCoherent(r);
    expect(mem.isShared(r.cpu)).toBe(false);
    expect(code(() => dma.freeCoherent(r))).toBe('DMA_NOT_COHERENT');
    expect(code(() => dma.allocCoherent(0))).toBe('DMA_BAD_LENGTH');
    expect(dma.counters()).toMatchObject({ coherentAllocs: 1, coherentFrees: 1, errors: 3 });
  });

  it('an unknown backend is refused; tracking can be turned off', () => {
    const mem = new GuestMemory({ size: RAM });
    expect(code(() => new DmaApi(mem, { backend: 'swiotbl' as 'direct' }))).toBe('DMA_BAD_BACKEND');
    const dma = new DmaApi(mem, { track: false });
    dma.unmap(0x1000, 16, D.TO_DEVICE); // not checked without tracking
    expect(code(() => dma.unmap(0x1000, 16, 9 as D))).toBe('DMA_BAD_DIRECTION'); // arguments still are
  });

  it('drivers see only the API: a custom backend plugs in unchanged', () => {
    const mem = new GuestMemory({ size: RAM });
    const calls: string[] = [];
    // A toy translating backend: DMA addresses are GPA + 1 MiB (like an IOVA space).
    // A backend of the test's own: the offset backend's mapping with calls recorded.
    const inner = new OffsetDmaBackend(mem);
    const backend: DmaBackend = {
      name: 'toy-iommu',
      context: inner.context,
      window: inner.window,
      needSync: true,
      map: (gpa, len, dir) => (calls.push(`map ${len} ${dir}`), inner.map(gpa, len, dir)),
      unmap: (dma, gpa, len, dir) => {
        calls.push(`unmap ${dma - DMA_OFFSET === gpa}`);
        inner.unmap(dma, gpa, len, dir);
      },
      syncForCpu: () => void calls.push('sync cpu'),
      syncForDevice: () => void calls.push('sync dev'),
      allocCoherent: (bytes) => inner.allocCoherent(bytes),
      freeCoherent: (r) => inner.freeCoherent(r),
    };
    const dma = new DmaApi(mem, { backend });
    const view = dma.deviceView();
    const buf = mem.alloc(4096);
    mem.writeU16(buf, 0xabcd);
    const a = dma.map(buf, 2, D.TO_DEVICE);
    expect(view.readU16(a)).toBe(0xabcd);
    expect(code(() => view.readU16(buf))).toBe('DMA_FAULT'); // a GPA is not a DMA address here
    expect(dma.needSync).toBe(true);
    dma.syncForDevice(a, 2, D.TO_DEVICE);
    dma.unmap(a, 2, D.TO_DEVICE);
    expect(calls).toEqual(['map 2 1', 'sync dev', 'unmap true']);
    // Unmapped, the page is out of the device's reach again: an IOTLB miss.
    expect(code(() => view.readU16(a))).toBe('DMA_FAULT');
  });
});

describe("the device's DMA view", () => {
  it('checked scalar and bulk access by DMA address, with counters', () => {
    const mem = new GuestMemory({ size: RAM });
    const view = new DmaApi(mem).deviceView();
    const buf = mem.alloc(8192, { shared: true });
    view.writeU8(buf, 0x7f);
    view.writeU16(buf + 2, 0xbeef);
    view.writeU32(buf + 4, 0xdeadbeef);
    view.writeU64(buf + 8, 0x0102030405060708n);
    expect([mem.readU8(buf), mem.readU16(buf + 2), mem.readU32(buf + 4), mem.readU64(buf + 8)]).toEqual([
      0x7f,
      0xbeef,
      0xdeadbeef,
      0x0102030405060708n,
    ]);
    expect([view.readU8(buf), view.readU16(buf + 2), view.readU32(buf + 4), view.readU64(buf + 8)]).toEqual([
      0x7f,
      0xbeef,
      0xdeadbeef,
      0x0102030405060708n,
    ]);
    view.write(buf + 100, new Uint8Array([1, 2, 3, 4]));
    view.copy(buf + 4096, buf + 100, 4);
    expect(Array.from(view.read(buf + 4096, 4))).toEqual([1, 2, 3, 4]);
    view.fill(buf + 200, 8, 0xee);
    expect(mem.readU32(buf + 204)).toBe(0xeeeeeeee);
    // Host-side buffers live in the host area of the same memory.
    const host = mem.hostAlloc(64);
    view.copyToHost(host, buf + 100, 4);
    expect(Array.from(mem.bytes.subarray(host, host + 4))).toEqual([1, 2, 3, 4]);
    mem.bytes[host] = 9;
    view.copyFromHost(buf + 300, host, 4);
    expect(Array.from(mem.read(buf + 300, 4))).toEqual([9, 2, 3, 4]);
    // Every access went through the context: one iovec translated (a map)
    // per read or write, counted in its shared stats block.
    expect(view.counters()).toEqual({
      reads: 7,
      writes: 8,
      bytesRead: 1 + 2 + 4 + 8 + 4 + 4 + 4,
      bytesWritten: 1 + 2 + 4 + 8 + 4 + 4 + 8 + 4,
      faults: 0,
      maps: 15,
      splits: 0,
      // A direct context has no IOTLB.
      iotlbHits: 0,
      iotlbMisses: 0,
      iotlbInvalidations: 0,
    });
  });

  it('faults outside guest RAM, and refuses host buffers that are not in the host area', () => {
    const mem = new GuestMemory({ size: RAM });
    const view = new DmaApi(mem).deviceView();
    expect(code(() => view.readU32(RAM - 2))).toBe('DMA_FAULT');
    expect(code(() => view.write(RAM - 1, new Uint8Array(2)))).toBe('DMA_FAULT');
    expect(code(() => view.copy(0, RAM, 1))).toBe('DMA_FAULT');
    expect(code(() => view.readU8(-1))).toBe('DMA_FAULT');
    expect(code(() => view.readU8(1.5))).toBe('DMA_FAULT');
    // A "host" address inside guest RAM would bypass the check: refused.
    const buf = mem.alloc(4096);
    expect(code(() => view.copyToHost(mem.linear(buf), 0, 16))).toBe('DMA_FAULT');
    expect(code(() => view.copyFromHost(0, 0, 16))).toBe('DMA_FAULT');
    expect(view.counters().faults).toBe(7);
    let e: unknown;
    try {
      view.readU32(RAM - 2);
    } catch (x) {
      e = x;
    }
    expect((e as Error).message).toBe(
      "DMA fault: device read of 4 bytes at 0xffffe: outside the device's DMA address space (the direct backend's)",
    );
  });
});

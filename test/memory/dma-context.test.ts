// The DMA context on its own: what a device may reach through a direct,
// shared-only or paged context, how a translation splits where guest pages
// are not contiguous, and the named fault for each refusal, on both rings and
// both engines (the reference model translates the same way in TypeScript).
import { describe, expect, it } from 'vitest';
import { DmaContext, DmaView, GuestMemory, VirtqueueError, createQueue, type RingKind } from '../../src/internal.js';
import { deviceFaceOf } from '../helpers/ring.js';

const PAGE = 4096;

function popError(fn: () => unknown): VirtqueueError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VirtqueueError);
    return e as VirtqueueError;
  }
  throw new Error('expected a VirtqueueError');
}

/**
 * A driver queue (direct DMA: its DMA addresses are guest physical) and a
 * device face built from its areas through `ctx`. A paged context is the
 * identity over guest RAM where mapped: the ring's pages are mapped first, as
 * a guest IOMMU driver maps a ring before programming it.
 */
function build(ring: RingKind, engine: 'wasm' | 'reference', ctxOf: (mem: GuestMemory) => DmaContext) {
  const mem = new GuestMemory({ size: 1 << 20 });
  const ctx = ctxOf(mem);
  const view = new DmaView(mem, ctx, 'test');
  const q = createQueue(mem, { ring, size: 8, indirect: true, deviceFace: false });
  const { ringAddr } = q as unknown as { ringAddr: number };
  if (ctx.mode === 'paged') ctx.mapPages(ringAddr, ringAddr, 2 * PAGE, { read: true, write: true });
  const device = deviceFaceOf(mem, q, view, engine, { ring, size: 8, eventIdx: false, indirect: true }, 'vqC');
  return { mem, ctx, view, driver: q.driver, device, ringAddr };
}

describe.each([
  ['split', 'wasm'],
  ['split', 'reference'],
  ['packed', 'wasm'],
  ['packed', 'reference'],
] as const)('the DMA context (%s ring, %s engine)', (ring, engine) => {
  it('shared-only: a buffer in a private page is refused by name, a shared one passes', () => {
    const { mem, ctx, driver, device } = build(ring, engine, (m) => DmaContext.direct(m, { sharedOnly: true }));
    const shared = mem.alloc(PAGE, { shared: true });
    const priv = mem.alloc(PAGE);
    driver.add([{ addr: shared, len: 64 }], [], 1);
    expect(device.pop().map((c) => c.readable[0]!.len)).toEqual([64]);
    driver.add([{ addr: priv + 100, len: 8 }], [], 2);
    const e = popError(() => device.pop());
    expect(e.code).toBe('DMA_PRIVATE_PAGE');
    expect(e.message).toBe(
      `vqC: descriptor at 0x${(priv + 100).toString(16)} points into a private (encrypted) page the device may not touch`,
    );
    expect(device.broken).toBe(true);
    // Maps: the three ring areas at setup, then the one buffer that passed.
    expect(ctx.counters()).toMatchObject({ faults: 1, maps: 3 + 1, splits: 0 });
    expect(ctx.lastFault()).toEqual({ addr: priv + 100, len: 8, code: 45, write: false });
  });

  it('paged: a buffer across pages not contiguous in guest memory becomes two iovecs with the right bytes', () => {
    const { mem, ctx, driver, device } = build(ring, engine, (m) => DmaContext.paged(m, { base: 0, bytes: 1 << 20 }));
    const a = mem.alloc(2 * PAGE, { shared: true });
    const elsewhere = mem.alloc(3 * PAGE, { shared: true }) + 2 * PAGE;
    mem.write(a + PAGE - 4, new Uint8Array([1, 2, 3, 4]));
    mem.write(elsewhere, new Uint8Array([5, 6, 7, 8]));
    // DMA page a → guest page a; DMA page a + 1 → a guest page elsewhere.
    ctx.mapPages(a, a, PAGE, { read: true, write: false });
    ctx.mapPages(a + PAGE, elsewhere, PAGE, { read: true, write: false });
    driver.add([{ addr: a + PAGE - 4, len: 8 }], [], 1);
    const [chain] = device.pop();
    expect(chain!.readable.map((b) => [b.addr, b.len, b.linear])).toEqual([
      [a + PAGE - 4, 4, mem.linear(a + PAGE - 4)],
      [a + PAGE, 4, mem.linear(elsewhere)],
    ]);
    expect(chain!.readBytes).toBe(8);
    const bytes = chain!.readable.flatMap((b) => [...mem.bytes.subarray(b.linear, b.linear + b.len)]);
    expect(bytes).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ctx.counters()).toMatchObject({ maps: 3 + 2, splits: 1, faults: 0 });
    expect(device.stats()).toMatchObject({ chainsPopped: 1, descsPopped: 1 });
  });

  it('paged: an indirect table in unmapped pages is a miss; one across discontiguous pages cannot be mapped', () => {
    const { mem, ctx, driver, device } = build(ring, engine, (m) => DmaContext.paged(m, { base: 0, bytes: 1 << 20 }));
    const buf = mem.alloc(PAGE, { shared: true });
    ctx.mapPages(buf, buf, PAGE, { read: true, write: true });
    const two = [
      { addr: buf, len: 8 },
      { addr: buf + 8, len: 8 },
    ];
    driver.add(two, [], 1, { indirect: true });
    // The driver's indirect pool is not mapped: reading the table is an IOTLB miss.
    expect(popError(() => device.pop()).code).toBe('DMA_UNMAPPED');
    expect(ctx.counters().faults).toBe(1);
  });

  it('paged: an indirect table across pages not contiguous in guest memory: Cannot map indirect buffer', () => {
    const { mem, ctx, driver, device, ringAddr } = build(ring, engine, (m) =>
      DmaContext.paged(m, { base: 0, bytes: 1 << 20 }),
    );
    const buf = mem.alloc(PAGE, { shared: true });
    const t = mem.alloc(2 * PAGE, { shared: true });
    const elsewhere = mem.alloc(3 * PAGE, { shared: true }) + 2 * PAGE;
    for (const p of [buf, t]) ctx.mapPages(p, p, PAGE, { read: true, write: true });
    ctx.mapPages(t + PAGE, elsewhere, PAGE, { read: true, write: true });
    driver.add(
      [
        { addr: buf, len: 8 },
        { addr: buf + 8, len: 8 },
      ],
      [],
      1,
      { indirect: true },
    );
    // The driver wrote a 32-byte table; move it across the page boundary at
    // t + PAGE (its second half lands, through the mapping, elsewhere) and
    // point descriptor 0 (the descriptor area starts both ring layouts) at it.
    const descAt = ringAddr;
    const table = Number(mem.readU64(descAt));
    const bytes = mem.read(table, 32);
    mem.write(t + PAGE - 16, bytes.subarray(0, 16));
    mem.write(elsewhere, bytes.subarray(16));
    mem.writeU64(descAt, t + PAGE - 16);
    const e = popError(() => device.pop());
    expect(e.code).toBe('INDIRECT_NOT_CONTIGUOUS');
    expect(e.message).toBe(
      `vqC: Cannot map indirect buffer (table at 0x${(t + PAGE - 16).toString(16)} is not contiguous in guest memory)`,
    );
  });

  it('paged: a device write through a read-only mapping is a permission fault', () => {
    const { mem, ctx, driver, device } = build(ring, engine, (m) => DmaContext.paged(m, { base: 0, bytes: 1 << 20 }));
    const buf = mem.alloc(PAGE, { shared: true });
    ctx.mapPages(buf, buf, PAGE, { read: true, write: false });
    driver.add([], [{ addr: buf, len: 16 }], 1);
    const e = popError(() => device.pop());
    expect(e.code).toBe('DMA_PERMISSION');
    expect(ctx.lastFault()).toEqual({ addr: buf, len: 16, code: 44, write: true });
  });
});

describe('the DMA view through a paged context', () => {
  it('reads what is mapped, faults by name on a miss or a permission, and counts', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const ctx = DmaContext.paged(mem, { base: 0, bytes: 1 << 20 });
    const buf = mem.alloc(PAGE, { shared: true });
    ctx.mapPages(buf, buf, PAGE, { read: true, write: false });
    const view = new DmaView(mem, ctx, 'paged');
    mem.writeU32(buf, 0xfeedf00d);
    expect(view.readU32(buf)).toBe(0xfeedf00d);
    expect(() => view.writeU32(buf, 1)).toThrow(/permission/);
    expect(() => view.readU32(buf + PAGE)).toThrow(/IOTLB miss/);
    expect(ctx.counters()).toMatchObject({ reads: 1, bytesRead: 4, writes: 0, faults: 2, maps: 1 });
    ctx.unmapPages(buf, PAGE);
    expect(() => view.readU32(buf)).toThrow(/IOTLB miss/);
  });
});

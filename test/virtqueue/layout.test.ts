// Split ring layout (VIRTIO 1.2 §2.7) against the spec's formulas and, where a
// C compiler exists, against vring_size() and vring_need_event() from the
// system's <linux/virtio_ring.h>; and that the queue really puts every field
// at those offsets in guest memory.
import { afterAll, describe, expect, it } from 'vitest';
import { iov } from '../helpers/ring.js';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as L from '../../assembly/layout.js';
import { ConfigError, GuestMemory, MockSplitQueue, SplitQueue, splitRingLayout } from '../../src/internal.js';
import { buildVringHelper, runHelper } from '../helpers/native.js';
import { int, needEvent, rng } from '../helpers/ring.js';

const SIZES = Array.from({ length: 16 }, (_, k) => 2 ** k); // 1 .. 32768
const ALIGNS = [4, 16, 64, 4096, 65536];
const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

describe('splitRingLayout against the spec formulas', () => {
  it.each(ALIGNS)('every power of two up to 32768, align %i', (align) => {
    for (const n of SIZES) {
      const l = splitRingLayout(n, align);
      // §2.7: desc 16·N (align 16), avail 6 + 2N (align 2), used 6 + 8N (align 4)
      expect(l.desc).toBe(0);
      expect(l.avail).toBe(16 * n);
      expect(l.usedEvent).toBe(16 * n + 4 + 2 * n);
      expect(l.used).toBe(alignUp(16 * n + 6 + 2 * n, align));
      expect(l.availEvent).toBe(l.used + 4 + 8 * n);
      expect(l.total).toBe(l.used + 6 + 8 * n);
      expect(l.desc % 16).toBe(0);
      expect(l.avail % 2).toBe(0);
      expect(l.used % 4).toBe(0);
      expect(l.used % align).toBe(0);
      expect(l.used).toBeGreaterThanOrEqual(l.usedEvent + 2);
    }
  });

  it('rejects sizes that are not a power of two from 1 to 32768, and bad alignments', () => {
    for (const bad of [0, 3, 300, 65536, -4, 1.5, NaN]) {
      expect(() => splitRingLayout(bad)).toThrow(ConfigError);
    }
    expect(() => splitRingLayout(300)).toThrow('queue size 300: must be a power of two from 1 to 32768');
    for (const bad of [0, 2, 3, 24]) expect(() => splitRingLayout(8, bad)).toThrow(ConfigError);
  });
});

describe('the queue places the rings where the layout says', () => {
  it('every power of two up to 32768: ring fields written by the Wasm core sit at the spec offsets', () => {
    const mem = new GuestMemory({ size: 8 << 20 });
    for (const n of SIZES) {
      const q = new SplitQueue(mem, { size: n, eventIdx: true });
      const l = q.layout;
      expect(q.ringAddr % 4096).toBe(0);
      expect(q.areas).toEqual({ desc: q.ringAddr, avail: q.ringAddr + l.avail, used: q.ringAddr + l.used });
      // Rings are shared with the host; the driver's bookkeeping is private.
      for (const a of [q.areas.desc, q.areas.avail, q.areas.used, q.ringAddr + l.total - 1]) {
        expect(mem.isShared(a)).toBe(true);
      }
      expect(mem.isShared(q.driver.state - L.GUEST_BASE)).toBe(false);

      const buf = mem.alloc(64);
      // (A queue of size 1 takes one-buffer chains only.)
      const out = n >= 2 ? [{ addr: buf, len: 16 }] : [];
      const outIov = n >= 2 ? [iov(mem, buf, 16)] : [];
      expect(q.driver.add(out, [{ addr: buf + 16, len: 48 }], 7)).toBe(true);
      const r = q.ringAddr;
      // One chain of two descriptors from the free list head 0.
      if (n >= 2) {
        expect(mem.readU64(r + 0)).toBe(BigInt(buf));
        expect(mem.readU32(r + 8)).toBe(16);
        expect(mem.readU16(r + 12)).toBe(L.VRING_DESC_F_NEXT);
        expect(mem.readU16(r + 14)).toBe(1);
        expect(mem.readU64(r + 16)).toBe(BigInt(buf + 16));
        expect(mem.readU32(r + 24)).toBe(48);
        expect(mem.readU16(r + 28)).toBe(L.VRING_DESC_F_WRITE);
      }
      expect(mem.readU16(r + l.avail + 2)).toBe(1); // avail->idx
      expect(mem.readU16(r + l.avail + 4)).toBe(0); // avail->ring[0] = head 0
      {
        const [chain] = q.device.pop();
        expect(chain).toEqual({
          id: 0,
          readable: outIov,
          writable: [iov(mem, buf + 16, 48)],
          readBytes: n >= 2 ? 16 : 0,
          writeBytes: 48,
        });
        // With event idx the device asks for the next kick in avail_event.
        expect(mem.readU16(r + l.availEvent)).toBe(1);
        expect(q.device.push([{ id: 0, len: 40 }])).toBe(1);
        expect(mem.readU16(r + l.used + 2)).toBe(1); // used->idx
        expect(mem.readU32(r + l.used + 4)).toBe(0); // used->ring[0].id
        expect(mem.readU32(r + l.used + 8)).toBe(40); // used->ring[0].len
        expect(q.driver.getUsed()).toEqual([{ token: 7, len: 40 }]);
        // The driver asks for the next interrupt in used_event.
        expect(mem.readU16(r + l.usedEvent)).toBe(1);
      }
      const mock = new MockSplitQueue(q);
      expect(mock.availIdx).toBe(mem.readU16(r + l.avail + 2));
      expect(mock.usedEvent).toBe(mem.readU16(r + l.usedEvent));
      expect(mock.availEvent).toBe(mem.readU16(r + l.availEvent));
      mem.free(buf);
    }
  });

  it('honours a small used-ring alignment', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new SplitQueue(mem, { size: 8, align: 4 });
    expect(q.layout.used).toBe(152); // 16·8 + 6 + 2·8 = 150, up to a multiple of 4
  });
});

const native = buildVringHelper();
afterAll(() => {
  if (native.bin) rmSync(dirname(native.bin), { recursive: true, force: true });
});
const withCc = native.bin ? describe : describe.skip;
const skipNote = native.bin ? '' : ` (skipped: ${native.reason})`;

withCc(`against <linux/virtio_ring.h>${skipNote}`, () => {
  it('vring_size(num, align) equals splitRingLayout().total for every power of two up to 32768', () => {
    const lines = runHelper(native.bin!, 'size').trim().split('\n');
    expect(lines.length).toBe(SIZES.length * ALIGNS.length);
    for (const line of lines) {
      const [num, align, size] = line.split(' ').map(Number) as [number, number, number];
      expect({ num, align, total: splitRingLayout(num, align).total }).toEqual({ num, align, total: size });
    }
  });

  it('vring_need_event(event, new, old) equals our copy on a grid including wrap-around', () => {
    const V = [0, 1, 2, 3, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xfffd, 0xfffe, 0xffff];
    const triples: [number, number, number][] = [];
    for (const e of V) for (const n of V) for (const o of V) triples.push([e, n, o]);
    const r = rng(1);
    for (let k = 0; k < 2000; k++) {
      const o = int(r, 0, 0xffff);
      const n = (o + int(r, 0, 300)) & 0xffff;
      triples.push([(o + int(r, -3, 303)) & 0xffff, n, o]);
    }
    const out = runHelper(native.bin!, 'event', triples.map((t) => t.join(' ')).join('\n') + '\n');
    const c = out.trim().split('\n').map(Number);
    expect(c.length).toBe(triples.length);
    expect(triples.map(([e, n, o]) => (needEvent(e, n, o) ? 1 : 0))).toEqual(c);
    expect(c.filter((x) => x === 1).length).toBeGreaterThan(100);
  });

  it('the Wasm kick and interrupt decisions equal vring_need_event across several laps of 65536', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new SplitQueue(mem, { size: 256, eventIdx: true });
    const mock = new MockSplitQueue(q);
    const buf = mem.alloc(4096);
    const r = rng(2);
    const kicks: { t: [number, number, number]; got: boolean }[] = [];
    const irqs: { t: [number, number, number]; got: boolean }[] = [];
    let signalled = -1;
    let token = 0;
    while (token < 2.5 * 65536) {
      const k = int(r, 1, 256);
      const old = mock.availIdx;
      for (let j = 0; j < k; j++) q.driver.add([{ addr: buf, len: 64 }], [], token++);
      const now = mock.availIdx;
      expect(now).toBe((old + k) & 0xffff);
      // The device's avail_event: near old/new most of the time, anywhere sometimes.
      mock.availEvent = (r() < 0.9 ? (r() < 0.5 ? old : now) + int(r, -2, 2) : int(r, 0, 0xffff)) & 0xffff;
      kicks.push({ t: [mock.availEvent, now, old], got: q.driver.kick() });
      expect(q.device.popBatch()).toBe(k);
      q.device.pushPopped(k);
      const used = mock.usedIdx;
      mock.usedEvent = (r() < 0.9 ? used + int(r, -k - 2, 2) : int(r, 0, 0xffff)) & 0xffff;
      const ue = mock.usedEvent;
      const got = q.device.shouldNotify();
      if (signalled >= 0) irqs.push({ t: [ue, used, signalled], got });
      signalled = used;
      expect(q.driver.reap()).toBe(k);
    }
    const all = [...kicks, ...irqs];
    const out = runHelper(native.bin!, 'event', all.map((x) => x.t.join(' ')).join('\n') + '\n');
    const c = out
      .trim()
      .split('\n')
      .map((s) => s === '1');
    expect(all.map((x) => x.got)).toEqual(c);
    // The run really crossed 65535 with events on both sides of it.
    const wrapped = all.filter(({ t: [, n, o] }) => n < o);
    expect(wrapped.length).toBeGreaterThanOrEqual(4);
    expect(c.some((x) => x) && c.some((x) => !x)).toBe(true);
  });
});

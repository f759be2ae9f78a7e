// The ring's trust modes (issue #10): hardened vs naive faces, nospec index
// masking, the ring-level used-len check, the 1024-descriptor limit, and
// "nothing lost" when a lie is found in the middle of a reap batch.
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import {
  ConfigError,
  DmaContext,
  DmaView,
  GuestMemory,
  createQueue,
  deviceQueueFromAreas,
  directDeviceView,
  queueAreas,
  type EngineName,
  type QueueOptions,
  type RingKind,
  type Virtqueue,
} from '../../src/internal.js';
import { expectVqError } from '../helpers/machine.js';
import { int, rng } from '../helpers/ring.js';

function queue(options: QueueOptions, ram = 1 << 20): { mem: GuestMemory; q: Virtqueue; buf: number } {
  const mem = new GuestMemory({ size: ram });
  const q = createQueue(mem, { size: 8, name: 'vqT', ...options });
  return { mem, q, buf: mem.alloc(0x10000, { shared: true }) };
}

/** The device's lie, written straight into the ring: a used element (split) or a used descriptor in the device's lap (packed). */
function lieUsed(mem: GuestMemory, q: Virtqueue, id: number, len: number): void {
  const a = queueAreas(q);
  const v = mem.view;
  if (q.device.constructor.name === 'SplitDevice') {
    const used = mem.linear(a.device, 4 + 8 * q.size + 2);
    const idx = v.getUint16(used + L.VRING_USED_IDX, true);
    v.setUint32(used + L.VRING_USED_RING + (idx % q.size) * 8, id, true);
    v.setUint32(used + L.VRING_USED_RING + (idx % q.size) * 8 + 4, len, true);
    v.setUint16(used + L.VRING_USED_IDX, (idx + 1) & 0xffff, true);
    return;
  }
  const st = (q.device as unknown as { state: number }).state;
  const pos = mem.hostView.getUint32(st + P.PDEV_USED_IDX, true);
  const wrap = mem.hostView.getUint32(st + P.PDEV_USED_WRAP, true);
  const d = mem.linear(a.desc + pos * 16, 16);
  v.setUint32(d + P.PDESC_LEN, len, true);
  v.setUint16(d + P.PDESC_ID, id, true);
  v.setUint16(d + P.PDESC_FLAGS, wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0, true);
  mem.hostView.setUint32(st + P.PDEV_USED_IDX, (pos + 1) % q.size, true);
  if (pos + 1 === q.size) mem.hostView.setUint32(st + P.PDEV_USED_WRAP, wrap ^ 1, true);
}

const rings: RingKind[] = ['split', 'packed'];
const engines: EngineName[] = ['wasm', 'reference'];

describe('options', () => {
  it('the reference model is the hardened oracle: hardened false on it is a ConfigError', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    for (const ring of rings) {
      expect(() => createQueue(mem, { ring, engine: 'reference', hardened: false })).toThrow(ConfigError);
    }
    expect(() => createQueue(mem, { usedLenCheck: 'both' as 'ring' })).toThrow(
      /usedLenCheck both: must be driver or ring/,
    );
  });
});

describe.each(rings)('%s ring: nothing lost when a lie is found mid-batch', (ring) => {
  for (const engine of engines) {
    for (const lie of ['out of range', 'not a head'] as const) {
      it(`${engine}: a used id ${lie} after an honest one: the honest completion is delivered, accounting exact`, () => {
        const { mem, q, buf } = queue({ ring, engine });
        expect(q.driver.add([], [{ addr: buf, len: 64 }], 11)).toBe(true);
        expect(q.driver.add([{ addr: buf + 64, len: 16 }], [{ addr: buf + 128, len: 64 }], 12)).toBe(true);
        q.driver.kick();
        const [a] = q.device.pop(1);
        q.device.push([{ id: a!.id, len: 64 }]);
        // Chain 12 (two descriptors) is popped by nobody; the device names
        // an id it cannot have, or one that is not outstanding.
        lieUsed(mem, q, lie === 'out of range' ? 100 : 5, 64);
        const e = expectVqError(() => q.driver.reap(), {
          code: lie === 'out of range' ? 'USED_ID_OUT_OF_RANGE' : 'USED_ID_NOT_A_HEAD',
          detectedBy: 'driver',
          violation: true,
          message: lie === 'out of range' ? 'vqT: id 100 out of range' : 'vqT: id 5 is not a head!',
          done: 1,
        });
        expect(e.partial).toEqual([{ token: 11, len: 64 }]);
        // The honest chain's descriptor came back; chain 12's two did not.
        expect(q.driver.numFree).toBe(6);
        expect(q.stats().chainsCompleted).toBe(1);
        expect(q.stats().driverChecksFailed).toBe(1);
        expect(q.driver.broken).toBe(true);
      });
    }
  }
});

describe('split: USED_IDX_JUMP on both engines', () => {
  for (const engine of engines) {
    it(`${engine}: used->idx far past the chains in flight, nothing honest before it`, () => {
      const { mem, q, buf } = queue({ engine });
      q.driver.add([], [{ addr: buf, len: 64 }], 1);
      const used = mem.linear(queueAreas(q).device, 4);
      mem.view.setUint16(used + L.VRING_USED_IDX, 0x8000, true);
      const e = expectVqError(() => q.driver.reap(), {
        code: 'USED_IDX_JUMP',
        detectedBy: 'driver',
        violation: true,
        message: 'vqT: used idx moved from 0 to 32768: more than the buffers in flight',
        done: 1,
      });
      // The one in-flight slot held nothing the device wrote: id 0 is chain 1's head, so it was reaped.
      expect(e.partial).toEqual([{ token: 1, len: 0 }]);
    });
  }

  it('naive: the same lie is believed; the walk stays in the driver state and ends', () => {
    const { mem, q, buf } = queue({ hardened: false });
    q.driver.add([], [{ addr: buf, len: 64 }], 1);
    const used = mem.linear(queueAreas(q).device, 4);
    mem.view.setUint16(used + L.VRING_USED_IDX, 20, true);
    // 8 entries at most per reap (the queue size); all read slot ids 0.
    expect(q.driver.reap()).toBe(8);
    expect(Array.from(q.driver.completions.slice(0, 4))).toEqual([1, 0, 1, 0]);
    // 7 free after the add, plus descriptor 0 freed 8 times: a free list
    // longer than the ring, which the next adds would hand out twice.
    expect(q.driver.numFree).toBe(15);
    expect(q.driver.broken).toBe(false);
  });
});

describe('packed: a surplus used descriptor is USED_ID_NOT_A_HEAD (the twin of USED_IDX_JUMP)', () => {
  for (const engine of engines) {
    it(engine, () => {
      const { mem, q, buf } = queue({ ring: 'packed', engine });
      q.driver.add([], [{ addr: buf, len: 64 }], 1);
      q.driver.kick();
      const [c] = q.device.pop();
      q.device.push([{ id: c!.id, len: 64 }]);
      lieUsed(mem, q, c!.id, 64);
      const e = expectVqError(() => q.driver.reap(), {
        code: 'USED_ID_NOT_A_HEAD',
        detectedBy: 'driver',
        violation: true,
        message: `vqT: id ${c!.id} is not a head!`,
        done: 1,
      });
      expect(e.partial).toEqual([{ token: 1, len: 64 }]);
      expect(q.driver.numFree).toBe(8);
    });
  }
});

describe.each(rings)('%s ring: usedLenCheck', (ring) => {
  const inOrders = ring === 'packed' ? [false, true] : [false];
  for (const inOrder of inOrders) {
    for (const engine of engines) {
      it(`${engine}${inOrder ? ', in order' : ''}: 'ring' refuses a len past the writable bytes; 'driver' passes it on`, () => {
        for (const check of ['ring', 'driver'] as const) {
          const { q, buf } = queue({ ring, engine, inOrder, usedLenCheck: check });
          // 16 readable bytes, then 64 + 32 writable: buflen 96.
          q.driver.add(
            [{ addr: buf, len: 16 }],
            [
              { addr: buf + 64, len: 64 },
              { addr: buf + 128, len: 32 },
            ],
            3,
          );
          q.driver.kick();
          const [c] = q.device.pop();
          expect(c!.writeBytes).toBe(96);
          // The exact buflen passes.
          q.device.push([{ id: c!.id, len: 96 }]);
          expect(q.driver.getUsed()).toEqual([{ token: 3, len: 96 }]);
          q.driver.add([], [{ addr: buf, len: 40 }], 4);
          q.driver.kick();
          const [d] = q.device.pop();
          q.device.push([{ id: d!.id, len: 41 }]);
          if (check === 'driver') {
            expect(q.driver.getUsed()).toEqual([{ token: 4, len: 41 }]);
            continue;
          }
          expectVqError(() => q.driver.reap(), {
            code: 'USED_LEN_EXCEEDS_BUFLEN',
            detectedBy: 'driver',
            violation: true,
            message: 'vqT: used len 41 is larger than in buflen 40',
            done: 0,
          });
        }
      });
    }
  }
});

describe.each(rings)('%s ring: nospec', (ring) => {
  it('changes no result: a seeded workload runs the same with and without it, and the checks still fire', () => {
    const seed = 20261201;
    const outcomes = [false, true].map((nospec) => {
      const r = rng(seed);
      const { q, buf } = queue({ ring, nospec, size: 16, indirect: true });
      const log: number[] = [];
      let token = 0;
      for (let round = 0; round < 200; round++) {
        const n = int(r, 1, 4);
        for (let k = 0; k < n; k++) {
          const outs = int(r, 0, 2);
          const ins = int(r, outs === 0 ? 1 : 0, 2);
          const sg = (i: number) => ({ addr: buf + ((token * 8 + i) % 512) * 64, len: 64 });
          const ok = q.driver.add(
            Array.from({ length: outs }, (_, i) => sg(i)),
            Array.from({ length: ins }, (_, i) => sg(outs + i)),
            token,
            { indirect: r() < 0.5 },
          );
          if (ok) token++;
        }
        q.driver.kick();
        const chains = q.device.pop(int(r, 1, 16));
        q.device.push(chains.map((c) => ({ id: c.id, len: c.writeBytes })));
        for (const c of q.driver.getUsed()) log.push(c.token, c.len);
      }
      return { log, stats: q.stats(), numFree: q.driver.numFree };
    });
    expect(outcomes[1], `seed ${seed}`).toEqual(outcomes[0]);
    expect(outcomes[0]!.log.length).toBeGreaterThan(400);
    // A lie is still caught with nospec on.
    const { mem, q, buf } = queue({ ring, nospec: true });
    q.driver.add([], [{ addr: buf, len: 64 }], 1);
    lieUsed(mem, q, 9, 0);
    expect(() => q.driver.reap()).toThrow(/id 9 out of range/);
  });
});

describe.each(rings)('%s ring: a naive device face', (ring) => {
  it('pops a chain that runs round the ring until the simulator budget ends it (NAIVE_WALK_BUDGET, side host)', () => {
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = createQueue(mem, { ring, size: 8, deviceFace: false });
    const device = deviceQueueFromAreas(
      directDeviceView(mem),
      { ring, size: 8, eventIdx: false, indirect: false, ...queueAreas(q) },
      { name: 'vqN', hardened: false },
    );
    const buf = mem.alloc(4096, { shared: true });
    const a = queueAreas(q);
    const v = mem.view;
    for (let i = 0; i < 8; i++) {
      const d = mem.linear(a.desc + i * 16, 16);
      v.setBigUint64(d, BigInt(buf), true);
      v.setUint32(d + 8, 64, true);
      if (ring === 'split') {
        v.setUint16(d + 12, L.VRING_DESC_F_NEXT | L.VRING_DESC_F_WRITE, true);
        v.setUint16(d + 14, (i + 1) % 8, true);
      } else {
        v.setUint16(d + 14, P.PDESC_F_NEXT | P.PDESC_F_WRITE | P.PDESC_F_AVAIL, true);
      }
    }
    if (ring === 'split') {
      const avail = mem.linear(a.driver, 4 + 16 + 2);
      v.setUint16(avail + L.VRING_AVAIL_IDX, 1, true);
    }
    let caught: unknown;
    try {
      device.popBatch();
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: 'NAIVE_WALK_BUDGET', side: 'host' });
    // Not a violation: the naive device does not break its queue.
    expect(device.broken).toBe(false);
    expect(device.inflight).toBe(0);
  });
});

describe.each(rings)('%s ring: TOO_MANY_DESCRIPTORS (QEMU VIRTQUEUE_MAX_SIZE)', (ring) => {
  for (const engine of engines) {
    it(`${engine}: a chain of 1025 descriptors in a queue of 2048 breaks the device; 1024 pop`, () => {
      for (const n of [1024, 1025]) {
        const { q, buf } = queue({ ring, engine, size: 2048, popElements: 4096 }, 4 << 20);
        const ins = Array.from({ length: n }, (_, i) => ({ addr: buf + (i % 256) * 64, len: 64 }));
        expect(q.driver.add([], ins, 1)).toBe(true);
        q.driver.kick();
        if (n === 1024) {
          expect(q.device.pop()[0]!.writable.length).toBe(1024);
          continue;
        }
        expectVqError(() => q.device.popBatch(), {
          code: 'TOO_MANY_DESCRIPTORS',
          detectedBy: 'device',
          violation: true,
          message: 'vqT: virtio: too many write descriptors in indirect table',
          done: 0,
        });
      }
    });
  }
});

describe.each(rings)('%s ring: a naive device face and a zero-length descriptor', (ring) => {
  it('pops it as an empty buffer, through a plain and a paged DMA context alike', () => {
    for (const paged of [false, true]) {
      const mem = new GuestMemory({ size: 1 << 20 });
      const ctx = paged ? DmaContext.paged(mem, { base: 0, bytes: 1 << 20 }) : DmaContext.direct(mem);
      const q = createQueue(mem, { ring, size: 8, deviceFace: false });
      const ringAddr = (q as unknown as { ringAddr: number }).ringAddr;
      const buf = mem.alloc(4096, { shared: true });
      if (paged) {
        ctx.mapPages(ringAddr, ringAddr, 2 * 4096, { read: true, write: true });
        ctx.mapPages(buf, buf, 4096, { read: true, write: true });
      }
      const device = deviceQueueFromAreas(
        new DmaView(mem, ctx, 'naive'),
        { ring, size: 8, eventIdx: false, indirect: false, ...queueAreas(q) },
        { name: 'vqN', hardened: false },
      );
      q.driver.add([{ addr: buf, len: 16 }], [{ addr: buf + 64, len: 64 }], 1);
      // The lie: the readable buffer's length is 0 (descriptor 0 in both layouts).
      mem.view.setUint32(mem.linear(queueAreas(q).desc + 8, 4), 0, true);
      const [c] = device.pop();
      expect(c!.readable.map((b) => b.len)).toEqual([0]);
      expect(c!.readBytes).toBe(0);
      expect(c!.writeBytes).toBe(64);
      expect(device.broken).toBe(false);
    }
  });
});

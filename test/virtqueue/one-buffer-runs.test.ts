// The one-buffer runs of both rings (addOneBuffers, popOneBuffers): a run
// takes the leading one-buffer requests or one-descriptor chains and hands
// over to the general code at the first other shape, or at the first one that
// fails a check, which the general code then reports. These tests put that
// hand-over in the middle of a batch, on both sides of both rings, and check
// that what came before it stays done and the error is the general code's.
import { describe, expect, it } from 'vitest';
import { GuestMemory, PackedQueue, RequestBatch, SplitQueue, type RingKind } from '../../src/internal.js';
import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import { expectVqError } from '../helpers/machine.js';

const RAM = 1 << 20;

function machine(ring: RingKind): { mem: GuestMemory; q: SplitQueue | PackedQueue; buf: number } {
  const mem = new GuestMemory({ size: RAM });
  const options = { size: 8, name: 'vqR', popElements: 32 };
  const q = ring === 'split' ? new SplitQueue(mem, options) : new PackedQueue(mem, options);
  return { mem, q, buf: mem.alloc(0x10000, { shared: true }) };
}

/** Guest physical address of ring descriptor `i` (split: the descriptor table; packed: the ring). */
function descAddr(q: SplitQueue | PackedQueue, i: number): number {
  return q.ringAddr + i * (q instanceof SplitQueue ? L.VRING_DESC_SIZE : P.PDESC_SIZE);
}

describe.each(['split', 'packed'] as const)('one-buffer runs (%s ring)', (ring) => {
  it('a bad request inside a run of one-buffer requests: those before it stay added, the queue works on', () => {
    const { q, mem, buf } = machine(ring);
    const batch = new RequestBatch(mem, 5, 5);
    for (let k = 0; k < 5; k++) batch.add([{ addr: buf + 64 * k, len: k === 3 ? 0 : 64 }], [], k);
    expectVqError(() => q.driver.addBatch(batch), {
      code: 'ZERO_LENGTH_BUFFER',
      detectedBy: 'driver',
      violation: false,
      message: 'vqR: request 3, buffer 0: zero-length buffers are not allowed',
      done: 3,
    });
    expect(q.stats().chainsAdded).toBe(3);
    expect(q.stats().descsAdded).toBe(3);
    expect(q.stats().bytesAdded).toBe(3 * 64);
    q.driver.kick();
    const chains = q.device.pop();
    expect(chains.map((c) => c.readable.map((b) => [b.addr, b.len]))).toEqual([
      [[buf, 64]],
      [[buf + 64, 64]],
      [[buf + 128, 64]],
    ]);
    q.device.push(chains.map((c) => ({ id: c.id, len: 0 })));
    expect(q.driver.getUsed().map((c) => c.token)).toEqual([0, 1, 2]);
    expect(q.driver.broken).toBe(false);
  });

  it('a request outside the DMA window inside a run: those before it stay added', () => {
    // Past the window's end, far past it, and where addr + len wraps 64 bits.
    for (const bad of [RAM - 8, RAM, 2 ** 40, 0xfffffffffffffff8n]) {
      const { q, mem, buf } = machine(ring);
      const batch = new RequestBatch(mem, 4, 4);
      for (let k = 0; k < 4; k++) batch.add([{ addr: k === 2 ? bad : buf + 64 * k, len: 16 }], [], k);
      expectVqError(() => q.driver.addBatch(batch), {
        code: 'ADDRESS_OUTSIDE_GUEST_RAM',
        detectedBy: 'driver',
        violation: false,
        message: 'vqR: request 2, buffer 0: address outside guest RAM',
        done: 2,
      });
      expect(q.stats().chainsAdded).toBe(2);
      q.driver.kick();
      expect(q.device.pop().map((c) => c.readable.map((b) => b.addr))).toEqual([[buf], [buf + 64]]);
    }
  });

  it('a batch that mixes one-buffer and longer requests: the run hands over and every chain arrives whole', () => {
    const { q, mem, buf } = machine(ring);
    const batch = new RequestBatch(mem, 4, 8);
    batch.add([{ addr: buf, len: 10 }], [], 10);
    batch.add([], [{ addr: buf + 64, len: 20 }], 11);
    batch.add([{ addr: buf + 128, len: 30 }], [{ addr: buf + 192, len: 40 }], 12);
    batch.add([{ addr: buf + 256, len: 50 }], [], 13);
    expect(q.driver.addBatch(batch)).toBe(4);
    expect(q.stats().descsAdded).toBe(5);
    expect(q.stats().bytesAdded).toBe(150);
    q.driver.kick();
    const chains = q.device.pop();
    expect(chains.map((c) => [c.readable.map((b) => b.len), c.writable.map((b) => b.len)])).toEqual([
      [[10], []],
      [[], [20]],
      [[30], [40]],
      [[50], []],
    ]);
    q.device.push(chains.map((c) => ({ id: c.id, len: c.writable.reduce((s, b) => s + b.len, 0) })));
    expect(q.driver.getUsed().map((c) => [c.token, c.len])).toEqual([
      [10, 0],
      [11, 20],
      [12, 40],
      [13, 0],
    ]);
  });

  it('a bad descriptor inside a run of one-descriptor chains: those before it stay popped, the queue breaks', () => {
    const { q, mem, buf } = machine(ring);
    for (let k = 0; k < 4; k++) expect(q.driver.add([{ addr: buf + 64 * k, len: 64 }], [], k)).toBe(true);
    q.driver.kick();
    // The device sees the fourth chain's buffer outside guest RAM (a fresh
    // queue gives chain k ring descriptor k on both rings).
    mem.writeU64(descAddr(q, 3), BigInt(RAM + 4096));
    expectVqError(() => q.device.popBatch(), {
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      detectedBy: 'device',
      violation: true,
      message: `vqR: virtio: bogus descriptor or out of resources (address 0x${(RAM + 4096).toString(16)})`,
      done: 3,
    });
    expect(q.device.inflight).toBe(3);
    expect(q.stats().chainsPopped).toBe(3);
    expect(q.device.broken).toBe(true);
  });

  // useBatch (useOneBuffers on the packed ring): each buffer popped and
  // published used before the next is read, as ringtest's use_buf().
  it('useBatch: each buffer used and published in turn, the last one in the pop output', () => {
    const { q, buf } = machine(ring);
    for (let k = 0; k < 6; k++) {
      const writable = k % 2 === 1;
      const b = [{ addr: buf + 64 * k, len: 16 + k }];
      expect(writable ? q.driver.add([], b, k) : q.driver.add(b, [], k)).toBe(true);
    }
    q.driver.kick();
    expect(q.device.useBatch(4)).toBe(4);
    // The fourth buffer (k = 3, device-writable, 19 bytes) is the one left in the pop output.
    expect(q.device.chain(0)).toMatchObject({ readBytes: 0, writeBytes: 19 });
    expect(q.device.inflight).toBe(0);
    expect(q.driver.getUsed().map((c) => [c.token, c.len])).toEqual([
      [0, 0],
      [1, 17],
      [2, 0],
      [3, 19],
    ]);
    expect(q.device.useBatch(64)).toBe(2);
    expect(q.device.useBatch(64)).toBe(0);
    expect(q.driver.getUsed().map((c) => c.token)).toEqual([4, 5]);
    const st = q.stats();
    expect([st.chainsPopped, st.descsPopped, st.chainsUsed, st.bytesUsed]).toEqual([6, 6, 6, 17 + 19 + 21]);
  });

  it('useBatch: a bad descriptor after three good ones: those are used and seen by the driver, the queue breaks', () => {
    const { q, mem, buf } = machine(ring);
    for (let k = 0; k < 5; k++) expect(q.driver.add([], [{ addr: buf + 64 * k, len: 64 }], k)).toBe(true);
    q.driver.kick();
    mem.writeU64(descAddr(q, 3), BigInt(RAM + 4096));
    expectVqError(() => q.device.useBatch(5), {
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      detectedBy: 'device',
      violation: true,
      message: `vqR: virtio: bogus descriptor or out of resources (address 0x${(RAM + 4096).toString(16)})`,
      done: 3,
    });
    expect(q.device.broken).toBe(true);
    expect(q.device.inflight).toBe(0);
    expect(q.driver.getUsed().map((c) => [c.token, c.len])).toEqual([
      [0, 64],
      [1, 64],
      [2, 64],
    ]);
    expect(q.device.useBatch(5)).toBe(0);
  });

  // popPlainChains: the run of longer direct chains in a plain context.
  it('a bad descriptor inside a run of longer chains: those before it stay popped, the queue breaks', () => {
    const { q, mem, buf } = machine(ring);
    for (let k = 0; k < 3; k++) {
      expect(q.driver.add([{ addr: buf + 128 * k, len: 64 }], [{ addr: buf + 128 * k + 64, len: 64 }], k)).toBe(true);
    }
    q.driver.kick();
    // Chain k has ring descriptors 2k and 2k + 1 on a fresh queue: the second
    // chain's writable buffer is outside guest RAM.
    mem.writeU64(descAddr(q, 3), BigInt(RAM + 4096));
    expectVqError(() => q.device.popBatch(), {
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      detectedBy: 'device',
      violation: true,
      message: `vqR: virtio: bogus descriptor or out of resources (address 0x${(RAM + 4096).toString(16)})`,
      done: 1,
    });
    expect(q.device.inflight).toBe(1);
    expect(q.stats().chainsPopped).toBe(1);
    expect(q.stats().descsPopped).toBe(2);
    expect(q.device.broken).toBe(true);
  });
});

// The virtio-blk driver against a device that lies or breaks: capacity past
// what a JavaScript number addresses, size_max and seg_max honoured, a
// request the device never completes (a named timeout on logical time), a
// bad completion in the middle of a reap (the others delivered, no tag
// lost), and NEEDS_RESET after DRIVER_OK with writes in flight (reset,
// re-probe, resubmit; no acknowledged write lost).
import { describe, expect, it } from 'vitest';
import {
  BLK_MAX_CAPACITY_SECTORS,
  BlkConfig,
  BlkDevice,
  BlkDriver,
  BlkStatus,
  BlkType,
  DmaApi,
  GuestMemory,
  MemoryBackend,
  PciDriverAccess,
  VirtioPciTransport,
  VirtioStatus,
  type BlkCompletion,
  type BlkDeviceOptions,
} from '../../src/internal.js';

function machine(dev: BlkDeviceOptions = {}, Make: typeof BlkDevice = BlkDevice) {
  const mem = new GuestMemory({ size: 8 << 20 });
  const dma = new DmaApi(mem);
  const view = dma.deviceView();
  const backend = MemoryBackend.create(view, 1 << 20);
  const d = new Make(view, backend, dev);
  const access = new PciDriverAccess(new VirtioPciTransport(d));
  return { mem, dma, view, backend, dev: d, access };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i * 31 + seed * 7) & 0xff;
  return a;
}

describe('virtio-blk config: capacity, size_max, seg_max', () => {
  it('a capacity above 2^44 − 1 sectors is clamped and counted; naive rounds it', () => {
    const m = machine();
    // 2^60 + 1 sectors: no double holds it exactly.
    m.dev.config.setUint32(BlkConfig.CAPACITY, 1, true);
    m.dev.config.setUint32(BlkConfig.CAPACITY + 4, 2 ** 28, true);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma);
    expect(blk.info.capacity).toBe(BLK_MAX_CAPACITY_SECTORS);
    expect(BLK_MAX_CAPACITY_SECTORS).toBe(2 ** 44 - 1);
    expect(Number.isSafeInteger(blk.info.capacity * 512)).toBe(true);
    expect(blk.counters.capacityClamped).toBe(1);
    const naive = BlkDriver.probe(m.access, m.mem, m.dma, { hardened: false });
    expect(naive.info.capacity).toBe(2 ** 60); // the + 1 is gone
    expect(naive.counters.capacityClamped).toBe(0);
  });

  it('a capacity of exactly 2^44 − 1 sectors is taken as it is', () => {
    const m = machine();
    m.dev.config.setUint32(BlkConfig.CAPACITY, 0xffffffff, true);
    m.dev.config.setUint32(BlkConfig.CAPACITY + 4, 0xfff, true);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma);
    expect(blk.info.capacity).toBe(2 ** 44 - 1);
    expect(blk.counters.capacityClamped).toBe(0);
  });

  it('size_max cuts every data segment; the device sees segments of at most size_max bytes', () => {
    const m = machine({ sizeMax: 4096 });
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 64 });
    expect(blk.info.sizeMax).toBe(4096);
    expect(blk.maxSegmentBytes).toBe(4096);
    const data = pattern(16384, 3);
    expect(blk.write(8, data)).toBe(BlkStatus.OK);
    // 1 header + 4 segments of 4096 + 1 status = 6 descriptors (indirect: one table of 6).
    expect(blk.read(8, 16384)).toEqual({ status: BlkStatus.OK, data });
    const q = blk.queues[0]!;
    expect(q.freeTags).toBe(q.vq.size);
  });

  it.each([1, 511, 4095])('size_max %i below PAGE_SIZE: hardened refuses (-EINVAL), naive ignores it', (v) => {
    const m = machine({ sizeMax: v });
    expect(caught(() => BlkDriver.probe(m.access, m.mem, m.dma))).toMatchObject({
      code: 'BLK_INVALID_SIZE_MAX',
      side: 'device',
      message: `virtio_blk: size_max ${v} is below PAGE_SIZE 4096`,
      errno: -22,
    });
    const naive = BlkDriver.probe(m.access, m.mem, m.dma, { hardened: false });
    expect(naive.maxSegmentBytes).toBe(m.dma.maxMappingSize);
  });

  it('size_max 0 means no limit beyond the DMA API', () => {
    const m = machine({ sizeMax: 0 });
    const blk = BlkDriver.probe(m.access, m.mem, m.dma);
    expect(blk.maxSegmentBytes).toBe(Math.min(m.dma.maxMappingSize, 2 ** 31));
  });

  it('seg_max 0 gives one segment, a huge seg_max the queue size − 2', () => {
    const zero = machine({ segMax: 0, sizeMax: 4096 });
    const blk0 = BlkDriver.probe(zero.access, zero.mem, zero.dma, { queueSize: 16 });
    expect(blk0.maxSegments).toBe(1);
    expect(caught(() => blk0.write(0, new Uint8Array(8192)))).toMatchObject({
      code: 'BLK_TOO_MANY_SEGMENTS',
      side: 'user',
    });
    expect(blk0.write(0, new Uint8Array(4096))).toBe(BlkStatus.OK);
    const huge = machine({ segMax: 0xffffffff });
    const blk1 = BlkDriver.probe(huge.access, huge.mem, huge.dma, { queueSize: 16 });
    expect(blk1.maxSegments).toBe(14);
  });
});

/** A device that completes nothing while `silent` is set. */
class Silent extends BlkDevice {
  silent = true;
  override onNotify(index: number): void {
    if (!this.silent) super.onNotify(index);
  }
}

describe('virtio-blk: a device that never completes', () => {
  it('ends the request with BLK_NOT_COMPLETED after timeoutPolls, resets, frees every tag; recover() brings it back', () => {
    const m = machine({}, Silent);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16, timeoutPolls: 100 });
    expect(caught(() => blk.read(0, 512))).toMatchObject({
      code: 'BLK_NOT_COMPLETED',
      side: 'device',
      message: 'blk queue 0: the device did not complete the request within 100 polls',
      errno: -110,
    });
    expect(blk.counters).toMatchObject({ timeouts: 1, resets: 1 });
    expect(blk.queues[0]!.freeTags).toBe(16);
    expect(m.dma.counters().liveMappings).toBe(0);
    expect(m.access.getStatus()).toBe(0); // reset: the device owns no buffer
    expect(caught(() => blk.read(0, 512))).toMatchObject({ code: 'BLK_DRIVER_BROKEN', side: 'user' });
    (m.dev as Silent).silent = false;
    blk.recover();
    expect(blk.write(0, pattern(512, 1))).toBe(BlkStatus.OK);
    expect(blk.read(0, 512)).toEqual({ status: BlkStatus.OK, data: pattern(512, 1) });
    expect(blk.counters).toMatchObject({ timeouts: 1, resets: 2, resubmitted: 0 });
  });

  it('the other requests in flight at a timeout are kept and resubmitted by recover(): nothing lost', () => {
    const m = machine({}, Silent);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16, timeoutPolls: 50 });
    const q = blk.queues[0]!;
    const gpa = m.mem.alloc(4096, { shared: true });
    m.mem.write(gpa, pattern(4096, 77));
    const tag = q.submit(BlkType.OUT, 16, gpa, 4096);
    q.kick();
    expect(caught(() => blk.flush())).toMatchObject({ code: 'BLK_NOT_COMPLETED' });
    expect(q.freeTags).toBe(16); // unmapped and free while the device is reset
    expect(m.dma.counters().liveMappings).toBe(0);
    (m.dev as Silent).silent = false;
    const moved = blk.recover()[0]!;
    expect([...moved]).toEqual([[tag, tag]]); // the write, not the flush that timed out
    const done: number[] = [];
    blk.queues[0]!.reap((c) => done.push(c.tag));
    expect(done).toEqual([tag]);
    expect(blk.read(16, 4096).data).toEqual(pattern(4096, 77));
    expect(blk.counters).toMatchObject({ timeouts: 1, resets: 2, resubmitted: 1 });
  });

  it('the default timeout is VDUSE 30 s at one poll per simulated ms', () => {
    const m = machine({}, Silent);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    expect(blk.timeoutPolls).toBe(30_000);
    expect(caught(() => blk.flush())).toMatchObject({ code: 'BLK_NOT_COMPLETED' });
  });
});

/** Completes every chain with `lens[i]` for the i-th chain of a notify, then behaves. */
class Liar extends BlkDevice {
  lens: number[] = [];
  override onNotify(index: number): void {
    const q = this.server(index)!.queue;
    const chains = q.pop();
    q.push(chains.map((c, i) => ({ id: c.id, len: this.lens[i] ?? 1 })));
  }
}

describe('virtio-blk: nothing lost in a batch', () => {
  it('a completion a one-request helper reaps for another request is held for the next reap(), its tag taken until then', () => {
    const m = machine();
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    const q = blk.queues[0]!;
    const gpa = m.mem.alloc(4096, { shared: true });
    m.mem.write(gpa, pattern(512, 5));
    // Queued, not kicked: the read's kick adds both, the device completes both.
    const tag = q.submit(BlkType.OUT, 3, gpa, 512);
    expect(blk.read(3, 512).status).toBe(BlkStatus.OK);
    expect(q.freeTags).toBe(15); // the write's completion waits, its tag with it
    const done: BlkCompletion[] = [];
    expect(q.reap((c) => done.push(c))).toBe(1);
    expect(done).toEqual([{ tag, status: BlkStatus.OK, len: 1 }]);
    expect(q.freeTags).toBe(16);
    expect(blk.read(3, 512).data).toEqual(pattern(512, 5));
  });

  it('a bad used len in the middle of a reap: the completions around it are delivered, then the error; no tag leaks', () => {
    const m = machine({}, Liar);
    (m.dev as Liar).lens = [1, 1, 9999, 1];
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    const q = blk.queues[0]!;
    const tags = [0, 1, 2, 3].map(() => q.submit(BlkType.FLUSH, 0));
    q.kick();
    const done: number[] = [];
    expect(caught(() => q.reap((c) => done.push(c.tag)))).toMatchObject({ code: 'BLK_USED_LEN' });
    expect(done).toEqual([tags[0], tags[1], tags[3]]);
    expect(q.freeTags).toBe(16);
    expect(q.inflight).toBe(0);
    expect(m.dma.counters().liveMappings).toBe(0);
  });
});

/** Serves `serveFirst` requests of the first notify, then asks for a reset (a backend failure); then behaves. */
class Breaks extends BlkDevice {
  serveFirst = 2;
  broke = false;
  override onNotify(index: number): void {
    if (this.broke || this.fault !== undefined) {
      super.onNotify(index);
      return;
    }
    const s = this.server(index)!;
    s.serve(1, this.serveFirst);
    this.broke = true;
    this.ctx.needsReset('virtio-blk: backend I/O error');
  }
}

describe('virtio-blk: NEEDS_RESET after DRIVER_OK', () => {
  it('with writes in flight: reset, re-probe, resubmit the unacknowledged; every write is on the disk', () => {
    const m = machine({}, Breaks);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    const q = blk.queues[0]!;
    const bufs = [0, 1, 2, 3].map((i) => {
      const gpa = m.mem.alloc(4096, { shared: true });
      m.mem.write(gpa, pattern(4096, 10 + i));
      return gpa;
    });
    const tags = bufs.map((gpa, i) => q.submit(BlkType.OUT, i * 8, gpa, 4096));
    q.kick();
    expect(m.access.getStatus() & VirtioStatus.NEEDS_RESET).toBe(VirtioStatus.NEEDS_RESET);
    const acked: number[] = [];
    q.reap((c) => {
      expect(c.status).toBe(BlkStatus.OK);
      acked.push(c.tag);
    });
    expect(acked).toEqual([tags[0], tags[1]]);
    expect(blk.needsReset()).toBe(true);
    const vqBefore = q.vq;
    const moved = blk.recover()[0]!;
    expect([...moved.keys()]).toEqual([tags[2], tags[3]]);
    expect([...moved.values()]).toEqual([tags[2], tags[3]]); // tags kept
    const q2 = blk.queues[0]!;
    expect(q2).toBe(q); // same size: the queue's slab and slots are reused, on the new ring
    expect(q2.vq).not.toBe(vqBefore);
    const later: number[] = [];
    q2.reap((c) => {
      expect(c.status).toBe(BlkStatus.OK);
      later.push(c.tag);
    });
    expect(later.sort()).toEqual([tags[2]!, tags[3]!].sort());
    expect(q2.freeTags).toBe(16);
    expect(blk.counters).toMatchObject({ resets: 1, resubmitted: 2 });
    for (let i = 0; i < 4; i++)
      expect(blk.read(i * 8, 4096)).toEqual({ status: BlkStatus.OK, data: pattern(4096, 10 + i) });
    expect(m.dma.counters().liveMappings).toBe(0);
  });

  it('the one-request helpers notice NEEDS_RESET themselves and recover', () => {
    const m = machine({}, Breaks);
    (m.dev as Breaks).serveFirst = 0;
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    expect(blk.write(5, pattern(1024, 4))).toBe(BlkStatus.OK);
    expect(blk.counters).toMatchObject({ resets: 1, resubmitted: 1 });
    expect(blk.read(5, 1024).data).toEqual(pattern(1024, 4));
  });
});

/** Asks for a reset at every doorbell, serving nothing. */
class AlwaysBreaks extends BlkDevice {
  override onNotify(_index: number): void {
    this.ctx.needsReset('virtio-blk: backend I/O error');
  }
}

describe('virtio-blk: a device that needs a reset again after every recovery', () => {
  it('is recovered once per request, then the request ends with BLK_NOT_COMPLETED: no reset loop', () => {
    const m = machine({}, AlwaysBreaks);
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 16 });
    expect(caught(() => blk.write(0, new Uint8Array(512)))).toMatchObject({
      code: 'BLK_NOT_COMPLETED',
      message: 'blk queue 0: the device did not complete the request after a reset: it needs a reset again',
    });
    expect(blk.counters).toMatchObject({ resets: 2, resubmitted: 1, timeouts: 1 });
    expect(blk.queues[0]!.freeTags).toBe(16);
    expect(blk.broken).toBe(true);
  });
});

describe('virtio-blk: an honest device trips nothing', () => {
  it('2000 seeded requests over two queues: no timeout, reset, clamp or lost tag', () => {
    const m = machine({ queues: 2, sizeMax: 8192 });
    const blk = BlkDriver.probe(m.access, m.mem, m.dma, { queueSize: 32, timeoutPolls: 1 });
    let x = 0x1234567;
    const next = () => (x = (x * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 2000; i++) {
      const q = next() % 2;
      const sector = next() % 1000;
      const bytes = 512 * (1 + (next() % 32));
      if (next() % 2) expect(blk.write(sector, pattern(bytes, i), q), `request ${i}`).toBe(BlkStatus.OK);
      else expect(blk.read(sector, bytes, q).status, `request ${i}`).toBe(BlkStatus.OK);
    }
    expect(blk.counters).toEqual({ capacityClamped: 0, timeouts: 0, resets: 0, resubmitted: 0 });
    expect(blk.queues.map((q) => q.freeTags)).toEqual([32, 32]);
    expect(m.dma.counters().liveMappings).toBe(0);
  });
});

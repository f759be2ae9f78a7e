// Differential property tests of the packed ring: the Wasm core and the
// TypeScript reference model (src/virtqueue/reference/packed.ts) run the same
// random operation sequences, including a misbehaving side that scribbles on
// the ring, and must return identical results and leave byte-identical guest
// RAM and host state after every operation.
//
// The misbehaving side lies as the split ring's differential test does: it
// corrupts descriptor fields, writes chains that loop and indirect tables of
// bad length, makes ids available twice or out of range, writes used
// descriptors with ids out of range or not outstanding, and scribbles on both
// event suppression areas; the runs must find each of those classes of fault.
//
// A failing case prints its seed and path; replay it with
//   VQSIM_SEED=<seed> VQSIM_PATH=<path> npx vitest run test/packed-diff.test.ts
// (VQSIM_RUNS=<n> changes the number of runs). The seed is fixed by default,
// so the suite is deterministic; VQSIM_SEED=random draws a fresh one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import { GuestMemory, PackedQueue, RequestBatch, VirtqueueError, type EngineName } from '../../src/internal.js';

const RAM = 256 * 1024;
const HOST_SPAN = 128 * 1024;
const MAX_CHAINS = 8;
const MAX_BUFS = 6;

interface Config {
  size: number;
  eventIdx: boolean;
  indirect: boolean;
  indirectMax: number;
  /** VIRTIO_F_IN_ORDER: pushes go in popped order (with a few deliberate misorders). */
  inOrder?: boolean;
}

interface ChainReq {
  out: number;
  in: number;
  len: number;
  off: number;
  indirect: boolean;
  bad: 'none' | 'zero' | 'addr';
}

type Op =
  | { t: 'add'; chains: ChainReq[] }
  | { t: 'kick' }
  | { t: 'pop'; max: number }
  | { t: 'pushPopped'; n: number }
  | { t: 'use'; max: number }
  | { t: 'push'; picks: number[]; len: number; raw: number | null }
  | { t: 'reap'; max: number }
  | { t: 'notify' }
  | { t: 'setNotify'; on: boolean }
  | { t: 'disable' }
  | { t: 'enable' }
  | { t: 'corrupt'; desc: number; field: 'flags' | 'id' | 'len' | 'addr'; value: number }
  // A benchmark round trip: add, kick, pop up to max, push those back, notify, reap.
  | { t: 'round'; chains: ChainReq[]; max: number }
  // A lying driver at the device's next descriptor, a lying device at the driver's next used one.
  | { t: 'lie'; kind: 'loop' | 'indirectLen' | 'availId' | 'usedId'; value: number }
  | { t: 'event'; area: 'driver' | 'device'; offWrap: number; flags: number };

const chainArb: fc.Arbitrary<ChainReq> = fc.record({
  out: fc.nat(3),
  in: fc.nat(3),
  len: fc.integer({ min: 1, max: 4096 }),
  off: fc.nat(60 * 1024),
  indirect: fc.boolean(),
  bad: fc.constantFrom<ChainReq['bad']>('none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'zero', 'addr'),
});

function opArb(corrupt: boolean): fc.Arbitrary<Op> {
  const ops: fc.Arbitrary<Op>[] = [
    fc.record({ t: fc.constant('add' as const), chains: fc.array(chainArb, { minLength: 1, maxLength: MAX_CHAINS }) }),
    fc.record({ t: fc.constant('add' as const), chains: fc.array(chainArb, { minLength: 1, maxLength: 2 }) }),
    fc.constant({ t: 'kick' as const }),
    fc.record({ t: fc.constant('pop' as const), max: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ t: fc.constant('pushPopped' as const), n: fc.nat(4) }),
    fc.record({ t: fc.constant('use' as const), max: fc.integer({ min: 1, max: 40 }) }),
    fc.record({
      t: fc.constant('push' as const),
      picks: fc.array(fc.nat(50), { maxLength: 6 }),
      len: fc.nat(5000),
      raw: fc.option(fc.nat(45), { freq: 8, nil: null }),
    }),
    fc.record({ t: fc.constant('reap' as const), max: fc.integer({ min: 1, max: 40 }) }),
    fc.constant({ t: 'notify' as const }),
    fc.record({ t: fc.constant('setNotify' as const), on: fc.boolean() }),
    fc.constant({ t: 'disable' as const }),
    fc.constant({ t: 'enable' as const }),
  ];
  if (corrupt) {
    // One hostile step in twelve (as before the lies and events were added): a
    // broken queue ends what a run can still exercise.
    ops.push(
      fc.oneof(
        fc.record({
          t: fc.constant('corrupt' as const),
          desc: fc.nat(40),
          field: fc.constantFrom<'flags' | 'id' | 'len' | 'addr'>('flags', 'id', 'len', 'addr'),
          value: fc.oneof(fc.nat(0xffff), fc.constantFrom(0, 0x80, 0x8000, 0x8080, 0x81, 0x8001, 0x84, 0x82)),
        }),
        fc.record({
          t: fc.constant('lie' as const),
          kind: fc.constantFrom<'loop' | 'indirectLen' | 'availId' | 'usedId'>(
            'loop',
            'indirectLen',
            'availId',
            'usedId',
          ),
          value: fc.oneof(fc.nat(45), fc.constant(0xffff)),
        }),
        fc.record({
          t: fc.constant('event' as const),
          area: fc.constantFrom<'driver' | 'device'>('driver', 'device'),
          offWrap: fc.oneof(
            fc.nat(0xffff),
            fc.nat(45),
            fc.nat(45).map((x) => x | 0x8000),
          ),
          flags: fc.nat(3),
        }),
      ),
    );
  }
  return fc.oneof(...ops);
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    size: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 2, 3, 5, 6, 7, 12, 31, 32)),
    eventIdx: fc.boolean(),
    indirect: fc.boolean(),
    indirectMax: fc.integer({ min: 1, max: 4 }),
  })
  .map((c) => ({ ...c, indirectMax: Math.min(c.indirectMax, c.size) }));

/** One side of the comparison: a machine with a packed queue driven by one engine. */
class Side {
  readonly mem = new GuestMemory({ size: RAM });
  readonly q: PackedQueue;
  readonly buf: number;
  readonly batch: RequestBatch;
  constructor(cfg: Config, engine: EngineName) {
    this.q = new PackedQueue(this.mem, { ...cfg, engine, name: 'vqD', popElements: 1024 });
    this.buf = this.mem.alloc(64 * 1024, { shared: true });
    this.batch = new RequestBatch(this.mem, MAX_CHAINS, MAX_CHAINS * MAX_BUFS);
  }
}

type Outcome = { ok: unknown } | { err: string; done: number; message: string; partial: readonly unknown[] };

function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: fn() };
  } catch (e) {
    if (!(e instanceof VirtqueueError)) throw e;
    return { err: e.code, done: e.done, message: e.message, partial: e.partial };
  }
}

function apply(s: Side, op: Op, pushList: { id: number; len: number }[]): Outcome {
  const { q } = s;
  switch (op.t) {
    case 'round':
      return {
        ok: [
          apply(s, { t: 'add', chains: op.chains }, pushList),
          apply(s, { t: 'kick' }, pushList),
          attempt(() => q.device.pushPopped(q.device.popBatch(op.max))),
          apply(s, { t: 'notify' }, pushList),
          apply(s, { t: 'reap', max: 40 }, pushList),
        ],
      };
    case 'add': {
      s.batch.clear();
      op.chains.forEach((c, k) => {
        const n = Math.min(c.out + c.in, MAX_BUFS) || 1;
        const bufs = Array.from({ length: n }, (_, j) => ({ addr: s.buf + ((c.off + 64 * j) % 60000), len: c.len }));
        if (c.bad === 'zero') bufs[n - 1]!.len = 0;
        if (c.bad === 'addr') bufs[0]!.addr = RAM - 8;
        const out = Math.min(c.out, n);
        s.batch.add(bufs.slice(0, out), bufs.slice(out), 1000 + k, c.indirect);
      });
      return attempt(() => q.driver.addBatch(s.batch));
    }
    case 'kick':
      return { ok: q.driver.kick() };
    case 'pop':
      return attempt(() => {
        const n = q.device.popBatch(op.max);
        return Array.from({ length: n }, (_, k) => q.device.chain(k));
      });
    case 'pushPopped':
      return attempt(() => q.device.pushPopped(op.n));
    case 'use':
      return attempt(() => {
        const n = q.device.useBatch(op.max);
        return { n, last: n > 0 ? q.device.chain(0) : null };
      });
    case 'push':
      return attempt(() => q.device.push(pushList));
    case 'reap':
      return attempt(() => q.driver.getUsed(op.max));
    case 'notify':
      return { ok: q.device.shouldNotify() };
    case 'setNotify':
      return { ok: q.device.setNotify(op.on) };
    case 'disable':
      q.driver.disableCallbacks();
      return { ok: undefined };
    case 'enable':
      return { ok: q.driver.enableCallbacks() };
    case 'lie':
      lie(s, op.kind, op.value);
      return { ok: undefined };
    case 'event': {
      const area = s.q.ringAddr + (op.area === 'driver' ? s.q.layout.driver : s.q.layout.device);
      s.mem.writeU16(area + P.PEVENT_OFF_WRAP, op.offWrap);
      s.mem.writeU16(area + P.PEVENT_FLAGS, op.flags);
      return { ok: undefined };
    }
    case 'corrupt': {
      const at = s.q.ringAddr + (op.desc % s.q.size) * P.PDESC_SIZE;
      if (op.field === 'flags') s.mem.writeU16(at + P.PDESC_FLAGS, op.value);
      else if (op.field === 'id') s.mem.writeU16(at + P.PDESC_ID, op.value % (s.q.size + 2));
      else if (op.field === 'len') s.mem.writeU32(at + P.PDESC_LEN, op.value & 1 ? op.value : op.value & 0x30);
      else s.mem.writeU64(at + P.PDESC_ADDR, op.value & 1 ? BigInt(op.value) << 40n : BigInt(RAM - (op.value % 128)));
      return { ok: undefined };
    }
  }
}

/** Flags that make a descriptor available (AVAIL = wrap, USED = !wrap) or used (both = wrap) in a lap. */
const availFlags = (wrap: number) => (wrap ? P.PDESC_F_AVAIL : P.PDESC_F_USED);
const usedFlags = (wrap: number) => (wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0);

/** Writes ring descriptor `pos` (guest memory, as the lying side would). */
function writeDesc(s: Side, pos: number, d: { addr?: number; len?: number; id: number; flags: number }): void {
  const at = s.q.ringAddr + pos * P.PDESC_SIZE;
  s.mem.writeU64(at + P.PDESC_ADDR, d.addr ?? s.buf);
  s.mem.writeU32(at + P.PDESC_LEN, d.len ?? 64);
  s.mem.writeU16(at + P.PDESC_ID, d.id);
  s.mem.writeU16(at + P.PDESC_FLAGS, d.flags);
}

/**
 * The lies of the split test's mock, in packed form. At the device's next
 * descriptor (last_avail, in its avail lap): a chain of `size` descriptors
 * that all say NEXT (a loop), an indirect descriptor whose table length is
 * not a multiple of 16, an available descriptor with any buffer id. At the
 * driver's next used position (last_used, in its used lap): a used
 * descriptor with any id (out of range, or not outstanding).
 */
function lie(s: Side, kind: 'loop' | 'indirectLen' | 'availId' | 'usedId', value: number): void {
  const { q } = s;
  const size = q.size;
  const v = s.mem.view;
  const lastAvail = v.getUint32(q.device.state + P.PDEV_LAST_AVAIL, true);
  const availWrap = v.getUint32(q.device.state + P.PDEV_AVAIL_WRAP, true);
  switch (kind) {
    case 'loop':
      for (let j = 0; j < size; j++) {
        const at = lastAvail + j;
        const lap = at >= size ? availWrap ^ 1 : availWrap;
        writeDesc(s, at % size, { id: 0, flags: P.PDESC_F_NEXT | availFlags(lap) });
      }
      return;
    case 'indirectLen':
      writeDesc(s, lastAvail, {
        id: 0,
        len: 16 * (value % 4) + 1 + (value % 15),
        flags: P.PDESC_F_INDIRECT | availFlags(availWrap),
      });
      return;
    case 'availId':
      writeDesc(s, lastAvail, { id: value % (size + 3), flags: availFlags(availWrap) });
      return;
    case 'usedId':
      writeDesc(s, q.driver.lastUsed, { id: value, len: 0, flags: usedFlags(q.driver.usedWrapCounter) });
      return;
  }
}

function firstDiff(a: Uint8Array, b: Uint8Array, from: number, len: number): number {
  const x = Buffer.from(a.buffer, a.byteOffset + from, len);
  const y = Buffer.from(b.buffer, b.byteOffset + from, len);
  if (x.equals(y)) return -1;
  for (let i = 0; i < len; i++) if (x[i] !== y[i]) return from + i;
  return -1;
}

/** What the runs exercised, so a vacuous run cannot pass unnoticed. */
const tally = { steps: 0, errors: 0, popped: 0, used: 0, reaped: 0, violations: 0, outOfOrder: 0, skipped: 0 };
/** Errors the runs met, as "<op> <code>". */
const faults = new Map<string, number>();

/**
 * Runs ops on both engines; returns how often the driver's avail wrap counter
 * flipped. With cfg.inOrder, pushes take the ids the device holds in popped
 * order (misordered on purpose when `disorder` and a pick says so).
 */
function runBoth(cfg: Config, ops: Op[], disorder = true): number {
  const w = new Side(cfg, 'wasm');
  const r = new Side(cfg, 'reference');
  const broke = () => (w.q.driver.broken || w.q.device.broken ? 1 : 0);
  // Buffer ids the device holds, from the (identical) pop results.
  let held: number[] = [];
  const lastPop: number[] = [];
  let flips = 0;
  let wrap = w.q.driver.availWrapCounter;
  ops.forEach((op, step) => {
    let pushList: { id: number; len: number }[] = [];
    if (op.t === 'push' && cfg.inOrder) {
      pushList = held.slice(0, op.picks.length).map((id) => ({ id, len: op.len }));
      if (disorder && pushList.length >= 2 && op.picks[0]! % 4 === 0) {
        [pushList[0], pushList[1]] = [pushList[1]!, pushList[0]!];
      }
      if (op.raw !== null) pushList = [{ id: op.raw, len: op.len }, ...pushList];
      // One engine call: DeviceFace.push publishes once per queue-size worth.
      pushList = pushList.slice(0, cfg.size);
    } else if (op.t === 'push') {
      for (const p of op.picks) {
        if (held.length === 0) break;
        pushList.push({ id: held.splice(p % held.length, 1)[0]!, len: op.len });
      }
      if (op.raw !== null) pushList = [{ id: op.raw, len: op.len }, ...pushList];
    }
    const ow = apply(w, op, pushList);
    const or = apply(r, op, pushList);
    expect(or, `step ${step} ${JSON.stringify(op)}`).toEqual(ow);
    tally.steps++;
    if ('err' in ow) {
      tally.errors++;
      faults.set(`${op.t} ${ow.err}`, (faults.get(`${op.t} ${ow.err}`) ?? 0) + 1);
    }
    if ('err' in ow && ow.err === 'PUSH_OUT_OF_ORDER') tally.outOfOrder++;
    // In-order pushes of several buffers: all but the last are skipped (no used descriptor).
    if (cfg.inOrder && op.t === 'push' && 'ok' in ow) tally.skipped += Math.max(0, (ow.ok as number) - 1);
    if (op.t === 'pop' && 'ok' in ow) {
      const ids = (ow.ok as { id: number }[]).map((c) => c.id);
      // A pop rewrites only the first records of the pop output; pushPopped reads records from 0.
      lastPop.splice(0, ids.length, ...ids);
      held.push(...ids);
      tally.popped += (ow.ok as unknown[]).length;
    }
    if (op.t === 'reap' && 'ok' in ow) tally.reaped += (ow.ok as unknown[]).length;
    if (op.t === 'use') {
      const used = 'ok' in ow ? (ow.ok as { n: number }).n : ow.done;
      tally.popped += used;
      tally.used += used;
    }
    if (op.t === 'round' && 'ok' in ow) {
      const [, , pushed, , reaped] = ow.ok as Outcome[];
      if ('ok' in pushed!) tally.popped += pushed.ok as number;
      if ('ok' in reaped!) tally.reaped += (reaped.ok as unknown[]).length;
    }
    if (cfg.inOrder && (op.t === 'push' || op.t === 'pushPopped')) {
      // Exactly what was pushed leaves `held`: a failed push used the entries before the bad one.
      const done = 'ok' in ow ? (ow.ok as number) : ow.done;
      const pushed = new Set((op.t === 'push' ? pushList.map((e) => e.id) : lastPop).slice(0, done));
      held = held.filter((id) => !pushed.has(id));
    } else if (op.t === 'pushPopped') held = [];
    const ram = firstDiff(w.mem.bytes, r.mem.bytes, L.GUEST_BASE, RAM);
    expect(ram, `guest RAM differs after step ${step} ${JSON.stringify(op)}`).toBe(-1);
    const host = firstDiff(w.mem.bytes, r.mem.bytes, L.HOST_BASE, HOST_SPAN);
    expect(host, `host state differs after step ${step} ${JSON.stringify(op)}`).toBe(-1);
    if (w.q.driver.availWrapCounter !== wrap) {
      flips++;
      wrap = w.q.driver.availWrapCounter;
    }
  });
  tally.violations += broke();
  return flips;
}

// A fixed default seed keeps the suite deterministic; VQSIM_SEED=random explores.
const SEED_ENV = process.env.VQSIM_SEED ?? '20261201';

function params(runs: number): fc.Parameters<[Config, Op[]]> {
  const p: fc.Parameters<[Config, Op[]]> = { numRuns: Number(process.env.VQSIM_RUNS ?? runs) };
  if (SEED_ENV !== 'random') p.seed = Number(SEED_ENV);
  if (process.env.VQSIM_PATH) p.path = process.env.VQSIM_PATH;
  return p;
}

/** fc.assert, with the replay command in the failure message. */
function check(prop: fc.IProperty<[Config, Op[]]>, runs: number): void {
  const details = fc.check(prop, params(runs));
  if (details.failed) {
    const replay = `replay: VQSIM_SEED=${details.seed} VQSIM_PATH=${details.counterexamplePath ?? ''}`;
    console.error(`packed differential test failed; ${replay}`);
    const cause =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new Error(`${cause}\n${fc.defaultReportMessage(details) ?? 'property failed'}\n${replay}`);
  }
}

describe('packed ring: Wasm core vs TypeScript reference', () => {
  it('random operation sequences with a misbehaving side give identical results and memory', () => {
    check(
      fc.property(configArb, fc.array(opArb(true), { minLength: 20, maxLength: 150, size: 'large' }), (cfg, ops) => {
        runBoth(cfg, ops);
      }),
      80,
    );
    expect(tally.steps).toBeGreaterThan(1000);
    expect(tally.popped).toBeGreaterThan(100);
    expect(tally.reaped).toBeGreaterThan(50);
    expect(tally.errors).toBeGreaterThan(10);
    expect(tally.violations).toBeGreaterThan(5);
    console.log(`packed diff: ${JSON.stringify(tally)} ${JSON.stringify([...faults])}`);
    // The classes of fault the split ring's differential test finds, found here too.
    if (process.env.VQSIM_PATH === undefined) {
      for (const key of [
        'pop DESC_LOOP',
        'pop INDIRECT_BAD_LENGTH',
        'pop AVAIL_HEAD_OUT_OF_RANGE',
        'pop AVAIL_ID_IN_USE',
        'pop ADDRESS_OUTSIDE_GUEST_RAM',
        'reap USED_ID_OUT_OF_RANGE',
        'reap USED_ID_NOT_A_HEAD',
        'reap USED_WRAP_MISMATCH',
        'add QUEUE_BROKEN',
      ]) {
        // The device reads the ring in a pop and in a use alike.
        const also = key.startsWith('pop ') ? (faults.get(key.replace('pop ', 'use ')) ?? 0) : 0;
        expect((faults.get(key) ?? 0) + also, key).toBeGreaterThan(0);
      }
    }
  });

  it('well-behaved sequences wrap many laps identically, on sizes that are not powers of two', () => {
    const smallArb = configArb.map((c) => {
      const size = [3, 5, 6, 7, 9][c.size % 5]!;
      return { ...c, size, indirectMax: Math.min(c.indirectMax, size) };
    });
    const flowArb = fc.array(
      fc.oneof(
        { weight: 3, arbitrary: opArb(false).filter((o) => o.t === 'add') },
        { weight: 3, arbitrary: fc.constant<Op>({ t: 'pop', max: 40 }) },
        {
          weight: 3,
          arbitrary: fc.record({
            t: fc.constant('push' as const),
            picks: fc.array(fc.nat(50), { maxLength: 4 }),
            len: fc.nat(100),
            raw: fc.constant<number | null>(null),
          }),
        },
        { weight: 3, arbitrary: fc.constant<Op>({ t: 'reap', max: 40 }) },
        { weight: 1, arbitrary: fc.constant<Op>({ t: 'kick' }) },
        { weight: 1, arbitrary: fc.constant<Op>({ t: 'notify' }) },
      ),
      { minLength: 300, maxLength: 600 },
    );
    let total = 0;
    check(
      fc.property(smallArb, flowArb, (cfg, ops) => {
        total += runBoth(cfg, ops);
      }),
      20,
    );
    // Dozens of laps per run on average.
    expect(total).toBeGreaterThan(100);
  });
});

describe('packed ring, runs of one-buffer requests: Wasm core vs TypeScript reference', () => {
  // The one-buffer loops of add and pop (and the one-descriptor branches of
  // push and reap) run to the end of the ring and wrap outside their inner
  // loops: long runs of one-buffer requests on small rings, with bad requests
  // and a scribbling device now and then, cross the end at every offset.
  const oneArb: fc.Arbitrary<ChainReq> = fc.record({
    out: fc.nat(1),
    in: fc.constant(0),
    len: fc.integer({ min: 1, max: 4096 }),
    off: fc.nat(60 * 1024),
    indirect: fc.boolean(),
    bad: fc.constantFrom<ChainReq['bad']>(...Array<ChainReq['bad']>(30).fill('none'), 'zero', 'addr'),
  });
  const smallArb = configArb.map((c) => {
    const size = [1, 2, 3, 5, 6, 7, 9, 12][c.size % 8]!;
    return { ...c, size, indirectMax: Math.min(c.indirectMax, size) };
  });

  function flowArb(corrupt: boolean, minLength: number, maxLength: number): fc.Arbitrary<Op[]> {
    const ops: fc.WeightedArbitrary<Op>[] = [
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant('add' as const),
          chains: fc.array(oneArb, { minLength: 1, maxLength: MAX_CHAINS }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          t: fc.constant('round' as const),
          chains: fc.array(oneArb, { minLength: 1, maxLength: MAX_CHAINS }),
          max: fc.integer({ min: 1, max: 12 }),
        }),
      },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('pop' as const), max: fc.integer({ min: 1, max: 12 }) }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('use' as const), max: fc.integer({ min: 1, max: 12 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('pushPopped' as const), n: fc.nat(12) }) },
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant('push' as const),
          picks: fc.array(fc.nat(50), { maxLength: 12 }),
          len: fc.nat(100),
          raw: corrupt ? fc.option(fc.nat(15), { freq: 10, nil: null }) : fc.constant(null),
        }),
      },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('reap' as const), max: fc.integer({ min: 1, max: 12 }) }) },
      { weight: 1, arbitrary: fc.constant<Op>({ t: 'kick' }) },
      { weight: 1, arbitrary: fc.constant<Op>({ t: 'notify' }) },
    ];
    if (corrupt) {
      ops.push({
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant('corrupt' as const),
          desc: fc.nat(40),
          field: fc.constantFrom<'flags' | 'id' | 'len' | 'addr'>('flags', 'id', 'len', 'addr'),
          value: fc.oneof(fc.nat(0xffff), fc.constantFrom(0, 0x80, 0x8000, 0x8080, 0x81, 0x8001, 0x84, 0x82)),
        }),
      });
    }
    return fc.array(fc.oneof(...ops), { minLength, maxLength });
  }

  it('wrap many laps identically, with a bad request now and then', () => {
    let total = 0;
    const before = { ...tally };
    check(
      fc.property(smallArb, flowArb(false, 200, 400), (cfg, ops) => {
        total += runBoth(cfg, ops);
      }),
      20,
    );
    expect(total).toBeGreaterThan(250);
    expect(tally.popped - before.popped).toBeGreaterThan(1200);
    // Buffers used one at a time (useBatch), through its one-buffer run and the general pop.
    expect(tally.used - before.used).toBeGreaterThan(200);
    expect(tally.reaped - before.reaped).toBeGreaterThan(1200);
    expect(tally.errors - before.errors).toBeGreaterThan(10);
  });

  it('a scribbling device and bad pushes give identical results and memory', () => {
    const before = { ...tally };
    check(
      fc.property(smallArb, flowArb(true, 20, 100), (cfg, ops) => {
        runBoth(cfg, ops);
      }),
      80,
    );
    expect(tally.popped - before.popped).toBeGreaterThan(400);
    expect(tally.violations - before.violations).toBeGreaterThan(8);
  });
});

describe('packed ring with VIRTIO_F_IN_ORDER: Wasm core vs TypeScript reference', () => {
  const inOrderArb = configArb.map((c) => ({ ...c, inOrder: true }));

  it('random operation sequences with a misbehaving side give identical results and memory', () => {
    const before = { ...tally };
    check(
      fc.property(inOrderArb, fc.array(opArb(true), { minLength: 20, maxLength: 150, size: 'large' }), (cfg, ops) => {
        runBoth(cfg, ops);
      }),
      120,
    );
    expect(tally.popped - before.popped).toBeGreaterThan(100);
    expect(tally.used - before.used).toBeGreaterThan(20);
    expect(tally.reaped - before.reaped).toBeGreaterThan(50);
    expect(tally.errors - before.errors).toBeGreaterThan(10);
    expect(tally.violations - before.violations).toBeGreaterThan(5);
    expect(tally.outOfOrder - before.outOfOrder).toBeGreaterThan(5);
  });

  it('well-behaved in-order sequences wrap many laps identically, on sizes that are not powers of two', () => {
    const smallArb = inOrderArb.map((c) => {
      const size = [3, 5, 6, 7, 9][c.size % 5]!;
      return { ...c, size, indirectMax: Math.min(c.indirectMax, size) };
    });
    const flowArb = fc.array(
      fc.oneof(
        { weight: 3, arbitrary: opArb(false).filter((o) => o.t === 'add') },
        { weight: 3, arbitrary: fc.record({ t: fc.constant('pop' as const), max: fc.integer({ min: 1, max: 40 }) }) },
        {
          weight: 3,
          arbitrary: fc.record({
            t: fc.constant('push' as const),
            picks: fc.array(fc.nat(50), { maxLength: 4 }),
            len: fc.nat(100),
            raw: fc.constant<number | null>(null),
          }),
        },
        { weight: 1, arbitrary: fc.record({ t: fc.constant('pushPopped' as const), n: fc.nat(4) }) },
        { weight: 2, arbitrary: fc.record({ t: fc.constant('use' as const), max: fc.integer({ min: 1, max: 40 }) }) },
        { weight: 3, arbitrary: fc.record({ t: fc.constant('reap' as const), max: fc.integer({ min: 1, max: 40 }) }) },
        { weight: 1, arbitrary: fc.constant<Op>({ t: 'enable' }) },
        { weight: 1, arbitrary: fc.constant<Op>({ t: 'kick' }) },
        { weight: 1, arbitrary: fc.constant<Op>({ t: 'notify' }) },
      ),
      { minLength: 300, maxLength: 600 },
    );
    let total = 0;
    const before = { ...tally };
    check(
      fc.property(smallArb, flowArb, (cfg, ops) => {
        total += runBoth(cfg, ops, false);
      }),
      20,
    );
    expect(total).toBeGreaterThan(100);
    expect(tally.violations - before.violations).toBe(0);
    expect(tally.skipped - before.skipped).toBeGreaterThan(50);
    expect(tally.reaped - before.reaped).toBeGreaterThan(200);
  });
});

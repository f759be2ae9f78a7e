// Attack scenarios for the ring-layer entries of the violation catalogue.
//
// Every scenario runs on a bare queue in its own small guest memory: a
// driver face (createQueue with deviceFace: false) and a device face built
// from the programmed areas through a direct DMA context, as a transport's
// device builds it. The ring checks do not depend on the deployment (the DMA
// context's own checks are the dma layer's), so each runs in 'traditional'.
//
// A lying device (victim: the driver face, hardened or naive) writes used
// elements or used descriptors straight into the ring. The damage it does to
// a driver that believes it is the classic one: a completion for a buffer
// the device still holds, so the guest frees the buffer and hands it to a
// new owner (a canary planted there), and the device's later write lands in
// the new owner's data (bytesCorrupted); or a length past the buffer, so
// the guest delivers the bytes after it (a secret planted there: bytesLeaked).
//
// A lying driver (victim: the device face, hardened or naive) writes
// descriptors and avail entries straight into the ring. Against a device on
// a direct context the naive device's damage is to itself: what it popped
// that it should not have (the note says what), or a walk that never ends
// (hung: the simulator's budget stopped it).
import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { DmaView, directDeviceView } from '../../memory/dma-view.js';
import { DmaContext } from '../../memory/dma-context.js';
import { deviceQueueFromAreas, createQueue, type QueueDevice, type RingKind } from '../../virtqueue/queue.js';
import { SplitQueue } from '../../virtqueue/split/queue.js';
import { PackedQueue } from '../../virtqueue/packed/queue.js';
import { VqsimError } from '../../errors.js';
import { violationOf } from '../catalogue/index.js';
import { Damage, rng } from '../attack/damage.js';
import type { AttackContext, AttackOutcome, Scenario } from '../attack/types.js';

const MiB = 2 ** 20;

/** A bare queue: the driver's face and a device face built from its areas. */
interface Bench {
  mem: GuestMemory;
  q: SplitQueue | PackedQueue;
  device: QueueDevice;
  areas: { desc: number; driver: number; device: number };
  damage: Damage;
  rand: () => number;
}

interface BenchOptions {
  ring: RingKind;
  size: number;
  /** Whose checks are off in the naive run: the driver's (a device lies) or the device's (a driver lies). */
  victim: 'driver' | 'device';
  indirect?: boolean;
  usedLenCheck?: 'ring' | 'driver';
  ram?: number;
}

function bench(ctx: AttackContext, o: BenchOptions): Bench {
  const mem = new GuestMemory({ size: o.ram ?? 2 * MiB });
  const naiveDriver = o.victim === 'driver' && !ctx.hardened;
  const q = createQueue(mem, {
    ring: o.ring,
    size: o.size,
    indirect: o.indirect ?? false,
    name: 'victim',
    deviceFace: false,
    hardened: !naiveDriver,
    usedLenCheck: o.usedLenCheck,
  }) as SplitQueue | PackedQueue;
  const areas =
    q instanceof SplitQueue
      ? { desc: q.areas.desc, driver: q.areas.avail, device: q.areas.used }
      : (q as PackedQueue).areas;
  const device = deviceQueueFromAreas(
    directDeviceView(mem),
    { ring: o.ring, size: o.size, eventIdx: false, indirect: o.indirect ?? false, ...areas },
    { name: 'victim', hardened: o.victim === 'device' ? ctx.hardened : true },
  );
  return { mem, q, device, areas, damage: new Damage(mem, ctx.seed), rand: rng(ctx.seed) };
}

/** A shared guest buffer of `len` bytes. */
function buffer(b: Bench, len: number): number {
  return b.mem.alloc(len, { shared: true });
}

/** What a run ended with: the named violation the victim raised, or nothing. */
function outcomeOf(e: unknown, broken: boolean): AttackOutcome {
  const v = violationOf(e);
  if (!v) throw e;
  return {
    detected: true,
    violation: v.id,
    reaction: broken ? 'broken' : 'failed',
    bytesLeaked: 0,
    bytesCorrupted: 0,
    hung: false,
  };
}

function undetected(note: string, damage: Partial<AttackOutcome> = {}): AttackOutcome {
  return { detected: false, reaction: 'none', bytesLeaked: 0, bytesCorrupted: 0, hung: false, note, ...damage };
}

// ---- The lying device's pen: used elements and used descriptors ----

/** Split: appends used elements {id, len} after the device's used->idx and publishes them, moving idx by `by`. */
function splitUsed(b: Bench, elems: readonly { id: number; len: number }[], by = elems.length): void {
  const v = b.mem.view;
  const used = b.mem.linear(b.areas.device, L.VRING_USED_RING + 8 * b.q.size + 2);
  const idx = v.getUint16(used + L.VRING_USED_IDX, true);
  elems.forEach((e, k) => {
    const at = used + L.VRING_USED_RING + ((idx + k) % b.q.size) * L.VRING_USED_ELEM_SIZE;
    v.setUint32(at, e.id >>> 0, true);
    v.setUint32(at + 4, e.len >>> 0, true);
  });
  v.setUint16(used + L.VRING_USED_IDX, (idx + by) & 0xffff, true);
}

/**
 * Packed: writes one used descriptor {id, len} at the device's next used
 * position with `flags` (default: used in the device's current lap) and
 * moves the device's position on, as its own push would.
 */
function packedUsed(b: Bench, id: number, len: number, flags?: number): void {
  const hv = b.mem.hostView;
  const st = (b.device as unknown as { state: number }).state;
  const pos = hv.getUint32(st + P.PDEV_USED_IDX, true);
  const wrap = hv.getUint32(st + P.PDEV_USED_WRAP, true);
  const d = b.mem.linear(b.areas.desc + pos * P.PDESC_SIZE, P.PDESC_SIZE);
  const v = b.mem.view;
  v.setUint32(d + P.PDESC_LEN, len >>> 0, true);
  v.setUint16(d + P.PDESC_ID, id & 0xffff, true);
  v.setUint16(d + P.PDESC_FLAGS, flags ?? (wrap ? P.PDESC_F_AVAIL | P.PDESC_F_USED : 0), true);
  const next = pos + 1 === b.q.size ? 0 : pos + 1;
  hv.setUint32(st + P.PDEV_USED_IDX, next, true);
  if (next === 0) hv.setUint32(st + P.PDEV_USED_WRAP, wrap ^ 1, true);
}

/** The device writes `len` seeded bytes into a buffer it holds (its DMA write, through the element it popped). */
function deviceWrite(b: Bench, addr: number, len: number): void {
  const data = new Uint8Array(len);
  for (let i = 0; i < len; i++) data[i] = b.rand() & 0xff;
  b.mem.write(addr, data);
}

/**
 * One device-writable buffer of `len` bytes at `addr` (token `token`) made
 * available, popped and written by the device honestly: the chain a lying
 * device then completes.
 */
function writtenChain(b: Bench, addr: number, len: number, token: number): { id: number } {
  b.q.driver.add([], [{ addr, len }], token);
  b.q.driver.kick();
  const [c] = b.device.pop();
  deviceWrite(b, addr, len);
  return c!;
}

/**
 * The setup every "completion for a buffer the device holds" scenario shares.
 * V (an rx-style buffer, token 7) and X (token 8) are added, popped and used
 * V first; V is re-added (the guest refills its buffer) and takes X's old
 * slot, so V's old slot `stale` keeps token 7 in desc_state but is not
 * outstanding. The device pops V again and holds it. Returns V's buffer and
 * the stale and current slots.
 */
function heldRefill(b: Bench): { gv: number; len: number; stale: number; current: number } {
  const len = 256;
  const gv = buffer(b, len);
  const gx = buffer(b, len);
  const driver = b.q.driver;
  const device = b.device;
  if (!driver.add([], [{ addr: gv, len }], 7) || !driver.add([], [{ addr: gx, len }], 8)) {
    throw new VqsimError('SCENARIO_SETUP', 'ring scenario: the first two buffers did not fit', 'host');
  }
  driver.kick();
  const first = device.pop();
  const stale = first[0]!.id;
  device.push(first.map((c) => ({ id: c.id, len })));
  driver.reap();
  driver.add([], [{ addr: gv, len }], 7);
  driver.kick();
  const again = device.pop();
  return { gv, len, stale, current: again[0]!.id };
}

/**
 * Runs the reap the lie targets. A naive driver that completes token 7
 * (V) hands V's buffer to a new owner (a canary); the device then writes V's
 * data into the buffer it still holds.
 */
function reapAndReuse(b: Bench, held: { gv: number; len: number }): AttackOutcome {
  let completions;
  try {
    completions = b.q.driver.getUsed();
  } catch (e) {
    return outcomeOf(e, b.q.driver.broken);
  }
  const freed = completions.filter((c) => c.token === 7).length;
  if (freed > 0) b.damage.canary(held.gv, held.len);
  // The device finishes V, which it never stopped holding.
  deviceWrite(b, held.gv, held.len);
  return undetected(
    `naive driver completed token 7 ${freed} time(s) while the device held its buffer; numFree ${b.q.driver.numFree} of ${b.q.size}`,
    { bytesCorrupted: b.damage.corrupted() },
  );
}

function usedIdOutOfRange(ring: RingKind): Scenario {
  return {
    id: `${ring}-used-id-out-of-range`,
    violation: 'USED_ID_OUT_OF_RANGE',
    attacker: 'device',
    title: `${ring}: a used ${ring === 'split' ? 'element' : 'descriptor'} names id size + (a stale slot of a refilled buffer)`,
    deployments: ['traditional'],
    run(ctx) {
      const b = bench(ctx, { ring, size: 8, victim: 'driver' });
      const held = heldRefill(b);
      // id stale + size: a naive driver indexes desc_state past the array,
      // which vqsim wraps to the stale slot (see split_drv_get_used).
      const id = held.stale + b.q.size;
      if (ring === 'split') splitUsed(b, [{ id, len: held.len }]);
      else packedUsed(b, id, held.len);
      return reapAndReuse(b, held);
    },
  };
}

function usedIdNotAHead(ring: RingKind): Scenario {
  return {
    id: `${ring}-used-id-not-a-head`,
    violation: 'USED_ID_NOT_A_HEAD',
    attacker: 'device',
    title: `${ring}: a used ${ring === 'split' ? 'element' : 'descriptor'} names a refilled buffer's old slot, whose desc_state still holds its token`,
    deployments: ['traditional'],
    run(ctx) {
      const b = bench(ctx, { ring, size: 8, victim: 'driver' });
      const held = heldRefill(b);
      if (ring === 'split') splitUsed(b, [{ id: held.stale, len: held.len }]);
      else packedUsed(b, held.stale, held.len);
      return reapAndReuse(b, held);
    },
  };
}

const usedIdxJump: Scenario = {
  id: 'split-used-idx-jump',
  violation: 'USED_IDX_JUMP',
  attacker: 'device',
  title: 'split: the device uses one chain honestly and moves used->idx by two',
  deployments: ['traditional'],
  run(ctx) {
    const b = bench(ctx, { ring: 'split', size: 4, victim: 'driver' });
    const len = 128;
    const ga = buffer(b, len);
    const driver = b.q.driver;
    const a = writtenChain(b, ga, len, 1);
    // The honest element for A, then one more slot the device never wrote
    // (zeroed: id 0, A's head, no longer outstanding once A is reaped).
    splitUsed(b, [{ id: a.id, len }], 2);
    let got;
    try {
      got = driver.getUsed();
    } catch (e) {
      const out = outcomeOf(e, driver.broken);
      // Nothing lost: A's completion came with the error.
      const partial = (e as { partial?: readonly unknown[] }).partial ?? [];
      return { ...out, note: `delivered ${partial.length} completion(s) before the lie` };
    }
    // The naive driver believed both: A completed twice, its descriptor
    // freed twice, so the free list holds one descriptor more than the ring
    // and the next two chains would share a descriptor.
    const twice = got.filter((c) => c.token === 1).length;
    return undetected(
      `naive driver completed token 1 ${twice} times (one chain in flight); numFree ${driver.numFree} of ${b.q.size}`,
    );
  },
};

function usedLen(ring: RingKind): Scenario {
  return {
    id: `${ring}-used-len-exceeds-buflen`,
    violation: 'USED_LEN_EXCEEDS_BUFLEN',
    attacker: 'device',
    title: `${ring}: the device says it wrote 4 KiB into a 256-byte buffer; the guest's secret lies after it`,
    deployments: ['traditional'],
    run(ctx) {
      // The hardened driver checks at ring level (usedLenCheck 'ring').
      const b = bench(ctx, { ring, size: 8, victim: 'driver', usedLenCheck: 'ring' });
      const len = 256;
      const page = buffer(b, 8192);
      const gv = page;
      b.damage.secret(gv + len, 8192 - len);
      const driver = b.q.driver;
      const c = writtenChain(b, gv, len, 7);
      const lie = 4096;
      if (ring === 'split') splitUsed(b, [{ id: c.id, len: lie }]);
      else packedUsed(b, c.id, lie);
      let got;
      try {
        got = driver.getUsed();
      } catch (e) {
        return outcomeOf(e, driver.broken);
      }
      // A driver that trusts used.len hands that many bytes up (virtio-net's
      // receive before its own check): the secret after the buffer goes with them.
      const delivered = b.mem.read(gv, got[0]!.len);
      return undetected(`naive driver delivered ${got[0]!.len} bytes from a ${len}-byte buffer`, {
        bytesLeaked: b.damage.leakedIn(delivered),
      });
    },
  };
}

const usedWrap: Scenario = {
  id: 'packed-used-wrap-mismatch',
  violation: 'USED_WRAP_MISMATCH',
  attacker: 'device',
  title: "packed: the device writes the used descriptor with the previous lap's wrap bits",
  deployments: ['traditional'],
  run(ctx) {
    const b = bench(ctx, { ring: 'packed', size: 4, victim: 'driver' });
    const len = 128;
    const gv = buffer(b, len);
    const driver = b.q.driver;
    const c = writtenChain(b, gv, len, 7);
    // Lap 1 wants AVAIL = USED = 1; the device writes AVAIL = 0, USED = 1.
    packedUsed(b, c.id, len, P.PDESC_F_USED);
    // The guest polls for the completion, with a budget.
    const polls = 16;
    for (let k = 0; k < polls; k++) {
      try {
        if (driver.reap() > 0) return undetected('naive driver reaped the descriptor');
      } catch (e) {
        return outcomeOf(e, driver.broken);
      }
    }
    return undetected(`naive driver polled ${polls} times and never saw the completion`, { hung: true });
  },
};

// ---- The lying driver's pen: descriptors and avail entries ----

/** What the driver's pen writes through: the memory, the areas, and the device face that pops. */
type Pen = Pick<Bench, 'mem' | 'areas' | 'q' | 'device'>;

/** Split: writes descriptor `i` of the ring's table. */
function desc(b: Pen, i: number, addr: number, len: number, flags: number, next: number): void {
  const d = b.mem.linear(b.areas.desc + i * L.VRING_DESC_SIZE, L.VRING_DESC_SIZE);
  const v = b.mem.view;
  v.setBigUint64(d + L.VRING_DESC_ADDR, BigInt(addr), true);
  v.setUint32(d + L.VRING_DESC_LEN, len >>> 0, true);
  v.setUint16(d + L.VRING_DESC_FLAGS, flags, true);
  v.setUint16(d + L.VRING_DESC_NEXT, next & 0xffff, true);
}

/** Split: writes a descriptor of an indirect table at guest address `table`. */
function tableDesc(b: Pen, table: number, k: number, addr: number, len: number, flags: number, next: number): void {
  const d = b.mem.linear(table + k * 16, 16);
  const v = b.mem.view;
  v.setBigUint64(d, BigInt(addr), true);
  v.setUint32(d + 8, len >>> 0, true);
  v.setUint16(d + 12, flags, true);
  v.setUint16(d + 14, next & 0xffff, true);
}

/** Split: appends avail entries and moves avail->idx by `by` (default: their number). */
function avail(b: Pen, heads: readonly number[], by = heads.length): void {
  const a = b.mem.linear(b.areas.driver, L.VRING_AVAIL_RING + 2 * b.q.size + 2);
  const v = b.mem.view;
  const idx = v.getUint16(a + L.VRING_AVAIL_IDX, true);
  heads.forEach((h, k) => v.setUint16(a + L.VRING_AVAIL_RING + ((idx + k) % b.q.size) * 2, h & 0xffff, true));
  v.setUint16(a + L.VRING_AVAIL_IDX, (idx + by) & 0xffff, true);
}

/** Pops once; the outcome, with what a naive device popped in the note. */
function popOutcome(b: Pen, describe: (chains: number) => string): AttackOutcome {
  let n: number;
  try {
    n = b.device.popBatch();
  } catch (e) {
    const v = violationOf(e);
    if (!v && e instanceof VqsimError && e.code === 'NAIVE_WALK_BUDGET') {
      return undetected(e.message, { hung: true });
    }
    return outcomeOf(e, b.device.broken);
  }
  return undetected(describe(n));
}

interface DriverLie {
  id: string;
  violation: string;
  title: string;
  size?: number;
  indirect?: boolean;
  ram?: number;
  /** Writes the lie; returns the note's words for what a naive device popped. */
  plant(b: Bench): (chains: number) => string;
}

function driverLie(l: DriverLie): Scenario {
  return {
    id: l.id,
    violation: l.violation,
    attacker: 'driver',
    title: l.title,
    deployments: ['traditional'],
    run(ctx) {
      const b = bench(ctx, {
        ring: 'split',
        size: l.size ?? 8,
        victim: 'device',
        indirect: l.indirect,
        ram: l.ram,
      });
      const describe = l.plant(b);
      return popOutcome(b, describe);
    },
  };
}

const W = L.VRING_DESC_F_WRITE;
const N = L.VRING_DESC_F_NEXT;
const IND = L.VRING_DESC_F_INDIRECT;

const driverLies: DriverLie[] = [
  {
    id: 'split-avail-idx-jump',
    violation: 'AVAIL_IDX_JUMP',
    title: 'split: avail->idx moved by the queue size plus one',
    plant(b) {
      const g = buffer(b, 64);
      for (let i = 0; i < b.q.size; i++) desc(b, i, g, 64, W, 0);
      avail(b, [0], b.q.size + 1);
      return (n) => `naive device popped ${n} chains from ${b.q.size} descriptors (heads popped more than once)`;
    },
  },
  {
    id: 'split-avail-head-out-of-range',
    violation: 'AVAIL_HEAD_OUT_OF_RANGE',
    title: 'split: an avail entry names head size + 1',
    plant(b) {
      const g = buffer(b, 64);
      desc(b, 1, g, 64, W, 0);
      avail(b, [b.q.size + 1]);
      return (n) => `naive device popped ${n} chain(s): head ${b.q.size + 1} taken as head 1`;
    },
  },
  {
    id: 'split-desc-next-out-of-range',
    violation: 'DESC_NEXT_OUT_OF_RANGE',
    title: 'split: a descriptor chains to next = size + 2',
    plant(b) {
      const g = buffer(b, 128);
      desc(b, 0, g, 64, N, b.q.size + 2);
      desc(b, 2, g + 64, 64, W, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s): next ${b.q.size + 2} taken as descriptor 2`;
    },
  },
  {
    id: 'split-desc-loop',
    violation: 'DESC_LOOP',
    title: 'split: descriptors 0 and 1 chain to each other',
    plant(b) {
      const g = buffer(b, 128);
      desc(b, 0, g, 64, N, 1);
      desc(b, 1, g + 64, 64, N, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s)`;
    },
  },
  {
    id: 'split-zero-length-buffer',
    violation: 'ZERO_LENGTH_BUFFER',
    title: 'split: a chain holds a zero-length descriptor',
    plant(b) {
      const g = buffer(b, 64);
      desc(b, 0, g, 0, N, 1);
      desc(b, 1, g, 64, W, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) with a zero-length descriptor in it`;
    },
  },
  {
    id: 'split-desc-order',
    violation: 'DESC_ORDER',
    title: 'split: a readable descriptor after a writable one',
    plant(b) {
      const g = buffer(b, 128);
      desc(b, 0, g, 64, W | N, 1);
      desc(b, 1, g + 64, 64, 0, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) with a readable buffer after a writable one`;
    },
  },
  {
    id: 'split-indirect-bad-length',
    violation: 'INDIRECT_BAD_LENGTH',
    title: 'split: an indirect table of 24 bytes (not a multiple of 16)',
    indirect: true,
    plant(b) {
      const t = buffer(b, 64);
      const g = buffer(b, 64);
      tableDesc(b, t, 0, g, 64, W, 0);
      desc(b, 0, t, 24, IND, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) from a 24-byte table (the last 8 bytes ignored)`;
    },
  },
  {
    id: 'split-indirect-too-big',
    violation: 'INDIRECT_TOO_BIG',
    title: 'split: an indirect table with more descriptors than the queue size',
    indirect: true,
    plant(b) {
      const entries = b.q.size + 1;
      const t = buffer(b, entries * 16);
      const g = buffer(b, 64);
      for (let k = 0; k < entries; k++) tableDesc(b, t, k, g, 64, W | (k + 1 < entries ? N : 0), k + 1);
      desc(b, 0, t, entries * 16, IND, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) of ${entries} descriptors in a queue of ${b.q.size}`;
    },
  },
  {
    id: 'split-indirect-nested',
    violation: 'INDIRECT_NESTED',
    title: 'split: an indirect table holds another indirect descriptor',
    indirect: true,
    plant(b) {
      const t = buffer(b, 64);
      const t2 = buffer(b, 64);
      tableDesc(b, t2, 0, buffer(b, 64), 64, W, 0);
      tableDesc(b, t, 0, t2, 16, IND, 0);
      desc(b, 0, t, 16, IND, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s), the nested table taken as a data buffer`;
    },
  },
  {
    id: 'split-indirect-not-negotiated',
    violation: 'INDIRECT_NOT_NEGOTIATED',
    title: 'split: an indirect descriptor without VIRTIO_F_INDIRECT_DESC',
    indirect: false,
    plant(b) {
      const t = buffer(b, 64);
      tableDesc(b, t, 0, buffer(b, 64), 64, W, 0);
      desc(b, 0, t, 16, IND, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) through a table the driver may not use`;
    },
  },
  {
    id: 'split-chain-length-overflow',
    violation: 'CHAIN_LENGTH_OVERFLOW',
    title: 'split: 65 descriptors of 64 MiB each (more than 4 GiB in one chain)',
    size: 128,
    ram: 64 * MiB,
    plant(b) {
      const n = 65;
      for (let i = 0; i < n; i++) desc(b, i, 0, 64 * MiB, W | (i + 1 < n ? N : 0), i + 1);
      avail(b, [0]);
      return (c) =>
        `naive device popped ${c} chain(s); its writable length wrapped to ${b.device.chain(0).writeBytes} bytes`;
    },
  },
  {
    id: 'split-virtqueue-size-exceeded',
    violation: 'VIRTQUEUE_SIZE_EXCEEDED',
    title: 'split: one more head made available while the device holds the whole ring',
    size: 4,
    plant(b) {
      const g = buffer(b, 64);
      for (let i = 0; i < b.q.size; i++) desc(b, i, g, 64, W, 0);
      avail(b, [0, 1, 2, 3]);
      b.device.popBatch();
      avail(b, [0]);
      return (n) => `naive device popped ${n} more: ${b.device.inflight} chains in flight in a ring of ${b.q.size}`;
    },
  },
  {
    id: 'split-too-many-descriptors',
    violation: 'TOO_MANY_DESCRIPTORS',
    title: 'split: an indirect table of 1025 descriptors (queue size 2048)',
    size: 2048,
    indirect: true,
    ram: 4 * MiB,
    plant(b) {
      const entries = 1025;
      const t = buffer(b, entries * 16);
      const g = buffer(b, 64);
      for (let k = 0; k < entries; k++) tableDesc(b, t, k, g, 64, W | (k + 1 < entries ? N : 0), k + 1);
      desc(b, 0, t, entries * 16, IND, 0);
      avail(b, [0]);
      return (n) => `naive device popped ${n} chain(s) of ${entries} descriptors`;
    },
  },
];

const availIdInUse: Scenario = {
  id: 'packed-avail-id-in-use',
  violation: 'AVAIL_ID_IN_USE',
  attacker: 'driver',
  title: 'packed: a second buffer made available with the id of one the device holds',
  deployments: ['traditional'],
  run(ctx) {
    const b = bench(ctx, { ring: 'packed', size: 4, victim: 'device' });
    const g = buffer(b, 128);
    const v = b.mem.view;
    // Two one-descriptor buffers in lap 1 (AVAIL = 1, USED = 0), both id 0.
    for (let i = 0; i < 2; i++) {
      const d = b.mem.linear(b.areas.desc + i * P.PDESC_SIZE, P.PDESC_SIZE);
      v.setBigUint64(d + P.PDESC_ADDR, BigInt(g + 64 * i), true);
      v.setUint32(d + P.PDESC_LEN, 64, true);
      v.setUint16(d + P.PDESC_ID, 0, true);
      v.setUint16(d + P.PDESC_FLAGS, P.PDESC_F_AVAIL | P.PDESC_F_WRITE, true);
    }
    return popOutcome(b, (n) => `naive device popped ${n} buffers with the same id 0 (${b.device.inflight} in flight)`);
  },
};

const PAGE = 4096;

const indirectNotContiguous: Scenario = {
  id: 'split-indirect-not-contiguous',
  violation: 'INDIRECT_NOT_CONTIGUOUS',
  attacker: 'driver',
  title: 'split: an indirect table across two DMA pages that map to guest pages apart (behind an IOMMU)',
  // The table must cross a DMA page whose two halves are apart in guest
  // memory, which takes a paged context: an IOMMU.
  deployments: ['hardware'],
  run(ctx) {
    const mem = new GuestMemory({ size: 2 * MiB });
    const dma = DmaContext.paged(mem, { base: 0, bytes: 2 * MiB });
    const q = createQueue(mem, { ring: 'split', size: 8, indirect: true, name: 'victim', deviceFace: false });
    const sq = q as SplitQueue;
    dma.mapPages(sq.ringAddr, sq.ringAddr, 2 * PAGE, { read: true, write: true });
    const device = deviceQueueFromAreas(
      new DmaView(mem, dma, 'iommu'),
      {
        ring: 'split',
        size: 8,
        eventIdx: false,
        indirect: true,
        desc: sq.areas.desc,
        driver: sq.areas.avail,
        device: sq.areas.used,
      },
      // The check is the DMA context's (the table is read through it as one
      // run): a naive ring keeps it, and says so by raising it too.
      { name: 'victim', hardened: ctx.hardened },
    );
    const buf = mem.alloc(PAGE, { shared: true });
    const t = mem.alloc(2 * PAGE, { shared: true });
    const elsewhere = mem.alloc(3 * PAGE, { shared: true }) + 2 * PAGE;
    for (const p of [buf, t]) dma.mapPages(p, p, PAGE, { read: true, write: true });
    dma.mapPages(t + PAGE, elsewhere, PAGE, { read: true, write: true });
    const b = { mem, q: sq, device, areas: { desc: sq.areas.desc, driver: sq.areas.avail, device: sq.areas.used } };
    // Two entries: their first half in DMA page t, the second in t + PAGE,
    // which the IOMMU maps to a guest page elsewhere.
    const table = t + PAGE - 16;
    tableDesc(b, table, 0, buf, 64, N, 1);
    mem.write(elsewhere, new Uint8Array(16));
    desc(b, 0, table, 32, IND, 0);
    avail(b, [0]);
    return popOutcome(b, (n) => `popped ${n} chain(s)`);
  },
};

export const ringScenarios: readonly Scenario[] = [
  usedIdOutOfRange('split'),
  usedIdOutOfRange('packed'),
  usedIdNotAHead('split'),
  usedIdNotAHead('packed'),
  usedIdxJump,
  usedLen('split'),
  usedLen('packed'),
  usedWrap,
  ...driverLies.map(driverLie),
  availIdInUse,
  indirectNotContiguous,
];

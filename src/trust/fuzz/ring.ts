// The ring target: one virtqueue (split or packed, alternating by iteration)
// with its driver face and its device face in one guest memory, driven by a
// seeded mix of honest operations (add chains of random shapes, kick, pop,
// push random subsets back with honest lens, reap, callbacks and
// notifications on and off) and, unless honest, malicious mutations of ring
// memory by either side: descriptors, avail idx and entries, used idx and
// entries, event areas, packed flags, ids and wrap bits (lies.ts). It is the
// random-operation style of test/virtqueue/differential.test.ts, checked
// against invariants instead of a second engine.
import { Damage } from '../attack/damage.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { DmaApi } from '../../dma/api.js';
import { DmaDirection } from '../../dma/types.js';
import { createQueue, type RingKind } from '../../virtqueue/queue.js';
import { PackedQueue } from '../../virtqueue/packed/queue.js';
import { SplitQueue } from '../../virtqueue/split/queue.js';
import type { Chain, UsedElem } from '../../virtqueue/device-face.js';
import type { GuestBuffer } from '../../virtqueue/buffers.js';
import { Checker, Tokens } from './check.js';
import { deviceScribble, driverScribble, rewriteUsed, snapshotUsed, writtenSlots, type RingWindow } from './lies.js';
import { FuzzRandom, iterationSeed } from './random.js';
import type { FuzzTarget, IterationOptions, IterationResult } from './types.js';

const RAM = 1 << 20;
/** Shared guest pages the driver's buffers come from. */
const DATA = 64 << 10;
/** Operations per iteration. */
export const RING_STEPS = 200;
/** Operations a broken queue still gets, to show every one fails cleanly. */
const AFTER_BREAK = 4;

/** The ring kind iteration `i` runs: split on even iterations, packed on odd ones. */
export function ringKindOf(iteration: number): RingKind {
  return iteration % 2 === 0 ? 'split' : 'packed';
}

/** The ring's areas at their guest physical addresses: both liars write guest memory directly. */
function windowOf(q: SplitQueue | PackedQueue, mem: GuestMemory): RingWindow {
  const split = q instanceof SplitQueue;
  return {
    ring: split ? 'split' : 'packed',
    size: q.size,
    desc: q.ringAddr + q.layout.desc,
    driver: q.ringAddr + (split ? q.layout.avail : q.layout.driver),
    device: q.ringAddr + (split ? q.layout.used : q.layout.device),
    read: (addr, len) => mem.read(addr, len),
    write: (addr, bytes) => mem.write(addr, bytes),
  };
}

/** One iteration of the ring target. */
export function runRingIteration(o: IterationOptions): IterationResult {
  const r = new FuzzRandom(iterationSeed(o.seed, o.iteration));
  const ring = ringKindOf(o.iteration);
  const size = ring === 'split' ? 2 ** r.int(0, 6) : r.int(1, 64);
  const eventIdx = r.chance(0.5);
  const indirect = r.chance(0.5);
  // Half the queues give the device only what the driver maps through an
  // IOMMU (the hardware deployment): a descriptor a liar points elsewhere
  // is a DMA fault by name; the others reach all guest RAM (traditional).
  const iommu = r.chance(0.5);
  const variant = `${iommu ? 'iommu' : 'direct'}/${ring}`;
  const check = new Checker(o.honest, RING_STEPS);
  const mem = new GuestMemory({ size: RAM });
  const api = iommu ? new DmaApi(mem, { backend: 'iommu' }) : undefined;
  const q = createQueue(mem, {
    ring,
    size,
    eventIdx,
    indirect,
    name: 'fuzz',
    ...(api ? { dma: api.driverDma(), device: api.deviceView() } : {}),
  }) as SplitQueue | PackedQueue;
  const w = windowOf(q, mem);
  // Canaries around the buffers' pages: nothing the ring does may change them.
  const damage = new Damage(mem, r.u32());
  damage.canary(mem.alloc(4096), 4096);
  const data = mem.alloc(DATA, { shared: true });
  damage.canary(mem.alloc(4096), 4096);
  /** The buffers' DMA address: the guest physical one, or their IOVA. */
  const base = api ? api.map(data, DATA, DmaDirection.BIDIRECTIONAL) : data;

  const tokens = new Tokens();
  let nextToken = 1;
  /** Chains the device popped and holds. */
  const held: Chain[] = [];
  let stepsAfterBreak = -1;
  /** --inject-lie: the one lie was told. */
  let injected = false;

  const buffer = (): GuestBuffer => {
    const len = r.int(1, 512);
    return { addr: base + r.int(0, DATA - len), len };
  };

  const reap = (what: string, max: number): number => {
    const got = check.op(what, () => q.driver.getUsed(max));
    for (const c of got ?? []) {
      const bad = tokens.complete(c.token);
      if (bad) check.fail('token', `${what}: ${bad}`);
    }
    return got?.length ?? 0;
  };

  const pop = (max: number): number => {
    const chains = check.op('device pop', () => q.device.pop(max));
    if (!chains) return 0;
    for (const c of chains) {
      // An honest driver only hands out its data pages: the device was granted nothing else.
      if (o.honest) {
        for (const b of [...c.readable, ...c.writable]) {
          if (b.addr < base || b.addr + b.len > base + DATA) {
            check.fail(
              'canary',
              `device pop: chain ${c.id} reaches 0x${b.addr.toString(16)}+${b.len}, outside the buffers added`,
            );
          }
        }
      }
    }
    held.push(...chains);
    return chains.length;
  };

  /** The device pushes `n` held chains back with honest lens; a liar then rewrites what it wrote. */
  const push = (n: number, lie: 'none' | 'random' | 'out-of-range'): number => {
    if (held.length === 0) return 0;
    const elems: UsedElem[] = [];
    for (let k = 0; k < n && held.length > 0; k++) {
      const [c] = held.splice(r.int(0, held.length - 1), 1);
      elems.push({ id: c!.id, len: r.int(0, c!.writeBytes) });
    }
    const before = lie === 'none' ? undefined : snapshotUsed(w);
    check.op('device push', () => q.device.push(elems));
    if (before) {
      const slots = writtenSlots(w, before);
      if (slots.length > 0) check.lied(rewriteUsed(w, r.pick(slots), r, lie === 'out-of-range'));
    }
    return elems.length;
  };

  const broken = (): boolean => q.driver.broken || q.device.broken;

  while (!check.done) {
    const lastBefore = check.lastViolation;
    const lieNow = !injected && o.injectLieAt !== undefined && check.operations >= o.injectLieAt;
    if (lieNow) {
      injected = true;
      // Testing the fuzzer: an honest device lies once.
      if (held.length === 0) pop(size);
      if (held.length > 0) push(1, 'out-of-range');
      else check.operations++;
    } else if (!o.honest && r.chance(0.12)) {
      check.operations++;
      const side = r.int(0, 2);
      if (side === 0) check.lied(`driver: ${driverScribble(w, r, RAM, [base, base + DATA])}`);
      else if (side === 1) check.lied(`device: ${deviceScribble(w, r)}`);
      else {
        if (held.length === 0) pop(size);
        push(r.int(1, 2), 'random');
      }
    } else {
      switch (r.int(0, 9)) {
        case 0:
        case 1: {
          const chains = r.int(1, 3);
          for (let k = 0; k < chains; k++) {
            const total = r.int(1, Math.min(4, size));
            const outs = r.int(0, total);
            const out = Array.from({ length: outs }, buffer);
            const ins = Array.from({ length: total - outs }, buffer);
            const token = nextToken++;
            const ok = check.op('driver add', () =>
              q.driver.add(out, ins, token, { indirect: indirect && r.chance(0.5) }),
            );
            if (ok) tokens.add(token);
          }
          break;
        }
        case 2:
          check.op('driver kick', () => q.driver.kick());
          break;
        case 3:
        case 4:
          pop(r.int(1, size));
          break;
        case 5:
        case 6:
          // One operation either way: a push of held chains, or a pop when none are held.
          if (held.length > 0) push(r.int(1, held.length), 'none');
          else pop(r.int(1, size));
          break;
        case 7:
          reap('driver reap', r.int(1, size));
          break;
        case 8:
          if (r.chance(0.5)) check.op('driver disable callbacks', () => q.driver.disableCallbacks());
          else check.op('driver enable callbacks', () => q.driver.enableCallbacks());
          break;
        default:
          if (r.chance(0.5)) check.op('device set notify', () => q.device.setNotify(r.chance(0.5)));
          else check.op('device should notify', () => q.device.shouldNotify());
      }
    }
    // A violation the catalogue says breaks the queue must leave it broken.
    const v = check.lastViolation;
    if (v && v !== lastBefore && v.handling === 'break' && !broken()) {
      check.fail('not-broken', `${v.id} (${v.side}) was raised but the queue is not marked broken`);
    }
    if (broken()) {
      if (stepsAfterBreak < 0) stepsAfterBreak = 0;
      else if (++stepsAfterBreak >= AFTER_BREAK) break;
    }
    const changed = damage.corrupted();
    if (changed > 0) check.fail('canary', `${changed} canary bytes around the buffers changed`);
  }

  // An honest run ends with every token back: the device serves what is left
  // and the driver reaps, within a budget (a ring that stops moving is a hang).
  if (o.honest && !check.failure && !broken()) {
    const budget = 4 * size + 8;
    let idle = 0;
    let round = 0;
    for (; round < budget && (tokens.outstanding > 0 || held.length > 0) && idle < 3 && !check.failure; round++) {
      check.op('driver kick', () => q.driver.kick());
      const moved = pop(size) + push(held.length, 'none') + reap('driver reap (drain)', size);
      idle = moved === 0 ? idle + 1 : 0;
    }
    if (!check.failure && tokens.outstanding > 0) {
      const which = tokens.list().slice(0, 8).join(', ');
      if (idle >= 3) check.fail('lost', `${tokens.outstanding} tokens never came back (${which})`);
      else
        check.fail('hang', `the drain still moved after ${budget} rounds, ${tokens.outstanding} tokens out (${which})`);
    } else if (!check.failure && q.driver.numFree !== size) {
      check.fail('lost', `every token came back but the driver has ${q.driver.numFree} of ${size} descriptors free`);
    }
  }
  return check.result(variant);
}

export const ringTarget: FuzzTarget = {
  name: 'ring',
  title: 'split and packed rings, driver and device faces, with lies in ring memory',
  run: runRingIteration,
};

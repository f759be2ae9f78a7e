// The loops that run queues: co-located (driver and device side on one
// thread, in batches) and split (driver side and device side on two threads
// that ring doorbells in shared memory). They work through the Virtqueue
// faces, so they run on split and packed rings alike, and they make one
// JS→Wasm call per batch step, never one per descriptor. They run on a worker
// thread (workers/queue-worker.ts) or, for the co-located loop, on any thread.
import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import { VqsimError } from '../errors.js';
import { PackedQueue } from '../virtqueue/packed/queue.js';
import type { Virtqueue } from '../virtqueue/queue.js';
import { SplitQueue } from '../virtqueue/split/queue.js';
import type { RequestBatch } from '../virtqueue/split/request-batch.js';
import { ONE_BUFFER_REQ } from './attach.js';
import { CpuOf, ownTid } from './cpu.js';
import {
  STATE_ASLEEP,
  STATE_AWAY,
  STATE_RUNNING,
  STATE_WOKEN,
  W_CALL,
  W_DEV_BEAT,
  W_DEV_STATE,
  W_DEV_TID,
  W_DRV_BEAT,
  W_DRV_STATE,
  W_DRV_TID,
  W_KICK,
  zeroCounters,
  type Control,
  type ThreadCounters,
} from './control.js';

/** When a run ends: after this many chains, after this long, or when stopped (whichever comes first). */
export interface RunLimits {
  chains?: number;
  durationMs?: number;
}

/**
 * A fault to inject, for tests of the failure paths: throw, spin without
 * heartbeat, exit the thread, or 'stall': stay alive (heartbeat, doorbell
 * waits) but complete nothing more until stopped, as a device that stops
 * serving without dying does (the progress watchdog's case; device loop
 * only: elsewhere it spins as 'hang' does).
 */
export interface Fault {
  kind: 'throw' | 'hang' | 'exit' | 'stall';
  /** After this many chains (default 0). */
  afterChains?: number;
}

/**
 * How a split pair's device hands chains back. 'batch': it pops up to
 * deviceBatch chains and pushes them back with one publish (QEMU's
 * virtqueue_fill() for each, then one virtqueue_flush()). 'each': it uses up
 * to deviceBatch chains one at a time, each popped and published before the
 * next is read (QEMU's virtqueue_push() per element; ringtest's use_buf()
 * loop), still in one call into the core.
 */
export type DevicePublish = 'batch' | 'each';

export interface LoopOptions {
  /** Check every completion: tokens come back in order, exactly once, with len = chainBytes. */
  verify?: boolean;
  /** Device-writable bytes per chain (the len a completion must carry when verify is on). */
  chainBytes?: number;
  /**
   * Split pairs (see Waiter): how long, in µs, a thread spins when its partner
   * is asleep or away; how long the partner's heartbeat must stop before it
   * counts as stalled; the least the spin budget for a stalled partner
   * shrinks to. Default 20.
   */
  spinUs?: number;
  /**
   * Split pairs: the most a thread spins for a stalled partner that waits
   * for another CPU, in µs (the budget starts here, halves when a stall
   * outlasts it, doubles when the partner comes back within it). Default
   * 10000: a few time slices. A partner that runs is waited for without limit.
   */
  spinMaxUs?: number;
  /**
   * Most empty polls before sleeping, whatever the partner does. Unlimited by
   * default; tests set it low so the threads sleep and wake all the time and
   * the notification races get exercised.
   */
  maxPolls?: number;
  /** Longest single Atomics.wait, in ms: a sleeping thread notices a stop flag this fast. */
  waitMs?: number;
  /**
   * The driver sleeps with virtqueue_enable_cb_delayed(): woken when 3/4 of
   * what is in flight has completed, not at the first completion. Default true.
   */
  delayedCallbacks?: boolean;
  /** Most chains the driver keeps in flight (ringtest's max_outstanding); default the queue size. */
  maxInflight?: number;
  /** Most chains the device pops (and pushes back) per call; default the queue size. */
  deviceBatch?: number;
  /** How the device publishes what it used; see DevicePublish. Default 'batch'. */
  publish?: DevicePublish;
  fault?: Fault;
}

const HEARTBEAT_MASK = 63;
/**
 * The split-pair loops look at the stop flag and the clock, and publish
 * their counters, every this many turns + 1 (a turn can be one empty poll).
 */
const CHECK_MASK = 1023;
/**
 * A split-pair thread makes its notification decision (kick_prepare,
 * should_notify) once for this many chains, when it goes idle, and before it
 * sleeps: as Linux's xmit_more and QEMU's one virtio_notify per pass do.
 */
const NOTIFY_EVERY = 64;
/** A running loop beats every BEAT_MASK + 1 turns (a partner looks every 64 empty polls and after spinUs). */
const BEAT_MASK = 15;
export const DEFAULT_SPIN_US = 20;
export const DEFAULT_SPIN_MAX_US = 10000;
/** How long a stopping driver waits for its chains in flight. */
const DRAIN_MS = 1000;

function limitsOf(l: RunLimits): { target: number; deadline: number } {
  const target = l.chains ?? Number.POSITIVE_INFINITY;
  const deadline = l.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + l.durationMs;
  return { target, deadline };
}

function injectFault(f: Fault, name: string, role: string): void {
  if (f.kind === 'throw') throw new VqsimError('INJECTED_FAULT', `${name}: ${role} loop: injected fault`);
  if (f.kind === 'exit') process.exit(7);
  // 'hang': burn the thread without a heartbeat until it is terminated.
  for (;;) {
    /* spin */
  }
}

/**
 * A live thread that makes no progress: beats its heartbeat and sleeps in
 * bounded waits (so the hang watchdog sees it alive) until the stop flag.
 */
function stall(i32: Int32Array, beatWord: number, waitMs: number, c: ThreadCounters): void {
  while (Atomics.load(i32, 0) === 0) {
    c.turns++;
    c.idleTurns++;
    beat(i32, beatWord);
    Atomics.wait(i32, beatWord, i32[beatWord]!, Math.max(1, waitMs));
  }
}

/** Writes tokens seq, seq+1, ... into the first n requests of a one-buffer batch. */
function stampTokens(u32: Uint32Array, batch: RequestBatch, n: number, seq: number): void {
  let at = (batch.ptr + L.REQ_TOKEN) >>> 2;
  const stride = ONE_BUFFER_REQ >>> 2;
  for (let k = 0; k < n; k++, at += stride) u32[at] = (seq + k) >>> 0;
}

/** Checks n completions: tokens expected, expected+1, ... and len = bytes. Returns the next expected token. */
function checkCompletions(q: Virtqueue, n: number, expected: number, bytes: number): number {
  const c = q.driver.completions;
  for (let k = 0; k < n; k++, expected++) {
    const token = c[2 * k]!;
    const len = c[2 * k + 1]!;
    if (token !== expected >>> 0 || len !== bytes) {
      throw new VqsimError(
        'CHAIN_MISMATCH',
        `${q.name}: completion ${expected} came back as token ${token} len ${len}, expected token ${expected >>> 0} len ${bytes}`,
      );
    }
  }
  return expected;
}

/** One queue of a co-located worker, with the batch its driver adds. */
export interface ColocatedSlot {
  queue: Virtqueue;
  batch: RequestBatch;
}

/**
 * Runs driver and device side of every queue on this thread: per queue and
 * turn, add a batch → kick_prepare → pop → push → should_notify → reap. Each
 * step is one call into the core for the whole batch. Every chain added in a
 * turn is completed in the same turn, so the run ends with nothing in flight.
 */
export function colocatedLoop(
  ctl: Control | undefined,
  slots: readonly ColocatedSlot[],
  limits: RunLimits,
  opts: LoopOptions = {},
): ThreadCounters {
  const c = zeroCounters();
  const { target, deadline } = limitsOf(limits);
  const verify = opts.verify ?? false;
  const bytes = opts.chainBytes ?? 0;
  const fault = opts.fault;
  const full = slots.map((s) => s.batch.maxChains);
  const seqs = slots.map(() => 0);
  const u32s = slots.map((s) => new Uint32Array(s.queue.mem.memory.buffer));
  const i32 = ctl?.i32;
  const t0 = performance.now();
  try {
    while (c.added < target) {
      if (i32) {
        if (Atomics.load(i32, 0) !== 0) break;
        i32[W_DRV_BEAT] = (i32[W_DRV_BEAT]! + 1) | 0;
      }
      if (performance.now() >= deadline) break;
      if (fault && c.chains >= (fault.afterChains ?? 0)) injectFault(fault, slots[0]?.queue.name ?? '?', 'co-located');
      c.turns++;
      for (let s = 0; s < slots.length; s++) {
        const { queue: q, batch } = slots[s]!;
        const room = Math.min(full[s]!, target - c.added);
        if (room <= 0) break;
        batch.count = room;
        if (verify) stampTokens(u32s[s]!, batch, room, seqs[s]!);
        c.added += q.driver.addBatch(batch);
        if (q.driver.kick()) c.rings++;
        const n = q.device.popBatch();
        if (n > 0) {
          q.device.pushPopped(n);
          if (q.device.shouldNotify()) c.rings++;
        }
        const r = q.driver.reap();
        if (verify) seqs[s] = checkCompletions(q, r, seqs[s]!, bytes);
        c.chains += r;
      }
      if (ctl && (c.turns & HEARTBEAT_MASK) === 0) {
        c.elapsedMs = performance.now() - t0;
        ctl.publish('driver', c);
      }
    }
  } finally {
    c.elapsedMs = performance.now() - t0;
    ctl?.publish('driver', c);
    for (const s of slots) s.batch.count = s.batch.maxChains;
  }
  return c;
}

/**
 * 64 empty polls take a few µs; a gap this long between two clock reads
 * while spinning means this thread was preempted (counted only).
 */
const PREEMPT_MS = 0.2;

/** While a partner is stalled, a spinning thread looks where it waits this often; a look holds this long. */
const PLACE_MS = 0.5;
/**
 * At most this often, a thread whose partner waits for its CPU spins on for
 * PROBE_SPIN_MS anyway: with both runnable on one CPU, the kernel's load
 * balancer moves one to a CPU that has gone idle, and the pair runs on two
 * again (two threads that take turns on one CPU never look busy enough to be
 * moved).
 */
const PROBE_MS = 50;
const PROBE_SPIN_MS = 3;

/**
 * How one thread of a split pair waits for the other (DPDK's and ringtest's
 * pollers, made to share cores). Each loop bumps a heartbeat word every turn
 * and publishes its state (running its loop, asleep on its doorbell, woken,
 * or away: outside its loop) and its kernel thread id. A thread that finds no
 * work spins on the ring and, every 64 polls, reads the clock and its
 * partner's state and heartbeat:
 *
 * - partner asleep (not woken) or away: nothing comes until it is woken, so
 *   sleep after spinUs;
 * - partner's heartbeat moving: it is on a core and will hand work over;
 *   spin on, however long (two threads on two free cores never sleep);
 * - partner's heartbeat stopped for spinUs (a stall: preempted by another
 *   process, or woken and not on a core yet): look where it waits (Linux:
 *   /proc/<tid>/stat, see cpu.ts). If it waits for this thread's own CPU,
 *   spinning only keeps it off: sleep now, with notifications enabled, and
 *   the two hand the core to each other through the doorbells. If it waits
 *   for another CPU, spin on: it runs again when that CPU is free, and this
 *   one is ready the moment it does (a thread that slept instead would wait
 *   for a core itself, up to a time slice on a busy machine). Look again
 *   every PLACE_MS, as the scheduler moves threads; within PLACE_MS of
 *   finding the partner on this CPU, the next stall sleeps at once, so the
 *   two take turns quickly; every PROBE_MS such a stall is spun through for
 *   PROBE_SPIN_MS instead, so that the pair can be spread over two CPUs again.
 *
 * A stall is spun through for at most the budget, which adapts between
 * spinUs and spinMaxUs: it halves each time a stall outlasts it, and doubles
 * each time the partner came back within it. Without /proc (another OS) the
 * budget alone decides.
 */
class Waiter {
  readonly minMs: number;
  readonly maxMs: number;
  readonly maxPolls: number;
  budgetMs: number;
  private start = 0;
  private last = 0;
  private beat = 0;
  private since = 0;
  private stalled = false;
  private looked = -Infinity;
  /** When the partner was last found waiting for this thread's CPU, and when a stall was last spun through anyway. */
  private sharedAt = -Infinity;
  private probedAt = -Infinity;
  private probing = false;
  private readonly own: CpuOf;
  private partner: CpuOf | undefined;
  constructor(
    opts: LoopOptions,
    private readonly i32: Int32Array,
    private readonly partnerState: number,
    private readonly partnerBeat: number,
    private readonly partnerTid: number,
    ownTidWord: number,
  ) {
    this.minMs = Math.max(0.001, (opts.spinUs ?? DEFAULT_SPIN_US) / 1000);
    this.maxMs = Math.max(this.minMs, (opts.spinMaxUs ?? DEFAULT_SPIN_MAX_US) / 1000);
    this.budgetMs = this.maxMs;
    this.maxPolls = opts.maxPolls ?? Number.POSITIVE_INFINITY;
    const tid = ownTid();
    Atomics.store(i32, ownTidWord, tid);
    this.own = new CpuOf(tid);
  }

  /** The budget in µs (for the counters). */
  get budgetUs(): number {
    return Math.round(this.budgetMs * 1000);
  }

  /** True when the partner waits in this thread's own CPU's run queue. */
  private sharesCore(): boolean {
    const tid = Atomics.load(this.i32, this.partnerTid);
    if (tid === 0) return false;
    if (this.partner?.tid !== tid) {
      this.partner?.close();
      this.partner = new CpuOf(tid);
    }
    const mine = this.own.cpu();
    return mine >= 0 && mine === this.partner.cpu();
  }

  /**
   * Called on every empty poll with the streak length; true when it is time
   * to stop spinning and sleep.
   */
  spent(idle: number, c: ThreadCounters): boolean {
    if (idle === 1) {
      this.start = this.last = this.since = performance.now();
      this.beat = Atomics.load(this.i32, this.partnerBeat);
      this.stalled = false;
      return false;
    }
    if (idle >= this.maxPolls) return true;
    if ((idle & 63) !== 0) return false;
    const now = performance.now();
    if (now - this.last > PREEMPT_MS) c.preemptions++;
    this.last = now;
    const state = Atomics.load(this.i32, this.partnerState);
    if (state === STATE_ASLEEP || state === STATE_AWAY) return now - this.start >= this.minMs;
    const beat = Atomics.load(this.i32, this.partnerBeat);
    if (beat !== this.beat) {
      this.beat = beat;
      this.since = now;
      this.stallEnded(c);
      return false;
    }
    const stall = now - this.since;
    if (!this.stalled) {
      // Lately found on this CPU: take turns at once rather than wait spinUs.
      if (stall < this.minMs && now - this.sharedAt >= PLACE_MS) return false;
      this.stalled = true;
      this.probing = false;
    }
    if (this.probing) {
      if (stall < PROBE_SPIN_MS) return false;
      // Not moved apart: take turns again.
      this.probing = false;
      return this.yieldCore(c);
    }
    // One look at /proc (a pread, some µs) holds for PLACE_MS, whatever the stalls.
    if (now - this.looked >= PLACE_MS) {
      this.looked = now;
      if (this.sharesCore()) this.sharedAt = now;
    }
    const shared = now - this.sharedAt < PLACE_MS;
    if (shared) {
      if (now - this.probedAt < PROBE_MS) return this.yieldCore(c);
      this.probedAt = now;
      this.probing = true;
      return false;
    }
    if (stall < this.budgetMs) return false;
    c.spinsSpent++;
    this.stalled = false;
    this.budgetMs = Math.max(this.minMs, this.budgetMs / 2);
    c.spinBudget = this.budgetUs;
    return true;
  }

  /** Stops spinning: the partner waits for this CPU, and sleeping hands it over. */
  private yieldCore(c: ThreadCounters): boolean {
    c.coreShared++;
    this.stalled = false;
    return true;
  }

  /** The partner ran again during a stall (its heartbeat moved, or its work arrived): spinning paid. */
  private stallEnded(c: ThreadCounters): void {
    if (!this.stalled) return;
    this.stalled = false;
    this.budgetMs = Math.min(this.maxMs, this.budgetMs * 2);
    c.spinBudget = this.budgetUs;
  }

  /** A spin found work. */
  found(c: ThreadCounters): void {
    this.stallEnded(c);
  }

  /** Sleeps on a doorbell word (from JavaScript, with a timeout). */
  sleep(word: number, seen: number, waitMs: number, c: ThreadCounters, ownState: number): void {
    Atomics.store(this.i32, ownState, STATE_ASLEEP);
    const t = performance.now();
    const r = Atomics.wait(this.i32, word, seen, waitMs);
    const slept = performance.now() - t;
    Atomics.store(this.i32, ownState, STATE_RUNNING);
    c.waitMs += slept;
    c.waits++;
    if (r === 'ok') c.wakes++;
    else if (r === 'timed-out') c.timeouts++;
    else c.notEqual++;
    c.spinBudget = this.budgetUs;
  }

  close(): void {
    this.own.close();
    this.partner?.close();
  }
}

/**
 * Rings the partner's doorbell: bumps the word, marks a sleeping partner
 * woken (so this side keeps spinning for it rather than falling asleep in
 * turn: a wake takes tens of µs), and wakes it.
 */
function ring(i32: Int32Array, word: number, partnerState: number): void {
  Atomics.add(i32, word, 1);
  Atomics.compareExchange(i32, partnerState, STATE_ASLEEP, STATE_WOKEN);
  Atomics.notify(i32, word);
}

/** Bumps a thread's heartbeat word (its partner and the hang watchdog read it). */
function beat(i32: Int32Array, word: number): void {
  i32[word] = (i32[word]! + 1) | 0;
}

/**
 * virtqueue_enable_cb_delayed(), after enableCallbacks() found nothing: moves
 * the driver's used event index from the next completion to the one that
 * completes 3/4 of the `inflight` chains (all of them at the device, so it
 * will get there), so a sleeping driver is woken once for many completions
 * while the device still has work. Returns false when a completion arrived
 * meanwhile (reap instead of sleeping).
 */
function delayCallbacks(q: Virtqueue, inflight: number): boolean {
  const bufs = (inflight * 3) >>> 2;
  if (bufs === 0) return true;
  const mem = q.mem;
  if (q instanceof SplitQueue) {
    if (!q.eventIdx) return true;
    const u16 = new Uint16Array(mem.memory.buffer);
    const eventAt = mem.linear(q.ringAddr + q.layout.usedEvent, 2) >>> 1;
    const lastUsed = Atomics.load(u16, eventAt);
    Atomics.store(u16, eventAt, (lastUsed + bufs) & 0xffff);
    return Atomics.load(u16, mem.linear(q.ringAddr + q.layout.used + L.VRING_USED_IDX, 2) >>> 1) === lastUsed;
  }
  if (q instanceof PackedQueue) {
    if (!q.eventIdx) return true;
    const u16 = new Uint16Array(mem.memory.buffer);
    const eventAt = mem.linear(q.ringAddr + q.layout.driver + P.PEVENT_OFF_WRAP, 2) >>> 1;
    const offWrap = Atomics.load(u16, eventAt);
    const last = offWrap & P.PEVENT_OFF_MASK;
    const wrap = offWrap >>> P.PEVENT_WRAP_SHIFT;
    let at = last + bufs;
    let w = wrap;
    if (at >= q.size) {
      at -= q.size;
      w ^= 1;
    }
    Atomics.store(u16, eventAt, at | (w << P.PEVENT_WRAP_SHIFT));
    // is_used_desc_packed() at last_used: AVAIL and USED both equal its wrap counter.
    const flags = Atomics.load(u16, mem.linear(q.ringAddr + last * P.PDESC_SIZE + P.PDESC_FLAGS, 2) >>> 1);
    const a = (flags & P.PDESC_F_AVAIL) !== 0 ? 1 : 0;
    const u = (flags & P.PDESC_F_USED) !== 0 ? 1 : 0;
    return !(a === u && u === wrap);
  }
  return true;
}

/**
 * The driver thread of a split pair, as ringtest's run_guest(): keep up to
 * maxInflight one-descriptor chains in flight, adding as many as there is room
 * for in one call, kick when kick_prepare says so, reap what came back. When
 * spinning stops paying (see Waiter), re-enable callbacks
 * (virtqueue_enable_cb_delayed: it re-checks the ring), then sleep on the call
 * word. Returns when `limits` are met or the stop flag is set; chains still in
 * flight then are reaped first (a stop leaves nothing in flight).
 */
export function driverLoop(
  ctl: Control,
  q: Virtqueue,
  batch: RequestBatch,
  limits: RunLimits,
  opts: LoopOptions = {},
): ThreadCounters {
  const c = zeroCounters();
  const i32 = ctl.i32;
  const d = q.driver;
  const { target, deadline } = limitsOf(limits);
  const wait = new Waiter(opts, i32, W_DEV_STATE, W_DEV_BEAT, W_DEV_TID, W_DRV_TID);
  c.spinBudget = wait.budgetUs;
  const waitMs = opts.waitMs ?? 20;
  const delayed = opts.delayedCallbacks ?? true;
  const maxInflight = Math.min(opts.maxInflight ?? q.size, q.size);
  /**
   * Refill in batches of an eighth of what may be in flight (as Linux's
   * virtio-net refills its RX ring), so a device that returns one chain at a
   * time does not cost one add call per chain; the device still has 7/8 to do.
   */
  const refill = Math.max(1, maxInflight >>> 3);
  const verify = opts.verify ?? false;
  const bytes = opts.chainBytes ?? 0;
  const fault = opts.fault;
  const full = batch.maxChains;
  const u32 = new Uint32Array(q.mem.memory.buffer);
  let idle = 0;
  let draining = false;
  let drainEnd = 0;
  /** Chains added since the last kick decision. */
  let unkicked = 0;
  const kick = () => {
    unkicked = 0;
    if (d.kick()) {
      c.rings++;
      ring(i32, W_KICK, W_DEV_STATE);
    }
  };
  const t0 = performance.now();
  d.disableCallbacks();
  Atomics.store(i32, W_DRV_STATE, STATE_RUNNING);
  try {
    for (;;) {
      // The partner polls this word while it spins: a store every turn would
      // take its cache line back from that core every turn.
      if ((++c.turns & BEAT_MASK) === 0) beat(i32, W_DRV_BEAT);
      if ((c.turns & CHECK_MASK) === 0) {
        if (!draining && (Atomics.load(i32, 0) !== 0 || performance.now() >= deadline)) draining = true;
        // A device that stopped answering must not keep the driver here.
        if (draining && performance.now() > (drainEnd ||= performance.now() + DRAIN_MS)) break;
        if (fault && c.chains >= (fault.afterChains ?? 0)) injectFault(fault, q.name, 'driver');
        c.elapsedMs = performance.now() - t0;
        ctl.publish('driver', c);
      }
      let progress = false;
      const inflight = c.added - c.chains;
      const room = draining ? 0 : Math.min(maxInflight - inflight, full, target - c.added);
      if (room >= refill || (room > 0 && (room === target - c.added || inflight < refill))) {
        batch.count = room;
        if (verify) stampTokens(u32, batch, room, c.added);
        const a = d.addBatch(batch);
        if (a > 0) {
          c.added += a;
          progress = true;
          if ((unkicked += a) >= NOTIFY_EVERY) kick();
        }
      }
      const n = d.reap();
      if (n > 0) {
        if (verify) checkCompletions(q, n, c.chains, bytes);
        c.chains += n;
        progress = true;
      }
      if (c.chains >= target || (draining && c.chains === c.added)) break;
      if (progress) {
        if (idle > 0) wait.found(c);
        idle = 0;
        continue;
      }
      c.idleTurns++;
      idle++;
      if (unkicked > 0 && (idle & 63) === 0) kick();
      if (!wait.spent(idle, c)) continue;
      idle = 0;
      if (unkicked > 0) kick();
      // Going to sleep: read the word first, then re-enable callbacks, which
      // re-checks the used ring; a device that pushes after that sees the
      // request and rings the word, so the wait below cannot miss it.
      const seen = Atomics.load(i32, W_CALL);
      if (!d.enableCallbacks() || (delayed && !delayCallbacks(q, c.added - c.chains))) {
        c.recheckHits++;
        d.disableCallbacks();
        continue;
      }
      if (Atomics.load(i32, 0) !== 0 || performance.now() >= deadline) draining = true;
      wait.sleep(W_CALL, seen, waitMs, c, W_DRV_STATE);
      beat(i32, W_DRV_BEAT);
      d.disableCallbacks();
    }
  } finally {
    wait.close();
    Atomics.store(i32, W_DRV_STATE, STATE_AWAY);
    batch.count = full;
    c.elapsedMs = performance.now() - t0;
    ctl.publish('driver', c);
  }
  return c;
}

/**
 * The device thread of a split pair, as ringtest's run_host(): pop what is
 * available (at most deviceBatch chains per call), push it back used (a
 * loopback device: len = the writable bytes), interrupt when should_notify
 * says so. When spinning stops paying (see Waiter), re-enable notifications
 * and re-check the ring (the race-free order), then sleep on the kick word.
 * Runs until the stop flag is set.
 */
export function deviceLoop(ctl: Control, q: Virtqueue, opts: LoopOptions = {}): ThreadCounters {
  const c = zeroCounters();
  const i32 = ctl.i32;
  const v = q.device;
  const wait = new Waiter(opts, i32, W_DRV_STATE, W_DRV_BEAT, W_DRV_TID, W_DEV_TID);
  c.spinBudget = wait.budgetUs;
  const waitMs = opts.waitMs ?? 20;
  const fault = opts.fault;
  const popMax = Math.max(1, Math.min(opts.deviceBatch ?? q.size, q.size));
  const each = opts.publish === 'each';
  let idle = 0;
  /** Chains pushed since the last interrupt decision. */
  let unsignalled = 0;
  const signal = () => {
    unsignalled = 0;
    if (v.shouldNotify()) {
      c.rings++;
      ring(i32, W_CALL, W_DRV_STATE);
    }
  };
  const t0 = performance.now();
  v.setNotify(false);
  Atomics.store(i32, W_DEV_STATE, STATE_RUNNING);
  try {
    for (;;) {
      if ((++c.turns & BEAT_MASK) === 0) beat(i32, W_DEV_BEAT);
      if ((c.turns & CHECK_MASK) === 0) {
        if (Atomics.load(i32, 0) !== 0) break;
        if (fault && c.chains >= (fault.afterChains ?? 0)) {
          if (fault.kind === 'stall') {
            stall(i32, W_DEV_BEAT, waitMs, c);
            break;
          }
          injectFault(fault, q.name, 'device');
        }
        c.elapsedMs = performance.now() - t0;
        ctl.publish('device', c);
      }
      const n = each ? v.useBatch(popMax) : v.popBatch(popMax);
      if (n > 0) {
        if (!each) v.pushPopped(n);
        c.chains += n;
        if ((unsignalled += n) >= NOTIFY_EVERY) signal();
        if (idle > 0) wait.found(c);
        idle = 0;
        continue;
      }
      c.idleTurns++;
      idle++;
      if (unsignalled > 0 && (idle & 63) === 0) signal();
      if (!wait.spent(idle, c)) continue;
      idle = 0;
      if (unsignalled > 0) signal();
      const seen = Atomics.load(i32, W_KICK);
      if (v.setNotify(true)) {
        c.recheckHits++;
        v.setNotify(false);
        continue;
      }
      if (Atomics.load(i32, 0) !== 0) break;
      wait.sleep(W_KICK, seen, waitMs, c, W_DEV_STATE);
      beat(i32, W_DEV_BEAT);
      v.setNotify(false);
    }
  } finally {
    wait.close();
    Atomics.store(i32, W_DEV_STATE, STATE_AWAY);
    c.elapsedMs = performance.now() - t0;
    ctl.publish('device', c);
  }
  return c;
}

// The loops that run queues: co-located (driver and device side on one
// thread, in batches) and split (driver side and device side on two threads
// that ring doorbells in shared memory). They work through the Virtqueue
// faces, so they run on split and packed rings alike, and they make one
// JS→Wasm call per batch step, never one per descriptor. They run on a worker
// thread (workers/queue-worker.ts) or, for the co-located loop, on any thread.
import * as L from '../../assembly/layout.js';
import { VqsimError } from '../errors.js';
import type { Virtqueue } from '../virtqueue/queue.js';
import type { RequestBatch } from '../virtqueue/split/request-batch.js';
import { ONE_BUFFER_REQ } from './attach.js';
import { W_CALL, W_DEV_BEAT, W_DRV_BEAT, W_KICK, zeroCounters, type Control, type ThreadCounters } from './control.js';

/** When a run ends: after this many chains, after this long, or when stopped (whichever comes first). */
export interface RunLimits {
  chains?: number;
  durationMs?: number;
}

/** A fault to inject, for tests of the failure paths: throw, spin without heartbeat, or exit the thread. */
export interface Fault {
  kind: 'throw' | 'hang' | 'exit';
  /** After this many chains (default 0). */
  afterChains?: number;
}

export interface LoopOptions {
  /** Check every completion: tokens come back in order, exactly once, with len = chainBytes. */
  verify?: boolean;
  /** Device-writable bytes per chain (the len a completion must carry when verify is on). */
  chainBytes?: number;
  /**
   * Empty polls of the ring before a thread goes to sleep on its doorbell, at
   * first and at least (default 4096). The budget adapts: it doubles (up to
   * spinMax) after a sleep that the other side ended within SHORT_SLEEP_MS or
   * a re-check that found work — spinning that long would have saved a futex
   * wait and wake — and drops back to the minimum after a longer or timed-out
   * sleep, or when the thread is preempted while spinning (oversubscribed
   * cores: spinning then keeps the other side from running).
   */
  spin?: number;
  /** Upper bound of the adaptive spin budget (default 131072 polls, a few ms). Set it to spin for a fixed budget. */
  spinMax?: number;
  /** Longest single Atomics.wait, in ms: a sleeping thread notices a stop flag this fast. */
  waitMs?: number;
  /** Most chains the driver keeps in flight (ringtest's max_outstanding); default the queue size. */
  maxInflight?: number;
  /** Most chains the device pops (and pushes back) per call; default the queue size. */
  deviceBatch?: number;
  fault?: Fault;
}

const HEARTBEAT_MASK = 63;
export const DEFAULT_SPIN = 4096;
export const DEFAULT_SPIN_MAX = 131072;
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

/** A sleep this short, ended by the other side, says a longer spin would have been cheaper. */
const SHORT_SLEEP_MS = 0.5;
/**
 * 64 empty polls take a few µs; a gap this long between two clock reads
 * while spinning means the thread was preempted: the cores are oversubscribed
 * and spinning only keeps the other side off a core.
 */
const PREEMPT_MS = 0.2;

/** The adaptive spin budget of one thread (see LoopOptions.spin). */
class SpinBudget {
  readonly min: number;
  readonly max: number;
  value: number;
  private last = 0;
  constructor(opts: LoopOptions) {
    this.min = Math.max(1, opts.spin ?? DEFAULT_SPIN);
    this.max = Math.max(this.min, opts.spinMax ?? DEFAULT_SPIN_MAX);
    this.value = this.min;
  }
  /**
   * Called on every empty poll with the streak length; true when it is time
   * to sleep: the budget is spent, or the thread was preempted while spinning
   * (then the budget drops to its minimum).
   */
  spent(idle: number, c: ThreadCounters): boolean {
    if (idle === 1) this.last = performance.now();
    else if ((idle & 63) === 0) {
      const now = performance.now();
      const gap = now - this.last;
      this.last = now;
      if (gap > PREEMPT_MS) {
        c.preemptions++;
        this.value = this.min;
        return true;
      }
    }
    return idle >= this.value;
  }
  grow(): void {
    this.value = Math.min(this.max, this.value * 2);
  }
  /** Back to the minimum: one long sleep says the other side is not about to answer. */
  reset(): void {
    this.value = this.min;
  }
}

/** Sleeps on a doorbell word (from JavaScript, with a timeout) and adapts the spin budget. */
function sleepOn(
  i32: Int32Array,
  word: number,
  seen: number,
  waitMs: number,
  c: ThreadCounters,
  spin: SpinBudget,
): void {
  const t = performance.now();
  const r = Atomics.wait(i32, word, seen, waitMs);
  const slept = performance.now() - t;
  c.waitMs += slept;
  c.waits++;
  if (r === 'ok') c.wakes++;
  else if (r === 'timed-out') c.timeouts++;
  else c.notEqual++;
  if (r !== 'timed-out' && slept < SHORT_SLEEP_MS) spin.grow();
  else spin.reset();
  c.spinBudget = spin.value;
}

/**
 * The driver thread of a split pair, as ringtest's run_guest(): keep up to
 * maxInflight one-descriptor chains in flight, adding as many as there is room
 * for in one call, kick when kick_prepare says so, reap what came back. When a
 * whole spin budget of polls finds nothing, re-enable callbacks
 * (virtqueue_enable_cb: it re-checks the ring), then sleep on the call word.
 * Returns when `limits` are met or the stop flag is set; chains still in
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
  const spin = new SpinBudget(opts);
  c.spinBudget = spin.value;
  const waitMs = opts.waitMs ?? 20;
  const maxInflight = Math.min(opts.maxInflight ?? q.size, q.size);
  const verify = opts.verify ?? false;
  const bytes = opts.chainBytes ?? 0;
  const fault = opts.fault;
  const full = batch.maxChains;
  const u32 = new Uint32Array(q.mem.memory.buffer);
  let idle = 0;
  let draining = false;
  let drainEnd = 0;
  const t0 = performance.now();
  d.disableCallbacks();
  try {
    for (;;) {
      c.turns++;
      if ((c.turns & HEARTBEAT_MASK) === 0) {
        i32[W_DRV_BEAT] = (i32[W_DRV_BEAT]! + 1) | 0;
        if (!draining && (Atomics.load(i32, 0) !== 0 || performance.now() >= deadline)) draining = true;
        // A device that stopped answering must not keep the driver here.
        if (draining && performance.now() > (drainEnd ||= performance.now() + DRAIN_MS)) break;
        if (fault && c.chains >= (fault.afterChains ?? 0)) injectFault(fault, q.name, 'driver');
        c.elapsedMs = performance.now() - t0;
        ctl.publish('driver', c);
      }
      let progress = false;
      const room = draining ? 0 : Math.min(maxInflight - (c.added - c.chains), full, target - c.added);
      if (room > 0) {
        batch.count = room;
        if (verify) stampTokens(u32, batch, room, c.added);
        const a = d.addBatch(batch);
        if (a > 0) {
          c.added += a;
          progress = true;
          if (d.kick()) {
            c.rings++;
            Atomics.add(i32, W_KICK, 1);
            Atomics.notify(i32, W_KICK);
          }
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
        idle = 0;
        continue;
      }
      c.idleTurns++;
      if (!spin.spent(++idle, c)) continue;
      idle = 0;
      // Going to sleep: read the word first, then re-enable callbacks, which
      // re-checks the used ring; a device that pushes after that sees the
      // request and rings the word, so the wait below cannot miss it.
      const seen = Atomics.load(i32, W_CALL);
      if (!d.enableCallbacks()) {
        c.recheckHits++;
        spin.grow();
        d.disableCallbacks();
        continue;
      }
      if (Atomics.load(i32, 0) !== 0 || performance.now() >= deadline) draining = true;
      sleepOn(i32, W_CALL, seen, waitMs, c, spin);
      i32[W_DRV_BEAT] = (i32[W_DRV_BEAT]! + 1) | 0;
      d.disableCallbacks();
    }
  } finally {
    batch.count = full;
    c.elapsedMs = performance.now() - t0;
    ctl.publish('driver', c);
  }
  return c;
}

/**
 * The device thread of a split pair, as ringtest's run_host(): pop what is
 * available, push it back used (a loopback device: len = the writable bytes),
 * interrupt when should_notify says so. When a spin budget of polls finds
 * nothing, re-enable notifications and re-check the ring (the race-free
 * order), then sleep on the kick word. Runs until the stop flag is set.
 */
export function deviceLoop(ctl: Control, q: Virtqueue, opts: LoopOptions = {}): ThreadCounters {
  const c = zeroCounters();
  const i32 = ctl.i32;
  const v = q.device;
  const spin = new SpinBudget(opts);
  c.spinBudget = spin.value;
  const waitMs = opts.waitMs ?? 20;
  const fault = opts.fault;
  const popMax = Math.max(1, Math.min(opts.deviceBatch ?? q.size, q.size));
  let idle = 0;
  const t0 = performance.now();
  v.setNotify(false);
  try {
    for (;;) {
      c.turns++;
      if ((c.turns & HEARTBEAT_MASK) === 0) {
        i32[W_DEV_BEAT] = (i32[W_DEV_BEAT]! + 1) | 0;
        if (Atomics.load(i32, 0) !== 0) break;
        if (fault && c.chains >= (fault.afterChains ?? 0)) injectFault(fault, q.name, 'device');
        c.elapsedMs = performance.now() - t0;
        ctl.publish('device', c);
      }
      const n = v.popBatch(popMax);
      if (n > 0) {
        v.pushPopped(n);
        c.chains += n;
        if (v.shouldNotify()) {
          c.rings++;
          Atomics.add(i32, W_CALL, 1);
          Atomics.notify(i32, W_CALL);
        }
        idle = 0;
        continue;
      }
      c.idleTurns++;
      if (!spin.spent(++idle, c)) continue;
      idle = 0;
      const seen = Atomics.load(i32, W_KICK);
      if (v.setNotify(true)) {
        c.recheckHits++;
        spin.grow();
        v.setNotify(false);
        continue;
      }
      if (Atomics.load(i32, 0) !== 0) break;
      sleepOn(i32, W_KICK, seen, waitMs, c, spin);
      i32[W_DEV_BEAT] = (i32[W_DEV_BEAT]! + 1) | 0;
      v.setNotify(false);
    }
  } finally {
    c.elapsedMs = performance.now() - t0;
    ctl.publish('device', c);
  }
  return c;
}

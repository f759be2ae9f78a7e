import type { GuestMemory } from '../memory/guest-memory.js';

// A control block in host memory (below guest RAM) shared by the threads that
// run one set of queues: a stop flag, the two doorbell words, a heartbeat per
// thread and each thread's counters. Words one thread writes sit on their own
// 64-byte line so the two sides of a split pair do not bounce a line for them.
//
//   line 0: [0] stop (written by the controller)
//   lines 1..3: [16] kick doorbell (driver → device), [17] driver heartbeat, [18] driver state,
//               [19] driver thread id, driver counters (f64 from byte 80)
//   lines 4..6: [64] call doorbell (device → driver), [65] device heartbeat, [66] device state,
//               [67] device thread id, device counters (f64 from byte 272)

/** Int32 word indexes. */
export const W_STOP = 0;
export const W_KICK = 16;
export const W_DRV_BEAT = 17;
export const W_DRV_STATE = 18;
export const W_DRV_TID = 19;
export const W_CALL = 64;
export const W_DEV_BEAT = 65;
export const W_DEV_STATE = 66;
export const W_DEV_TID = 67;

/**
 * What a loop thread publishes in its state word: outside its loop, running
 * it, asleep on its doorbell, or woken (its partner rang the doorbell it
 * sleeps on and marked it so; it runs again in a moment).
 */
export const STATE_AWAY = 0;
export const STATE_RUNNING = 1;
export const STATE_ASLEEP = 2;
export const STATE_WOKEN = 3;

const DRV_COUNTERS = 80;
const DEV_COUNTERS = 272;
const COUNTER_SLOTS = 22;
export const CONTROL_BYTES = 448;

export type Role = 'driver' | 'device';

/**
 * Counters one thread keeps while it runs. `waits` counts Atomics.wait calls;
 * each ends in a wake (another thread bumped the word), a timeout, or
 * not-equal (the word moved between the check and the wait).
 */
export interface ThreadCounters {
  /** Chains this thread completed (driver: reaped; device: pushed back used). */
  chains: number;
  /** Chains the driver added (0 on the device side). */
  added: number;
  /** Loop turns, and turns that found nothing to do. */
  turns: number;
  idleTurns: number;
  /** Doorbell rings this thread sent (kicks from the driver, interrupts from the device). */
  rings: number;
  /** Times it re-enabled notifications before sleeping, and found work instead. */
  recheckHits: number;
  waits: number;
  wakes: number;
  timeouts: number;
  notEqual: number;
  /** Milliseconds spent inside Atomics.wait. */
  waitMs: number;
  /** Wall time of the loop in milliseconds. */
  elapsedMs: number;
  /** The adaptive spin budget (empty polls before a sleep) after the last sleep. */
  spinBudget: number;
  /** Spins during which the thread was preempted (a gap between two clock reads; oversubscribed cores). */
  preemptions: number;
  /** Spins given up because the partner thread stopped running for longer than the spin budget. */
  spinsSpent: number;
  /** Spins given up because the partner thread waited for this thread's own CPU (sleeping hands it over). */
  coreShared: number;
}

const names: (keyof ThreadCounters)[] = [
  'chains',
  'added',
  'turns',
  'idleTurns',
  'rings',
  'recheckHits',
  'waits',
  'wakes',
  'timeouts',
  'notEqual',
  'waitMs',
  'elapsedMs',
  'spinBudget',
  'preemptions',
  'spinsSpent',
  'coreShared',
];

export function zeroCounters(): ThreadCounters {
  const c = {} as ThreadCounters;
  for (const n of names) c[n] = 0;
  return c;
}

/** The control block at linear address `addr` of a machine memory, as one thread sees it. */
export class Control {
  readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(
    buffer: ArrayBufferLike,
    readonly addr: number,
  ) {
    this.i32 = new Int32Array(buffer, addr, CONTROL_BYTES / 4);
    this.f64 = new Float64Array(buffer, addr, CONTROL_BYTES / 8);
  }

  /** Reserves and zeroes a control block in `mem`'s host area (on the thread that built the machine). */
  static alloc(mem: GuestMemory): Control {
    return new Control(mem.memory.buffer, mem.hostAlloc(CONTROL_BYTES));
  }

  get stopped(): boolean {
    return Atomics.load(this.i32, W_STOP) !== 0;
  }

  /** Asks every thread on this block to stop, and wakes any that sleep on a doorbell. */
  stop(): void {
    Atomics.store(this.i32, W_STOP, 1);
    this.ring(W_KICK);
    this.ring(W_CALL);
  }

  /** Clears the stop flag for another run. */
  reset(): void {
    Atomics.store(this.i32, W_STOP, 0);
  }

  /** Bumps a doorbell word and wakes whoever sleeps on it. */
  ring(word: number): void {
    Atomics.add(this.i32, word, 1);
    Atomics.notify(this.i32, word);
  }

  beat(role: Role): number {
    return Atomics.load(this.i32, role === 'driver' ? W_DRV_BEAT : W_DEV_BEAT);
  }

  /** Publishes a thread's counters (plain stores: read as a snapshot). */
  publish(role: Role, c: ThreadCounters): void {
    const base = (role === 'driver' ? DRV_COUNTERS : DEV_COUNTERS) / 8;
    for (let k = 0; k < names.length; k++) this.f64[base + k] = c[names[k]!];
  }

  /** The counters a thread last published. */
  read(role: Role): ThreadCounters {
    const base = (role === 'driver' ? DRV_COUNTERS : DEV_COUNTERS) / 8;
    const c = {} as ThreadCounters;
    for (let k = 0; k < names.length; k++) c[names[k]!] = this.f64[base + k]!;
    return c;
  }
}

// The counters must fit their lines: driver ones end before the device line,
// and neither overlaps the words before them.
if (
  DRV_COUNTERS < (W_DRV_TID + 1) * 4 ||
  DEV_COUNTERS < (W_DEV_TID + 1) * 4 ||
  DRV_COUNTERS + 8 * COUNTER_SLOTS > W_CALL * 4 ||
  DEV_COUNTERS + 8 * COUNTER_SLOTS > CONTROL_BYTES
) {
  throw new Error('control block layout overlaps');
}
if (names.length > COUNTER_SLOTS) throw new Error('too many counters for the control block');

// pingpong: the split-thread round trip of one-descriptor chains between a
// driver thread and a device thread, as Linux's tools/virtio/ringtest measures
// it: the driver keeps up to `maxInflight` chains in flight (ringtest's
// max_outstanding, there INT_MAX so bounded by the ring size, 256), adds as
// many as there is room for, and counts completed round trips; the device
// pops and pushes back. A round trip is one chain added, used and reaped.
// Both threads poll while the other runs and sleep on a doorbell word only
// when the other is asleep, away, or waiting for this one's CPU (ringtest
// polls by default; its --sleep mode sleeps at once). See the README, "Two
// threads, and Linux's ringtest beside them", for how the two compare.
import {
  ColocatedWorker,
  createQueue,
  GuestMemory,
  SplitPair,
  type RingKind,
  type ThreadCounters,
  type Virtqueue,
} from '../src/internal.js';
import { lowerMedian, medianBy } from '../src/cli/bench/report.js';
import { DEFAULT_SPIN_MAX_US, DEFAULT_SPIN_US, type DevicePublish } from '../src/sim/loops.js';

export interface PingpongOptions {
  /** Ring kinds to run. Default ['split', 'packed']. */
  rings?: RingKind[];
  /** Queue size. Default 256 (ringtest's default). */
  queueSize?: number;
  /** Most chains in flight. Default the queue size. */
  maxInflight?: number;
  /** VIRTIO_F_EVENT_IDX (ringtest's virtio_ring_0_9 always uses it). Default true. */
  eventIdx?: boolean;
  /** Measured time per ring kind. Default 2000 ms. */
  durationMs?: number;
  /** Untimed run first, so the Wasm and the loops tier up. Default 500 ms. */
  warmupMs?: number;
  /** Shortest spin in µs before a thread sleeps (SplitPairOptions.spinUs). Default 20. */
  spinUs?: number;
  /** Most µs a thread spins for a stalled partner on another CPU (SplitPairOptions.spinMaxUs). Default 10000. */
  spinMaxUs?: number;
  /**
   * Most chains the device pops and pushes back per call. Default a quarter of
   * the queue size (64 for 256): the driver sees completions while the device
   * is still working, so the two threads overlap instead of taking turns with
   * whole rings. ringtest's device publishes every buffer.
   */
  deviceBatch?: number;
  /**
   * 'batch' (default): the device publishes what one call popped with one
   * store; 'each': it publishes every chain as it uses it, as ringtest's
   * use_buf() (see DevicePublish).
   */
  publish?: DevicePublish;
  /** Bytes of each chain's one (device-writable) buffer. Default 64. */
  chainBytes?: number;
}

/** One measured ring kind, JSON-able. */
export interface PingpongRow {
  bench: 'pingpong';
  ring: RingKind;
  queueSize: number;
  maxInflight: number;
  deviceBatch: number;
  publish: DevicePublish;
  spinUs: number;
  spinMaxUs: number;
  eventIdx: boolean;
  roundTrips: number;
  seconds: number;
  roundTripsPerSec: number;
  nsPerRoundTrip: number;
  /** Mean chains reaped per reap that found any (how batched the two threads ran). */
  chainsPerReap: number;
  /** From the queue's stats block, over the measured run. */
  kicks: number;
  kicksSuppressed: number;
  interrupts: number;
  interruptsSuppressed: number;
  /** Doorbell sleeps: Atomics.wait calls, how many were woken by the other side, and ms asleep. */
  driverWaits: number;
  driverWakes: number;
  driverWaitMs: number;
  deviceWaits: number;
  deviceWakes: number;
  deviceWaitMs: number;
  /** Share of loop turns that found no work (spinning). */
  driverIdleShare: number;
  deviceIdleShare: number;
  /** Spins given up because the other thread was not running for the whole spin budget (then it slept). */
  driverSpinsSpent: number;
  deviceSpinsSpent: number;
  /** Spins given up because the other thread waited for this thread's own CPU (then it slept, handing it over). */
  driverCoreShared: number;
  deviceCoreShared: number;
  /** The spin budgets at the end, in µs. */
  driverSpinUs: number;
  deviceSpinUs: number;
  node: string;
}

function delta(a: ThreadCounters, b: ThreadCounters): ThreadCounters {
  const out = { ...b };
  for (const k of Object.keys(b) as (keyof ThreadCounters)[]) out[k] = b[k] - a[k];
  return out;
}

function queueFor(ring: RingKind, size: number, eventIdx: boolean, name: string): Virtqueue {
  const mem = new GuestMemory({ size: Math.max(4 << 20, size * 4096) });
  return createQueue(mem, { ring, size, eventIdx, name });
}

/** Runs the pingpong benchmark; one row per ring kind. */
export async function runPingpong(options: PingpongOptions = {}): Promise<PingpongRow[]> {
  const rings = options.rings ?? ['split', 'packed'];
  const size = options.queueSize ?? 256;
  const eventIdx = options.eventIdx ?? true;
  const durationMs = options.durationMs ?? 2000;
  const warmupMs = options.warmupMs ?? 500;
  const deviceBatch = options.deviceBatch ?? Math.max(1, size >> 2);
  const publish = options.publish ?? 'batch';
  const rows: PingpongRow[] = [];
  for (const ring of rings) {
    const q = queueFor(ring, size, eventIdx, `pingpong-${ring}`);
    const pair = await SplitPair.start(q, {
      maxInflight: options.maxInflight,
      spinUs: options.spinUs,
      spinMaxUs: options.spinMaxUs,
      deviceBatch,
      publish,
      chainBytes: options.chainBytes,
    });
    try {
      if (warmupMs > 0) await pair.run({ durationMs: warmupMs });
      const before = pair.stats();
      const drv = await pair.run({ durationMs });
      const after = pair.stats();
      const dev = delta(before.device, after.device);
      const qs = after.queue;
      const q0 = before.queue;
      const seconds = drv.elapsedMs / 1000;
      const reaps = drv.turns - drv.idleTurns;
      rows.push({
        bench: 'pingpong',
        ring,
        queueSize: size,
        maxInflight: options.maxInflight ?? size,
        deviceBatch,
        publish,
        spinUs: options.spinUs ?? DEFAULT_SPIN_US,
        spinMaxUs: options.spinMaxUs ?? DEFAULT_SPIN_MAX_US,
        eventIdx,
        roundTrips: drv.chains,
        seconds,
        roundTripsPerSec: drv.chains / seconds,
        nsPerRoundTrip: (seconds * 1e9) / drv.chains,
        chainsPerReap: reaps > 0 ? drv.chains / reaps : 0,
        kicks: qs.kicks - q0.kicks,
        kicksSuppressed: qs.kicksSuppressed - q0.kicksSuppressed,
        interrupts: qs.interrupts - q0.interrupts,
        interruptsSuppressed: qs.interruptsSuppressed - q0.interruptsSuppressed,
        driverWaits: drv.waits,
        driverWakes: drv.wakes,
        driverWaitMs: drv.waitMs,
        deviceWaits: dev.waits,
        deviceWakes: dev.wakes,
        deviceWaitMs: dev.waitMs,
        driverIdleShare: drv.turns > 0 ? drv.idleTurns / drv.turns : 0,
        deviceIdleShare: dev.turns > 0 ? dev.idleTurns / dev.turns : 0,
        driverSpinsSpent: drv.spinsSpent,
        deviceSpinsSpent: dev.spinsSpent,
        driverCoreShared: drv.coreShared,
        deviceCoreShared: dev.coreShared,
        driverSpinUs: drv.spinBudget,
        deviceSpinUs: after.device.spinBudget,
        node: process.version,
      });
    } finally {
      await pair.stop();
    }
  }
  return rows;
}

export interface ColocatedBenchOptions {
  rings?: RingKind[];
  queueSize?: number;
  /** Worker counts to run (each worker runs one queue). Default [1, 2]; 1 is always run, first. */
  workers?: number[];
  durationMs?: number;
  warmupMs?: number;
  chainBytes?: number;
  /**
   * Times the whole worker-count list runs for each ring. Default 3. Each
   * round measures its own one-worker baseline, so a slow spell of a shared
   * machine lowers a round's N-worker rate and its baseline alike instead of
   * reading as poor scaling.
   */
  rounds?: number;
  /**
   * The machine's own scaling, measured in the same rounds: runs `workers`
   * copies of a native loop at once for `durationMs` and returns each copy's
   * rate (the CLI runs the C port of the split round trip, one process each).
   */
  native?: (workers: number, durationMs: number) => Promise<number[]>;
}

export interface ColocatedRow {
  bench: 'colocated';
  ring: RingKind;
  queueSize: number;
  workers: number;
  /** chains, seconds, chainsPerSec and nsPerChain are the median round's (by chainsPerSec). */
  chains: number;
  seconds: number;
  chainsPerSec: number;
  nsPerChain: number;
  /**
   * Median over rounds of the round's chainsPerSec ÷ (workers × that round's
   * one-worker rate of the same ring); 1 for the one-worker row.
   */
  scaling: number;
  /** Lowest and highest per-round scaling. */
  scalingMin: number;
  scalingMax: number;
  rounds: number;
  /** Slowest and fastest worker of the median round: its chains over its own elapsed time. */
  workerMinChainsPerSec: number;
  workerMaxChainsPerSec: number;
  /**
   * With a native baseline: the native copies' summed rate (median round),
   * their scaling (median over rounds, as `scaling`), and the median over
   * rounds of scaling ÷ native scaling: 1.0 means the workers scale as well
   * as native code does on this machine.
   */
  nativeChainsPerSec?: number;
  nativeScaling?: number;
  scalingVsNative?: number;
  node: string;
}

/** One worker count of one ring in one round. */
interface ColocatedRound {
  chains: number;
  seconds: number;
  chainsPerSec: number;
  scaling: number;
  workerRates: number[];
}

function nativeFields(
  rounds: { rate: number; scaling: number }[] | undefined,
  scalings: number[],
): Pick<ColocatedRow, 'nativeChainsPerSec' | 'nativeScaling' | 'scalingVsNative'> {
  if (!rounds) return {};
  return {
    nativeChainsPerSec: lowerMedian(rounds.map((r) => r.rate)),
    nativeScaling: lowerMedian(rounds.map((r) => r.scaling)),
    scalingVsNative: lowerMedian(scalings.map((s, k) => s / rounds[k]!.scaling)),
  };
}

async function colocatedRound(
  ring: RingKind,
  size: number,
  n: number,
  durationMs: number,
  warmupMs: number,
  chainBytes: number | undefined,
): Promise<Omit<ColocatedRound, 'scaling'>> {
  const mem = new GuestMemory({ size: Math.max(4 << 20, n * size * 1024) });
  const queues = Array.from({ length: n }, (_, k) => createQueue(mem, { ring, size, name: `${ring}${k}` }));
  const workers = await Promise.all(queues.map((q) => ColocatedWorker.start([q], { chainBytes })));
  try {
    if (warmupMs > 0) await Promise.all(workers.map((w) => w.run({ durationMs: warmupMs })));
    const res = await Promise.all(workers.map((w) => w.run({ durationMs })));
    const chains = res.reduce((s, r) => s + r.chains, 0);
    const seconds = Math.max(...res.map((r) => r.elapsedMs)) / 1000;
    return {
      chains,
      seconds,
      chainsPerSec: chains / seconds,
      workerRates: res.map((r) => (r.elapsedMs > 0 ? (r.chains * 1000) / r.elapsedMs : 0)),
    };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

/**
 * Co-located throughput: one queue per worker, driver and device on the same
 * thread, 1..N workers. Every round runs the one-worker case first and then
 * each other count, ring by ring, and scales each count against that round's
 * own one-worker rate; rows give the median round and the spread.
 */
export async function runColocatedBench(options: ColocatedBenchOptions = {}): Promise<ColocatedRow[]> {
  const rings = options.rings ?? ['split', 'packed'];
  const size = options.queueSize ?? 256;
  const durationMs = options.durationMs ?? 2000;
  const warmupMs = options.warmupMs ?? 500;
  const rounds = options.rounds ?? 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds ${rounds}: must be a whole number from 1`);
  const counts = [1, ...new Set((options.workers ?? [1, 2]).filter((n) => n !== 1))];
  const runs = new Map<string, ColocatedRound[]>();
  // Per worker count, per round: the native copies' summed rate and scaling.
  const native = new Map<number, { rate: number; scaling: number }[]>();
  for (let round = 0; round < rounds; round++) {
    for (const ring of rings) {
      let one = 0;
      for (const n of counts) {
        const r = await colocatedRound(ring, size, n, durationMs, warmupMs, options.chainBytes);
        if (n === 1) one = r.chainsPerSec;
        const key = `${ring}/${n}`;
        runs.set(key, [...(runs.get(key) ?? []), { ...r, scaling: one > 0 ? r.chainsPerSec / (n * one) : 1 }]);
      }
    }
    if (options.native) {
      let one = 0;
      for (const n of counts) {
        const rate = (await options.native(n, durationMs)).reduce((a, b) => a + b, 0);
        if (n === 1) one = rate;
        native.set(n, [...(native.get(n) ?? []), { rate, scaling: one > 0 ? rate / (n * one) : 1 }]);
      }
    }
  }
  const rows: ColocatedRow[] = [];
  for (const ring of rings) {
    for (const n of counts) {
      const all = runs.get(`${ring}/${n}`)!;
      const mid = medianBy(all, (r) => r.chainsPerSec);
      const scalings = all.map((r) => r.scaling);
      rows.push({
        bench: 'colocated',
        ring,
        queueSize: size,
        workers: n,
        chains: mid.chains,
        seconds: mid.seconds,
        chainsPerSec: mid.chainsPerSec,
        nsPerChain: (mid.seconds * 1e9 * n) / mid.chains,
        scaling: lowerMedian(scalings),
        scalingMin: Math.min(...scalings),
        scalingMax: Math.max(...scalings),
        rounds: all.length,
        workerMinChainsPerSec: Math.min(...mid.workerRates),
        workerMaxChainsPerSec: Math.max(...mid.workerRates),
        ...nativeFields(native.get(n), scalings),
        node: process.version,
      });
    }
  }
  return rows;
}

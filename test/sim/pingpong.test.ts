import { beforeAll, describe, expect, it } from 'vitest';
import { runColocatedBench, runPingpong } from '../../bench/pingpong.js';
import { bundleWorker } from '../helpers/bundle-worker.js';

// The workers run the bundled entry; build it from the sources under test.
beforeAll(() => bundleWorker('queue-worker'));

// Never asserts on speed: only that the rows are whole and agree with themselves.
describe('pingpong benchmark', () => {
  it('gives one JSON-able row per ring kind, with round trips that add up', async () => {
    const rows = await runPingpong({ durationMs: 150, warmupMs: 30, queueSize: 64 });
    expect(rows.map((r) => r.ring)).toEqual(['split', 'packed']);
    for (const r of rows) {
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
      expect(r).toMatchObject({ bench: 'pingpong', queueSize: 64, maxInflight: 64, deviceBatch: 16, eventIdx: true });
      expect(r.roundTrips).toBeGreaterThan(0);
      expect(r.seconds).toBeGreaterThan(0);
      expect(r.roundTripsPerSec).toBeCloseTo(r.roundTrips / r.seconds, 3);
      expect(r.nsPerRoundTrip * r.roundTripsPerSec).toBeCloseTo(1e9, 0);
      expect(r.driverWakes).toBeLessThanOrEqual(r.driverWaits);
      expect(r.node).toBe(process.version);
    }
  });

  it('gives co-located rows per worker count', async () => {
    const rows = await runColocatedBench({
      rings: ['split'],
      workers: [1, 2],
      durationMs: 100,
      warmupMs: 0,
      queueSize: 32,
      rounds: 1,
    });
    expect(rows.map((r) => r.workers)).toEqual([1, 2]);
    for (const r of rows) {
      expect(r.chains).toBeGreaterThan(0);
      expect(r.chainsPerSec).toBeCloseTo(r.chains / r.seconds, 3);
      expect(r.rounds).toBe(1);
      expect(r.scalingMin).toBe(r.scaling);
      expect(r.scalingMax).toBe(r.scaling);
    }
    expect(rows[0]!.scaling).toBe(1);
  });

  it('runs one worker first in every round and sums the rounds up per row', async () => {
    const rows = await runColocatedBench({
      rings: ['packed', 'split'],
      workers: [2],
      durationMs: 40,
      warmupMs: 0,
      queueSize: 32,
      rounds: 2,
    });
    expect(rows.map((r) => `${r.ring}/${r.workers}`)).toEqual(['packed/1', 'packed/2', 'split/1', 'split/2']);
    for (const r of rows) {
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
      expect(r.rounds).toBe(2);
      // The median round's own figures agree with each other.
      expect(r.chainsPerSec).toBeCloseTo(r.chains / r.seconds, 3);
      expect(r.nsPerChain * r.chainsPerSec).toBeCloseTo(1e9 * r.workers, 0);
      expect(r.scalingMin).toBeLessThanOrEqual(r.scaling);
      expect(r.scaling).toBeLessThanOrEqual(r.scalingMax);
      expect(r.workerMinChainsPerSec).toBeGreaterThan(0);
      expect(r.workerMinChainsPerSec).toBeLessThanOrEqual(r.workerMaxChainsPerSec);
      if (r.workers === 1) {
        expect([r.scaling, r.scalingMin, r.scalingMax]).toEqual([1, 1, 1]);
        expect(r.workerMinChainsPerSec).toBe(r.workerMaxChainsPerSec);
      }
      expect(r.nativeScaling).toBeUndefined();
    }
  });

  it('a native baseline runs the same counts in every round; rows divide by its scaling', async () => {
    // A stand-in baseline whose copies slow down as more run at once: two
    // copies scale by 0.75 in the first round and 0.5 in the second.
    const calls: number[] = [];
    const native = async (n: number) => {
      calls.push(n);
      const round = calls.filter((c) => c === 1).length;
      const each = n === 1 ? 100 : round === 1 ? 75 : 50;
      return Array.from({ length: n }, () => each);
    };
    const rows = await runColocatedBench({
      rings: ['split'],
      workers: [2],
      durationMs: 30,
      warmupMs: 0,
      queueSize: 32,
      rounds: 2,
      native,
    });
    expect(calls).toEqual([1, 2, 1, 2]);
    const [one, two] = rows;
    expect(one).toMatchObject({ nativeChainsPerSec: 100, nativeScaling: 1, scalingVsNative: 1 });
    // The lower median of {0.75, 0.5} and of the per-round ratios.
    expect(two!.nativeScaling).toBe(0.5);
    expect(two!.nativeChainsPerSec).toBe(100);
    const perRound = [0.75, 0.5];
    expect(two!.scalingVsNative).toBeGreaterThan(0);
    expect(
      [
        two!.scalingMin / perRound[0]!,
        two!.scalingMax / perRound[0]!,
        two!.scalingMin / perRound[1]!,
        two!.scalingMax / perRound[1]!,
      ].some((x) => Math.abs(x - two!.scalingVsNative!) < 1e-9),
    ).toBe(true);
  });
});

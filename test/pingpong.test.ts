import { build } from 'esbuild';
import { renameSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runColocatedBench, runPingpong } from '../bench/pingpong.js';

// The workers run the bundled entry; build it from the sources under test.
beforeAll(async () => {
  const tmp = `dist/workers/queue-worker.${process.pid}.pp.tmp.js`;
  await build({
    entryPoints: ['workers/queue-worker.ts'],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  renameSync(tmp, 'dist/workers/queue-worker.js');
});

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
    });
    expect(rows.map((r) => r.workers)).toEqual([1, 2]);
    for (const r of rows) {
      expect(r.chains).toBeGreaterThan(0);
      expect(r.chainsPerSec).toBeCloseTo(r.chains / r.seconds, 3);
    }
    expect(rows[0]!.scaling).toBe(1);
  });
});

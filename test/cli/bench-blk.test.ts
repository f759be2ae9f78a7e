// The blk and console benchmark units: what a worker would call, and the flag checks.
import { describe, expect, it } from 'vitest';
import {
  blkBenchMachine,
  blkLatency,
  createBlkJob,
  LAT_BATCHES,
  parseBlkArgs,
  runBlkQueue,
  type BlkRow,
} from '../../src/cli/bench/blk.js';
import { run } from '../helpers/cli.js';
import { consoleBenchMachine, parseConsoleArgs, runConsoleLoopback } from '../../src/cli/bench/console.js';
import { UsageError } from '../../src/cli/usage.js';

describe('bench units', () => {
  it.each(['split', 'packed'] as const)('runBlkQueue on two %s queues, every mode', (ring) => {
    const m = blkBenchMachine({ ring, queues: 2, queueSize: 64, depth: 16, capacityBytes: 4 << 20 }).blk();
    for (const mode of ['randwrite', 'randread', 'seqwrite', 'seqread'] as const) {
      const jobs = [0, 1].map((q) => createBlkJob(m, q, mode, 7));
      for (const j of jobs) {
        const r = runBlkQueue(m, j, 100);
        expect(r.ios).toBeGreaterThanOrEqual(100);
        expect(r.bytes).toBe(r.ios * j.ioBytes);
      }
    }
    const c = m.device.counters();
    expect(c.ioErrors).toBe(0);
    expect(c.copyBatches).toBeGreaterThan(0);
    expect(m.dma.counters().liveMappings).toBe(0);
  });

  it('the same seed gives the same random offsets', () => {
    const a = blkBenchMachine({ queueSize: 16, depth: 4, capacityBytes: 1 << 20 }).blk();
    const b = blkBenchMachine({ queueSize: 16, depth: 4, capacityBytes: 1 << 20 }).blk();
    const ja = createBlkJob(a, 0, 'randwrite', 3);
    const jb = createBlkJob(b, 0, 'randwrite', 3);
    runBlkQueue(a, ja, 50);
    runBlkQueue(b, jb, 50);
    expect(ja.rng).toBe(jb.rng);
  });

  it('blkLatency times every request of LAT_BATCHES batches of --depth on each queue, submit to reap', () => {
    const m = blkBenchMachine({ queueSize: 16, depth: 8, queues: 2, capacityBytes: 1 << 20 }).blk();
    const jobs = [createBlkJob(m, 0, 'randread', 1), createBlkJob(m, 1, 'randwrite', 1)];
    const before = m.device.counters();
    const lat = blkLatency(m, jobs, 5);
    const after = m.device.counters();
    // 5 batches × 8 requests × 2 queues, every one served and counted.
    expect(lat.samples).toBe(5 * 8 * 2);
    expect(after.reads - before.reads + (after.writes - before.writes)).toBe(5 * 8 * 2);
    expect(lat.median).toBeGreaterThan(0);
    expect(lat.median).toBeLessThanOrEqual(lat.p99);
    expect(LAT_BATCHES).toBe(32);
  });

  it('bench blk rows carry latUsec beside ns/io (1/tput), and the table labels both', async () => {
    const args = [
      'bench',
      'blk',
      '--mode',
      'randread',
      '--queues',
      '1',
      '--ring',
      'split',
      '--time',
      '5',
      '--depth',
      '16',
    ];
    const r = await run(...args, '--json');
    const [row] = (JSON.parse(r.out) as { rows: BlkRow[] }).rows;
    expect(row!.latUsec.samples).toBe(LAT_BATCHES * 16);
    expect(row!.latUsec.median).toBeLessThanOrEqual(row!.latUsec.p99);
    const t = await run(...args);
    expect(t.out).toMatch(/ns\/io \(1\/tput\)/);
    expect(t.out).toMatch(/lat µs\s+lat p99/);
  });

  it('runConsoleLoopback moves the bytes asked for', () => {
    const m = consoleBenchMachine({ ring: 'packed', queueSize: 16 }).console();
    expect(runConsoleLoopback(m, 100, 10000)).toBeGreaterThanOrEqual(10000);
    expect(m.device.counters.dropped).toBe(0);
  });

  it.each([
    [['--mode', 'randrw'], /^--mode randrw: must be randread, randwrite, seqread, seqwrite/],
    [['--queues', '0'], /^--queues 0: must be whole numbers of queues from 1 to 64/],
    [['--depth', '300'], /^--depth 300: must be a whole number from 1 to the queue size \(256\)/],
    [['--capacity-mib', '64'], /^--capacity-mib 64: must be a whole number of MiB from 1 to 48/],
    [['--seed', '-1'], /seed/],
    [['--bogus'], /^unknown flag --bogus/],
  ])('bench blk %j is a usage error', (args, msg) => {
    expect(() => parseBlkArgs(args)).toThrow(UsageError);
    expect(() => parseBlkArgs(args)).toThrow(msg);
  });

  it('bench console flags', () => {
    expect(() => parseConsoleArgs(['--chunk-bytes', '0'])).toThrow(
      /^--chunk-bytes 0: must be whole numbers of bytes from 1 to 4096/,
    );
    expect(parseConsoleArgs([]).chunkBytes).toEqual([64, 4096]);
  });
});

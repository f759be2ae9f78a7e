// `vqsim bench net`: flag validation (one line naming the flag, exit 2), the
// per-pair run function a worker will call, and a tiny JSON run.
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';
import type { NetRow } from '../../src/cli/bench/net.js';
import { checkNetDevice, runNetPackets } from '../../src/sim/net.js';
import { createMachine } from '../../src/sim/machine.js';
import { bundleWorker } from '../helpers/bundle-worker.js';

// The co-located runs start net workers: bundle them from the sources under test.
beforeAll(() => bundleWorker('net-worker'));

describe('vqsim bench net', () => {
  it('rejects each bad flag with one line naming it and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--packet-bytes', '10'], /^vqsim: --packet-bytes 10: must be whole numbers of bytes from 14 to 65535/],
      [['--packet-bytes', '64,x'], /^vqsim: --packet-bytes 64,x:/],
      [['--queues', '0'], /^vqsim: --queues 0: must be whole numbers of queue pairs from 1 to 64/],
      [['--ring', 'ring'], /^vqsim: --ring ring: must be split, packed/],
      [['--mergeable', 'yes'], /^vqsim: --mergeable yes: must be on, off/],
      [['--backend', 'tap'], /^vqsim: --backend tap: must be loopback, sink, source/],
      [['--queue-size', '100'], /^vqsim: --queue-size 100: must be one power of two from 8 to 32768/],
      [['--time', '0'], /^vqsim: --time 0: must be a number of milliseconds from 1 to 600000/],
      [['--workers', '0'], /^vqsim: --workers 0: must be whole numbers of worker threads from 1 to 256/],
      [['--workers', '1', '--queues', '2'], /^vqsim: --queues 2: not with --workers/],
      [['--rounds', '0'], /^vqsim: --rounds 0: must be a whole number from 1 to 50/],
      [['--rounds', '51', '--workers', '1'], /^vqsim: --rounds 51: must be a whole number from 1 to 50/],
      [['--rounds', '2,3'], /^vqsim: --rounds 2,3: must be a whole number from 1 to 50/],
      [['--rounds', 'x'], /^vqsim: --rounds x:/],
      [['--bogus'], /^vqsim: unknown flag --bogus/],
      [['extra'], /^vqsim: unexpected argument extra/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run('bench', 'net', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
  });

  it('prints its help', async () => {
    const r = await run('bench', 'net', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: vqsim bench net/);
  });

  it('runNetPackets moves at least K frames on one pair and the device agrees', () => {
    for (const ring of ['split', 'packed'] as const) {
      const m = createMachine({ devices: [{ kind: 'net', ring, packetBytes: 64, queueSize: 64, queues: 2 }] }).net();
      const r = runNetPackets(m, 1, 1000);
      expect(r.packets).toBeGreaterThanOrEqual(1000);
      expect(r.bytes).toBe(r.packets * 64);
      expect(m.device.counters(1).rxPackets).toBe(r.packets);
      expect(m.device.counters(0).rxPackets).toBe(0);
      expect(m.driver.counters.rxLengthErrors).toBe(0);
    }
  });

  it('runNetPackets with the source backend only receives, and device and driver count the same frames', () => {
    for (const ring of ['split', 'packed'] as const) {
      for (const mergeable of [true, false]) {
        // Two pairs: the second is enabled after its buffers were posted, and must deliver too.
        const m = createMachine({
          devices: [{ kind: 'net', ring, mergeable, packetBytes: 200, queueSize: 64, queues: 2, backend: 'source' }],
        }).net();
        let packets = 0;
        for (const pair of [0, 1]) {
          const r = runNetPackets(m, pair, 1000);
          expect(r.packets).toBeGreaterThanOrEqual(1000);
          expect(r.bytes).toBe(r.packets * 200);
          // The device keeps the posted ring filled: at most one ring of frames ahead of the driver.
          const c = m.device.counters(pair);
          expect(c.txPackets).toBe(0);
          expect(c.rxPackets).toBeGreaterThanOrEqual(r.packets);
          expect(c.rxPackets - r.packets).toBeLessThanOrEqual(64);
          packets += r.packets;
        }
        expect(m.driver.counters.rxPackets).toBe(packets);
        expect(m.driver.counters.rxBytes).toBe(packets * 200);
        expect(m.driver.counters.txCompleted).toBe(0);
        expect(() => checkNetDevice(m, 'source')).not.toThrow();
      }
    }
  });

  it('--hardened on,off runs the naive driver (its rings too) beside the hardened one: hardened ÷ naive on the hardened rows', async () => {
    const r = await run(
      'bench',
      'net',
      '--hardened',
      'on,off',
      '--packet-bytes',
      '64',
      '--ring',
      'split,packed',
      '--queues',
      '1',
      '--time',
      '5',
      '--warmup',
      '0',
      '--quiet',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: NetRow[] }).rows;
    expect(rows.map((x) => [x.ring, x.hardened, x.vsNaive === undefined])).toEqual([
      ['split', true, false],
      ['packed', true, false],
      ['split', false, true],
      ['packed', false, true],
    ]);
    expect(rows[2]!.name).toContain('/naive/');
    for (const x of rows) expect(x.pps).toBeGreaterThan(0);
  });

  it('writes JSON rows with device, queues, packetBytes, pps and bitsPerSec', async () => {
    const r = await run(
      'bench',
      'net',
      '--json',
      '--time',
      '5',
      '--packet-bytes',
      '64',
      '--queues',
      '1',
      '--ring',
      'split',
      '--queue-size',
      '32',
    );
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: NetRow[] }).rows;
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ device: 'net', mode: 'single-thread', queues: 1, packetBytes: 64, ring: 'split' });
    expect(row.pps).toBeGreaterThan(0);
    expect(row.bitsPerSec).toBeCloseTo(row.pps * 64 * 8);
    expect(row).toMatchObject({ rounds: 1, ppsMin: row.pps, ppsMax: row.pps });
  });

  it('runs every backend, source too, for --rounds rounds on one thread and gives the median and best', async () => {
    const r = await run(
      'bench',
      'net',
      '--json',
      '--time',
      '5',
      '--packet-bytes',
      '64',
      '--queues',
      '2',
      '--ring',
      'packed',
      '--queue-size',
      '32',
      '--backend',
      'loopback,sink,source',
      '--rounds',
      '3',
    );
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: NetRow[] }).rows;
    expect(rows.map((x) => x.backend)).toEqual(['loopback', 'sink', 'source']);
    for (const row of rows) {
      expect(row).toMatchObject({ device: 'net', mode: 'single-thread', rounds: 3, packetBytes: 64, queues: 2 });
      expect(row.pps).toBeGreaterThan(0);
      expect(row.ppsMin).toBeLessThanOrEqual(row.pps);
      expect(row.pps).toBeLessThanOrEqual(row.ppsMax);
      expect(row.scaling).toBeUndefined();
    }
  });

  it('runs co-located workers and writes JSON rows with workers, pps, bitsPerSec and scaling', async () => {
    const r = await run(
      'bench',
      'net',
      '--json',
      '--time',
      '50',
      '--packet-bytes',
      '64',
      '--ring',
      'packed',
      '--queue-size',
      '32',
      '--workers',
      '2',
      '--backend',
      'sink,source',
      '--rounds',
      '2',
    );
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: NetRow[] }).rows;
    // One worker runs first for each case even when not asked for: the scaling's baseline.
    expect(rows.map((x) => `${x.backend}/${x.workers}`)).toEqual(['sink/1', 'sink/2', 'source/1', 'source/2']);
    for (const row of rows) {
      expect(row).toMatchObject({ device: 'net', mode: 'colocated', packetBytes: 64, ring: 'packed', rounds: 2 });
      expect(row.queues).toBe(row.workers);
      expect(row.pps).toBeGreaterThan(0);
      expect(row.bitsPerSec).toBeCloseTo(row.pps * 64 * 8);
      expect(row.ppsMin).toBeLessThanOrEqual(row.pps);
      expect(row.pps).toBeLessThanOrEqual(row.ppsMax);
      expect(row.scaling).toBeGreaterThan(0);
      expect(row.scalingMin).toBeLessThanOrEqual(row.scaling!);
      expect(row.scaling).toBeLessThanOrEqual(row.scalingMax!);
      expect(row.workerMinPps).toBeGreaterThan(0);
      expect(row.workerMinPps).toBeLessThanOrEqual(row.workerMaxPps!);
      if (row.workers === 1) expect([row.scaling, row.scalingMin, row.scalingMax]).toEqual([1, 1, 1]);
    }
  });

  it('prints the rounds, the best Mpps and the per-worker spread in its table', async () => {
    const r = await run(
      'bench',
      'net',
      '--time',
      '5',
      '--packet-bytes',
      '64',
      '--ring',
      'split',
      '--queue-size',
      '32',
      '--workers',
      '1',
      '--backend',
      'source',
      '--rounds',
      '1',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/median of 1 round\b/);
    expect(r.out).toMatch(/best Mpps .* scaling min–max +worker min +worker max/);
    expect(r.out).toMatch(/^source +split +mergeable +1 +64 .* 1\.00 +1\.00–1\.00 /m);
  });
});

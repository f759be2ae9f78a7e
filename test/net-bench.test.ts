// `vqsim bench net`: flag validation (one line naming the flag, exit 2), the
// per-pair run function a worker will call, and a tiny JSON run.
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/io.js';
import type { NetRow } from '../src/cli/bench/net.js';
import { createNetMachine, runNetPackets } from '../src/sim/net.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), progress: () => {} };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('vqsim bench net', () => {
  it('rejects each bad flag with one line naming it and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--packet-bytes', '10'], /^vqsim: --packet-bytes 10: must be whole numbers of bytes from 14 to 65535/],
      [['--packet-bytes', '64,x'], /^vqsim: --packet-bytes 64,x:/],
      [['--queues', '0'], /^vqsim: --queues 0: must be whole numbers of queue pairs from 1 to 64/],
      [['--ring', 'ring'], /^vqsim: --ring ring: must be split, packed/],
      [['--mergeable', 'yes'], /^vqsim: --mergeable yes: must be on, off/],
      [['--backend', 'tap'], /^vqsim: --backend tap: must be loopback, sink/],
      [['--queue-size', '100'], /^vqsim: --queue-size 100: must be one power of two from 8 to 32768/],
      [['--time', '0'], /^vqsim: --time 0: must be a number of milliseconds from 1 to 600000/],
      [['--workers', '0'], /^vqsim: --workers 0: must be whole numbers of worker threads from 1 to 256/],
      [['--workers', '1', '--queues', '2'], /^vqsim: --queues 2: not with --workers/],
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
      const m = createNetMachine({ ring, packetBytes: 64, queueSize: 64, queuePairs: 2 });
      const r = runNetPackets(m, 1, 1000);
      expect(r.packets).toBeGreaterThanOrEqual(1000);
      expect(r.bytes).toBe(r.packets * 64);
      expect(m.device.counters(1).rxPackets).toBe(r.packets);
      expect(m.device.counters(0).rxPackets).toBe(0);
      expect(m.driver.counters.rxLengthErrors).toBe(0);
    }
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
    const rows = (JSON.parse(r.out) as { results: NetRow[] }).results;
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ device: 'net', mode: 'single-thread', queues: 1, packetBytes: 64, ring: 'split' });
    expect(row.pps).toBeGreaterThan(0);
    expect(row.bitsPerSec).toBeCloseTo(row.pps * 64 * 8);
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
      '1,2',
      '--backend',
      'sink',
    );
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { results: NetRow[] }).results;
    expect(rows.map((x) => x.workers)).toEqual([1, 2]);
    for (const row of rows) {
      expect(row).toMatchObject({ device: 'net', mode: 'colocated', packetBytes: 64, ring: 'packed', backend: 'sink' });
      expect(row.queues).toBe(row.workers);
      expect(row.pps).toBeGreaterThan(0);
      expect(row.bitsPerSec).toBeCloseTo(row.pps * 64 * 8);
      expect(row.scaling).toBeGreaterThan(0);
    }
    expect(rows[0]!.scaling).toBe(1);
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';
import { parseBenchArgs } from '../../src/cli/bench/options.js';
import { buildNative } from '../../src/cli/bench/native.js';
import type { ColocatedRow } from '../../bench/pingpong.js';

/** Bad input: exit code 2 and exactly one line on stderr naming the flag, nothing on stdout. */
async function rejects(argv: string[], pattern: RegExp): Promise<void> {
  const r = await run(...argv);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  expect(r.err).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
}

describe('vqsim command line', () => {
  it('prints usage for --help, help and bench --help', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: vqsim <command>/);
    }
    for (const argv of [
      ['bench', '--help'],
      ['bench', 'ring', '-h'],
    ]) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: vqsim bench/);
      expect(r.out).toMatch(/--queue-size/);
      expect(r.out).toMatch(/--no-native/);
    }
  });

  it('exits 2 with usage on stderr when no command is given', async () => {
    const r = await run();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Usage: vqsim/);
  });

  it('says the queue size must be a power of two from 1 to 32768 (the issue example)', async () => {
    await rejects(['bench', '--queue-size', '300'], /--queue-size 300: .*power of two from 1 to 32768/);
    await rejects(['bench', '--queue-size', '0'], /power of two from 1 to 32768/);
    await rejects(['bench', '--queue-size', '65536'], /power of two from 1 to 32768/);
    await rejects(['bench', '--queue-size', '256,abc'], /power of two from 1 to 32768/);
  });

  it('validates every flag with one line naming it', async () => {
    await rejects(['bench', '--chain-lengths', '0'], /^vqsim: --chain-lengths 0: .*from 1 to the queue size \(256\)/);
    await rejects(['bench', '--queue-size', '8', '--chain-lengths', '16'], /--chain-lengths 16: .*\(8\)/);
    await rejects(['bench', '--chain-lengths', '1,,4'], /--chain-lengths/);
    await rejects(['bench', '--indirect', 'yes'], /--indirect yes: must be off, on or off,on/);
    await rejects(['bench', '--event-idx', 'true'], /--event-idx true: must be off, on or off,on/);
    await rejects(['bench', '--engine', 'rust'], /--engine rust: must be wasm, reference/);
    await rejects(
      ['bench', '--ring', 'packed', '--queue-size', '40000'],
      /--queue-size 40000: .*whole number from 1 to 32768/,
    );
    await rejects(['bench', '--ring', 'split,packed', '--queue-size', '300'], /power of two from 1 to 32768/);
    await rejects(['bench', '--ring', 'ring'], /--ring ring: must be split, packed/);
    await rejects(['bench', '--in-order', 'on'], /--in-order on: needs --ring packed/);
    await rejects(['bench', '--ring', 'packed', '--in-order', 'maybe'], /--in-order maybe: must be off, on or off,on/);
    await rejects(['bench', '--buffer-bytes', '0'], /--buffer-bytes 0: .*from 1 to 65536/);
    await rejects(['bench', '--buffer-bytes', '65537'], /--buffer-bytes/);
    await rejects(['bench', '--time', '0'], /--time 0: must be a number of milliseconds/);
    await rejects(['bench', '--rounds', '0'], /--rounds 0: must be a whole number from 1 to 50/);
    await rejects(['bench', '--time', 'fast'], /--time fast/);
    await rejects(['bench', '--time'], /--time: needs a value/);
    await rejects(['bench', '--json=yes'], /--json: takes no value/);
  });

  it("validates the thread benchmarks' flags the same way", async () => {
    await rejects(['bench', 'pingpong', '--queue-size', '300'], /--queue-size 300: .*power of two from 1 to 32768/);
    await rejects(['bench', 'pingpong', '--ring', 'packed', '--queue-size', '0'], /--queue-size 0: .*from 1 to 32768/);
    await rejects(['bench', 'pingpong', '--max-inflight', '999'], /--max-inflight 999: .*queue size \(256\)/);
    await rejects(['bench', 'pingpong', '--spin-us', 'lots'], /--spin-us lots/);
    await rejects(['bench', 'pingpong', '--time', '5'], /--time 5: .*from 10 to 600000/);
    await rejects(['bench', 'pingpong', 'extra'], /unexpected argument extra/);
    await rejects(['bench', 'pingpong', '--spin-max-us', '0'], /--spin-max-us 0: .*from 1 to 10000000/);
    await rejects(
      ['bench', 'pingpong', '--publish', 'eachh'],
      /^vqsim: --publish eachh: must be one of batch, each \(did you mean each\?\)\n$/,
    );
    for (const [flag, value] of [
      ['--queue-size', '64'],
      ['--max-inflight', '64'],
      ['--device-batch', '64'],
      ['--publish', 'each'],
    ]) {
      await rejects(
        ['bench', 'pingpong', '--like-ringtest', flag!, value!],
        new RegExp(`^vqsim: ${flag}: --like-ringtest sets it \\(give one or the other\\)\n$`),
      );
    }
    await rejects(
      ['bench', 'colocated', '--workers', '0'],
      /--workers 0: worker counts must be whole numbers from 1 to 64/,
    );
    await rejects(['bench', 'colocated', '--ring', 'ring'], /--ring ring: must be split, packed/);
    await rejects(
      ['bench', 'colocated', '--rounds', '0'],
      /^vqsim: --rounds 0: must be a whole number from 1 to 50\n$/,
    );
    await rejects(['bench', 'colocated', '--rounds', '51'], /^vqsim: --rounds 51: must be a whole number from 1 to 50/);
    await rejects(
      ['bench', 'colocated', '--rounds', '1,2'],
      /^vqsim: --rounds 1,2: must be a whole number from 1 to 50/,
    );
    await rejects(['bench', 'colocated', '--warmup', '60001'], /^vqsim: --warmup 60001: .*from 0 to 60000/);
    for (const which of ['pingpong', 'colocated']) {
      const r = await run('bench', which, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`Usage: vqsim bench ${which}`));
    }
  });

  it('every benchmark prints one JSON document: the machine, then the rows', { timeout: 60_000 }, async () => {
    const cases: [string[], Record<string, unknown>][] = [
      [
        ['bench', 'blk', '--mode', 'randread', '--queues', '1', '--ring', 'split', '--time', '5'],
        { device: 'blk', mode: 'randread', queues: 1, ioBytes: 4096 },
      ],
      [
        ['bench', 'net', '--packet-bytes', '64', '--queues', '1', '--ring', 'split', '--time', '5'],
        { device: 'net', packetBytes: 64 },
      ],
      [['bench', 'console', '--time', '5'], {}],
      [
        [
          'bench',
          'net',
          '--backend',
          'source',
          '--packet-bytes',
          '64',
          '--queues',
          '1',
          '--ring',
          'split',
          '--time',
          '5',
        ],
        { device: 'net', backend: 'source', packetBytes: 64, rounds: 1 },
      ],
    ];
    for (const [argv, row] of cases) {
      const r = await run(...argv, '--json');
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.out) as {
        meta: { node: string; v8: string; cpu: { model: string; count: number } };
        rows: Record<string, unknown>[];
      };
      expect(doc.meta.node).toBe(process.version);
      expect(doc.meta.cpu.count).toBeGreaterThan(0);
      expect(doc.rows.length).toBeGreaterThan(0);
      expect(doc.rows[0]).toMatchObject(row);
    }
  });

  it("bench pingpong --like-ringtest runs with ringtest's defaults: ring 256, 256 in flight, each chain published as it is used", async () => {
    const r = await run('bench', 'pingpong', '--like-ringtest', '--ring', 'split,packed', '--time', '20', '--json');
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.out) as { rows: Record<string, unknown>[] }).rows;
    expect(rows.map((x) => x.ring)).toEqual(['split', 'packed']);
    for (const row of rows) {
      expect(row).toMatchObject({ queueSize: 256, maxInflight: 256, deviceBatch: 256, publish: 'each' });
    }
    const t = await run('bench', 'pingpong', '--like-ringtest', '--ring', 'packed', '--time', '20');
    expect(t.out).toMatch(/ringtest's defaults/);
    expect(t.out).toMatch(/^[! ] packed\s+256\s+256\s+256\s+each\s/m);
  });

  it('bench colocated runs the native baseline in the same rounds, or says why not', { timeout: 60_000 }, async () => {
    const args = ['bench', 'colocated', '--ring', 'split', '--rounds', '1', '--time', '20', '--warmup', '0'];
    const r = await run(...args, '--workers', '1,2', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { meta: { native?: { compiler: string } }; rows: ColocatedRow[] };
    const rows = doc.rows;
    const build = buildNative();
    if (typeof build === 'string') {
      expect(rows[0]!.nativeScaling).toBeUndefined();
      expect(doc.meta.native).toBeUndefined();
    } else {
      expect(doc.meta.native).toEqual({ compiler: build.compiler, flags: build.flags });
      expect(rows[0]).toMatchObject({ workers: 1, nativeScaling: 1, scalingVsNative: 1 });
      const two = rows[1]!;
      expect(two.nativeChainsPerSec).toBeGreaterThan(0);
      // One round: the workers' scaling over the native copies' scaling.
      expect(two.scalingVsNative).toBeCloseTo(two.scaling / two.nativeScaling!, 9);
    }
    process.env.VQSIM_NATIVE_BIN = '/nonexistent/roundtrip';
    try {
      const t = await run(...args, '--workers', '1');
      expect(t.code).toBe(0);
      expect(t.out).toMatch(/native baseline skipped: VQSIM_NATIVE_BIN \/nonexistent\/roundtrip does not exist/);
    } finally {
      delete process.env.VQSIM_NATIVE_BIN;
    }
  });

  it('rejects unknown flags, commands and benchmarks', async () => {
    await rejects(['bench', '--bogus'], /unknown flag --bogus/);
    await rejects(['bench', '-x'], /unknown flag -x/);
    await rejects(['--bogus'], /unknown flag --bogus/);
    await rejects(['frob'], /unknown command frob: must be bench/);
    await rejects(['bench', 'frob'], /unknown benchmark frob: must be ring/);
    await rejects(['bench', 'ring', 'extra'], /unexpected argument extra/);
  });

  it('parses defaults and lists', () => {
    const d = parseBenchArgs([]);
    expect(d).toMatchObject({
      queueSizes: [256],
      chainLengths: [1, 4, 16],
      indirect: [false, true],
      eventIdx: [false, true],
      engines: ['wasm', 'reference'],
      rings: ['split'],
      bufferBytes: [64],
      json: false,
      native: true,
    });
    const o = parseBenchArgs([
      '--queue-size',
      '64,64,1024',
      '--indirect',
      'on',
      '--no-native',
      '--json',
      '--time',
      '2.5',
    ]);
    expect(o).toMatchObject({ queueSizes: [64, 1024], indirect: [true], native: false, json: true, timeMs: 2.5 });
  });

  const bin = fileURLToPath(new URL('../../bin/vqsim.js', import.meta.url));
  // dist/cli.js comes from the global setup's bundle.
  it('bin/vqsim.js exits 2 with one line for a bad queue size', () => {
    const r = spawnSync(process.execPath, [bin, 'bench', '--queue-size', '300'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('vqsim: --queue-size 300: the queue size must be a power of two from 1 to 32768\n');
  });

  it('bin/vqsim.js stops quietly with status 0 when its reader has gone (EPIPE)', () => {
    // `true` exits before the benchmark writes: the write fails with EPIPE.
    const cmd = `set -o pipefail; "${process.execPath}" "${bin}" bench --time 2 --rounds 1 --queue-size 16 --chain-lengths 1 --indirect off --event-idx off --engine wasm --no-native --quiet --json | true`;
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('bin/vqsim.js --version prints the package version', () => {
    const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(r.stdout).toBe(`vqsim ${pkg.version}\n`);
    expect(r.status).toBe(0);
  });
});

describe('bench/ringtest.mjs', () => {
  const script = fileURLToPath(new URL('../../bench/ringtest.mjs', import.meta.url));
  it('without a ringtest build directory says that it skipped and why, and exits 0', () => {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ringtest comparison skipped: no ringtest build directory given\.\n/);
    expect(r.stdout).toMatch(/make virtio_ring_0_9 ring/);
  });

  it('runs both pairs interleaved and gives the ratios (against stand-ins for the ringtest binaries)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vqsim-ringtest-'));
    try {
      // Stand-ins that take --run-cycles and return at once, as a very fast ringtest would.
      for (const name of ['virtio_ring_0_9', 'ring']) {
        writeFileSync(join(dir, name), '#!/bin/sh\n[ "$1" = --run-cycles ] || exit 3\nexit 0\n', { mode: 0o755 });
      }
      const r = spawnSync(process.execPath, [script, dir, '--rounds', '2', '--seconds', '0.1', '--json'], {
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const doc = JSON.parse(r.stdout) as {
        rows: {
          ringtest: string;
          vqsim: string;
          rounds: number;
          ratio: number;
          ringtestRoundTripsPerSec: number;
          vqsimRoundTripsPerSec: number;
          ringtestRuns: number[];
          vqsimRuns: number[];
        }[];
      };
      expect(doc.rows.map((x) => [x.ringtest, x.vqsim, x.rounds])).toEqual([
        ['virtio_ring_0_9', 'split', 2],
        ['ring', 'packed', 2],
      ]);
      for (const row of doc.rows) {
        expect(row.vqsimRuns).toHaveLength(2);
        expect(row.ringtestRuns).toHaveLength(2);
        expect(row.ratio).toBeCloseTo(row.vqsimRoundTripsPerSec! / row.ringtestRoundTripsPerSec!, 9);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('names what is missing in a directory without the binaries (exit 2)', () => {
    const r = spawnSync(process.execPath, [script, '/nonexistent-ringtest'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not built in \/nonexistent-ringtest: .*virtio_ring_0_9.*ring/);
  });
});

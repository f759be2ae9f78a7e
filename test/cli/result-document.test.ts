// Every command's --json is one result document (schema/result.schema.json):
// each is run with small settings and validated against the schema, and the
// pieces the document is built from (units, statistics, noise warnings,
// progress) are checked on given data.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';
import { main } from '../../src/cli/main.js';
import { buildNative } from '../../src/cli/bench/native.js';
import { validate, type Schema } from './schema-validate.js';
import { parseDuration, parseSize } from '../../src/cli/bench/options.js';
import { suggest } from '../../src/cli/parser.js';
import {
  coresWarning,
  footnote,
  idleWarning,
  IDLE_LIMIT,
  RME_LIMIT,
  rmeWarning,
  spreadWarning,
} from '../../src/cli/noise.js';
import { ProgressLine } from '../../src/cli/progress.js';
import { statsOf, statsPerOp, type NoiseWarning } from '../../src/cli/result.js';
import type { Io } from '../../src/cli/io.js';

const schema = JSON.parse(readFileSync(new URL('../../schema/result.schema.json', import.meta.url), 'utf8')) as Schema;

interface Doc {
  meta: {
    command: string;
    argv: string[];
    options: Record<string, unknown>;
    vqsim: string;
    commit?: string;
    native?: unknown;
  };
  rows: Record<string, unknown>[];
  warnings: NoiseWarning[];
}

async function jsonOf(...argv: string[]): Promise<Doc> {
  const r = await run(...argv, '--json');
  expect(r.code, r.err).toBe(0);
  const doc = JSON.parse(r.out) as Doc;
  expect(validate(schema, doc)).toEqual([]);
  expect(doc.meta.argv).toEqual([...argv, '--json']);
  expect(doc.rows.length).toBeGreaterThan(0);
  // Names identify rows: one per case.
  const names = doc.rows.map((x) => x.name);
  expect(new Set(names).size).toBe(names.length);
  return doc;
}

describe('the result document', () => {
  it('every command prints one that validates against schema/result.schema.json', { timeout: 120_000 }, async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const quick = ['--time', '5ms', '--warmup', '0'];
    const ring = await jsonOf('bench', '--queue-size', '16', '--chain-lengths', '1', '--rounds', '2', ...quick);
    expect(ring.meta).toMatchObject({ command: 'bench ring', vqsim: pkg.version });
    expect(ring.meta.options).toMatchObject({ timeMs: 5, warmupMs: 0, rounds: 2, queueSizes: [16] });
    for (const row of ring.rows) expect(row).toMatchObject({ bench: 'ring', unit: 'ns/chain', rounds: 2 });
    // The native loop ran where a compiler exists: meta names it, and its rows are in the document.
    const build = buildNative();
    if (typeof build === 'string') expect(ring.meta.native).toBeUndefined();
    else {
      expect(ring.meta.native).toEqual({ compiler: build.compiler, flags: build.flags });
      expect(ring.rows.filter((x) => x.engine === 'native').length).toBeGreaterThan(0);
    }
    const net = await jsonOf(
      'bench',
      'net',
      '--packet-bytes',
      '1.5k',
      '--queues',
      '1',
      '--ring',
      'split',
      '--rounds',
      '2',
      ...quick,
    );
    expect(net.rows[0]).toMatchObject({ bench: 'net', packetBytes: 1536, unit: 'ns/packet', rounds: 2 });
    const blk = await jsonOf('bench', 'blk', '--mode', 'randread', '--queues', '1', '--ring', 'split', ...quick);
    expect(blk.rows[0]).toMatchObject({ bench: 'blk', unit: 'ns/io', rounds: 1 });
    expect(blk.rows[0]!.nsPerIo).toBe(blk.rows[0]!.median);
    const con = await jsonOf('bench', 'console', '--chunk-bytes', '1k', '--ring', 'split', ...quick);
    expect(con.rows[0]).toMatchObject({ bench: 'console', ioBytes: 1024, unit: 'ns/chunk' });
    const sw = await jsonOf(
      'bench',
      'swiotlb',
      '--utilisation',
      '10',
      '--sizes',
      '4k',
      '--copy-sizes',
      '64',
      '--slots',
      '2048',
      '--rounds',
      '2',
      ...quick,
    );
    expect(sw.rows.map((x) => x.name)).toEqual(['swiotlb/map/10%/4096B', 'swiotlb/copy/64B']);
    const pp = await jsonOf('bench', 'pingpong', '--ring', 'split', '--time', '20ms', '--warmup', '0');
    expect(pp.rows[0]).toMatchObject({ bench: 'pingpong', name: 'pingpong/split/q256', unit: 'ns/round trip' });
    const co = await jsonOf(
      'bench',
      'colocated',
      '--ring',
      'split',
      '--workers',
      '1',
      '--rounds',
      '1',
      '--no-native',
      '--time',
      '20ms',
      '--warmup',
      '0',
    );
    expect(co.rows[0]).toMatchObject({ bench: 'colocated', name: 'colocated/split/q256/1w' });
    const st = await jsonOf(
      'study',
      'swiotlb',
      '--device',
      'net',
      '--ring',
      'split',
      '--sizes',
      '64',
      '--deployment',
      'cvm',
      '--time',
      '5',
    );
    expect(st.meta.command).toBe('study swiotlb');
    const pool = await jsonOf('study', 'pool', '--sizes', '1500', '--slots', '2048', '--queues', '1', '--steps', '100');
    expect(pool.rows[0]!.bench).toBe('study pool');
    const atk = await jsonOf('attack', '--scenario', 'dma-write-read-only', '--seed', '3');
    expect(atk.meta.options).toMatchObject({ seed: 3 });
    const fz = await jsonOf('fuzz', '--target', 'ring,blk', '--seed', '2', '--iterations', '3');
    expect(fz.rows.map((x) => x.name)).toEqual(['fuzz/ring', 'fuzz/blk']);
    const cal = await jsonOf('calibrate', '--ghz', '3', '--time', '10');
    expect(cal.rows.map((x) => x.name)).toEqual(['slotSearch', 'slotRelease', 'bounceCall', 'bounceByte']);
  });

  it('a document missing a field or with a stray statistic fails the schema (the validator is not vacuous)', () => {
    const meta = {
      schemaVersion: 1,
      vqsim: '0.1.0',
      timestamp: '2026-01-01T00:00:00.000Z',
      argv: [],
      command: 'bench ring',
      options: {},
      os: { platform: 'linux', release: '6.1', arch: 'x64', totalMemoryBytes: 1 },
      cpu: { model: 'x', count: 2 },
      node: 'v20',
      v8: '11',
    };
    expect(validate(schema, { meta, rows: [{ bench: 'ring', name: 'a' }], warnings: [] })).toEqual([]);
    expect(validate(schema, { meta, rows: [{ bench: 'ring' }], warnings: [] })).toEqual(['$.rows[0]: name missing']);
    expect(validate(schema, { meta, rows: [{ bench: 'ring', name: 'a', median: 1 }], warnings: [] })).toEqual([
      '$.rows[0]: has median but not unit',
    ]);
    const noArgv: Record<string, unknown> = { ...meta };
    delete noArgv.argv;
    expect(validate(schema, { meta: noArgv, rows: [], warnings: [] })).toEqual(['$.meta: argv missing']);
    expect(validate(schema, { meta: { ...meta, commit: 'HEAD' }, rows: [], warnings: [] })).toHaveLength(1);
  });
});

describe('units, statistics and progress', () => {
  it('takes sizes and durations in the forms fio users type; plain numbers keep their meaning', () => {
    expect([parseSize('4096'), parseSize('4k'), parseSize('64KiB'), parseSize('1M'), parseSize('1.5k')]).toEqual([
      4096,
      4096,
      65536,
      1 << 20,
      1536,
    ]);
    expect(parseSize('1.3')).toBeNaN();
    expect(parseSize('4q')).toBeNaN();
    expect([parseDuration('200'), parseDuration('2s'), parseDuration('500ms'), parseDuration('1.5s')]).toEqual([
      200, 2000, 500, 1500,
    ]);
    expect(parseDuration('fast')).toBeNaN();
  });

  it('rejects a bad unit with one line, and suggests a near miss', async () => {
    const r = await run('bench', 'net', '--time', '2h');
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      'vqsim: --time 2h: must be a number of milliseconds from 1 to 600000 (or with a unit: 500ms, 2s)\n',
    );
    expect(suggest('pingpog', ['ring', 'pingpong', 'net'])).toBe(' (did you mean pingpong?)');
    expect(suggest('zzz', ['ring', 'net'])).toBe('');
    const b = await run('bench', 'blkk');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^vqsim: unknown benchmark blkk: .*\(did you mean blk\?\)/);
    const f = await run('bench', 'net', '--packet-byte', '64');
    expect(f.err).toMatch(/unknown flag --packet-byte: .*\(did you mean --packet-bytes\?\)/);
    const c = await run('bench', '--ring', 'splt');
    expect(c.err).toMatch(/--ring splt: must be split, packed .*\(did you mean split\?\)/);
  });

  it('--version, help <command> and --quiet', async () => {
    const v = await run('--version');
    expect(v).toMatchObject({ code: 0, err: '' });
    expect(v.out).toMatch(/^vqsim \d+\.\d+\.\d+\n$/);
    const h = await run('help', 'bench', 'net');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^Usage: vqsim bench net/);
    expect(h.out).toMatch(/Examples:/);
    const hs = await run('help', 'study');
    expect(hs.out).toMatch(/^Usage: vqsim study/);
  });

  it('turns per-iteration samples into per-operation statistics', () => {
    const s = statsPerOp({ p50: 2, mean: 2.5, sd: 1, min: 1, max: 6, p99: 5, rme: 3, samplesCount: 40 }, 1000, 'ns/op');
    expect(s).toEqual({
      unit: 'ns/op',
      median: 2000,
      mean: 2500,
      stddev: 1000,
      min: 1000,
      max: 6000,
      p99: 5000,
      rme: 3,
      samples: 40,
    });
    const r = statsOf([30, 10, 20], 'ns/x');
    expect(r).toMatchObject({ median: 20, mean: 20, stddev: 10, min: 10, max: 30, p99: 30, samples: 3 });
    // t(0.975, 2) = 4.303: 4.303 × 10/√3 / 20.
    expect(r.rme).toBeCloseTo(((4.303 * 10) / Math.sqrt(3) / 20) * 100, 6);
  });

  it('prints [k/N] with an ETA from the cases done, and clears the line', () => {
    const lines: string[] = [];
    const io: Io = { out: () => {}, err: () => {}, progress: (l) => lines.push(l) };
    let t = 0;
    const p = new ProgressLine(io, 4, () => t);
    p.step('a');
    t = 3000;
    p.step('b');
    t = 6000;
    p.step('c');
    p.clear();
    expect(lines).toEqual(['[1/4] a …', '[2/4] b … ETA 9s', '[3/4] c … ETA 6s', '']);
  });
});

describe('the progress line', () => {
  it('every benchmark counts its cases and clears the line before its table', { timeout: 120_000 }, async () => {
    const quick = ['--time', '5ms', '--warmup', '0'];
    const cases: [string[], number][] = [
      [
        [
          'bench',
          '--queue-size',
          '16',
          '--chain-lengths',
          '1',
          '--indirect',
          'off',
          '--event-idx',
          'off',
          '--engine',
          'wasm',
          '--no-native',
          '--rounds',
          '2',
          ...quick,
        ],
        2,
      ],
      [['bench', 'net', '--packet-bytes', '64', '--queues', '1', '--ring', 'split,packed', ...quick], 2],
      [['bench', 'blk', '--mode', 'randread', '--queues', '1', '--ring', 'split', '--rounds', '2', ...quick], 2],
      [['bench', 'console', '--chunk-bytes', '64', '--ring', 'split', ...quick], 1],
      [
        [
          'bench',
          'swiotlb',
          '--utilisation',
          '10',
          '--sizes',
          '64',
          '--copy-sizes',
          '64',
          '--slots',
          '2048',
          '--rounds',
          '1',
          ...quick,
        ],
        2,
      ],
      [['bench', 'pingpong', '--ring', 'split', '--time', '20ms', '--warmup', '0'], 1],
    ];
    for (const [argv, total] of cases) {
      const events: string[] = [];
      const io: Io = {
        out: () => void events.push('out'),
        err: () => {},
        progress: (l) => void events.push(`progress:${l}`),
      };
      expect(await main(argv, io)).toBe(0);
      const steps = events.filter((e) => e.startsWith('progress:['));
      expect(steps.map((e) => /^progress:\[(\d+)\/(\d+)\]/.exec(e)!.slice(1).map(Number))).toEqual(
        Array.from({ length: total }, (_, k) => [k + 1, total]),
      );
      // Cleared before anything is written, so the table's title starts its own line.
      const firstOut = events.indexOf('out');
      expect(events[firstOut - 1], argv.join(' ')).toBe('progress:');
    }
  });
});

describe('noise warnings', () => {
  it('fire on the given data exactly past their limits', () => {
    expect(rmeWarning('a', 5)).toEqual([]);
    expect(rmeWarning('a', 5.1)).toMatchObject([{ row: 'a', kind: 'rme', value: 5.1, limit: 5 }]);
    // (max − min) / median: (110 − 100) / 100 = 10% is not over; (111 − 100) / 105 is.
    expect(spreadWarning('a', [100, 105, 110])).toEqual([]);
    expect(spreadWarning('a', [100, 105, 111])).toMatchObject([{ kind: 'round-spread' }]);
    expect(spreadWarning('a', [100])).toEqual([]);
    expect(idleWarning('a', 'driver', IDLE_LIMIT)).toEqual([]);
    expect(idleWarning('a', 'driver', 0.9999)).toMatchObject([{ kind: 'idle-share', value: 0.9999 }]);
    expect(coresWarning(2, 2)).toEqual([]);
    expect(coresWarning(3, 2)).toMatchObject([{ kind: 'cores', value: 2, limit: 3 }]);
    expect(footnote([])).toBe('');
    expect(footnote(rmeWarning('a', 9))).toMatch(/^! noisy row/);
  });

  it('mark the table and go to stderr and the document unless --quiet', async () => {
    // A 1 ms case with no warm-up, two rounds of it: whatever the machine, the
    // document's warnings are exactly what its own figures say.
    const argv = [
      'bench',
      'console',
      '--chunk-bytes',
      '64',
      '--ring',
      'split',
      '--time',
      '1',
      '--warmup',
      '0',
      '--rounds',
      '3',
    ];
    const doc = await jsonOf(...argv);
    const row = doc.rows[0]!;
    const expected = [
      ...rmeWarning(row.name as string, row.rme as number),
      ...spreadWarning(row.name as string, []),
    ].map((w) => w.kind);
    expect(doc.warnings.filter((w) => w.kind === 'rme').map((w) => w.kind)).toEqual(expected);
    const q = await run(...argv, '--quiet');
    expect(q.err).toBe('');
    const t = await run(...argv);
    const flaggedRow = t.out.split('\n').find((l) => /^! /.test(l));
    expect(Boolean(flaggedRow)).toBe(/^vqsim: warning: /m.test(t.err));
  });

  it('fire when a busy thread competes with the 2-thread pingpong on this machine', { timeout: 60_000 }, async () => {
    // As many spinning threads as cores: the driver and the device threads
    // then share cores with them, whatever the machine.
    const busy = Array.from(
      { length: availableParallelism() },
      () => new Worker('const end = Date.now() + 20000; while (Date.now() < end) {}', { eval: true }),
    );
    try {
      const doc = await jsonOf(
        'bench',
        'pingpong',
        '--ring',
        'split',
        '--time',
        '300ms',
        '--warmup',
        '50ms',
        '--rounds',
        '3',
      );
      const kinds = new Set(doc.warnings.map((w) => w.kind));
      // What the measured data says decides which warnings must be there.
      for (const r of doc.rows) {
        const idle = (r.driverIdleShare as number) > IDLE_LIMIT || (r.deviceIdleShare as number) > IDLE_LIMIT;
        expect(doc.warnings.some((w) => w.kind === 'idle-share' && w.row === r.name)).toBe(idle);
      }
      expect(kinds.has('cores')).toBe(availableParallelism() < 2);
      // Every row whose own figures cross a limit carries its warning: the rme
      // of its rounds, their spread, or a thread's idle share. (How squeezed a
      // run is depends on the scheduler; what its figures then say does not.)
      for (const r of doc.rows) {
        const rme = (r.rme as number) > RME_LIMIT;
        expect(doc.warnings.some((w) => w.kind === 'rme' && w.row === r.name)).toBe(rme);
      }
    } finally {
      await Promise.all(busy.map((w) => w.terminate()));
    }
  });
});

describe('flags that are each valid but do not fit together', () => {
  it('net: --queues × --queue-size × --packet-bytes beyond guest RAM, with the queue size that fits', async () => {
    const r = await run('bench', 'net', '--queues', '64', '--queue-size', '32768', '--packet-bytes', '9000');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(
      /^vqsim: --queues 64 × --queue-size 32768 × --packet-bytes 9000 do not fit one machine: \d+ MiB of guest RAM needed, 4032 MiB at most \(--queue-size \d+ fits\)\n$/,
    );
    const fit = /--queue-size (\d+) fits/.exec(r.err)![1]!;
    // The size it names does fit: parsing goes through.
    const { parseNetArgs } = await import('../../src/cli/bench/net.js');
    expect(() => parseNetArgs(['--queues', '64', '--queue-size', fit, '--packet-bytes', '9000'])).not.toThrow();
  });

  it('ring: --chain-lengths longer than --queue-size', async () => {
    const r = await run('bench', '--queue-size', '8', '--chain-lengths', '16');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^vqsim: --chain-lengths 16: .*from 1 to the queue size \(8\), at most 1024 \(a device maps no more\)\n$/,
    );
  });
});

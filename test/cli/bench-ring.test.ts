import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';
import { buildNative, runNative } from '../../src/cli/bench/native.js';
import { BenchSanityError, batchChains, RingRoundTrip, type RingCase } from '../../src/cli/bench/ring.js';
import * as L from '../../assembly/layout.js';

const base: RingCase = {
  engine: 'wasm',
  ring: 'split',
  queueSize: 256,
  chainLength: 4,
  indirect: false,
  inOrder: false,
  eventIdx: true,
  bufferBytes: 64,
  hardened: true,
  nospec: false,
  usedLenCheck: 'driver',
};

describe('vqsim bench (ring round trip)', () => {
  it('sizes batches as the ring allows', () => {
    expect(batchChains({ queueSize: 256, chainLength: 1, indirect: false })).toBe(256);
    expect(batchChains({ queueSize: 256, chainLength: 16, indirect: false })).toBe(16);
    expect(batchChains({ queueSize: 256, chainLength: 16, indirect: true })).toBe(256);
    expect(batchChains({ queueSize: 8, chainLength: 3, indirect: false })).toBe(2);
  });

  it('prints the JSON document the issue asks for', { timeout: 120_000 }, async () => {
    const r = await run(
      'bench',
      '--json',
      '--time',
      '5',
      '--queue-size',
      '64',
      '--chain-lengths',
      '4',
      '--indirect',
      'off,on',
      '--event-idx',
      'on',
      '--engine',
      'wasm,reference',
      '--rounds',
      '2',
    );
    // stderr holds nothing but noise warnings (a 2 ms case on a shared machine may be noisy).
    expect(r.err.split('\n').filter((l) => l !== '' && !l.startsWith('vqsim: warning: '))).toEqual([]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['meta', 'rows', 'warnings']));
    expect(doc.meta.node).toBe(process.version);
    expect(doc.meta.v8).toBe(process.versions.v8);
    expect(doc.meta.command).toBe('bench ring');
    expect(doc.meta.options).toMatchObject({ queueSizes: [64], rounds: 2, engines: ['wasm', 'reference'] });
    expect(typeof doc.meta.cpu.model).toBe('string');
    const engines = new Set<string>();
    for (const row of doc.rows) {
      expect(row).toMatchObject({
        name: expect.any(String),
        engine: expect.stringMatching(/^(wasm|reference)$/),
        ring: 'split',
        queueSize: 64,
        chainLength: expect.any(Number),
        indirect: expect.any(Boolean),
        eventIdx: true,
        bufferBytes: 64,
        chainsPerSec: expect.any(Number),
        nsPerChain: expect.any(Number),
      });
      expect(row.chainsPerSec).toBeGreaterThan(0);
      expect(row.nsPerChain * row.chainsPerSec).toBeCloseTo(1e9, -3);
      // The rate is the median iteration's; the statistics are of the same samples.
      expect(row).toMatchObject({ bench: 'ring', unit: 'ns/chain', median: row.nsPerChain });
      expect(row.min).toBeLessThanOrEqual(row.median);
      expect(row.median).toBeLessThanOrEqual(row.max);
      expect(row.samples).toBe(row.iterations);
      // Two rounds of the matrix: the row is one of them, inside the spread.
      expect(row.rounds).toBe(2);
      expect(row.spread[0]).toBeLessThanOrEqual(row.chainsPerSec);
      expect(row.chainsPerSec).toBeLessThanOrEqual(row.spread[1]);
      engines.add(row.engine);
    }
    const names = doc.rows.map((row: { name: string }) => row.name);
    expect(new Set(names).size).toBe(names.length);
    // Every configuration runs on both engines, and Wasm rows carry the ratio.
    expect([...engines].sort()).toEqual(['reference', 'wasm']);
    expect(doc.rows).toHaveLength(2 * 2);
    for (const row of doc.rows.filter((x: { engine: string }) => x.engine === 'wasm')) {
      expect(row.vsReference).toBeGreaterThan(0);
    }
  });

  it('prints a table by default', { timeout: 60_000 }, async () => {
    const r = await run(
      'bench',
      '--time',
      '2',
      '--rounds',
      '1',
      '--queue-size',
      '16',
      '--chain-lengths',
      '1',
      '--engine',
      'wasm',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wasm Mch\/s/);
    expect(r.out).toMatch(/wasm÷ref/);
    expect(r.out).toMatch(/wasm÷native/);
    // A noisy row gets a '!' first (and every row a column for it).
    expect(r.out.split('\n').filter((l) => /^(?:[! ] {2})?split {2}16/.test(l)).length).toBe(4);
  });

  it('counts every chain in the stats block, and notices when they disagree', () => {
    for (const c of [base, { ...base, indirect: true }, { ...base, chainLength: 1, eventIdx: false }]) {
      const rt = new RingRoundTrip(c);
      rt.run(3);
      rt.check();
      expect(rt.queue.stats().chainsCompleted).toBe(3 * batchChains(c));
    }
    const rt = new RingRoundTrip(base);
    rt.run(2);
    rt.counted += 1; // a loop that claims a chain it did not complete
    expect(() => rt.check()).toThrow(BenchSanityError);
  });

  it('runs the cases with the longest names (longer than a stats block name), and names them in its errors', () => {
    const c: RingCase = {
      ...base,
      ring: 'packed',
      indirect: true,
      eventIdx: false,
      inOrder: true,
      bufferBytes: 4096,
      engine: 'reference',
    };
    const rt = new RingRoundTrip(c);
    rt.run(2);
    rt.check();
    rt.counted += 1;
    expect(() => rt.check()).toThrow('packed/q256/chain4/indirect/noevidx/inorder/4096B/reference: stats say');
  });

  it('fails loudly when a round trip loses chains', () => {
    const rt = new RingRoundTrip({ ...base, chainLength: 1 });
    // Take descriptors away from the driver: the next batch cannot be added in full.
    rt.queue.driver.addBatch(rt.batch);
    expect(() => rt.run(1)).toThrow(/expected 256 each/);
  });

  const native = buildNative();
  // Skipped only without a C compiler, and the name says so.
  const noCc = typeof native === 'string' ? ` (skipped: ${native})` : '';
  it.skipIf(typeof native === 'string')(
    `runs the native C port with the same batch and checks its stats${noCc}`,
    () => {
      if (typeof native === 'string') return;
      const n = runNative(
        native,
        { queueSize: 256, batchChains: 256, chainLength: 1, eventIdx: true, indirect: false, bufferBytes: 64 },
        5,
      );
      expect(n.chainsPerSec).toBeGreaterThan(0);
      expect(n.nsPerChain).toBeGreaterThan(0);
    },
  );

  it('the native port agrees with the Wasm core on the ring layout', () => {
    // The C file carries its own copy of assembly/layout.ts: check every constant it names.
    const src = fileURLToPath(new URL('../../bench/native/roundtrip.c', import.meta.url));
    const text = readFileSync(src, 'utf8');
    const defs = [...text.matchAll(/^#define ([A-Z][A-Z0-9_]+) (0x[0-9a-f]+|\d+)u?$/gm)];
    expect(defs.length).toBeGreaterThan(100);
    const layout = L as unknown as Record<string, number>;
    for (const [, name, value] of defs) {
      if (name === undefined || !(name in layout)) continue;
      expect([name, Number(value)]).toEqual([name, layout[name]]);
    }
  });

  it(
    'runs every combination of --hardened, --nospec and --used-len-check, with hardened ÷ naive',
    { timeout: 120_000 },
    async () => {
      const r = await run(
        'bench',
        '--json',
        '--time',
        '5',
        '--rounds',
        '1',
        '--queue-size',
        '16',
        '--chain-lengths',
        '1',
        '--indirect',
        'off',
        '--event-idx',
        'on',
        '--ring',
        'split,packed',
        '--engine',
        'wasm,reference',
        '--hardened',
        'on,off',
        '--nospec',
        'off,on',
        '--used-len-check',
        'driver,ring',
        '--no-native',
        '--quiet',
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.out).rows as {
        name: string;
        engine: string;
        ring: string;
        hardened: boolean;
        nospec: boolean;
        usedLenCheck: string;
        vsNaive?: number;
        vsReference?: number;
      }[];
      // 2 rings × 2 nospec × 2 len checks: Wasm hardened and naive, reference hardened only.
      expect(rows.filter((x) => x.engine === 'wasm')).toHaveLength(16);
      expect(rows.filter((x) => x.engine === 'reference')).toHaveLength(8);
      expect(rows.filter((x) => x.engine === 'reference' && !x.hardened)).toEqual([]);
      expect(new Set(rows.map((x) => x.name)).size).toBe(rows.length);
      for (const x of rows.filter((y) => y.engine === 'wasm')) {
        if (x.hardened) {
          expect(x.vsNaive, x.name).toBeGreaterThan(0);
          expect(x.vsReference, x.name).toBeGreaterThan(0);
        } else {
          expect(x.vsNaive, x.name).toBeUndefined();
          expect(x.name).toMatch(/\/naive\//);
        }
      }
      expect(rows.some((x) => x.name.includes('/nospec/') && x.name.includes('/lencheck-ring/'))).toBe(true);
    },
  );

  it('shows hardened ÷ naive in the table', { timeout: 60_000 }, async () => {
    const r = await run(
      'bench',
      '--time',
      '5',
      '--rounds',
      '1',
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
      '--hardened',
      'on,off',
      '--no-native',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/checks\s+nospec\s+len check/);
    expect(r.out).toMatch(/hard÷naive/);
    // Rows start with the noise marker column ('!' or blank) when a row is noisy.
    const lines = r.out.split('\n').filter((l) => /^!?\s*split  16/.test(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/hardened\s+off\s+driver\s.*\d\.\d\d×$/);
    expect(lines[1]).toMatch(/naive\s+off\s+driver\s.*–$/);
  });

  it('refuses bad trust-mode flags, and chains a device would refuse, in one line', async () => {
    for (const [args, msg] of [
      [['--hardened', 'yes'], /--hardened yes: must be off, on or off,on/],
      [['--nospec', '1'], /--nospec 1: must be off, on or off,on/],
      [['--used-len-check', 'device'], /--used-len-check device: must be driver, ring/],
      [['--queue-size', '2048', '--chain-lengths', '1025'], /--chain-lengths 1025: .*at most 1024/],
    ] as const) {
      const r = await run('bench', ...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });
});

describe('--policy on the ring benchmarks', () => {
  it('leaves out the ring layouts and features the policy refuses, and says so; all refused is one line, exit 2', async () => {
    const r = await run(
      'bench',
      '--policy',
      'tdx-default',
      '--ring',
      'split,packed',
      '--chain-lengths',
      '1',
      '--indirect',
      'off,on',
      '--event-idx',
      'on',
      '--engine',
      'wasm',
      '--no-native',
      '--time',
      '5',
      '--rounds',
      '1',
      '--quiet',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toContain('vqsim: policy tdx-default refuses VIRTIO_F_RING_PACKED: --ring packed left out');
    expect(r.err).toContain('vqsim: policy tdx-default refuses VIRTIO_F_INDIRECT_DESC: --indirect on left out');
    const rows = (JSON.parse(r.out) as { rows: { ring: string; indirect: boolean }[] }).rows;
    expect(rows.map((x) => [x.ring, x.indirect])).toEqual([['split', false]]);
    const none = await run('bench', 'pingpong', '--policy', 'tdx-default', '--ring', 'packed');
    expect([none.code, none.err]).toEqual([
      2,
      'vqsim: --ring packed with --policy tdx-default: the policy refuses VIRTIO_F_RING_PACKED\n',
    ]);
  });
});

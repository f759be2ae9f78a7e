// `vqsim fuzz`: the summary per target, a failure's seed, iteration and
// replay command line (exit 1), the progress line, and one clear line with
// exit code 2 for a bad flag.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import type { FuzzReport } from '../../src/trust/fuzz/index.js';
import { run } from '../helpers/cli.js';

/** Runs the CLI keeping every progress line it wrote. */
async function runWithProgress(...argv: string[]) {
  let out = '';
  let err = '';
  const progress: string[] = [];
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), progress: (l) => void progress.push(l) };
  const code = await main(argv, io);
  return { code, out, err, progress };
}

async function rejects(argv: string[], message: string): Promise<void> {
  const r = await run('fuzz', ...argv);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err).toBe(`vqsim: ${message}\n`);
}

describe('vqsim fuzz', () => {
  it('prints its help, and is listed in vqsim --help', async () => {
    const r = await run('fuzz', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: vqsim fuzz \[options\]/);
    for (const flag of ['--target', '--seed', '--iterations', '--iteration', '--honest', '--inject-lie', '--json']) {
      expect(r.out).toContain(flag);
    }
    expect((await run('--help')).out).toMatch(/\n {2}fuzz +seeded fuzzing/);
  });

  it('rejects a bad flag with one line naming it and what is allowed', async () => {
    await rejects(
      ['--target', 'ring,disk'],
      '--target ring,disk: must be ring, net, blk, console, transport or a comma list of them',
    );
    await rejects(['--seed', 'x'], '--seed x: must be a whole number from 0 to 4294967295');
    await rejects(['--seed', '4294967296'], '--seed 4294967296: must be a whole number from 0 to 4294967295');
    await rejects(['--iterations', '0'], '--iterations 0: must be a whole number from 1 to 1000000000');
    await rejects(['--iteration', '1.5'], '--iteration 1.5: must be a whole number from 0 to 4294967295');
    await rejects(['--honest=yes'], '--honest: takes no value');
    await rejects(['--seed'], '--seed: needs a value');
    await rejects(['--bogus'], 'unknown flag --bogus: see --help for the flags allowed');
    await rejects(['ring'], 'unexpected argument ring: see vqsim fuzz --help');
  });

  it('runs targets and prints a summary per target, a progress line while it runs, and exit 0', async () => {
    const r = await runWithProgress('fuzz', '--target', 'ring,transport', '--seed', '3', '--iterations', '20');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('vqsim fuzz: seed 3, iterations 0 to 19 per target (honest and malicious)');
    expect(lines[2]).toMatch(
      /^target +iterations +operations +violations +false positives +failures +operations by ring$/,
    );
    expect(lines[3]).toMatch(/^ring +20 +\d+ +\d+ +0 +0 +split \d+, packed \d+$/);
    expect(lines[4]).toMatch(/^transport +20 +\d+ +\d+ +0 +0 +(split|packed) \d+, (split|packed) \d+$/);
    expect(r.out).toMatch(/Violations the victims named \(catalogue id: times\):\n {2}ring: [A-Z_]+ \d+/);
    expect(r.out).not.toContain('FAIL');
    // Progress: `[k/N] target ... it/s`, then cleared.
    expect(r.progress.length).toBeGreaterThan(1);
    for (const p of r.progress.slice(0, -1))
      expect(p).toMatch(/^\[\d+\/20\] (ring|transport) \d+ operations, \d+ it\/s$/);
    // The last line of each target is its [20/20], whatever the time between lines.
    expect(r.progress.filter((p) => p.startsWith('[20/20] '))).toHaveLength(2);
    expect(r.progress.at(-1)).toBe('');
  });

  it('--json prints the report, the same figures as the table', async () => {
    const r = await run('fuzz', '--target', 'ring', '--seed', '3', '--iterations', '20', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { seed: number; honest: boolean; first: number; rows: FuzzReport['targets'] };
    expect(doc).toMatchObject({ seed: 3, honest: false, first: 0 });
    const [t] = doc.rows;
    expect(t).toMatchObject({
      bench: 'fuzz',
      name: 'fuzz/ring',
      target: 'ring',
      iterations: 20,
      falsePositives: 0,
      failures: [],
    });
    const table = await run('fuzz', '--target', 'ring', '--seed', '3', '--iterations', '20');
    expect(table.out).toContain(`ring       20          ${String(t!.operations).padEnd(12)}`);
  });

  it('a failure exits 1 with its seed, iteration and a command line that replays it alone', async () => {
    const r = await run(
      'fuzz',
      '--target',
      'ring',
      '--seed',
      '5',
      '--iterations',
      '6',
      '--honest',
      '--inject-lie',
      '3',
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain('vqsim fuzz: seed 5, iterations 0 to 5 per target (honest only)');
    const fail =
      /FAIL ring seed 5 iteration (\d+) \((?:direct|iommu)\/(split|packed)\): false-positive: driver reap: an honest run raised USED_ID_OUT_OF_RANGE \(side device\): .*\n {2}replay: (vqsim fuzz .*)\n/.exec(
        r.out,
      );
    expect(fail).not.toBeNull();
    const [line, iteration, , replay] = fail!;
    expect(replay).toBe(`vqsim fuzz --target ring --seed 5 --iteration ${iteration} --honest --inject-lie 3`);
    expect(r.err).toBe(`vqsim fuzz: failure at seed 5 iteration ${iteration}; replay: ${replay}\n`);

    const again = await run(...replay!.split(' ').slice(1));
    expect(again.code).toBe(1);
    expect(again.out).toContain(`vqsim fuzz: seed 5, iterations ${iteration} to ${iteration} per target (honest only)`);
    expect(again.out).toContain(line!.split('\n')[0]);
  });
});

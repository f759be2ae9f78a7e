// The command line as commander parses it: the help of every command lists
// every flag it takes (each with a description), every example in a help text
// and in the README parses, --version, `vqsim help <command> <subcommand>`, and
// one line with exit 2 for each kind of mistake.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { vqsimProgram } from '../../src/cli/program.js';
import type { Io } from '../../src/cli/io.js';
import { UsageError } from '../../src/cli/usage.js';
import { HelpShown } from '../../src/cli/parser.js';
import { run } from '../helpers/cli.js';

const silent: Io = { out: () => {}, err: () => {}, progress: () => {} };

/** Every command of the tree with its path from the root (the root itself: []). */
function commands(): { path: string[]; c: Command }[] {
  const out: { path: string[]; c: Command }[] = [];
  const walk = (c: Command, path: string[]) => {
    out.push({ path, c });
    for (const s of c.commands) walk(s, [...path, s.name()]);
  };
  walk(
    vqsimProgram(silent, () => {}),
    [],
  );
  return out;
}

/** What parsing `argv` ends in, up to the action, which does not run: 'ok', or the usage error's line. */
async function parses(argv: string[]): Promise<string> {
  class Parsed extends Error {}
  const program = vqsimProgram(silent, () => {});
  program.hook('preAction', () => {
    throw new Parsed();
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 'no action';
  } catch (e) {
    if (e instanceof Parsed || e instanceof HelpShown) return 'ok';
    if (e instanceof UsageError) return e.message;
    throw e;
  }
}

/** A command line as a shell would split it, for the simple lines of the examples. */
const words = (line: string) => line.trim().split(/\s+/).filter(Boolean);

/** The vqsim invocations of an example line: before a redirection, a pipe or a comment; each of `a && b`. */
function invocations(line: string): string[][] {
  return line
    .split(/&&|;/)
    .map((part) => /(?:^|\s)vqsim\s(.*)$/.exec(part)?.[1])
    .filter((rest): rest is string => rest !== undefined)
    .map((rest) => words(rest.split(/\s[>|&#]|\s{2,}/)[0]!.replace(/\$i\b/g, '1')));
}

async function rejects(argv: string[], line: string | RegExp): Promise<void> {
  const r = await run(...argv);
  expect([r.code, r.out], argv.join(' ')).toEqual([2, '']);
  expect(r.err.trimEnd().split('\n'), argv.join(' ')).toHaveLength(1);
  if (typeof line === 'string') expect(r.err).toBe(`vqsim: ${line}\n`);
  else expect(r.err).toMatch(line);
}

describe('the vqsim command tree', () => {
  it('every command has a summary, and every flag a description; --help lists them all (and vqsim help says the same)', async () => {
    for (const { path, c } of commands()) {
      if (path.length > 0) expect(c.summary(), path.join(' ')).not.toBe('');
      const r = await run(...path, '--help');
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toMatch(new RegExp(`^Usage: ${['vqsim', ...path].join(' ')} `));
      for (const o of c.options) {
        expect(o.description, `${path.join(' ')} ${o.flags}`).not.toBe('');
        expect(r.out, `${path.join(' ')} --help lists ${o.flags}`).toContain(o.flags);
      }
      for (const s of c.commands) expect(r.out).toMatch(new RegExp(`\\n {2}${s.name()}\\b`));
      if (path.length > 0) expect((await run('help', ...path)).out).toBe(r.out);
    }
  });

  it('the flags show their defaults and allowed values', async () => {
    const net = (await run('help', 'bench', 'net')).out;
    for (const flag of [
      '--packet-bytes',
      '--queues',
      '--workers',
      '--backend',
      '--protect',
      '--deployment',
      '--json',
    ]) {
      expect(net).toContain(flag);
    }
    expect(net).toMatch(
      /--packet-bytes <n,\.\.\.> +frame sizes, 14 to 65535 bytes; 1\.5k, 9000\s+\(default: 64,1500,9000\)/,
    );
    expect(net).toMatch(/--time <ms> +time per case and round, 1 to 600000 ms;\s+500ms, 2s \(default:\s+300ms\)/);
    expect(net).toMatch(/Examples:\n {2}vqsim bench net /);
    const explain = (await run('policy', 'explain', '--help')).out;
    expect(explain).toMatch(/--deployment <D> +the deployment \(choices:\s+"traditional",\s+"vhost-user",/);
    expect(explain).toMatch(/default: traditional\)/);
    // vqsim bench alone is the ring round trip: its flags, and the other benchmarks as commands.
    const bench = (await run('bench', '-h')).out;
    expect(bench).toMatch(/^Usage: vqsim bench \[benchmark\] \[options\]/);
    expect(bench).toMatch(/--chain-lengths <n,\.\.\.>/);
    for (const b of ['ring', 'pingpong', 'colocated', 'net', 'blk', 'console', 'swiotlb']) {
      expect(bench).toMatch(new RegExp(`\\n {2}${b} +\\S`));
    }
  });

  it('every example of every help text parses', async () => {
    let examples = 0;
    for (const { path } of commands()) {
      const help = (await run(...path, '--help')).out;
      const block = /\nExamples?:\n((?: {2}.*\n?)+)/.exec(help)?.[1] ?? '';
      for (const line of block.split('\n')) {
        for (const argv of invocations(line)) {
          examples++;
          expect(await parses(argv), `${path.join(' ')} --help: vqsim ${argv.join(' ')}`).toBe('ok');
        }
      }
    }
    expect(examples).toBeGreaterThan(25);
  });

  it("every vqsim line of the README's shell blocks parses", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    // Shell blocks, a line continued with \ joined to the next.
    const lines = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.replace(/\\\n/g, ' ').split('\n'));
    const argvs = lines.flatMap((l) => (/^\s*(for .*; do )?npx vqsim /.test(l) ? invocations(l) : []));
    expect(argvs.length).toBeGreaterThan(20);
    for (const argv of argvs) expect(await parses(argv), `vqsim ${argv.join(' ')}`).toBe('ok');
  });
});

describe('--version and help', () => {
  it('--version and -V print the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      expect(await run(flag)).toEqual({ code: 0, out: `vqsim ${pkg.version}\n`, err: '' });
    }
  });

  it('vqsim help prints the main help (exit 0); vqsim alone prints it on stderr (exit 2)', async () => {
    const h = await run('help');
    expect([h.code, h.err]).toEqual([0, '']);
    expect(h.out).toMatch(/^Usage: vqsim <command> \[options\]/);
    for (const c of ['bench', 'study', 'merge', 'calibrate', 'attack', 'fuzz', 'policy', 'help']) {
      expect(h.out).toMatch(new RegExp(`\\n {2}${c}\\b`));
    }
    const none = await run();
    expect([none.code, none.out, none.err]).toEqual([2, '', h.out]);
    const study = await run('study');
    expect([study.code, study.out]).toEqual([2, '']);
    expect(study.err).toMatch(/^Usage: vqsim study .*\n[\s\S]*\n {2}swiotlb [\s\S]*\n {2}pool /);
  });

  it('vqsim help bench net shows the options of net', async () => {
    const r = await run('help', 'bench', 'net');
    expect(r.code).toBe(0);
    expect(r.out).toBe((await run('bench', 'net', '--help')).out);
    expect(r.out).toMatch(/--backend <loopback,sink,source>/);
    expect(r.out).not.toMatch(/--chain-lengths/);
  });
});

describe('mistakes: one line naming the flag and what is allowed, exit 2', () => {
  it('a bad choice names the flag, the values allowed and the near miss', async () => {
    await rejects(
      ['bench', 'net', '--backend', 'sinkk'],
      '--backend sinkk: must be loopback, sink, source or a comma list of them (did you mean sink?)',
    );
    await rejects(
      ['calibrate', '--profile', 'tdxx'],
      '--profile tdxx: must be one of traditional, sev-snp, tdx (did you mean tdx?)',
    );
  });

  it('an unknown flag, with the near miss; a flag of another command says whose it is', async () => {
    await rejects(
      ['bench', '--tim', '5'],
      'unknown flag --tim: see --help for the flags allowed (did you mean --time?)',
    );
    await rejects(
      ['fuzz', '--sed', '3'],
      'unknown flag --sed: see --help for the flags allowed (did you mean --seed?)',
    );
    // --version is vqsim's own, before any command.
    await rejects(['bench', '--version'], 'unknown flag --version: see --help for the flags allowed');
    await rejects(
      ['bench', 'net', '--chain-lengths', '4'],
      '--chain-lengths: not an option of bench net (vqsim bench net --help)',
    );
  });

  it('an unknown command or subcommand, with the near miss', async () => {
    await rejects(['benc'], /^vqsim: unknown command benc: must be bench, .* \(did you mean bench\?\)/);
    await rejects(
      ['bench', 'pingpog'],
      /^vqsim: unknown benchmark pingpog: must be ring, .*\(did you mean pingpong\?\)/,
    );
    await rejects(['study', 'swiotbl'], 'unknown study swiotbl: must be swiotlb or pool (did you mean swiotlb?)');
    await rejects(
      ['policy', 'explian'],
      'policy explian: must be check or explain (did you mean explain?) (see vqsim policy --help)',
    );
    await rejects(['help', 'bench', 'blkk'], /^vqsim: unknown benchmark blkk: .*\(did you mean blk\?\)/);
  });

  it('a flag without its value, a value on a flag that takes none, a stray argument', async () => {
    await rejects(['bench', 'net', '--time'], '--time: needs a value');
    await rejects(['study', 'pool', '--slots'], '--slots: needs a value');
    await rejects(['attack', '--list=yes'], '--list: takes no value');
    await rejects(['bench', 'swiotlb', 'extra'], 'unexpected argument extra: see vqsim bench swiotlb --help');
  });

  it('flags that are each valid but do not fit together say which and what fits', async () => {
    await rejects(
      ['bench', '--time', '5', 'net'],
      '--time: a flag of the benchmark comes after its name (vqsim bench net --time ...)',
    );
    await rejects(['bench', 'blk', '--csv', '--markdown'], '--csv and --markdown: choose one export format');
    await rejects(['attack', '--list', '--json'], '--json with --list: the catalogue is a table, or --markdown');
    await rejects(
      ['bench', 'pingpong', '--like-ringtest', '--device-batch', '2'],
      '--device-batch: --like-ringtest sets it (give one or the other)',
    );
  });

  it('-q anywhere: before the command, or among its flags', async () => {
    for (const argv of [
      ['-q', 'bench', 'swiotlb'],
      ['bench', '-q', 'swiotlb'],
      ['bench', 'swiotlb', '--quiet'],
    ]) {
      expect(await parses([...argv, '--utilisation', '50'])).toBe('ok');
    }
  });
});

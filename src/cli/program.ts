// The `vqsim` command tree (commander): each command's flags and help come
// from its module (defineX), its action runs the module's command with the
// values commander parsed, and the settings every command shares (-q, the
// --csv/--markdown exports, one-line errors through the Io) are applied here.
import { Option, type Command } from 'commander';
import { attackCommand, defineAttack, type AttackFlags } from './attack.js';
import { benchCommand } from './bench/index.js';
import { benchOptions, defineRing, type RingFlags } from './bench/options.js';
import { colocatedCommand, defineColocated, definePingpong, pingpongCommand } from './bench/threads.js';
import { defineNet, netCommand, netOptions, type NetFlags } from './bench/net.js';
import { blkCommand, blkOptions, defineBlk, type BlkFlags } from './bench/blk.js';
import { consoleCommand, consoleOptions, defineConsole, type ConsoleFlags } from './bench/console.js';
import { defineSwiotlb, swiotlbCommand, swiotlbOptions, type SwiotlbFlags } from './bench/swiotlb.js';
import { calibrateCommand, defineCalibrate, type CalibrateFlags } from './calibrate.js';
import { defineFuzz, fuzzCommand, fuzzOptions, type FuzzFlags } from './fuzz.js';
import { defineMerge, mergeCommand } from './merge.js';
import { checkCommand, defineCheck, defineExplain, explainCommand, type ExplainFlags } from './policy.js';
import { defineStudySwiotlb, poolCommand, studyOptions, studySwiotlbCommand, type StudySwiotlbFlags } from './study.js';
import { defineStudyPool, type PoolFlags } from './study-pool.js';
import { asExport, exportFlags, exportFormat } from './export.js';
import { quietIo, type Io } from './io.js';
import { configure, newCommand, sayUnknownSubcommand, suggest, unknownSubcommandOf } from './parser.js';
import { vqsimVersion } from './result.js';
import { UsageError } from './usage.js';

const MAIN_AFTER = `
vqsim help <command> [<subcommand>] (or vqsim <command> --help) shows a
command's flags and examples. Every --json prints one result document (meta,
rows, warnings): see schema/result.schema.json and the README's "Result
documents"; --csv and --markdown print its rows instead.

Examples:
  vqsim bench                          the ring round trip, every default case
  vqsim help bench net                 the options of vqsim bench net
  vqsim bench blk --mode randread --time 1s --json > blk.json
  vqsim attack --deployment cvm
`;

/**
 * The whole `vqsim` command for one run: help and errors go through `io`,
 * and the command that runs hands its exit code to `exit`.
 */
export function vqsimProgram(io: Io, exit: (code: number) => void): Command {
  const program = newCommand('vqsim')
    .usage('<command> [options]')
    .description('A VIRTIO virtqueue simulator: benchmarks, studies, attacks, fuzzing and trust policies.')
    .version(`vqsim ${vqsimVersion()}`, '-V, --version', "print vqsim's version")
    .addHelpText('after', MAIN_AFTER);

  /** A command that runs: `run` gets its values, the Io (quiet with -q), and its arguments. */
  function leaf<V>(
    parent: Command,
    name: string,
    summary: string,
    define: (c: Command) => Command,
    run: (v: V, io: Io, args: string[]) => Promise<number> | number,
  ): Command {
    const c = define(parent.command(name)).summary(summary);
    return c.action(async () => {
      const v = c.opts() as V & { json?: boolean };
      // -q on the command or before it (vqsim -q bench net).
      let quiet = false;
      for (let a: Command | null = c; a; a = a.parent) quiet ||= a.opts().quiet === true;
      const to = quiet ? quietIo(io) : io;
      const format = exportFormat(c, v);
      exit(
        format
          ? await asExport(format, to, (capture) => run({ ...v, json: true }, capture, c.args))
          : await run(v, to, c.args),
      );
    });
  }

  // vqsim bench: the ring round trip itself, and each benchmark by name.
  const ring = (v: RingFlags, to: Io) => benchCommand(benchOptions(v), to);
  const bench = leaf(
    program,
    'bench',
    'benchmarks: ring (the default), pingpong, colocated, net, blk, console, swiotlb',
    defineRing,
    ring,
  );
  bench
    .usage('[benchmark] [options]')
    .description(`Without a benchmark named, ring: ${bench.description()}`)
    .hook('preSubcommand', (_b, sub) => {
      const given = bench.options.find(
        (o) => o.long !== '--quiet' && bench.getOptionValueSource(o.attributeName()) === 'cli',
      );
      if (given) {
        throw new UsageError(
          `${given.long}: a flag of the benchmark comes after its name (vqsim bench ${sub.name()} ${given.long} ...)`,
        );
      }
    });
  sayUnknownSubcommand(
    bench,
    (n, all) => `unknown benchmark ${n}: must be ${all.join(', ')}${suggest(n, all)} (vqsim bench alone runs ring)`,
  );
  leaf(bench, 'ring', 'single-thread ring round trip (Wasm, TypeScript reference, native C)', defineRing, ring);
  leaf(bench, 'pingpong', 'round trip between a driver thread and a device thread', definePingpong, pingpongCommand);
  leaf(bench, 'colocated', 'co-located worker threads, 1..N, and their scaling', defineColocated, colocatedCommand);
  leaf(bench, 'net', 'virtio-net: Mpps and Gbps through loopback or sink', defineNet, (v: NetFlags, to) =>
    netCommand(netOptions(v), to),
  );
  leaf(bench, 'blk', 'virtio-blk: IOPS and MB/s, random and sequential', defineBlk, (v: BlkFlags, to) =>
    blkCommand(blkOptions(v), to),
  );
  leaf(bench, 'console', 'virtio-console: bytes per second through loopback', defineConsole, (v: ConsoleFlags, to) =>
    consoleCommand(consoleOptions(v), to),
  );
  leaf(
    bench,
    'swiotlb',
    'swiotlb bounce pool: map+unmap at pool utilisations, bounce copy bandwidth',
    defineSwiotlb,
    (v: SwiotlbFlags, to) => swiotlbCommand(swiotlbOptions(v), to),
  );

  const study = program
    .command('study')
    .summary('studies: swiotlb (the DMA path per size), pool (how big a bounce pool)')
    .description('What the DMA path costs: measured and modeled (swiotlb), and the bounce pool the queues need (pool).')
    .helpCommand(false);
  sayUnknownSubcommand(study, (n, all) => `unknown study ${n}: must be ${all.join(' or ')}${suggest(n, all)}`);
  leaf(
    study,
    'swiotlb',
    "what each deployment's DMA path costs per size: measured rate and modeled cycles",
    defineStudySwiotlb,
    (v: StudySwiotlbFlags, to) => studySwiotlbCommand(studyOptions(v), to),
  );
  leaf(
    study,
    'pool',
    'how big a bounce pool the queues need: refusals, high-water, slots scanned',
    defineStudyPool,
    (v: PoolFlags, to) => poolCommand(v, to),
  );

  leaf(
    program,
    'merge',
    'put the --shard slices of a study back together (and --html their report)',
    defineMerge,
    (v: { html?: string }, to, files) => mergeCommand(files, v, to),
  );
  leaf(
    program,
    'calibrate',
    "measure this machine's swiotlb costs and write a cost file for study --cost",
    defineCalibrate,
    (v: CalibrateFlags, to) => calibrateCommand(v, to),
  );
  leaf(
    program,
    'attack',
    'every violation of the trust catalogue, hardened and naive, per deployment',
    defineAttack,
    (v: AttackFlags, to) => attackCommand(v, to),
  );
  leaf(
    program,
    'fuzz',
    'seeded fuzzing of rings, devices and transports against the trust invariants',
    defineFuzz,
    (v: FuzzFlags, to) => fuzzCommand(fuzzOptions(v), to),
  );

  const policy = program
    .command('policy')
    .summary('Cedar trust policies: check files against the schema, explain what one decides')
    .description(
      'Cedar trust policies: validate files against the schema (check), and what one decides for a device (explain).',
    )
    .helpCommand(false);
  sayUnknownSubcommand(
    policy,
    (n, all) => `policy ${n}: must be ${all.join(' or ')}${suggest(n, all)} (see vqsim policy --help)`,
  );
  leaf(policy, 'check', 'validate Cedar trust policy files against the schema', defineCheck, (_v, to, files) =>
    checkCommand(files, to),
  );
  leaf(
    policy,
    'explain',
    'what a trust policy (file or preset) decides for one device',
    defineExplain,
    (v: ExplainFlags, to) => explainCommand(v, to),
  );

  program
    .command('help')
    .summary('show the help of a command: vqsim help bench net')
    .description('Shows the help of a command or a subcommand, as vqsim <command> [<subcommand>] --help does.')
    .argument('[command...]', 'a command and its subcommand')
    .action((names: string[]) => {
      let c = program;
      for (const n of names) {
        const sub = c.commands.find((s) => s.name() === n);
        if (!sub) throw new UsageError(unknownSubcommandOf(c, n));
        c = sub;
      }
      c.outputHelp();
      exit(0);
    });

  // Every command takes -q; every command with a --json document takes
  // --csv and --markdown for its rows, unless it prints them itself.
  const shared = (c: Command): void => {
    if (c.name() !== 'help') {
      if (c.options.some((o) => o.long === '--json') && !c.options.some((o) => o.long === '--csv')) exportFlags(c);
      c.addOption(
        new Option('-q, --quiet', 'no progress line and no noise warnings on stderr (--json keeps the warnings)'),
      );
    }
    c.commands.forEach(shared);
  };
  shared(program);
  return configure(program, io);
}

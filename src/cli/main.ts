// The `vqsim` command. bin/vqsim.js calls main() with the arguments after the script.
import { attackCommand } from './attack.js';
import { benchCommand } from './bench/index.js';
import { studyCommand } from './study.js';
import { calibrateCommand } from './calibrate.js';
import { fuzzCommand } from './fuzz.js';
import { mergeCommand } from './merge.js';
import { policyCommand } from './policy.js';
import { suggest } from './bench/options.js';
import { processIo, quietIo, quietOnEpipe, type Io } from './io.js';
import { setInvocation, vqsimVersion } from './result.js';
import { MAIN_HELP, UsageError } from './usage.js';
import { asExport } from './export.js';

export const COMMANDS = ['bench', 'attack', 'fuzz', 'policy', 'study', 'calibrate', 'merge'] as const;

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    io.err(MAIN_HELP);
    return 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    io.out(`vqsim ${vqsimVersion()}\n`);
    return 0;
  }
  if (cmd === '--help' || cmd === '-h') {
    io.out(MAIN_HELP);
    return 0;
  }
  // `vqsim help bench net` is `vqsim bench net --help`.
  if (cmd === 'help') return rest.length === 0 ? (io.out(MAIN_HELP), 0) : dispatch([...rest, '--help'], io);
  if (cmd === 'bench') return benchCommand(rest, io);
  if (cmd === 'attack') return attackCommand(rest, io);
  if (cmd === 'study') return studyCommand(rest, io);
  if (cmd === 'calibrate') return calibrateCommand(rest, io);
  if (cmd === 'fuzz') return fuzzCommand(rest, io);
  if (cmd === 'policy') return policyCommand(rest, io);
  if (cmd === 'merge') return mergeCommand(rest, io);
  if (cmd.startsWith('-')) throw new UsageError(`unknown flag ${cmd}: see vqsim --help`);
  throw new UsageError(
    `unknown command ${cmd}: must be ${COMMANDS.join(', ')}${suggest(cmd, COMMANDS)} (see vqsim --help)`,
  );
}

/** Runs the command line; returns the exit code (2 for bad input, 1 for a failure). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (io === processIo) quietOnEpipe();
  // --quiet (-q) anywhere: no progress line, no warnings on stderr (the --json document keeps them).
  const quiet = argv.includes('--quiet') || argv.includes('-q');
  const args = quiet ? argv.filter((a) => a !== '--quiet' && a !== '-q') : argv;
  if (quiet) io = quietIo(io);
  setInvocation(argv);
  try {
    // --csv / --markdown on a command that prints a result document: run it with --json and export its rows.
    // (study prints its own exports; help and the other commands have none.)
    const format = args.includes('--csv') ? 'csv' : args.includes('--markdown') ? 'markdown' : undefined;
    if (format && args[0] !== 'study' && args[0] !== 'merge' && args[0] !== 'policy' && !args.includes('--list')) {
      if (args.includes('--json')) throw new UsageError(`--json and --${format}: choose one export format`);
      return await asExport(args, format, io, dispatch);
    }
    return await dispatch(args, io);
  } catch (e) {
    io.progress('');
    if (e instanceof UsageError) {
      io.err(`vqsim: ${e.message}\n`);
      return 2;
    }
    io.err(`vqsim: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.VQSIM_DEBUG && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
    return 1;
  }
}

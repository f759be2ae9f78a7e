// The `vqsim` command. bin/vqsim.js calls main() with the arguments after the script.
import { attackCommand } from './attack.js';
import { benchCommand } from './bench/index.js';
import { studyCommand } from './study.js';
import { calibrateCommand } from './calibrate.js';
import { fuzzCommand } from './fuzz.js';
import { processIo, type Io } from './io.js';
import { policyCommand } from './policy.js';
import { MAIN_HELP, UsageError } from './usage.js';

export const COMMANDS = ['bench', 'attack', 'fuzz', 'policy', 'study', 'calibrate'] as const;

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    io.err(MAIN_HELP);
    return 2;
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(MAIN_HELP);
    return 0;
  }
  if (cmd === 'bench') return benchCommand(rest, io);
  if (cmd === 'attack') return attackCommand(rest, io);
  if (cmd === 'study') return studyCommand(rest, io);
  if (cmd === 'calibrate') return calibrateCommand(rest, io);
  if (cmd === 'fuzz') return fuzzCommand(rest, io);
  if (cmd === 'policy') return policyCommand(rest, io);
  if (cmd.startsWith('-')) throw new UsageError(`unknown flag ${cmd}: see vqsim --help`);
  throw new UsageError(`unknown command ${cmd}: must be ${COMMANDS.join(', ')} (see vqsim --help)`);
}

/** Runs the command line; returns the exit code (2 for bad input, 1 for a failure). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
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

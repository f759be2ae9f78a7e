// The `vqsim` command. bin/vqsim.js calls main() with the arguments after the script.
import { processIo, quietOnEpipe, type Io } from './io.js';
import { HelpShown } from './parser.js';
import { vqsimProgram } from './program.js';
import { setInvocation } from './result.js';
import { UsageError } from './usage.js';

/** Runs the command line; returns the exit code (2 for bad input, 1 for a failure). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (io === processIo) quietOnEpipe();
  setInvocation(argv);
  let code = 0;
  try {
    await vqsimProgram(io, (c) => (code = c)).parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    // Help and --version (exit 0), or help for a command named without its subcommand (exit 2).
    if (e instanceof HelpShown) return e.exitCode;
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

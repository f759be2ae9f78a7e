import { BENCH_HELP, UsageError } from '../usage.js';
import { parseBenchArgs, suggest } from './options.js';
import { formatJson, formatTable } from './report.js';
import { runBench } from './run.js';
import { colocatedCommand, pingpongCommand } from './threads.js';
import { netCommand } from './net.js';
import { blkCommand } from './blk.js';
import { consoleCommand } from './console.js';
import { swiotlbCommand } from './swiotlb.js';
import type { Io } from '../io.js';
import { printWarnings } from '../noise.js';

/** Benchmarks `vqsim bench` knows. `ring` (the default) is the single-thread ring round trip. */
export const BENCHMARKS = ['ring', 'pingpong', 'colocated', 'net', 'blk', 'console', 'swiotlb'] as const;

/** `vqsim bench [ring] [options]`. Returns the exit code. */
export async function benchCommand(args: string[], io: Io): Promise<number> {
  let which = 'ring';
  let rest = args;
  if (args[0] !== undefined && !args[0].startsWith('-')) {
    which = args[0];
    rest = args.slice(1);
  }
  if (!(BENCHMARKS as readonly string[]).includes(which)) {
    throw new UsageError(
      `unknown benchmark ${which}: must be ${BENCHMARKS.join(', ')}${suggest(which, BENCHMARKS)} (vqsim bench alone runs ring)`,
    );
  }
  if (which === 'pingpong') return pingpongCommand(rest, io);
  if (which === 'colocated') return colocatedCommand(rest, io);
  if (which === 'net') return netCommand(rest, io);
  if (which === 'blk') return blkCommand(rest, io);
  if (which === 'console') return consoleCommand(rest, io);
  if (which === 'swiotlb') return swiotlbCommand(rest, io);
  const o = parseBenchArgs(rest);
  if (o.help) {
    io.out(BENCH_HELP);
    return 0;
  }
  for (const n of o.notes ?? []) io.err(`vqsim: ${n}\n`);
  const report = await runBench(o, io);
  printWarnings(io, report.warnings);
  io.out(o.json ? formatJson(report, o) : formatTable(report, o));
  return 0;
}

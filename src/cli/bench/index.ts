import type { BenchOptions } from './options.js';
import { formatJson, formatTable } from './report.js';
import { runBench } from './run.js';
import type { Io } from '../io.js';
import { printWarnings } from '../noise.js';

/** `vqsim bench [ring] [options]`: the ring round trip. Returns the exit code. */
export async function benchCommand(o: BenchOptions, io: Io): Promise<number> {
  for (const n of o.notes ?? []) io.err(`vqsim: ${n}\n`);
  const report = await runBench(o, io);
  printWarnings(io, report.warnings);
  io.out(o.json ? formatJson(report, o) : formatTable(report, o));
  return 0;
}

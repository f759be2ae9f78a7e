// Noise made visible: a figure from a disturbed run is flagged, on stderr, in
// the `--json` document's `warnings`, and with a `!` in the table's first
// column. The limits are the usual ones of benchmark harnesses (hyperfine
// warns on outliers; 5% rme is where tinybench's own reports start to shout).
import { availableParallelism } from 'node:os';
import type { Io } from './io.js';
import type { NoiseWarning } from './result.js';

/** Relative margin of error of the mean above which a case is noisy, in percent. */
export const RME_LIMIT = 5;
/** (slowest − fastest round) ÷ median round above which the rounds disagree. */
export const SPREAD_LIMIT = 0.1;
/**
 * Share of a polling thread's loop turns that found no work above which the
 * thread spent its time waiting for a partner that was not running: on a
 * machine with a core per thread the partner answers within a few turns.
 */
export const IDLE_LIMIT = 0.99;

export function rmeWarning(row: string, rme: number): NoiseWarning[] {
  if (!(rme > RME_LIMIT)) return [];
  return [
    {
      row,
      kind: 'rme',
      value: rme,
      limit: RME_LIMIT,
      message: `${row}: rme ${rme.toFixed(1)}% is over ${RME_LIMIT}% (iterations disagree: another load, frequency changes)`,
    },
  ];
}

/** Warns when the rounds of one case spread over SPREAD_LIMIT of their median. */
export function spreadWarning(row: string, perRound: readonly number[]): NoiseWarning[] {
  if (perRound.length < 2) return [];
  const sorted = [...perRound].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  if (!(median > 0)) return [];
  const spread = (sorted[sorted.length - 1]! - sorted[0]!) / median;
  if (!(spread > SPREAD_LIMIT)) return [];
  return [
    {
      row,
      kind: 'round-spread',
      value: spread,
      limit: SPREAD_LIMIT,
      message: `${row}: rounds spread ${(spread * 100).toFixed(0)}% of the median (over ${SPREAD_LIMIT * 100}%): the machine's load changed between rounds`,
    },
  ];
}

/** Warns when a polling thread was idle nearly all its turns: its partner was off the CPU. */
export function idleWarning(row: string, thread: string, idleShare: number): NoiseWarning[] {
  if (!(idleShare > IDLE_LIMIT)) return [];
  return [
    {
      row,
      kind: 'idle-share',
      value: idleShare,
      limit: IDLE_LIMIT,
      message: `${row}: the ${thread} thread found no work in ${(idleShare * 100).toFixed(2)}% of its turns (over ${IDLE_LIMIT * 100}%): the machine was oversubscribed`,
    },
  ];
}

/** Warns when the benchmark needs more threads than the machine has cores. */
export function coresWarning(threads: number, cores = availableParallelism()): NoiseWarning[] {
  if (threads <= cores) return [];
  return [
    {
      kind: 'cores',
      value: cores,
      limit: threads,
      message: `this machine has ${cores} core${cores === 1 ? '' : 's'} and the benchmark runs ${threads} threads: they share cores, so rates and scaling are not the code's own`,
    },
  ];
}

/** Prints the warnings on stderr (one line each) unless --quiet. */
export function printWarnings(io: Io, warnings: readonly NoiseWarning[]): void {
  if (io.quiet) return;
  for (const w of warnings) io.err(`vqsim: warning: ${w.message}\n`);
}

/** Whether a row name has a warning: the table's `!` column. */
export function flagged(warnings: readonly NoiseWarning[]): (row: string) => boolean {
  const names = new Set(warnings.map((w) => w.row));
  return (row) => names.has(row);
}

/** The table's footnote for the `!` column, or '' when nothing was flagged. */
export function footnote(warnings: readonly NoiseWarning[]): string {
  if (warnings.length === 0) return '';
  const rows = warnings.some((w) => w.row !== undefined);
  const whole = warnings.filter((w) => w.row === undefined);
  return (
    (rows ? '! noisy row: rme over 5%, rounds spread over 10% or an idle thread (see the warnings on stderr)\n' : '') +
    whole.map((w) => `! ${w.message}\n`).join('')
  );
}

// The fuzzer (issue #10, "Trust"): runs targets for a number of iterations
// from one seed, each iteration seeded from (seed, iteration) so that any
// failure replays alone, and sums what they found. `vqsim fuzz` and the
// fast-check properties in test/fuzz both run through here.
import { ConfigError } from '../../errors.js';
import { blkTarget, consoleTarget, netTarget } from './machine.js';
import { ringTarget } from './ring.js';
import { transportTarget } from './transport.js';
import { FUZZ_TARGETS, type FuzzFailureKind, type FuzzTarget, type FuzzTargetName } from './types.js';

export * from './types.js';
export { Checker, Tokens, describeError } from './check.js';
export { FuzzRandom, iterationSeed } from './random.js';
export { runRingIteration, ringKindOf, RING_STEPS } from './ring.js';
export { runMachineIteration, MACHINE_STEPS } from './machine.js';

export const fuzzTargets: Record<FuzzTargetName, FuzzTarget> = {
  ring: ringTarget,
  net: netTarget,
  blk: blkTarget,
  console: consoleTarget,
  transport: transportTarget,
};

export interface FuzzOptions {
  targets: readonly FuzzTargetName[];
  seed: number;
  /** Iterations per target. */
  iterations: number;
  /** The first iteration (a replay of one: first = I, iterations = 1). Default 0. */
  first?: number;
  honest?: boolean;
  /** Testing the fuzzer: the honest device lies once after this many operations of each iteration. */
  injectLieAt?: number;
  /** Failures a target keeps before it stops (default 10). */
  maxFailures?: number;
  /** Called after each iteration. */
  onProgress?: (p: { target: FuzzTargetName; done: number; total: number; operations: number }) => void;
}

export interface FuzzFailure {
  target: FuzzTargetName;
  seed: number;
  iteration: number;
  honest: boolean;
  variant: string;
  kind: FuzzFailureKind;
  message: string;
  /** The command line that runs this iteration alone. */
  replay: string;
}

export interface FuzzTargetReport {
  target: FuzzTargetName;
  iterations: number;
  operations: number;
  /** Operations by variant (split / packed, transport / ring). */
  operationsBy: Record<string, number>;
  /** Catalogue violations the victims raised, by id. */
  violations: Record<string, number>;
  falsePositives: number;
  failures: FuzzFailure[];
}

export interface FuzzReport {
  seed: number;
  honest: boolean;
  first: number;
  targets: FuzzTargetReport[];
}

/** The command line that replays one iteration. */
export function replayCommand(
  target: FuzzTargetName,
  seed: number,
  iteration: number,
  honest: boolean,
  injectLieAt?: number,
): string {
  return (
    `vqsim fuzz --target ${target} --seed ${seed} --iteration ${iteration}` +
    (honest ? ' --honest' : '') +
    (injectLieAt === undefined ? '' : ` --inject-lie ${injectLieAt}`)
  );
}

export function fuzzTarget(name: FuzzTargetName): FuzzTarget {
  const t = fuzzTargets[name] as FuzzTarget | undefined;
  if (!t) throw new ConfigError(`fuzz target ${name}: must be one of ${FUZZ_TARGETS.join(', ')}`);
  return t;
}

/** Runs each target for its iterations; never throws for what a victim does (that is a failure in the report). */
export function runFuzz(options: FuzzOptions): FuzzReport {
  const { seed, iterations, first = 0, honest = false, injectLieAt, maxFailures = 10 } = options;
  const report: FuzzReport = { seed, honest, first, targets: [] };
  for (const name of options.targets) {
    const target = fuzzTarget(name);
    const t: FuzzTargetReport = {
      target: name,
      iterations: 0,
      operations: 0,
      operationsBy: {},
      violations: {},
      falsePositives: 0,
      failures: [],
    };
    report.targets.push(t);
    for (let k = 0; k < iterations && t.failures.length < maxFailures; k++) {
      const iteration = first + k;
      const res = target.run({ seed, iteration, honest, injectLieAt });
      t.iterations++;
      t.operations += res.operations;
      t.operationsBy[res.variant] = (t.operationsBy[res.variant] ?? 0) + res.operations;
      for (const [id, n] of Object.entries(res.violations)) t.violations[id] = (t.violations[id] ?? 0) + n;
      if (res.failure) {
        if (res.failure.kind === 'false-positive') t.falsePositives++;
        t.failures.push({
          target: name,
          seed,
          iteration,
          honest,
          variant: res.variant,
          kind: res.failure.kind,
          message: res.failure.message,
          replay: replayCommand(name, seed, iteration, honest, injectLieAt),
        });
      }
      options.onProgress?.({ target: name, done: k + 1, total: iterations, operations: t.operations });
    }
  }
  return report;
}

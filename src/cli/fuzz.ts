// `vqsim fuzz`: the fuzzer of src/trust/fuzz for long runs. A progress line
// on a terminal, a summary per target, exit 1 with the seed, the iteration
// and a replay command line for any failure, exit 2 for a bad flag.
import { Option, type Command } from 'commander';
import { FUZZ_TARGETS, runFuzz, type FuzzReport, type FuzzTargetName } from '../trust/fuzz/index.js';
import { choices, int, seedFlag } from './bench/options.js';
import { valueFlag } from './parser.js';
import type { Io } from './io.js';
import { resultDocument } from './result.js';

const FUZZ_HELP = `Drives each target with a seeded mix of honest operations and malicious
mutations of what the other side writes, and checks after every step: every
operation completes or ends with a violation from the catalogue (and a broken
queue where the catalogue says so), never a RangeError, a Wasm trap or a hang;
no token comes back that was not added, none twice; no canary outside the
device's buffers changes in an honest run or under a refused access; an honest
run raises no violation and gets every token back. Iteration I is seeded from
(seed, I) alone: a failure prints the command line that replays it.`;

const FUZZ_AFTER = `
Targets:
  ring        split and packed rings (alternating), driver and device faces,
              lies in descriptors, avail/used idx and entries, event areas,
              packed flags, ids and wrap bits
  net         a virtio-net machine (loopback) whose device rewrites what it writes
  blk         a virtio-blk machine whose device rewrites what it writes
  console     a virtio-console machine whose device rewrites what it writes
  transport   probe and I/O over PCI and MMIO while the device lies in its
              registers (status, features, queue sizes, config, generation)

Examples:
  vqsim fuzz --target ring --seed 7 --iterations 1000
  vqsim fuzz --target ring --honest --iterations 10000   # a million honest ring operations
  vqsim fuzz --target blk --seed 5 --iteration 17        # replay one iteration
`;

/** A whole number from `lo` to `max`, for a flag of fuzz. */
const whole = (lo: number, max: number) => (flag: string, value: string) =>
  int(
    flag,
    value,
    (n) => Number.isSafeInteger(n) && n >= lo && n <= max,
    `must be a whole number from ${lo} to ${max}`,
  );

/** `vqsim fuzz`: its help and flags. */
export function defineFuzz(c: Command): Command {
  return c
    .description(FUZZ_HELP)
    .addOption(
      valueFlag(
        '--target <name,...>',
        'targets, comma-separated',
        (f, v) => choices<FuzzTargetName>(f, v, FUZZ_TARGETS),
        FUZZ_TARGETS.join(','),
      ),
    )
    .addOption(seedFlag('seed'))
    .addOption(
      valueFlag(
        '--iterations <n>',
        'iterations per target, 1 to 1000000000 (default: 1000; 1 with --iteration)',
        whole(1, 1e9),
      ),
    )
    .addOption(
      valueFlag(
        '--iteration <i>',
        'start at iteration i (replays one failure with --iterations 1, the default then)',
        whole(0, 2 ** 32 - 1),
      ),
    )
    .addOption(new Option('--honest', 'honest operations only: any violation is a false positive'))
    .addOption(
      valueFlag(
        '--inject-lie <k>',
        'testing the fuzzer: the honest device lies once after k operations of each iteration (a used id out ' +
          'of range); with --honest, a false positive',
        whole(0, 1e6),
      ),
    )
    .addOption(new Option('--json', 'print the report as JSON'))
    .addHelpText('after', FUZZ_AFTER);
}

/** The values defineFuzz's flags give. */
export type FuzzFlags = {
  target: FuzzTargetName[];
  seed: number;
  iterations?: number;
  iteration?: number;
  honest?: boolean;
  injectLie?: number;
  json?: boolean;
};

export interface FuzzCliOptions {
  targets: FuzzTargetName[];
  seed: number;
  iterations: number;
  first: number;
  honest: boolean;
  injectLieAt: number | undefined;
  json: boolean;
}

/** `vqsim fuzz`'s options from its flags. */
export const fuzzOptions = (v: FuzzFlags): FuzzCliOptions => ({
  targets: v.target,
  seed: v.seed,
  iterations: v.iterations ?? (v.iteration === undefined ? 1000 : 1),
  first: v.iteration ?? 0,
  honest: v.honest === true,
  injectLieAt: v.injectLie,
  json: v.json === true,
});

function pad(s: string | number, n: number): string {
  return String(s).padEnd(n);
}

/** The summary table, the violations found by id, and each failure with its replay line. */
export function formatFuzzReport(r: FuzzReport, iterations: number): string {
  const mode = r.honest ? 'honest only' : 'honest and malicious';
  const lines = [
    `vqsim fuzz: seed ${r.seed}, iterations ${r.first} to ${r.first + iterations - 1} per target (${mode})`,
    '',
    `${pad('target', 11)}${pad('iterations', 12)}${pad('operations', 12)}${pad('violations', 12)}${pad('false positives', 17)}${pad('failures', 10)}operations by ring`,
  ];
  for (const t of r.targets) {
    // By ring kind, the last part of each variant (deployment/transport/ring); --json has them all.
    const rings = new Map<string, number>();
    for (const [k, n] of Object.entries(t.operationsBy)) {
      const ring = k.split('/').pop()!;
      rings.set(ring, (rings.get(ring) ?? 0) + n);
    }
    const by = [...rings].map(([k, n]) => `${k} ${n}`).join(', ');
    const found = Object.values(t.violations).reduce((a, b) => a + b, 0);
    lines.push(
      `${pad(t.target, 11)}${pad(t.iterations, 12)}${pad(t.operations, 12)}${pad(found, 12)}${pad(t.falsePositives, 17)}${pad(t.failures.length, 10)}${by}`.trimEnd(),
    );
  }
  const withViolations = r.targets.filter((t) => Object.keys(t.violations).length > 0);
  if (withViolations.length > 0) {
    lines.push('', 'Violations the victims named (catalogue id: times):');
    for (const t of withViolations) {
      const ids = Object.entries(t.violations)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([id, n]) => `${id} ${n}`);
      lines.push(`  ${t.target}: ${ids.join(', ')}`);
    }
  }
  for (const t of r.targets) {
    for (const f of t.failures) {
      lines.push(
        '',
        `FAIL ${f.target} seed ${f.seed} iteration ${f.iteration} (${f.variant}): ${f.kind}: ${f.message}`,
        `  replay: ${f.replay}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** `vqsim fuzz [options]`. Returns the exit code: 0, or 1 when any invariant broke. */
export function fuzzCommand(o: FuzzCliOptions, io: Io): number {
  // The rate on the progress line is wall time, for the reader only; nothing is decided on it.
  let start = performance.now();
  let shown = 0;
  let current: string | undefined;
  const report = runFuzz({
    targets: o.targets,
    seed: o.seed,
    iterations: o.iterations,
    first: o.first,
    honest: o.honest,
    injectLieAt: o.injectLieAt,
    onProgress: ({ target, done, total, operations }) => {
      const now = performance.now();
      if (target !== current) {
        current = target;
        start = now;
      }
      if (now - shown < 100 && done < total) return;
      shown = now;
      const rate = done / Math.max((now - start) / 1000, 1e-3);
      io.progress(`[${done}/${total}] ${target} ${operations} operations, ${rate.toFixed(0)} it/s`);
    },
  });
  io.progress('');
  io.out(
    o.json
      ? resultDocument(
          'fuzz',
          o,
          report.targets.map((t) => ({ bench: 'fuzz', name: `fuzz/${t.target}`, ...t })),
          [],
          { seed: report.seed, honest: report.honest, first: report.first },
        )
      : formatFuzzReport(report, o.iterations),
  );
  const failed = report.targets.some((t) => t.failures.length > 0);
  if (failed) {
    const f = report.targets.flatMap((t) => t.failures)[0]!;
    io.err(`vqsim fuzz: failure at seed ${f.seed} iteration ${f.iteration}; replay: ${f.replay}\n`);
  }
  return failed ? 1 : 0;
}

// fast-check properties over the fuzzer's targets, with fixed seeds: for any
// (seed, iteration), an honest iteration raises no violation, loses nothing
// and changes no canary; a hostile one ends every operation with a completed
// call or a catalogue violation (never a RangeError, a Wasm trap, a token
// twice or a hang). A deliberately failing property shows that a failure
// prints its seed and replays alone.
//
// Replay: a failing property prints fast-check's seed and path, and the
// fuzzer's own replay line (vqsim fuzz --target T --seed S --iteration I).
// VQSIM_SEED=<seed> [VQSIM_PATH=<path>] npx vitest run test/fuzz/fuzz.test.ts
// reruns the property; VQSIM_RUNS=<k> multiplies the number of runs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FUZZ_TARGETS,
  fuzzTarget,
  replayCommand,
  runFuzz,
  type FuzzTargetName,
  type IterationResult,
} from '../../src/trust/fuzz/index.js';

const SEED = Number(process.env.VQSIM_SEED ?? 20261201);
const PATH = process.env.VQSIM_PATH;
const SCALE = Number(process.env.VQSIM_RUNS ?? 1);

/** Runs per property, sized so each finishes in a few seconds on two cores. */
const RUNS: Record<FuzzTargetName, { honest: number; hostile: number }> = {
  ring: { honest: 60, hostile: 200 },
  net: { honest: 20, hostile: 60 },
  blk: { honest: 20, hostile: 60 },
  console: { honest: 20, hostile: 60 },
  transport: { honest: 40, hostile: 300 },
};

/** Violations the hostile runs of each target reach with the fixed seed (the checks really run). */
const REACHED: Record<FuzzTargetName, string[]> = {
  ring: [
    'USED_ID_OUT_OF_RANGE',
    'USED_ID_NOT_A_HEAD',
    'USED_WRAP_MISMATCH',
    'AVAIL_IDX_JUMP',
    'AVAIL_HEAD_OUT_OF_RANGE',
  ],
  net: ['USED_ID_OUT_OF_RANGE', 'RX_LEN_EXCEEDS'],
  blk: ['USED_ID_OUT_OF_RANGE', 'BLK_USED_LEN'],
  console: ['USED_ID_OUT_OF_RANGE'],
  transport: ['FEATURES_REFUSED', 'QUEUE_ENABLE_REFUSED'],
};

const iterationArb = fc.record({ seed: fc.nat({ max: 0xffffffff }), iteration: fc.nat({ max: 1_000_000 }) });

function explain(t: FuzzTargetName, seed: number, iteration: number, honest: boolean, res: IterationResult): string {
  return `${res.failure!.kind}: ${res.failure!.message} [${res.variant}]\n  replay: ${replayCommand(t, seed, iteration, honest)}`;
}

describe.each(FUZZ_TARGETS)('fuzz target %s', (t) => {
  const target = fuzzTarget(t);

  it('honest iterations raise no violation, lose nothing and change no canary', () => {
    fc.assert(
      fc.property(iterationArb, ({ seed, iteration }) => {
        const res = target.run({ seed, iteration, honest: true });
        if (res.failure) throw new Error(explain(t, seed, iteration, true, res));
        expect(res.violations).toEqual({});
        expect(res.operations).toBeGreaterThan(0);
      }),
      { seed: SEED, path: PATH, numRuns: RUNS[t].honest * SCALE, includeErrorInReport: true },
    );
  });

  it('hostile iterations end every operation completed or with a catalogue violation', () => {
    const found = new Map<string, number>();
    fc.assert(
      fc.property(iterationArb, ({ seed, iteration }) => {
        const res = target.run({ seed, iteration, honest: false });
        if (res.failure) throw new Error(explain(t, seed, iteration, false, res));
        for (const [id, n] of Object.entries(res.violations)) found.set(id, (found.get(id) ?? 0) + n);
      }),
      { seed: SEED, path: PATH, numRuns: RUNS[t].hostile * SCALE, includeErrorInReport: true },
    );
    if (PATH === undefined) for (const id of REACHED[t]) expect(found.get(id) ?? 0, id).toBeGreaterThan(0);
  });
});

describe('a failure prints its seed and replays', () => {
  it('an honest device that lies once is a false positive; fast-check names its seed and the fuzzer its replay line', () => {
    const property = fc.property(iterationArb, ({ seed, iteration }) => {
      const res = fuzzTarget('ring').run({ seed, iteration, honest: true, injectLieAt: 5 });
      if (res.failure) throw new Error(explain('ring', seed, iteration, true, res));
    });
    const out = fc.check(property, { seed: 42, numRuns: 100 });
    expect(out.failed).toBe(true);
    const { seed, iteration } = out.counterexample![0];
    // What fc.assert prints (vitest shows it): fast-check's seed and path, and the fuzzer's replay line.
    let printed = '';
    try {
      fc.assert(property, { seed: 42, numRuns: 100, includeErrorInReport: true });
    } catch (e) {
      printed = String(e);
    }
    expect(printed).toContain(`seed: 42, path: "${out.counterexamplePath}"`);
    expect(printed).toMatch(/false-positive: driver reap: an honest run raised USED_ID_OUT_OF_RANGE \(side device\)/);
    expect(printed).toContain(`replay: vqsim fuzz --target ring --seed ${seed} --iteration ${iteration} --honest`);

    // fast-check's seed and path replay the same counterexample...
    const again = fc.check(property, { seed: 42, path: out.counterexamplePath!, numRuns: 1 });
    expect(again.counterexample).toEqual(out.counterexample);
    // ...and the fuzzer's iteration replays alone, with the same failure.
    const alone = runFuzz({ targets: ['ring'], seed, first: iteration, iterations: 1, honest: true, injectLieAt: 5 });
    const [f] = alone.targets[0]!.failures;
    expect(f).toMatchObject({ kind: 'false-positive', seed, iteration, honest: true });
    expect(f!.replay).toBe(`vqsim fuzz --target ring --seed ${seed} --iteration ${iteration} --honest --inject-lie 5`);
    expect(printed).toContain(f!.message);
  });

  it('every target reports the injected lie as a false positive with a replay line that reproduces it', () => {
    for (const t of FUZZ_TARGETS) {
      const run = runFuzz({ targets: [t], seed: 5, iterations: 6, honest: true, injectLieAt: 3 });
      const r = run.targets[0]!;
      expect(r.failures.length, t).toBeGreaterThan(0);
      expect(r.falsePositives).toBe(r.failures.length);
      for (const f of r.failures) {
        expect(f.replay).toBe(`vqsim fuzz --target ${t} --seed 5 --iteration ${f.iteration} --honest --inject-lie 3`);
        const alone = runFuzz({
          targets: [t],
          seed: 5,
          first: f.iteration,
          iterations: 1,
          honest: true,
          injectLieAt: 3,
        });
        expect(alone.targets[0]!.failures[0]!.message).toBe(f.message);
      }
    }
  });

  it('an iteration is seeded from (seed, iteration) alone: a run is the sum of its iterations run alone', () => {
    const whole = runFuzz({ targets: ['ring'], seed: 9, iterations: 8 }).targets[0]!;
    let operations = 0;
    const violations: Record<string, number> = {};
    for (let i = 0; i < 8; i++) {
      const one = fuzzTarget('ring').run({ seed: 9, iteration: i, honest: false });
      operations += one.operations;
      for (const [id, n] of Object.entries(one.violations)) violations[id] = (violations[id] ?? 0) + n;
    }
    expect(whole.operations).toBe(operations);
    expect(whole.violations).toEqual(violations);
    expect(whole.iterations).toBe(8);
  });
});

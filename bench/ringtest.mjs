#!/usr/bin/env node
// vqsim's two-thread round trip next to Linux's tools/virtio/ringtest, run
// interleaved on the same machine: ringtest's virtio_ring_0_9 against
// `vqsim bench pingpong --like-ringtest --ring split`, and its `ring` (a
// packed-style descriptor ring) against `--ring packed`. Prints each round,
// the medians and the ratios (vqsim ÷ ringtest).
//
//   node bench/ringtest.mjs <ringtest build dir> [--rounds 5] [--seconds 1] [--json]
//
// The ringtest sources are not part of this project: build them elsewhere,
// for example
//   cp -r <linux>/tools/virtio/ringtest /tmp/ringtest   (with the linux tree it needs)
//   make -C /tmp/ringtest/tools/virtio/ringtest virtio_ring_0_9 ring
// and pass that directory. This script builds nothing of vqsim's either: it
// runs bin/vqsim.js over dist/ (npm run build). Without a directory it says
// that it skipped, and exits 0.
//
// What a round trip is. ringtest: the guest thread adds one buffer
// (add_inbuf), the host thread uses it and publishes it (use_buf), the guest
// takes it back (get_buf); by default both threads poll, never notify, keep up
// to the ring size (256) in flight, and run --run-cycles round trips; the rate
// here is those over the process's wall time. vqsim: the driver thread adds
// chains (one descriptor each) for the room there is, the device thread uses
// what is available one chain at a time, as ringtest's run_host() loop of
// use_buf() calls: each chain popped, checked and published used before the
// next is read (--publish each, one call into the Wasm core per pass), and
// the driver reaps; both also make the event-index decisions (kick_prepare,
// should_notify), and sleep on a doorbell only when the other side is not
// running; the rate is over the measured --time after a warm-up.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const vqsim = join(here, '..', 'bin', 'vqsim.js');
const PAIRS = [
  { ringtest: 'virtio_ring_0_9', ring: 'split' },
  { ringtest: 'ring', ring: 'packed' },
];

function usage(msg) {
  process.stderr.write(`bench/ringtest.mjs: ${msg}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    args: process.argv.slice(2),
    options: { rounds: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
} catch (e) {
  usage(e.message);
}
const [dir, ...extra] = args.positionals;
if (extra.length > 0) usage(`unexpected argument ${extra[0]}`);
const rounds = Number(args.values.rounds ?? 5);
const seconds = Number(args.values.seconds ?? 1);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) usage('--rounds: a whole number from 1 to 100');
if (!(seconds >= 0.1 && seconds <= 60)) usage('--seconds: from 0.1 to 60');

if (dir === undefined) {
  process.stdout.write(
    'ringtest comparison skipped: no ringtest build directory given.\n' +
      'Build tools/virtio/ringtest outside this repository (make virtio_ring_0_9 ring) and pass\n' +
      'its directory: node bench/ringtest.mjs /tmp/ringtest/tools/virtio/ringtest\n',
  );
  process.exit(0);
}
const bins = Object.fromEntries(PAIRS.map((p) => [p.ringtest, resolve(dir, p.ringtest)]));
const missing = Object.values(bins).filter((b) => !existsSync(b));
if (missing.length > 0) usage(`not built in ${dir}: ${missing.join(', ')} (make virtio_ring_0_9 ring there)`);
if (!existsSync(join(here, '..', 'dist', 'cli.js'))) {
  usage('vqsim is not built (dist/cli.js is missing): run `npm run build` first; this script builds nothing');
}

/**
 * CPU time the machine spent, and this process's waited-for children spent,
 * in clock ticks (Linux /proc; undefined elsewhere): what other processes used
 * meanwhile is the difference.
 */
function ticks() {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const self = readFileSync('/proc/self/stat', 'utf8');
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ');
    // user nice system irq softirq steal; the children's utime and stime.
    return { busy: cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7], children: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** Runs `f` (which waits for a child process): its result, and the cores other processes kept busy meanwhile. */
function measured(f) {
  const a = ticks();
  const t0 = process.hrtime.bigint();
  const value = f();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const b = ticks();
  const others = a && b ? Math.max(0, (b.busy - a.busy - (b.children - a.children)) / 100 / s) : undefined;
  return { value, others };
}

/** Runs a ringtest binary for `cycles` round trips; its rate over the wall time. */
function ringtest(name, cycles) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(bins[name], ['--run-cycles', String(cycles)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) usage(`${name} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return cycles / s;
}

/** Round trips for about `seconds` of `name`, from a short run (at least 1M). */
function cyclesFor(name) {
  const rate = ringtest(name, 1_000_000);
  return Math.max(1_000_000, Math.min(2_000_000_000, Math.round(rate * seconds)));
}

function pingpong(ring) {
  const r = spawnSync(
    process.execPath,
    [vqsim, 'bench', 'pingpong', '--like-ringtest', '--ring', ring, '--time', String(seconds * 1000), '--json'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) usage(`vqsim bench pingpong exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout).rows[0].roundTripsPerSec;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
};
const m = (x) => (x / 1e6).toFixed(2).padStart(7);
const f2 = (x) => (x === undefined ? '–' : x.toFixed(2));

/**
 * A round counts as quiet when other processes kept fewer than this many
 * cores busy during both of its runs; the medians are over the quiet rounds
 * when there are at least three (this machine is shared: a busy neighbour
 * moves either tool by 10× and more).
 */
const QUIET = 0.2;
const cycles = Object.fromEntries(PAIRS.map((p) => [p.ringtest, cyclesFor(p.ringtest)]));
const runs = PAIRS.map(() => ({ ringtest: [], vqsim: [], quiet: [] }));
if (!args.values.json) {
  process.stdout.write(
    `vqsim pingpong --like-ringtest vs ringtest, ${rounds} rounds of ~${seconds} s, interleaved\n` +
      `${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), node ${process.version}\n\n` +
      'round  ringtest          M/s   vqsim         M/s   ratio   other load (cores)\n',
  );
}
for (let k = 0; k < rounds; k++) {
  PAIRS.forEach((p, i) => {
    const a = measured(() => ringtest(p.ringtest, cycles[p.ringtest]));
    const b = measured(() => pingpong(p.ring));
    runs[i].ringtest.push(a.value);
    runs[i].vqsim.push(b.value);
    runs[i].quiet.push(a.others === undefined || (a.others < QUIET && b.others < QUIET));
    if (!args.values.json) {
      process.stdout.write(
        `${String(k + 1).padStart(5)}  ${p.ringtest.padEnd(15)} ${m(a.value)}   ${p.ring.padEnd(7)} ${m(b.value)}   ` +
          `${(b.value / a.value).toFixed(2).padStart(5)}×  ${f2(a.others)} / ${f2(b.others)}\n`,
      );
    }
  });
}
const rows = PAIRS.map((p, i) => {
  const r = runs[i];
  const quietRounds = r.quiet.filter(Boolean).length;
  const use = quietRounds >= 3 ? r.quiet : r.quiet.map(() => true);
  const pick = (xs) => xs.filter((_, k) => use[k]);
  const rt = median(pick(r.ringtest));
  const vq = median(pick(r.vqsim));
  return {
    ringtest: p.ringtest,
    vqsim: p.ring,
    rounds,
    quietRounds,
    medianOf: quietRounds >= 3 ? 'quiet rounds' : 'all rounds',
    ringtestRoundTripsPerSec: rt,
    vqsimRoundTripsPerSec: vq,
    ratio: vq / rt,
    ratioPerRound: median(pick(r.vqsim.map((v, k) => v / r.ringtest[k]))),
    ringtestRuns: r.ringtest,
    vqsimRuns: r.vqsim,
    quiet: r.quiet,
  };
});
if (args.values.json) {
  process.stdout.write(JSON.stringify({ node: process.version, cpus: cpus().length, seconds, rows }, null, 2) + '\n');
} else {
  process.stdout.write(
    '\nmedians    ringtest          M/s   vqsim         M/s   ratio   (median of per-round ratios)\n',
  );
  for (const r of rows) {
    process.stdout.write(
      `           ${r.ringtest.padEnd(15)} ${m(r.ringtestRoundTripsPerSec)}   ${r.vqsim.padEnd(7)} ` +
        `${m(r.vqsimRoundTripsPerSec)}   ${r.ratio.toFixed(2).padStart(5)}×  (${r.ratioPerRound.toFixed(2)}×), ` +
        `${r.medianOf}: ${r.quietRounds} of ${r.rounds} quiet\n`,
    );
  }
  process.stdout.write(`(a round is quiet when other processes kept under ${QUIET} cores busy in both its runs)\n`);
}

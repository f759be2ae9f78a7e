import { Option, type Command } from 'commander';
import type { EngineName, RingKind, UsedLenCheck } from '../../internal.js';
import { UsageError } from '../usage.js';
import { flagValues, suggest, valueFlag } from '../parser.js';
import { Feature } from '../../spec/features.js';
import { loadBenchPolicy, narrow, onBit, ringBit } from './policy-features.js';

/** What `vqsim bench [ring]` was asked to run, validated. */
export interface BenchOptions {
  /** --policy: the policy whose feature answers narrowed the lists (its name). */
  policy?: string | undefined;
  /** What --policy left out, for stderr. */
  notes?: string[];
  queueSizes: number[];
  chainLengths: number[];
  indirect: boolean[];
  /** VIRTIO_F_IN_ORDER: packed rings only. */
  inOrder: boolean[];
  eventIdx: boolean[];
  engines: EngineName[];
  rings: RingKind[];
  bufferBytes: number[];
  /** Trust checks on (hardened) and/or off (naive); every combination runs. */
  hardened: boolean[];
  /** Index masking after the bounds checks (array_index_nospec) off and/or on. */
  nospec: boolean[];
  /** Where used.len is checked: by the drivers and/or at ring level. */
  usedLenCheck: UsedLenCheck[];
  /** Measuring time per case in milliseconds. */
  timeMs: number;
  /** tinybench's untimed warm-up per case, in milliseconds. */
  warmupMs: number;
  /** Times the whole matrix runs; each case reports its median round. */
  rounds: number;
  json: boolean;
  native: boolean;
}

export const DEFAULT_TIME_MS = 200;
const MAX_BUFFER_BYTES = 65536;
const MAX_TIME_MS = 600000;

export function list(flag: string, value: string, allowed: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${flag} ${value}: ${allowed}`);
  return [...new Set(items)];
}

export function ints(flag: string, value: string, ok: (n: number) => boolean, allowed: string): number[] {
  return list(flag, value, allowed).map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!ok(n)) throw new UsageError(`--${flag} ${value}: ${allowed}`);
    return n;
  });
}

export function onOff(flag: string, value: string): boolean[] {
  const allowed = 'must be off, on or off,on';
  return list(flag, value, allowed).map((s) => {
    if (s !== 'off' && s !== 'on') throw new UsageError(`--${flag} ${value}: ${allowed}`);
    return s === 'on';
  });
}

export function choices<T extends string>(flag: string, value: string, all: readonly T[]): T[] {
  const allowed = `must be ${all.join(', ')} or a comma list of them`;
  return list(flag, value, allowed).map((s) => {
    if (!(all as readonly string[]).includes(s)) {
      throw new UsageError(`--${flag} ${value}: ${allowed}${suggest(s, all)}`);
    }
    return s as T;
  });
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1 << 20,
  mb: 1 << 20,
  mib: 1 << 20,
  g: 1 << 30,
  gb: 1 << 30,
  gib: 1 << 30,
};

/**
 * A byte count as fio takes it: a plain number of bytes, or a number with a
 * binary unit (4k, 64KiB, 1M, 1.5M: k, KB and KiB are all 1024, as fio's
 * default kb_base). NaN when it is not one, or not whole.
 */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return NaN;
  const n = Number(m[1]) * unit;
  return Number.isInteger(n) ? n : NaN;
}

/** A comma list of byte counts with units (parseSize), each checked by `ok`. */
export function sizes(flag: string, value: string, ok: (n: number) => boolean, allowed: string): number[] {
  return list(flag, value, allowed).map((s) => {
    const n = parseSize(s);
    if (!ok(n)) throw new UsageError(`--${flag} ${value}: ${allowed}`);
    return n;
  });
}

const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, us: 1e-3, µs: 1e-3, m: 60000, min: 60000 };

/** A duration in milliseconds: a plain number is milliseconds (as every --time has been), or 2s, 500ms, 1.5s, 1m. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|us|µs|m|min|)$/i.exec(s.trim());
  if (!m) return NaN;
  return Number(m[1]) * TIME_UNITS[m[2]!.toLowerCase()]!;
}

/** A --time or --warmup value in milliseconds from `lo` to `hi` (whole when `whole`). */
export function duration(flag: string, value: string, lo: number, hi: number, whole = false): number {
  const ms = parseDuration(value);
  if (!(ms >= lo && ms <= hi) || (whole && !Number.isInteger(ms))) {
    throw new UsageError(
      `--${flag} ${value}: must be a ${whole ? 'whole ' : ''}number of milliseconds from ${lo} to ${hi} (or with a unit: 500ms, 2s)`,
    );
  }
  return ms;
}

/** One whole number (not a list), checked by `ok`. */
export function int(flag: string, value: string, ok: (n: number) => boolean, allowed: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!ok(n)) throw new UsageError(`--${flag} ${value}: ${allowed}`);
  return n;
}

/** --rounds: a whole number from 1 to 50. */
export const roundsOf = (value: string): number =>
  int('rounds', value, (n) => n >= 1 && n <= 50, 'must be a whole number from 1 to 50');

/** The tinybench warm-up every benchmark used before --warmup: a quarter of the time, at most 100 ms. */
export const defaultWarmupMs = (timeMs: number): number => Math.min(100, timeMs / 4);

/** defaultWarmupMs, as the help says it. */
export const QUARTER_OF_TIME = { shown: 'a quarter of --time, at most 100ms' };

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && n <= 32768 && (n & (n - 1)) === 0;

/** A flag whose text is checked later, against the other flags (its default shown as is). */
export const text = (_flag: string, value: string): string => value;

/** --time: the measuring time per case in milliseconds, with a unit or without. */
export const timeFlag = (what: string, fallback: string, lo = 1, hi = MAX_TIME_MS, whole = false): Option =>
  valueFlag('--time <ms>', `${what}, ${lo} to ${hi} ms; 500ms, 2s`, (f, v) => duration(f, v, lo, hi, whole), fallback);

/** --warmup: an untimed run before each case, 0 to 60000 ms. */
export const warmupFlag = (what: string, fallback: string | { shown: string }, whole = false): Option =>
  valueFlag('--warmup <ms>', `${what}, 0 to 60000 ms`, (f, v) => duration(f, v, 0, 60000, whole), fallback);

/** --rounds: times every case runs, 1 to 50. */
export const roundsFlag = (what: string, fallback?: string): Option =>
  valueFlag('--rounds <n>', what, (_f, v) => roundsOf(v), fallback);

/** --ring: ring layouts, a comma list. */
export const ringFlag = (fallback = 'split,packed', what = 'ring layouts'): Option =>
  valueFlag('--ring <split,packed>', what, (f, v) => choices<RingKind>(f, v, ['split', 'packed']), fallback);

/** --queue-size of a device benchmark: one power of two from 8 to 32768. */
export const deviceQueueSizeFlag = (): Option =>
  valueFlag(
    '--queue-size <n>',
    'queue size, a power of two from 8 to 32768',
    (f, v) => int(f, v, (n) => n >= 8 && n <= 32768 && (n & (n - 1)) === 0, 'must be one power of two from 8 to 32768'),
    '256',
  );

/** --seed: a whole number from 0 to 4294967295, 1 when absent. */
export const seedFlag = (what: string): Option =>
  valueFlag(
    '--seed <n>',
    `${what}, 0 to 4294967295`,
    (f, v) => int(f, v, (n) => n <= 0xffffffff, 'must be a whole number from 0 to 4294967295'),
    '1',
  );

/** --json: the result document instead of the table. */
export const jsonFlag = (what = 'print the result document (JSON) instead of the table'): Option =>
  new Option('--json', what);

const RING_HELP = `Round trip on one virtqueue, single thread: the driver adds a batch of chains
(one addBatch call), kicks, the device pops the batch (one call), pushes it back
used (one call) and decides whether to interrupt, and the driver reaps it (one
call). A batch is as many chains as fit: queue size / chain length for direct
chains, queue size for indirect ones. Each chain is chain-length device-readable
buffers of buffer-bytes each (a virtio-net TX-like chain; used len = 0), every
buffer distinct, in shared guest pages. Each case checks that the queue's stats
count every chain it timed. Rates come from the median timed iteration, and
the median of --rounds rounds of the whole matrix; ratios compare each case's
best round, the one least disturbed by other load. Lists are comma-separated;
every combination runs.`;

const RING_AFTER = `
Table columns: Mchains/s (median round; 'best' is the best round) and ns/chain
per engine, Wasm ÷ reference, for one-descriptor split chains the native C port
of the same work and Wasm ÷ native, packed ÷ split, and hardened ÷ naive. A
'!' first marks a row with a noise warning (rme over 5%, rounds spread over 10%).

Examples:
  vqsim bench --chain-lengths 1 --indirect off --event-idx on
  vqsim bench ring --ring split,packed --queue-size 256 --time 500ms --rounds 5
  vqsim bench --engine wasm --no-native --json > ring.json
`;

/** `vqsim bench [ring]`: its help and flags. */
export function defineRing(c: Command): Command {
  const onOffFlag = (flags: string, what: string, fallback: string) =>
    valueFlag(flags, what, (f, v) => onOff(f, v), fallback);
  return c
    .description(RING_HELP)
    .addOption(valueFlag('--queue-size <n,...>', 'queue sizes from 1 to 32768, powers of two for split', text, '256'))
    .addOption(
      valueFlag('--chain-lengths <n,...>', 'descriptors per chain, 1 to the queue size (at most 1024)', text, '1,4,16'),
    )
    .addOption(onOffFlag('--indirect <off,on>', 'indirect descriptors', 'off,on'))
    .addOption(onOffFlag('--event-idx <off,on>', 'VIRTIO_F_EVENT_IDX', 'off,on'))
    .addOption(onOffFlag('--in-order <off,on>', 'VIRTIO_F_IN_ORDER, packed rings only', 'off'))
    .addOption(
      valueFlag(
        '--engine <wasm,reference>',
        'the Wasm core and/or the plain TypeScript model',
        (f, v) => choices<EngineName>(f, v, ['wasm', 'reference']),
        'wasm,reference',
      ),
    )
    .addOption(ringFlag('split', 'ring layouts; packed sizes need not be powers of two'))
    .addOption(
      valueFlag(
        '--buffer-bytes <n,...>',
        `bytes per buffer, 1 to ${MAX_BUFFER_BYTES}; 4k, 64KiB`,
        (f, v) =>
          sizes(
            f,
            v,
            (n) => Number.isInteger(n) && n >= 1 && n <= MAX_BUFFER_BYTES,
            `must be whole numbers of bytes from 1 to ${MAX_BUFFER_BYTES}`,
          ),
        '64',
      ),
    )
    .addOption(onOffFlag('--hardened <on,off>', "the rings' trust checks on and/or off (naive; Wasm only)", 'on'))
    .addOption(onOffFlag('--nospec <off,on>', 'mask device-supplied indices after their check', 'off'))
    .addOption(
      valueFlag(
        '--used-len-check <driver,ring>',
        'where used.len is checked: by the drivers, or at ring level against the posted writable bytes',
        (f, v) => choices<UsedLenCheck>(f, v, ['driver', 'ring']),
        'driver',
      ),
    )
    .addOption(timeFlag('measuring time per case', `${DEFAULT_TIME_MS}ms`))
    .addOption(warmupFlag("tinybench's untimed warm-up per case", QUARTER_OF_TIME))
    .addOption(roundsFlag('times the whole matrix runs, 1 to 50; each case reports its median round', '3'))
    .addOption(
      new Option(
        '--policy <file|preset>',
        'a trust policy: the ring layouts and features it does not let a virtio-net driver negotiate are left out (and said)',
      ),
    )
    .addOption(jsonFlag())
    .addOption(new Option('--no-native', 'skip the native C loop (built with cc -O2 when a compiler exists)'))
    .addHelpText('after', RING_AFTER);
}

/** The values commander gives for defineRing's flags. */
export type RingFlags = {
  queueSize: string;
  chainLengths: string;
  indirect: boolean[];
  eventIdx: boolean[];
  inOrder: boolean[];
  engine: EngineName[];
  ring: RingKind[];
  bufferBytes: number[];
  hardened: boolean[];
  nospec: boolean[];
  usedLenCheck: UsedLenCheck[];
  time: number;
  warmup?: number;
  rounds: number;
  policy?: string;
  json?: boolean;
  native: boolean;
};

/** The ring benchmark's options from its flags, checked against each other; throws UsageError naming the flag and what is allowed. */
export function benchOptions(v: RingFlags): BenchOptions {
  // --policy narrows the ring layouts and features to those it lets a driver negotiate.
  const policy = v.policy === undefined ? undefined : loadBenchPolicy(v.policy);
  const notes: string[] = [];
  const allow = <T>(flag: string, vals: T[], bit: (v: T) => number | undefined): T[] =>
    policy ? narrow(policy, flag, vals, bit, (n) => notes.push(n)) : vals;
  const rings = allow('ring', v.ring, ringBit);
  // Packed rings take any size (VIRTIO 1.2 §2.8); split ones need a power of two.
  const queueSizes = rings.includes('split')
    ? ints('queue-size', v.queueSize, isPow2, 'the queue size must be a power of two from 1 to 32768')
    : ints(
        'queue-size',
        v.queueSize,
        (n) => Number.isInteger(n) && n >= 1 && n <= 32768,
        'the queue size must be a whole number from 1 to 32768',
      );
  const minQueue = Math.min(...queueSizes);
  const chainLengths = ints(
    'chain-lengths',
    v.chainLengths,
    // The device refuses a chain of more than 1024 descriptors (QEMU's
    // VIRTQUEUE_MAX_SIZE, TOO_MANY_DESCRIPTORS).
    (n) => Number.isInteger(n) && n >= 1 && n <= minQueue && n <= 1024,
    `chain lengths must be whole numbers from 1 to the queue size (${minQueue}), at most 1024 (a device maps no more)`,
  );
  const indirect = allow('indirect', v.indirect, onBit(Feature.INDIRECT_DESC));
  const eventIdx = allow('event-idx', v.eventIdx, onBit(Feature.EVENT_IDX));
  const inOrder = allow('in-order', v.inOrder, onBit(Feature.IN_ORDER));
  if (inOrder.includes(true) && !rings.includes('packed')) {
    const given = v.inOrder.map((b) => (b ? 'on' : 'off')).join(',');
    throw new UsageError(`--in-order ${given}: needs --ring packed (the split ring has no in-order mode)`);
  }
  return {
    rounds: v.rounds,
    warmupMs: v.warmup ?? defaultWarmupMs(v.time),
    queueSizes,
    chainLengths,
    indirect,
    inOrder,
    eventIdx,
    engines: v.engine,
    rings,
    bufferBytes: v.bufferBytes,
    hardened: v.hardened,
    nospec: v.nospec,
    usedLenCheck: v.usedLenCheck,
    timeMs: v.time,
    policy: policy?.name,
    notes,
    json: v.json === true,
    native: v.native,
  };
}

/** `vqsim bench [ring]`'s options from its flags alone. */
export const parseBenchArgs = (args: readonly string[]): BenchOptions =>
  benchOptions(flagValues<RingFlags>(defineRing, args));

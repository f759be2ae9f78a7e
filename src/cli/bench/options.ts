import { parseArgs } from 'node:util';
import type { EngineName, RingKind, UsedLenCheck } from '../../internal.js';
import { UsageError } from '../usage.js';
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
  help: boolean;
}

export const DEFAULT_TIME_MS = 200;
const MAX_BUFFER_BYTES = 65536;
const MAX_TIME_MS = 600000;

const spec = {
  'queue-size': { type: 'string' },
  'chain-lengths': { type: 'string' },
  indirect: { type: 'string' },
  'in-order': { type: 'string' },
  'event-idx': { type: 'string' },
  engine: { type: 'string' },
  ring: { type: 'string' },
  'buffer-bytes': { type: 'string' },
  hardened: { type: 'string' },
  nospec: { type: 'string' },
  'used-len-check': { type: 'string' },
  time: { type: 'string' },
  rounds: { type: 'string' },
  warmup: { type: 'string' },
  json: { type: 'boolean' },
  'no-native': { type: 'boolean' },
  policy: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

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

/**
 * A --time or --warmup value in milliseconds from `lo` to `hi` (whole when
 * `whole`), or `fallback` when the flag is absent.
 */
export function duration(
  flag: string,
  value: string | undefined,
  fallback: number,
  lo: number,
  hi: number,
  whole = false,
): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (!(ms >= lo && ms <= hi) || (whole && !Number.isInteger(ms))) {
    throw new UsageError(
      `--${flag} ${value}: must be a ${whole ? 'whole ' : ''}number of milliseconds from ${lo} to ${hi} (or with a unit: 500ms, 2s)`,
    );
  }
  return ms;
}

/** --rounds: a whole number from 1 to 50, or `fallback` when absent. */
export function roundsOf(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 50)) throw new UsageError(`--rounds ${value}: must be a whole number from 1 to 50`);
  return n;
}

/** The tinybench warm-up every benchmark used before --warmup: a quarter of the time, at most 100 ms. */
export const defaultWarmupMs = (timeMs: number): number => Math.min(100, timeMs / 4);

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** ` (did you mean X?)` when `s` is a near miss of one of `all`, else ''. */
export function suggest(s: string, all: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of all) {
    const dist = editDistance(s.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? ` (did you mean ${best}?)` : '';
}

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && n <= 32768 && (n & (n - 1)) === 0;

/** Parses and validates the benchmark's flags; throws UsageError naming the flag and what is allowed. */
export function parseBenchArgs(args: string[]): BenchOptions {
  let values: Partial<Record<keyof typeof spec, string | boolean>>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, options: spec, strict: true, allowPositionals: true }));
  } catch (e) {
    throw new UsageError(describeParseError(e, Object.keys(spec)));
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}: see vqsim bench --help`);
  const str = (k: keyof typeof spec) => values[k] as string | undefined;

  // --policy narrows the ring layouts and features to those it lets a driver negotiate.
  const policy = str('policy') === undefined ? undefined : loadBenchPolicy(str('policy')!);
  const notes: string[] = [];
  const allow = <T>(flag: string, vals: T[], bit: (v: T) => number | undefined): T[] =>
    policy ? narrow(policy, flag, vals, bit, (n) => notes.push(n)) : vals;
  const rings = allow('ring', choices<RingKind>('ring', str('ring') ?? 'split', ['split', 'packed']), ringBit);
  // Packed rings take any size (VIRTIO 1.2 §2.8); split ones need a power of two.
  const queueSizes = rings.includes('split')
    ? ints('queue-size', str('queue-size') ?? '256', isPow2, 'the queue size must be a power of two from 1 to 32768')
    : ints(
        'queue-size',
        str('queue-size') ?? '256',
        (n) => Number.isInteger(n) && n >= 1 && n <= 32768,
        'the queue size must be a whole number from 1 to 32768',
      );
  const minQueue = Math.min(...queueSizes);
  const chainLengths = ints(
    'chain-lengths',
    str('chain-lengths') ?? '1,4,16',
    // The device refuses a chain of more than 1024 descriptors (QEMU's
    // VIRTQUEUE_MAX_SIZE, TOO_MANY_DESCRIPTORS).
    (n) => Number.isInteger(n) && n >= 1 && n <= minQueue && n <= 1024,
    `chain lengths must be whole numbers from 1 to the queue size (${minQueue}), at most 1024 (a device maps no more)`,
  );
  const indirect = allow('indirect', onOff('indirect', str('indirect') ?? 'off,on'), onBit(Feature.INDIRECT_DESC));
  const eventIdx = allow('event-idx', onOff('event-idx', str('event-idx') ?? 'off,on'), onBit(Feature.EVENT_IDX));
  const inOrder = allow('in-order', onOff('in-order', str('in-order') ?? 'off'), onBit(Feature.IN_ORDER));
  if (inOrder.includes(true) && !rings.includes('packed')) {
    throw new UsageError(`--in-order ${str('in-order')}: needs --ring packed (the split ring has no in-order mode)`);
  }
  const engines = choices<EngineName>('engine', str('engine') ?? 'wasm,reference', ['wasm', 'reference']);
  const bufferBytes = sizes(
    'buffer-bytes',
    str('buffer-bytes') ?? '64',
    (n) => Number.isInteger(n) && n >= 1 && n <= MAX_BUFFER_BYTES,
    `must be whole numbers of bytes from 1 to ${MAX_BUFFER_BYTES}`,
  );
  const hardened = onOff('hardened', str('hardened') ?? 'on');
  const nospec = onOff('nospec', str('nospec') ?? 'off');
  const usedLenCheck = choices<UsedLenCheck>('used-len-check', str('used-len-check') ?? 'driver', ['driver', 'ring']);
  const timeMs = duration('time', str('time'), DEFAULT_TIME_MS, 1, MAX_TIME_MS);
  const warmupMs = duration('warmup', str('warmup'), defaultWarmupMs(timeMs), 0, 60000);
  const rounds = roundsOf(str('rounds'), 3);
  return {
    rounds,
    warmupMs,
    queueSizes,
    chainLengths,
    indirect,
    inOrder,
    eventIdx,
    engines,
    rings,
    bufferBytes,
    hardened,
    nospec,
    usedLenCheck,
    timeMs,
    policy: policy?.name,
    notes,
    json: values.json === true,
    native: values['no-native'] !== true,
    help: values.help === true,
  };
}

/**
 * A command's flags (node:util parseArgs, strict): the values by flag name;
 * an unknown flag, a missing value or a stray argument is one UsageError line.
 */
export function parseFlags<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  args: string[],
  spec: T,
): Record<string, string | boolean | undefined> {
  try {
    const { values, positionals } = parseArgs({ args, options: spec, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
    return values as Record<string, string | boolean | undefined>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(describeParseError(e, Object.keys(spec)));
  }
}

/** node:util parseArgs errors, said in one line in our words. */
export function describeParseError(e: unknown, known: readonly string[] = []): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const flag = /'(-{1,2}[^' ]+)/.exec(msg)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag}: see --help for the flags allowed${suggest(
        flag,
        known.map((k) => `--${k}`),
      )}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return msg.includes('does not take an argument') ? `${flag}: takes no value` : `${flag}: needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument: ${msg}`;
    default:
      return msg.split('\n')[0] ?? msg;
  }
}

import { parseArgs } from 'node:util';
import type { EngineName, RingKind, UsedLenCheck } from '../../index.js';
import { UsageError } from '../usage.js';

/** What `vqsim bench [ring]` was asked to run, validated. */
export interface BenchOptions {
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
  json: { type: 'boolean' },
  'no-native': { type: 'boolean' },
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
    if (!(all as readonly string[]).includes(s)) throw new UsageError(`--${flag} ${value}: ${allowed}`);
    return s as T;
  });
}

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && n <= 32768 && (n & (n - 1)) === 0;

/** Parses and validates the benchmark's flags; throws UsageError naming the flag and what is allowed. */
export function parseBenchArgs(args: string[]): BenchOptions {
  let values: Partial<Record<keyof typeof spec, string | boolean>>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, options: spec, strict: true, allowPositionals: true }));
  } catch (e) {
    throw new UsageError(describeParseError(e));
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}: see vqsim bench --help`);
  const str = (k: keyof typeof spec) => values[k] as string | undefined;

  const rings = choices<RingKind>('ring', str('ring') ?? 'split', ['split', 'packed']);
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
  const indirect = onOff('indirect', str('indirect') ?? 'off,on');
  const eventIdx = onOff('event-idx', str('event-idx') ?? 'off,on');
  const inOrder = onOff('in-order', str('in-order') ?? 'off');
  if (inOrder.includes(true) && !rings.includes('packed')) {
    throw new UsageError(`--in-order ${str('in-order')}: needs --ring packed (the split ring has no in-order mode)`);
  }
  const engines = choices<EngineName>('engine', str('engine') ?? 'wasm,reference', ['wasm', 'reference']);
  const bufferBytes = ints(
    'buffer-bytes',
    str('buffer-bytes') ?? '64',
    (n) => Number.isInteger(n) && n >= 1 && n <= MAX_BUFFER_BYTES,
    `must be whole numbers of bytes from 1 to ${MAX_BUFFER_BYTES}`,
  );
  const hardened = onOff('hardened', str('hardened') ?? 'on');
  const nospec = onOff('nospec', str('nospec') ?? 'off');
  const usedLenCheck = choices<UsedLenCheck>('used-len-check', str('used-len-check') ?? 'driver', ['driver', 'ring']);
  const timeStr = str('time');
  let timeMs = DEFAULT_TIME_MS;
  if (timeStr !== undefined) {
    timeMs = /^\d+(\.\d+)?$/.test(timeStr.trim()) ? Number(timeStr) : NaN;
    if (!(timeMs >= 1 && timeMs <= MAX_TIME_MS)) {
      throw new UsageError(`--time ${timeStr}: must be a number of milliseconds from 1 to ${MAX_TIME_MS}`);
    }
  }
  const rounds = ints(
    'rounds',
    str('rounds') ?? '3',
    (n) => Number.isInteger(n) && n >= 1 && n <= 50,
    'must be a whole number from 1 to 50',
  )[0]!;
  return {
    rounds,
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
    json: values.json === true,
    native: values['no-native'] !== true,
    help: values.help === true,
  };
}

/** node:util parseArgs errors, said in one line in our words. */
export function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const flag = /'(-{1,2}[^' ]+)/.exec(msg)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag}: see --help for the flags allowed`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return msg.includes('does not take an argument') ? `${flag}: takes no value` : `${flag}: needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument: ${msg}`;
    default:
      return msg.split('\n')[0] ?? msg;
  }
}

import * as L from '../../assembly/layout.js';

/** Counters of one queue, read from its stats block in the shared memory. */
export interface QueueStats {
  chainsAdded: number;
  descsAdded: number;
  bytesAdded: number;
  indirectAdded: number;
  kicks: number;
  kicksSuppressed: number;
  chainsCompleted: number;
  bytesCompleted: number;
  driverChecksFailed: number;
  chainsPopped: number;
  descsPopped: number;
  chainsUsed: number;
  bytesUsed: number;
  interrupts: number;
  interruptsSuppressed: number;
  deviceChecksFailed: number;
}

const fields: [keyof QueueStats, number][] = [
  ['chainsAdded', L.ST_CHAINS_ADDED],
  ['descsAdded', L.ST_DESCS_ADDED],
  ['bytesAdded', L.ST_BYTES_ADDED],
  ['indirectAdded', L.ST_INDIRECT_ADDED],
  ['kicks', L.ST_KICKS],
  ['kicksSuppressed', L.ST_KICKS_SUPPRESSED],
  ['chainsCompleted', L.ST_CHAINS_COMPLETED],
  ['bytesCompleted', L.ST_BYTES_COMPLETED],
  ['driverChecksFailed', L.ST_DRIVER_CHECKS_FAILED],
  ['chainsPopped', L.ST_CHAINS_POPPED],
  ['descsPopped', L.ST_DESCS_POPPED],
  ['chainsUsed', L.ST_CHAINS_USED],
  ['bytesUsed', L.ST_BYTES_USED],
  ['interrupts', L.ST_INTERRUPTS],
  ['interruptsSuppressed', L.ST_INTERRUPTS_SUPPRESSED],
  ['deviceChecksFailed', L.ST_DEVICE_CHECKS_FAILED],
];

/** Reads a stats block (u64 counters, returned as numbers: exact below 2^53). */
export function readStats(view: DataView, block: number): QueueStats {
  const out = {} as QueueStats;
  for (const [name, off] of fields) out[name] = Number(view.getBigUint64(block + off, true));
  return out;
}

/**
 * Two stats blocks added field by field: a queue's driver half (driver
 * counters, zeros above) and device half (zeros below, device counters).
 */
export function sumStats(a: QueueStats, b: QueueStats): QueueStats {
  const out = { ...a };
  for (const [name] of fields) out[name] += b[name];
  return out;
}

import { STATS_KINDS, type CountersOf } from '../memory/stats-registry.js';

/**
 * Counters of one queue, read from its stats block in the shared memory: the
 * driver's (chainsAdded … driverChecksFailed) and the device's (chainsPopped …
 * deviceChecksFailed). The schema is the `ring` kind of the stats registry.
 */
export type QueueStats = CountersOf<'ring'>;

const fields = Object.entries(STATS_KINDS.ring.fields) as [keyof QueueStats, number][];

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

// Events per operation, read from a machine's stats registry: what a
// deployment costs besides time (exits, interrupts, bounce copies, slot
// searches, IOTLB misses, page conversions). A benchmark snapshots the
// registry before and after its timed iterations and divides the difference
// by the operations it counted. Deterministic counts, measured wall time
// beside them: never mixed.
import type { StatsRecord } from '../memory/stats-registry.js';

export interface EventTotals {
  /** Notifications the driver wrote (a VM exit each in a real VM). */
  exits: number;
  /**
   * Transport register and config-space accesses besides notifications (an
   * MMIO exit each in a real VM: the hypervisor emulates the register).
   */
  configAccesses: number;
  /** Chains the devices used (completed): the requests or packets processed. */
  chains: number;
  /** Interrupts the device raised into the guest. */
  interrupts: number;
  /** Bytes copied by a bouncing DMA backend, both ways (swiotlb, VDUSE). */
  bounceBytes: number;
  /** Bounce copies (calls), each of bounceBytes ÷ bounces bytes on average. */
  bounces: number;
  /** swiotlb slot searches, the slots they scanned, and slot releases. */
  slotSearches: number;
  slotsScanned: number;
  slotReleases: number;
  /** Page walks of a paged DMA context that missed its IOTLB. */
  iotlbMisses: number;
  /** Guest page conversions (set_memory_decrypted/encrypted calls). */
  conversions: number;
  /** Bytes the end-to-end protection layers encrypted or decrypted (and authenticated). */
  cryptBytes: number;
}

export type PerOp = { [K in keyof EventTotals as `${K}PerOp`]: number };

const zero = (): EventTotals => ({
  exits: 0,
  configAccesses: 0,
  chains: 0,
  interrupts: 0,
  bounceBytes: 0,
  bounces: 0,
  slotSearches: 0,
  slotsScanned: 0,
  slotReleases: 0,
  iotlbMisses: 0,
  conversions: 0,
  cryptBytes: 0,
});

/** Sums the event counters of every block in a registry read. */
export function eventTotals(stats: Record<string, StatsRecord>): EventTotals {
  const t = zero();
  const n = (v: number | undefined) => v ?? 0;
  for (const r of Object.values(stats)) {
    const c = r.counters;
    if (r.kind === 'transport') {
      t.exits += n(c.notifications);
      t.interrupts += n(c.interrupts);
      t.configAccesses += n(c.registerReads) + n(c.registerWrites) + n(c.configReads) + n(c.configWrites);
    } else if (r.kind === 'ring') {
      t.chains += n(c.chainsUsed);
    } else if (r.kind === 'dma-context') {
      t.iotlbMisses += n(c.iotlbMisses);
    } else if (r.kind === 'protect') {
      t.cryptBytes += n(c.bytesSealed) + n(c.bytesOpened);
    } else if (r.kind === 'memory') {
      t.conversions += n(c.calls);
    } else if (r.kind === 'bounce') {
      t.bounceBytes += n(c.bytesToDevice) + n(c.bytesFromDevice);
      t.bounces += n(c.copiesToDevice) + n(c.copiesFromDevice);
    } else if (r.kind === 'swiotlb') {
      for (const it of r.items ?? []) {
        t.bounceBytes += n(it.bytesToDevice) + n(it.bytesFromDevice);
        t.bounces += n(it.bouncesToDevice) + n(it.bouncesFromDevice);
        t.slotSearches += n(it.searches);
        t.slotsScanned += n(it.slotsScanned);
        t.slotReleases += n(it.releases);
      }
    }
  }
  return t;
}

/** (after − before) ÷ ops for each event, as the rows' `…PerOp` fields. */
export function perOp(before: EventTotals, after: EventTotals, ops: number): PerOp {
  const out = {} as Record<string, number>;
  for (const k of Object.keys(before) as (keyof EventTotals)[]) {
    out[`${k}PerOp`] = ops > 0 ? (after[k] - before[k]) / ops : 0;
  }
  return out as PerOp;
}

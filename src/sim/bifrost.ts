// The cost model held against a published breakdown: Bifrost (Li et al.,
// USENIX ATC '23) measured where a confidential VM's CPU cycles go when
// memcached serves 256 KiB values over TLS through virtio-net (4 vCPU): on
// AMD SEV, 13.40% in swiotlb, 21.12% in VM exits, 26.78% in packet
// processing, 38.70% in the application; on Intel (simulated TDX, posted
// interrupts) 18.87% in swiotlb, about half of it (48.83%) slot management
// and half (51.17%) memcpy. vqsim has no application or TCP stack, so the
// comparable figure is swiotlb's share of the I/O path (exits + swiotlb +
// packet processing): 21.9% on AMD, 32.3% on Intel.
//
// The shape here: virtio-net in a `cvm` deployment, frames looped back (one
// TX and one RX per frame, as a request and its reply), every event counted
// and modeled; no clock is read, so the figures are exact and repeatable.
import { createMachine } from './machine.js';
import { runNetPackets } from './net.js';
import { COST_PROFILES, modelCycles, type CostCategory, type CostModel } from './cost.js';
import { eventTotals, perOp, type EventTotals } from './per-op.js';

/** The published shares (percent of all cycles; "I/O path" excludes the application). */
export const BIFROST_PUBLISHED = {
  amd: { swiotlb: 13.4, exits: 21.12, processing: 26.78, app: 38.7, swiotlbOfIoPath: 21.86 },
  intel: {
    swiotlb: 18.87,
    exits: 1.1,
    processing: 38.47,
    app: 41.55,
    swiotlbOfIoPath: 32.29,
    slotShareOfSwiotlb: 48.83,
  },
} as const;

export interface BifrostShares {
  encryption: 'sev-snp' | 'tdx';
  frameBytes: number;
  /** Modeled cycles per frame, by category. */
  cyclesPerFrame: number;
  cyclesBy: Record<CostCategory, number>;
  /** Percent of modeled cycles in swiotlb (slot search, release and bounce copies). */
  swiotlbShare: number;
  /** Percent of swiotlb's cycles spent on slot management (search and release) rather than copying. */
  slotShareOfSwiotlb: number;
  events: EventTotals;
}

/** Models `frames` looped-back frames of `frameBytes` in a CVM under `model` (default: the profile of `encryption`). */
export function bifrostShares(
  encryption: 'sev-snp' | 'tdx',
  frameBytes: number,
  frames = 4096,
  model: CostModel = COST_PROFILES[encryption],
): BifrostShares {
  const m = createMachine({
    deployment: 'cvm',
    encryption,
    devices: [{ kind: 'net', queueSize: 256, packetBytes: frameBytes, backend: 'loopback' }],
  });
  try {
    const net = m.net();
    runNetPackets(net, 0, 512); // reach the steady state: RX ring posted, pool warm
    const before = eventTotals(m.stats());
    const moved = runNetPackets(net, 0, frames).packets;
    const events = perOp(before, eventTotals(m.stats()), moved);
    const e = Object.fromEntries(Object.entries(events).map(([k, v]) => [k.slice(0, -5), v])) as unknown as EventTotals;
    const { cycles, cyclesBy } = modelCycles(e, model);
    const slots = cyclesBy.swiotlbSearch + cyclesBy.swiotlbRelease;
    const swiotlb = slots + cyclesBy.bounceCopy;
    return {
      encryption,
      frameBytes,
      cyclesPerFrame: cycles,
      cyclesBy,
      swiotlbShare: (100 * swiotlb) / cycles,
      slotShareOfSwiotlb: swiotlb > 0 ? (100 * slots) / swiotlb : 0,
      events: e,
    };
  } finally {
    m.close();
  }
}

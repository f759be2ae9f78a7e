// The cost model: turns the events the stats registry counted into modeled
// CPU cycles of a real machine, per category, so a study can say where a
// confidential VM's I/O time goes. Measured wall-clock rates and modeled
// cycles are reported side by side and never mixed: the model does not look
// at how long the simulator took, only at what happened.
//
// Defaults come from published figures (shared/background/mechanisms.md); a
// figure the sources do not give is marked "assumed" in its `source` and in
// the README, and every field can be overridden from a JSON file (--cost).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { EventTotals } from './per-op.js';

/** Where modeled cycles go. */
export const COST_CATEGORIES = [
  'exits',
  'interrupts',
  'swiotlbSearch',
  'swiotlbRelease',
  'bounceCopy',
  'iotlbMisses',
  'conversions',
  'encryption',
  'processing',
] as const;
export type CostCategory = (typeof COST_CATEGORIES)[number];

/** Cycles per event. */
export interface CostModel {
  /** The profile it is, or extends. */
  profile: CostProfileName;
  /** A VM exit and re-entry: a notification, or a transport register / config access the hypervisor emulates. */
  exit: number;
  /** One interrupt injected into the guest. */
  interrupt: number;
  /** One swiotlb slot search (swiotlb_find_slots), and each slot it scanned. */
  slotSearch: number;
  slotScanned: number;
  /** One swiotlb slot release (swiotlb_release_slots). */
  slotRelease: number;
  /** One bounce copy call, and each byte it copies. */
  bounceCall: number;
  bounceByte: number;
  /** One IOTLB miss: a page walk of the IOMMU's tables. */
  iotlbMiss: number;
  /** One page conversion (set_memory_decrypted/encrypted: a hypercall, TLB flushes, page acceptance). */
  conversion: number;
  /** One byte encrypted or decrypted and authenticated by an end-to-end protection layer (TLS records, dm-crypt). */
  cryptByte: number;
  /** One chain processed: the driver's and the device's per-packet or per-request work besides the above. */
  chain: number;
}

export type CostField = Exclude<keyof CostModel, 'profile'>;
export const COST_FIELDS: readonly CostField[] = [
  'exit',
  'interrupt',
  'slotSearch',
  'slotScanned',
  'slotRelease',
  'bounceCall',
  'bounceByte',
  'iotlbMiss',
  'conversion',
  'cryptByte',
  'chain',
];

export const COST_PROFILE_NAMES = ['traditional', 'sev-snp', 'tdx'] as const;
export type CostProfileName = (typeof COST_PROFILE_NAMES)[number];

/** Where each default comes from (README: "The cost model"). */
export const COST_SOURCES: Record<CostField, string> = {
  exit: "the issue's 500-cycle exit + 500-cycle entry (VMX/SVM round trip on current cores)",
  interrupt:
    'Bifrost artifact resgen.py: 7,500 cycles per interrupt injected into a CVM; traditional and tdx (posted interrupts, Bifrost\'s Intel "CVM+PI": VM-exit share ≈1.1%): one exit, assumed',
  slotSearch: 'Bifrost AE guide sample log: swiotlb_find 283–451 cycles per call (midpoint 367)',
  slotScanned: 'assumed 0: the per-call figure already averages the scan',
  slotRelease: 'Bifrost AE guide sample log: swiotlb_release 284–329 cycles per call (midpoint 306)',
  bounceCall: 'Bifrost AE guide sample log: swiotlb_memcpy 114–167 cycles per call on average (midpoint 140)',
  bounceByte: 'assumed 0.1 cycles per byte (about 30 GB/s at 3 GHz); vqsim calibrate measures this machine',
  iotlbMiss: 'assumed 300 cycles: a 4-level IOMMU page walk that hits the caches',
  conversion:
    'assumed 20,000 cycles per call: a hypercall, a TLB shootdown and page (re)acceptance ("really slow compared to the memcpy in bouncing", M. Saleh, LKML 2026)',
  cryptByte:
    'assumed 1 cycle per byte: AES-GCM or AES-XTS with AES-NI runs at 0.6–1 cycle per byte on current x86 cores (HMAC-SHA256 more)',
  chain: 'assumed 1,000 cycles per packet or request of driver and device work outside the counted events',
};

const BASE: Omit<CostModel, 'profile'> = {
  exit: 1000,
  interrupt: 1000,
  slotSearch: 367,
  slotScanned: 0,
  slotRelease: 306,
  bounceCall: 140,
  bounceByte: 0.1,
  iotlbMiss: 300,
  conversion: 20000,
  cryptByte: 1,
  chain: 1000,
};

export const COST_PROFILES: Record<CostProfileName, CostModel> = {
  traditional: { profile: 'traditional', ...BASE },
  'sev-snp': { profile: 'sev-snp', ...BASE, interrupt: 7500 },
  tdx: { profile: 'tdx', ...BASE },
};

/** Modeled cycles, in total and by category. */
export interface ModeledCycles {
  cycles: number;
  cyclesBy: Record<CostCategory, number>;
}

/** Cycles of `events` (totals, or per-operation figures) under `model`. */
export function modelCycles(events: EventTotals, model: CostModel): ModeledCycles {
  const by: Record<CostCategory, number> = {
    exits: (events.exits + events.configAccesses) * model.exit,
    interrupts: events.interrupts * model.interrupt,
    swiotlbSearch: events.slotSearches * model.slotSearch + events.slotsScanned * model.slotScanned,
    swiotlbRelease: events.slotReleases * model.slotRelease,
    bounceCopy: events.bounces * model.bounceCall + events.bounceBytes * model.bounceByte,
    iotlbMisses: events.iotlbMisses * model.iotlbMiss,
    conversions: events.conversions * model.conversion,
    encryption: events.cryptBytes * model.cryptByte,
    processing: events.chains * model.chain,
  };
  let cycles = 0;
  for (const c of COST_CATEGORIES) cycles += by[c];
  return { cycles, cyclesBy: by };
}

/** The profile that fits a machine's encryption model (sev and sev-snp share one). */
export function profileFor(encryption: string): CostProfileName {
  if (encryption === 'tdx') return 'tdx';
  if (encryption === 'sev' || encryption === 'sev-snp') return 'sev-snp';
  return 'traditional';
}

/**
 * A cost model from a parsed JSON object: `extends` (a profile, default
 * sev-snp) and any field of CostModel as a non-negative number; `calibration`
 * (what vqsim calibrate measured, kept as provenance) is allowed and ignored.
 * A bad value is a ConfigError naming the file and the field.
 */
export function parseCostModel(doc: unknown, file = 'cost file'): CostModel {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${file}: must be a JSON object with "extends" and cost fields (${COST_FIELDS.join(', ')})`);
  }
  const o = doc as Record<string, unknown>;
  const base = o.extends ?? 'sev-snp';
  if (typeof base !== 'string' || !(COST_PROFILE_NAMES as readonly string[]).includes(base)) {
    throw new ConfigError(`${file}: "extends": ${JSON.stringify(base)} is not one of ${COST_PROFILE_NAMES.join(', ')}`);
  }
  const model: CostModel = { ...COST_PROFILES[base as CostProfileName] };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'extends' || k === 'calibration') continue;
    if (!(COST_FIELDS as readonly string[]).includes(k)) {
      throw new ConfigError(
        `${file}: unknown field "${k}": the fields are extends, calibration, ${COST_FIELDS.join(', ')}`,
      );
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`${file}: "${k}": ${JSON.stringify(v)} must be a number of cycles, 0 or more`);
    }
    model[k as CostField] = v;
  }
  return model;
}

/** Reads and validates a cost file (--cost FILE). */
export function loadCostModel(path: string): CostModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`--cost ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not JSON (${(e as Error).message})`);
  }
  return parseCostModel(doc, path);
}

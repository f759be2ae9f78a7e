// The attack runner behind `vqsim attack`: every scenario, in every
// deployment it names, against the hardened victim and the naive one, with
// a verdict per row. A hardened row passes when the victim named the
// violation the scenario commits, or when the deployment contained the lie
// (nothing leaked, corrupted or hung: a read of private memory that returns
// ciphertext), or when the deployment trusts that device with it by design.
import { ConfigError } from '../../errors.js';
import { DEPLOYMENT_NAMES, type DeploymentName } from '../../sim/deployments.js';
import { DEPLOYMENTS } from '../../sim/deployments.js';
import { violation as catalogueEntry, violationOf } from '../catalogue/index.js';
import { PolicyGate } from '../policy/gate.js';
import { virtioDeviceFacts, type DeviceFacts, type Reaction, type TrustPolicy } from '../policy/policy.js';
import { scenarios as allScenarios } from '../scenarios/index.js';
import type { AttackOutcome, Scenario } from './types.js';

export type AttackSide = 'hardened' | 'naive';

/**
 * - 'detected': the victim named the violation the scenario commits.
 * - 'contained': not named, but nothing leaked, was corrupted or hung.
 * - 'trusted': the deployment lets this device do this (see AttackOutcome.trusted).
 * - 'damage': the lie went through and did harm (the naive side's expected verdict).
 * - 'missed': hardened, and the lie went through or another violation was named.
 * - 'crashed': the simulator threw something that is not a catalogue violation (a bug).
 */
export type AttackVerdict = 'detected' | 'contained' | 'trusted' | 'damage' | 'missed' | 'crashed';

export interface AttackRow {
  scenario: string;
  /** The catalogue id the scenario commits. */
  expected: string;
  attacker: 'driver' | 'device';
  deployment: DeploymentName;
  side: AttackSide;
  detected: boolean;
  /** The catalogue id the victim named, if any. */
  violation: string | null;
  reaction: AttackOutcome['reaction'];
  bytesLeaked: number;
  bytesCorrupted: number;
  hung: boolean;
  verdict: AttackVerdict;
  seed: number;
  note: string | null;
  /** With a policy: the reaction it chose for the violation named, and the policies behind it. */
  policyReaction?: Reaction | null;
  policyIds?: string[];
}

export interface AttackOptions {
  /** Scenario ids; default all. */
  scenarios?: readonly string[];
  deployments?: readonly DeploymentName[];
  sides?: readonly AttackSide[];
  seed?: number;
  /** A trust policy: each violation named gets the reaction it chooses (machine.react's choice). */
  policy?: TrustPolicy;
  /** Called before each row runs (progress). */
  onRow?: (done: number, total: number, what: string) => void;
}

/** The verdict of one outcome (see AttackVerdict). */
export function verdictOf(s: Scenario, side: AttackSide, o: AttackOutcome): AttackVerdict {
  const harm = o.bytesLeaked > 0 || o.bytesCorrupted > 0 || o.hung;
  if (o.detected && o.violation === s.violation) return 'detected';
  if (o.trusted) return 'trusted';
  if (side === 'naive') return harm || !o.detected ? (harm ? 'damage' : 'contained') : 'detected';
  if (!o.detected && !harm) return 'contained';
  return 'missed';
}

/** Runs one scenario on one side and deployment; an exception is classified, never rethrown. */
export async function runOne(
  s: Scenario,
  deployment: DeploymentName,
  side: AttackSide,
  seed: number,
): Promise<AttackRow> {
  const row = (o: AttackOutcome, verdict: AttackVerdict): AttackRow => ({
    scenario: s.id,
    expected: s.violation,
    attacker: s.attacker,
    deployment,
    side,
    detected: o.detected,
    violation: o.violation ?? null,
    reaction: o.reaction,
    bytesLeaked: o.bytesLeaked,
    bytesCorrupted: o.bytesCorrupted,
    hung: o.hung,
    verdict,
    seed,
    note: o.note ?? null,
  });
  let o: AttackOutcome;
  try {
    o = await s.run({ deployment, hardened: side === 'hardened', seed });
  } catch (e) {
    // A scenario lets a victim's named error escape: still a detection.
    const v = violationOf(e);
    const message = e instanceof Error ? e.message : String(e);
    if (!v) {
      const crash = { detected: false, reaction: 'none', bytesLeaked: 0, bytesCorrupted: 0, hung: false } as const;
      return row({ ...crash, note: `${e instanceof Error ? e.name : 'throw'}: ${message}` }, 'crashed');
    }
    o = { detected: true, violation: v.id, reaction: 'failed', bytesLeaked: 0, bytesCorrupted: 0, hung: false };
  }
  return row(o, verdictOf(s, side, o));
}

/** The scenarios `ids` names (all when undefined); a ConfigError names an unknown id. */
export function selectScenarios(ids?: readonly string[]): Scenario[] {
  if (!ids) return [...allScenarios];
  return ids.map((id) => {
    const s = allScenarios.find((x) => x.id === id);
    if (!s) throw new ConfigError(`scenario ${id}: not a scenario (vqsim attack --list shows them)`);
    return s;
  });
}

/** Every row of the matrix scenarios × deployments × sides, in a stable order. */
export async function runAttacks(options: AttackOptions = {}): Promise<AttackRow[]> {
  const seed = options.seed ?? 1;
  const sides = options.sides ?? ['hardened', 'naive'];
  const wanted = options.deployments ?? DEPLOYMENT_NAMES;
  const plan: [Scenario, DeploymentName, AttackSide][] = [];
  for (const s of selectScenarios(options.scenarios)) {
    for (const d of wanted) {
      if (s.deployments && !s.deployments.includes(d)) continue;
      for (const side of sides) if (side === 'hardened' || !s.noNaive) plan.push([s, d, side]);
    }
  }
  const rows: AttackRow[] = [];
  for (const [i, [s, d, side]] of plan.entries()) {
    options.onRow?.(i, plan.length, `${s.id} ${d} ${side}`);
    const row = await runOne(s, d, side, seed);
    if (options.policy) Object.assign(row, policyReaction(options.policy, s, row));
    rows.push(row);
  }
  return rows;
}

/** The victim as a policy sees it: a virtio device of the scenario's kind. */
function victimFacts(s: Scenario): DeviceFacts {
  return virtioDeviceFacts(
    s.device ?? (/(^|-)net(-|$)/.test(s.id) ? 'net' : /(^|-)console(-|$)/.test(s.id) ? 'console' : 'blk'),
  );
}

/** The reaction `policy` chooses for the violation a row named (null when none was named). */
function policyReaction(
  policy: TrustPolicy,
  s: Scenario,
  row: AttackRow,
): Pick<AttackRow, 'policyReaction' | 'policyIds'> {
  const v = row.violation === null ? undefined : catalogueEntry(row.violation, s.attacker);
  if (!v) return { policyReaction: null, policyIds: [] };
  const gate = new PolicyGate(policy, {
    deployment: row.deployment,
    encryption: DEPLOYMENTS[row.deployment].encryption[0],
  });
  const { reaction, policies } = gate.react(victimFacts(s), v);
  return { policyReaction: reaction, policyIds: policies };
}

/** True when every hardened row passed: none missed, none crashed (and no naive row crashed). */
export function attacksPassed(rows: readonly AttackRow[]): boolean {
  return rows.every((r) => r.verdict !== 'crashed' && (r.side === 'naive' || r.verdict !== 'missed'));
}

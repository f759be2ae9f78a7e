// What one attack scenario is and what running it reports (issue: trust,
// `vqsim attack`). A scenario plays the malicious side of one catalogue
// entry against a victim built with `hardened` on or off, in one deployment,
// and measures the damage with the planted secrets and canaries of damage.ts.
import type { DeploymentName } from '../../sim/deployments.js';

export interface AttackContext {
  readonly deployment: DeploymentName;
  /** The victim's checks: on (the hardened side) or off (the naive side). */
  readonly hardened: boolean;
  readonly seed: number;
}

/** What happened to the victim. */
export interface AttackOutcome {
  /** The victim named the violation (raised it, or counted a clamp). */
  detected: boolean;
  /** The catalogue id it named, when detected. */
  violation?: string | undefined;
  /**
   * What the victim did: 'broken' (queue or device marked broken), 'failed'
   * (the operation failed with the named error), 'clamped' (value corrected,
   * counted), 'none' (the lie went through).
   */
  reaction: 'broken' | 'failed' | 'clamped' | 'none';
  /** Bytes of planted secrets the attacker read. */
  bytesLeaked: number;
  /** Bytes of guest memory outside the attacker's own buffers that changed. */
  bytesCorrupted: number;
  /** The victim stopped making progress: a budget or deadline of the simulator ended it. */
  hung: boolean;
  /**
   * The deployment lets this attacker do this by design (a traditional VM's
   * device reads all guest RAM; an accepted TDISP device reaches private
   * memory): not a violation there, and its damage is what trusting it costs.
   */
  trusted?: boolean;
  /** Anything else worth a line in the report (what the naive side believed). */
  note?: string | undefined;
}

export interface Scenario {
  /** Kebab-case, stable: `--scenario ID`. */
  readonly id: string;
  /** The catalogue entry it provokes: its id and the side that commits it. */
  readonly violation: string;
  readonly attacker: 'driver' | 'device';
  /** What the attacker does, one line. */
  readonly title: string;
  /** The device kind the victim is, as a trust policy sees it (`vqsim attack --policy`). Default: from the id, else blk. */
  readonly device?: 'net' | 'blk' | 'console';
  /** Deployments it makes sense in; default every deployment. */
  readonly deployments?: readonly DeploymentName[];
  /**
   * Why there is no naive side, when there is none: the check is the
   * isolation boundary itself and cannot be turned off (the runner then runs
   * the hardened side only and says so).
   */
  readonly noNaive?: string;
  run(ctx: AttackContext): AttackOutcome | Promise<AttackOutcome>;
}

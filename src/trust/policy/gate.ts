// Where a machine asks its trust policy: at attach (transport, trusted,
// untrusted), at hotplug, at feature negotiation (before FEATURES_OK) and at
// each violation. Every question asked is recorded as a Decision with the ids
// of the policies that made it (machine.decisions()).
import type { Violation } from '../catalogue/types.js';
import { Feature } from '../../spec/features.js';
import { NetFeature } from '../../spec/net.js';
import { BlkFeature } from '../../spec/blk.js';
import { ConsoleFeature } from '../../spec/console.js';
import {
  REACTIONS,
  type DeviceFacts,
  type MachineFacts,
  type PolicyAction,
  type Reaction,
  type TrustPolicy,
} from './policy.js';

/** When the machine asked. */
export type DecisionEvent = 'attach' | 'hotplug' | 'feature' | 'violation';

/** One recorded decision. */
export interface Decision {
  event: DecisionEvent;
  /** The device's name (net0). */
  device: string;
  action: PolicyAction;
  /** The feature name (feature) or the violation id (violation). */
  subject?: string;
  allowed: boolean;
  /**
   * What the machine did with it: attach 'trusted' | 'untrusted' | 'refused'
   * (or 'not accepted' when TDISP did not admit a device the policy trusts,
   * 'no TDISP' in a CVM without it, 'asked' for an answer the next question
   * settles); feature 'negotiated' | 'masked'; violation: the reaction taken.
   */
  outcome: string;
  /** The ids of the policies behind the answer (none: Cedar's default deny). */
  policies: string[];
}

export type AttachMode = 'trusted' | 'untrusted' | 'refused';

export interface AttachDecision {
  mode: AttachMode;
  /** Why, in words (for a refused device: what the policy denied). */
  reason: string;
  /** The policies behind the final answer. */
  policies: string[];
}

// Feature names as VIRTIO 1.2 §6 and the device sections spell them.
const COMMON_FEATURES: Record<number, string> = {
  [Feature.INDIRECT_DESC]: 'VIRTIO_F_INDIRECT_DESC',
  [Feature.EVENT_IDX]: 'VIRTIO_F_EVENT_IDX',
  [Feature.VERSION_1]: 'VIRTIO_F_VERSION_1',
  [Feature.ACCESS_PLATFORM]: 'VIRTIO_F_ACCESS_PLATFORM',
  [Feature.RING_PACKED]: 'VIRTIO_F_RING_PACKED',
  [Feature.IN_ORDER]: 'VIRTIO_F_IN_ORDER',
};

function named(prefix: string, bits: Record<string, number>): Record<number, string> {
  return Object.fromEntries(Object.entries(bits).map(([k, b]) => [b, `${prefix}${k}`]));
}

const DEVICE_FEATURES: Record<string, Record<number, string>> = {
  net: named('VIRTIO_NET_F_', NetFeature),
  blk: named('VIRTIO_BLK_F_', BlkFeature),
  console: named('VIRTIO_CONSOLE_F_', ConsoleFeature),
};

/** The name of feature bit `bit` of a `kind` device (VIRTIO_F_BIT_<n> when vqsim has no name for it). */
export function featureName(kind: string, bit: number): string {
  return COMMON_FEATURES[bit] ?? DEVICE_FEATURES[kind]?.[bit] ?? `VIRTIO_F_BIT_${bit}`;
}

/** Every feature name vqsim knows for a kind (for `vqsim policy explain --feature`). */
export function featureNames(kind: string): string[] {
  return [...Object.values(DEVICE_FEATURES[kind] ?? {}), ...Object.values(COMMON_FEATURES)];
}

export class PolicyGate {
  private readonly log: Decision[] = [];

  constructor(
    readonly policy: TrustPolicy,
    readonly machine: MachineFacts,
  ) {}

  /** Every decision so far, oldest first (a copy). */
  decisions(): Decision[] {
    return this.log.map((d) => ({ ...d, policies: [...d.policies] }));
  }

  private ask(
    event: DecisionEvent,
    action: PolicyAction,
    device: DeviceFacts,
    extra: Parameters<TrustPolicy['decide']>[3] = {},
  ): { allowed: boolean; policies: string[]; record: Decision } {
    const a = this.policy.decide(action, device, this.machine, extra);
    const record: Decision = {
      event,
      device: device.name,
      action,
      allowed: a.allowed,
      outcome: '',
      policies: a.policies,
    };
    const subject = extra.feature ?? extra.violation?.id;
    if (subject !== undefined) record.subject = subject;
    this.log.push(record);
    return { allowed: a.allowed, policies: a.policies, record };
  }

  /**
   * Attach (or hotplug, when device.hotplugged): the transport must be
   * allowed (and hotplug, for a hotplugged device); then trusted when the
   * policy permits attach_trusted and `canTrust()` (the deployment can let
   * the device into private memory: everywhere but a CVM, where only a TDISP
   * interface the guest accepted can), else untrusted when it permits
   * attach_untrusted, else refused.
   */
  attach(device: DeviceFacts, canTrust: () => boolean): AttachDecision {
    const event: DecisionEvent = device.hotplugged ? 'hotplug' : 'attach';
    const refused = (why: string, policies: string[], r: Decision): AttachDecision => {
      r.outcome = 'refused';
      return { mode: 'refused', reason: why, policies };
    };
    const transport = this.ask(event, 'use_transport', device);
    if (!transport.allowed) {
      return refused(`transport ${device.transport} not allowed`, transport.policies, transport.record);
    }
    transport.record.outcome = 'allowed';
    if (device.hotplugged) {
      const plug = this.ask(event, 'hotplug', device);
      if (!plug.allowed) return refused('hotplug not allowed', plug.policies, plug.record);
      plug.record.outcome = 'allowed';
    }
    const trusted = this.ask(event, 'attach_trusted', device);
    if (trusted.allowed) {
      if (canTrust()) {
        trusted.record.outcome = 'trusted';
        return { mode: 'trusted', reason: 'attach_trusted permitted', policies: trusted.policies };
      }
      trusted.record.outcome = device.attested ? 'not accepted' : 'no TDISP';
    } else trusted.record.outcome = 'asked';
    const untrusted = this.ask(event, 'attach_untrusted', device);
    if (untrusted.allowed) {
      untrusted.record.outcome = 'untrusted';
      return { mode: 'untrusted', reason: 'attach_untrusted permitted', policies: untrusted.policies };
    }
    return refused('neither attach_trusted nor attach_untrusted permitted', untrusted.policies, untrusted.record);
  }

  /**
   * The features a driver may accept: `features` less every bit the policy
   * refuses (negotiate_feature), asked before FEATURES_OK. VERSION_1 is not
   * asked: a modern device without it is refused by the probe anyway.
   */
  features(device: DeviceFacts, features: bigint): bigint {
    let out = features;
    for (let bit = 0; bit < 64; bit++) {
      const mask = 1n << BigInt(bit);
      if (!(features & mask) || bit === Feature.VERSION_1) continue;
      const a = this.ask('feature', 'negotiate_feature', device, { feature: featureName(device.kind, bit) });
      a.record.outcome = a.allowed ? 'negotiated' : 'masked';
      if (!a.allowed) out &= ~mask;
    }
    return out;
  }

  /** The reaction to a violation: the most drastic one the policy permits; none permitted is 'continue'. */
  react(device: DeviceFacts, v: Violation): { reaction: Reaction; policies: string[] } {
    const violation = { id: v.id, layer: v.layer, severity: v.severity, side: v.side };
    let chosen: { reaction: Reaction; policies: string[] } = { reaction: 'continue', policies: [] };
    for (const reaction of REACTIONS) {
      const a = this.policy.decide(reaction, device, this.machine, { violation });
      if (a.allowed) chosen = { reaction, policies: a.policies };
    }
    this.log.push({
      event: 'violation',
      device: device.name,
      action: chosen.reaction,
      subject: v.id,
      allowed: chosen.policies.length > 0,
      outcome: chosen.reaction,
      policies: chosen.policies,
    });
    return chosen;
  }
}

// `--policy` on the ring benchmarks (ring, pingpong, colocated): no device
// attaches there, but the policy's feature answers still hold: a ring
// layout or ring feature the policy refuses (negotiate_feature, asked for a
// virtio-net device as the round trips model its TX chains) is taken out of
// the lists the flags asked for, and said. Nothing is asked on the data path.
import { Feature } from '../../spec/features.js';
import { featureName } from '../../trust/policy/gate.js';
import { PolicyError, TrustPolicy, virtioDeviceFacts } from '../../trust/policy/policy.js';
import { UsageError } from '../usage.js';

const NET_DEVICE = virtioDeviceFacts('net');

/** Loads `--policy`; a bad one is one line (exit 2). */
export function loadBenchPolicy(spec: string): TrustPolicy {
  try {
    return TrustPolicy.load(spec);
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(`--policy ${spec}: ${e.message.split('\n')[0]}`);
    throw e;
  }
}

/** Whether `policy` lets a virtio-net driver negotiate feature `bit`. */
export function featureAllowed(policy: TrustPolicy, bit: number): boolean {
  const feature = featureName('net', bit);
  return policy.decide('negotiate_feature', NET_DEVICE, { deployment: 'none', encryption: 'none' }, { feature })
    .allowed;
}

/**
 * The values of one list flag the policy leaves: those that need no
 * refused feature. All refused is a UsageError naming the flag and the
 * feature; some refused are said through `note`.
 */
export function narrow<T>(
  policy: TrustPolicy,
  flag: string,
  values: readonly T[],
  bitOf: (v: T) => number | undefined,
  note: (line: string) => void,
): T[] {
  const refused = values.filter((v) => {
    const bit = bitOf(v);
    return bit !== undefined && !featureAllowed(policy, bit);
  });
  if (refused.length === 0) return [...values];
  const names = [...new Set(refused.map((v) => featureName('net', bitOf(v)!)))].join(', ');
  const show = (vs: readonly T[]) => vs.map((v) => (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v))).join(',');
  const kept = values.filter((v) => !refused.includes(v));
  if (kept.length === 0) {
    throw new UsageError(`--${flag} ${show(values)} with --policy ${policy.name}: the policy refuses ${names}`);
  }
  note(`policy ${policy.name} refuses ${names}: --${flag} ${show(refused)} left out`);
  return kept;
}

/** The ring layout's feature bit (the split ring needs none). */
export const ringBit = (ring: string): number | undefined => (ring === 'packed' ? Feature.RING_PACKED : undefined);
/** An on/off list of a feature: 'on' needs `bit`. */
export const onBit = (bit: number) => (on: boolean) => (on ? bit : undefined);

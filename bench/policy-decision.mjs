// Cost of a trust policy decision (issue #11's target: a cold decision ≤ 1 ms;
// a warm one, from the cache, costs a Map lookup). Uses the built package:
//   npm run build:js && node bench/policy-decision.mjs [preset] [n]
// Cold: a device the policy has not seen (a new name), so Cedar evaluates.
// Warm: the same request again. Prints the median and the 99th percentile.
import { TrustPolicy } from '../dist/index.js';

const preset = process.argv[2] ?? 'tdx-default';
const n = Number(process.argv[3] ?? 2000);
const t0 = performance.now();
const policy = TrustPolicy.preset(preset, { measurements: ['ab'.repeat(48)] });
const loadMs = performance.now() - t0;
const machine = { deployment: 'cvm', encryption: 'tdx' };
const device = (i) => ({
  name: `net${i}`,
  kind: 'net',
  vendor: 0x1af4,
  deviceId: 0x1041,
  revision: 1,
  transport: 'pci',
  bus: '0000:00:03.0',
  tdisp: 'none',
  measurement: '',
  attested: false,
  hotplugged: false,
});
const feature = { feature: 'VIRTIO_F_RING_PACKED' };
// The first evaluation also instantiates Cedar's evaluator: reported apart.
const f0 = performance.now();
policy.decide('attach_untrusted', device(-1), machine);
const firstMs = performance.now() - f0;
const cold = [];
const warm = [];
for (let i = 0; i < n; i++) {
  const action = i % 2 ? 'attach_untrusted' : 'negotiate_feature';
  const a = performance.now();
  policy.decide(action, device(i), machine, feature);
  const b = performance.now();
  policy.decide(action, device(i), machine, feature);
  const c = performance.now();
  cold.push(b - a);
  warm.push(c - b);
}
const q = (xs, p) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;
console.log(`policy ${preset}: load ${loadMs.toFixed(1)} ms, first evaluation ${firstMs.toFixed(1)} ms`);
console.log(
  `cold decision (Cedar): median ${us(q(cold, 0.5))}, p99 ${us(q(cold, 0.99))}, max ${us(Math.max(...cold))} (n=${n})`,
);
console.log(
  `warm decision (cache): median ${us(q(warm, 0.5))}, p99 ${us(q(warm, 0.99))} (n=${n}); Cedar calls ${policy.evaluations}`,
);

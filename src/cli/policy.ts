// `vqsim policy check FILE...` and `vqsim policy explain`: validate a Cedar
// trust policy against the schema, and show what it decides for one device.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { DEPLOYMENT_NAMES, DEPLOYMENTS, type DeploymentName } from '../sim/deployments.js';
import { featureNames } from '../trust/policy/gate.js';
import {
  checkPolicy,
  formatDiagnostic,
  PolicyError,
  REACTIONS,
  TrustPolicy,
  type DeviceFacts,
  type MachineFacts,
  type PolicyAction,
} from '../trust/policy/policy.js';
import { catalogue } from '../trust/catalogue/index.js';
import type { Io } from './io.js';
import { UsageError } from './usage.js';
import { oneOf } from './parser.js';

const CHECK_HELP = `Validates each Cedar policy file against the vqsim schema
(src/trust/policy/presets/vqsim.cedarschema), one line per problem:
FILE:LINE:COL: message. Exit 0 when every file is valid, 2 otherwise.`;

const EXPLAIN_HELP = `Prints what the policy decides for one device, action by action, and the
policies behind each answer.`;

const CHECK_AFTER = `
Example:
  vqsim policy check ours.cedar
`;

const EXPLAIN_AFTER = `
Examples:
  vqsim policy explain --policy tdx-default --device kind=net,vendor=0x1af4,revision=2
  vqsim policy explain --policy tdisp-strict --device kind=blk,attested,measurement=ab... --deployment cvm-tdisp
  vqsim policy explain --policy tdx-default --device kind=blk --violation USED_ID_OUT_OF_RANGE
`;

/** `vqsim policy check`: its help and arguments. */
export function defineCheck(c: Command): Command {
  return c.description(CHECK_HELP).argument('[file...]', 'Cedar policy files').addHelpText('after', CHECK_AFTER);
}

/** `vqsim policy explain`: its help and flags. */
export function defineExplain(c: Command): Command {
  return c
    .description(EXPLAIN_HELP)
    .addOption(
      new Option(
        '--policy <FILE|PRESET>',
        'a policy file, or a preset: traditional, tdx-default, tdisp-strict',
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--device <SPEC>',
        'KEY=VALUE,... with keys kind (required), vendor, deviceid, revision, transport (pci, mmio), bus, ' +
          'tdisp (none, CONFIG_UNLOCKED, CONFIG_LOCKED, RUN, ERROR), attested, measurement (96 hex digits), ' +
          'hotplugged and name, e.g. kind=net,vendor=0x1af4,revision=2; the rest default to a virtio-pci modern device',
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--feature <NAME,...>',
        'feature names to ask negotiate_feature about (default: every feature vqsim knows for the kind)',
      ),
    )
    .addOption(new Option('--violation <ID,...>', 'catalogue ids to ask the reaction for (default: none)'))
    .addOption(oneOf('--deployment <D>', 'the deployment', DEPLOYMENT_NAMES, 'traditional'))
    .addOption(
      new Option('--encryption <E>', "one the deployment runs: none, sev, sev-snp, tdx (default: the deployment's)"),
    )
    .addOption(
      new Option('--measurements <HEX,...>', "digests the policy's templates are linked to (tdisp-strict's list)"),
    )
    .addHelpText('after', EXPLAIN_AFTER);
}

/** The values defineExplain's flags give. */
export type ExplainFlags = {
  policy: string;
  device: string;
  feature?: string;
  violation?: string;
  deployment: DeploymentName;
  encryption?: string;
  measurements?: string;
};

const DEVICE_KEYS = [
  'kind',
  'vendor',
  'deviceid',
  'revision',
  'transport',
  'bus',
  'tdisp',
  'attested',
  'measurement',
  'hotplugged',
  'name',
];
const VIRTIO_IDS: Record<string, number> = { net: 1, blk: 2, console: 3, '9p': 9, vsock: 19, gpu: 16 };
const TDISP_STATES = ['none', 'CONFIG_UNLOCKED', 'CONFIG_LOCKED', 'RUN', 'ERROR'];

function number(key: string, v: string, max: number): number {
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new UsageError(`--device ${key}=${v}: must be a number from 0 to ${max} (decimal or 0x hex)`);
  }
  return n;
}

/** Parses `kind=net,vendor=0x1af4,revision=2,attested,measurement=HEX`. */
export function parseDevice(spec: string): DeviceFacts {
  const f: Record<string, string> = {};
  for (const item of spec.split(',')) {
    const [k, ...v] = item.split('=');
    const key = (k ?? '').trim();
    if (!DEVICE_KEYS.includes(key)) {
      throw new UsageError(`--device ${item}: unknown key ${key || '(empty)'} (keys: ${DEVICE_KEYS.join(', ')})`);
    }
    f[key] = v.length === 0 ? 'true' : v.join('=').trim();
  }
  const kind = f.kind;
  if (kind === undefined || !/^[a-z0-9-]+$/.test(kind)) {
    throw new UsageError(`--device ${spec}: needs kind=KIND (net, blk, console, 9p, vsock, ...)`);
  }
  const transport = f.transport ?? 'pci';
  if (transport !== 'pci' && transport !== 'mmio') {
    throw new UsageError(`--device transport=${transport}: must be pci or mmio`);
  }
  const measurement = (f.measurement ?? '').toLowerCase();
  if (measurement !== '' && !/^[0-9a-f]{96}$/.test(measurement)) {
    throw new UsageError(`--device measurement=${f.measurement}: must be 96 hex digits (a 48-byte digest)`);
  }
  const flag = (key: string): boolean => {
    const v = f[key];
    if (v === undefined || v === 'false') return false;
    if (v === 'true') return true;
    throw new UsageError(`--device ${key}=${v}: must be ${key}, ${key}=true or ${key}=false`);
  };
  const attested = flag('attested') || measurement !== '';
  const tdisp = f.tdisp ?? (attested ? 'CONFIG_LOCKED' : 'none');
  if (!TDISP_STATES.includes(tdisp)) {
    throw new UsageError(`--device tdisp=${tdisp}: must be one of ${TDISP_STATES.join(', ')}`);
  }
  const id = VIRTIO_IDS[kind] ?? 0;
  return {
    name: f.name ?? `${kind}0`,
    kind,
    vendor: f.vendor === undefined ? 0x1af4 : number('vendor', f.vendor, 0xffff),
    deviceId:
      f.deviceid === undefined ? (transport === 'pci' ? 0x1040 + id : id) : number('deviceid', f.deviceid, 0xffff),
    revision: f.revision === undefined ? 1 : number('revision', f.revision, 255),
    transport,
    bus: f.bus ?? (transport === 'pci' ? '0000:00:03.0' : 'mmio@0xa000000'),
    tdisp,
    measurement,
    attested,
    hotplugged: flag('hotplugged'),
  };
}

function split(flag: string, v: string | undefined): string[] {
  if (v === undefined) return [];
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${flag} ${v}: a comma-separated list without empty items`);
  return items;
}

/** Loads --policy for a command: a preset or file; an invalid one is a UsageError listing each problem. */
export function policyFlag(value: string, measurements: readonly string[] = []): TrustPolicy {
  try {
    return TrustPolicy.load(value, { measurements });
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(`--policy ${e.message}`);
    throw e;
  }
}

/** `vqsim policy check FILE...`: exit 0 when every file is valid, 2 otherwise. */
export function checkCommand(files: string[], io: Io): number {
  if (files.length === 0) throw new UsageError('policy check: name at least one policy file');
  let bad = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      io.err(`${file}:0:0: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
      bad++;
      continue;
    }
    const problems = checkPolicy(text, file);
    for (const p of problems) io.err(`${formatDiagnostic(p)}\n`);
    if (problems.length > 0) bad++;
    else io.out(`${file}: valid\n`);
  }
  return bad > 0 ? 2 : 0;
}

/** `vqsim policy explain`: what the policy decides for the device. */
export function explainCommand(values: ExplainFlags, io: Io): number {
  const { deployment } = values;
  const allowedEnc: readonly string[] = DEPLOYMENTS[deployment].encryption;
  const encryption = values.encryption ?? allowedEnc[0]!;
  if (!allowedEnc.includes(encryption)) {
    throw new UsageError(
      `--encryption ${encryption}: must be one of ${allowedEnc.join(', ')} (deployment ${deployment})`,
    );
  }
  const measurements = split('measurements', values.measurements);
  for (const m of measurements) {
    if (!/^[0-9a-fA-F]{96}$/.test(m)) throw new UsageError(`--measurements ${m}: must be 96 hex digits`);
  }
  const device = parseDevice(values.device);
  const machine: MachineFacts = { deployment, encryption };
  const policy = policyFlag(values.policy, measurements);
  const features = values.feature === undefined ? featureNames(device.kind) : split('feature', values.feature);
  const reactions: string[] = [];
  const violations = split('violation', values.violation).map((id) => {
    const v = catalogue.find((x) => x.id === id);
    if (!v) throw new UsageError(`--violation ${id}: not a catalogue id (vqsim's catalogue: src/trust/catalogue)`);
    return v;
  });
  const rows: string[][] = [];
  const row = (action: PolicyAction, subject: string, a: { allowed: boolean; policies: string[] }) =>
    rows.push([action, subject, a.allowed ? 'allow' : 'deny', a.policies.join(', ') || '(none: default deny)']);
  for (const action of ['use_transport', 'hotplug', 'attach_trusted', 'attach_untrusted'] as const) {
    row(action, '', policy.decide(action, device, machine));
  }
  for (const feature of features) {
    row('negotiate_feature', feature, policy.decide('negotiate_feature', device, machine, { feature }));
  }
  for (const v of violations) {
    const violation = { id: v.id, layer: v.layer, severity: v.severity, side: v.side };
    let chosen = 'continue (nothing permitted: the default)';
    for (const r of REACTIONS) {
      const a = policy.decide(r, device, machine, { violation });
      row(r, v.id, a);
      if (a.allowed) chosen = r;
    }
    reactions.push(`reaction to ${v.id} (${v.severity}): ${chosen}\n`);
  }
  const id = `${device.kind} vendor 0x${device.vendor.toString(16)} device 0x${device.deviceId.toString(16)} rev ${device.revision} over ${device.transport}`;
  io.out(`policy ${policy.name}; device ${id}; deployment ${deployment} (${encryption})\n\n`);
  const head = ['action', 'subject', 'decision', 'policies'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`;
  io.out(line(head));
  for (const r of rows) io.out(line(r));
  io.out(`\nattach: ${attachVerdict(policy, device, machine)}\n`);
  for (const r of reactions) io.out(r);
  return 0;
}

/** What createMachine would do with the device (a CVM trusts only a TDISP device the guest accepts). */
function attachVerdict(policy: TrustPolicy, device: DeviceFacts, machine: MachineFacts): string {
  if (!policy.decide('use_transport', device, machine).allowed) return 'refused (transport not allowed)';
  if (device.hotplugged && !policy.decide('hotplug', device, machine).allowed) return 'refused (hotplug not allowed)';
  const confidential = machine.deployment === 'cvm' || machine.deployment === 'cvm-tdisp';
  if (policy.decide('attach_trusted', device, machine).allowed) {
    if (!confidential) return 'trusted (direct DMA)';
    if (machine.deployment === 'cvm-tdisp' && device.attested) {
      return 'trusted (direct DMA into private memory) once the TDISP report is accepted';
    }
  }
  if (policy.decide('attach_untrusted', device, machine).allowed) {
    return 'untrusted (bounced through swiotlb, or the deployment’s IOMMU)';
  }
  return 'refused (neither attach_trusted nor attach_untrusted permitted)';
}

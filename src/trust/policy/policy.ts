// The trust policy (issue #11, "The user decides"): who may attach, how, with
// which features, and what a violation costs, written in Cedar and evaluated
// with @cedar-policy/cedar-wasm (its synchronous Node build). The schema and
// the presets are the .cedar files in ./presets (shipped with the package).
//
// A policy is asked only at events: device attach, feature negotiation,
// hotplug and each violation, never per packet; each answer is cached by the
// exact request (device, action, context), so asking again about the same
// device and feature costs one Map lookup.
import type * as Cedar from '@cedar-policy/cedar-wasm/nodejs';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { VqsimError } from '../../errors.js';
import { wasmModule } from '../../memory/wasm-core.js';

// Loaded on first use (its Node build is CommonJS and compiles its Wasm
// synchronously), so a machine without a policy never pays for it.
//
// Cedar is cold-path code, so it is compiled with Liftoff only (V8's
// baseline tier, no tier-up). Left to dynamic tiering, it queued ~0.8 s of
// CPU of optimizing compiles right as a benchmark started, and the data
// path's Wasm waited behind them on the baseline tier: vqsim bench net ran
// 8x slower for its first seconds on a 2-core host. The core module is
// compiled first, so the flag (restored at once) never touches it.
const require = createRequire(import.meta.url);
let loaded: typeof Cedar | undefined;
function cedarApi(): typeof Cedar {
  if (loaded) return loaded;
  wasmModule();
  setFlagsFromString('--liftoff-only');
  try {
    loaded = require('@cedar-policy/cedar-wasm/nodejs') as typeof Cedar;
  } finally {
    setFlagsFromString('--no-liftoff-only');
  }
  return loaded;
}

export const POLICY_PRESETS = ['traditional', 'tdx-default', 'tdisp-strict'] as const;
export type PolicyPreset = (typeof POLICY_PRESETS)[number];

/** The actions of the schema (Vqsim::Action::"..."). */
export const ATTACH_ACTIONS = ['use_transport', 'attach_trusted', 'attach_untrusted', 'hotplug'] as const;
/** Reactions to a violation, mildest first: the most drastic one the policy permits is taken. */
export const REACTIONS = ['continue', 'reset_device', 'detach_device', 'panic'] as const;
export type Reaction = (typeof REACTIONS)[number];
export type PolicyAction = (typeof ATTACH_ACTIONS)[number] | 'negotiate_feature' | Reaction;

/** A device as the policy sees it (the Vqsim::Device entity's attributes). */
export interface DeviceFacts {
  /** The machine's name for it (net0): the entity id. */
  name: string;
  kind: string;
  vendor: number;
  deviceId: number;
  revision: number;
  transport: string;
  bus: string;
  /** TDISP state: 'none' without a TDISP interface. */
  tdisp: string;
  /** Measurement digest (96 hex digits), '' without TDISP. */
  measurement: string;
  attested: boolean;
  hotplugged: boolean;
}

/**
 * A virtio device of `kind` as the policy sees it when the question
 * concerns no device of a machine (a benchmark's rings, an attack's
 * victim): Red Hat's vendor id, revision 1, modern virtio-pci at 00:03.0,
 * present at boot, no TDISP.
 */
export function virtioDeviceFacts(kind: 'net' | 'blk' | 'console'): DeviceFacts {
  return {
    name: `${kind}0`,
    kind,
    vendor: 0x1af4,
    deviceId: 0x1040 + { net: 1, blk: 2, console: 3 }[kind],
    revision: 1,
    transport: 'pci',
    bus: '0000:00:03.0',
    tdisp: 'none',
    measurement: '',
    attested: false,
    hotplugged: false,
  };
}

/** The Machine context. */
export interface MachineFacts {
  deployment: string;
  encryption: string;
}

/** A violation as the reaction actions see it in their context. */
export interface ViolationFacts {
  id: string;
  layer: string;
  severity: string;
  side: string;
}

/** One answer of the policy. */
export interface PolicyAnswer {
  allowed: boolean;
  /** Ids of the policies that made it (the permits that allowed, or the forbids that denied; none: default deny). */
  policies: string[];
}

/** One problem in a policy file, where it is. */
export interface PolicyDiagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

/**
 * A policy that does not parse or validate against the schema, or names a
 * preset that does not exist. Code POLICY_INVALID, side 'user'; `diagnostics`
 * holds every problem, and the message has one `FILE:LINE:COL: message` line each.
 */
export class PolicyError extends VqsimError {
  constructor(
    readonly diagnostics: PolicyDiagnostic[],
    code = 'POLICY_INVALID',
  ) {
    super(code, diagnostics.map(formatDiagnostic).join('\n'), 'user');
    this.name = 'PolicyError';
  }
}

export function formatDiagnostic(d: PolicyDiagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

// The schema and presets: beside this file in the sources, dist/policy/ from
// the bundle's chunks (scripts/bundle.mjs copies them there; the package ships dist).
const PRESET_DIRS = ['./presets/', './policy/', '../policy/'];

function presetDir(): string {
  for (const rel of PRESET_DIRS) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}vqsim.cedarschema`)) return dir;
  }
  throw new VqsimError('POLICY_SCHEMA_NOT_FOUND', 'vqsim.cedarschema not found beside the trust policy module', 'host');
}

const texts = new Map<string, string>();
function shipped(file: string): string {
  let t = texts.get(file);
  if (t === undefined) {
    t = readFileSync(`${presetDir()}${file}`, 'utf8');
    texts.set(file, t);
  }
  return t;
}

/** The Cedar schema every policy is validated against (src/trust/policy/presets/vqsim.cedarschema). */
export function policySchema(): string {
  return shipped('vqsim.cedarschema');
}

/** A preset's Cedar text. */
export function presetText(name: PolicyPreset): string {
  return shipped(`${name}.cedar`);
}

export function isPreset(name: string): name is PolicyPreset {
  return (POLICY_PRESETS as readonly string[]).includes(name);
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: end - start + 1 };
}

/** The preset a file extends: a `// @extends NAME` line among its leading comments. */
function extendsHeader(text: string, file: string): { preset?: PolicyPreset; problem?: PolicyDiagnostic } {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    if (!l.startsWith('//')) break;
    const m = /^\/\/\s*@extends\s+(\S+)\s*$/.exec(l);
    if (!m) continue;
    const name = m[1]!;
    if (isPreset(name)) return { preset: name };
    const col = lines[i]!.indexOf(name) + 1;
    return {
      problem: {
        file,
        line: i + 1,
        col,
        message: `@extends ${name}: not a preset (presets: ${POLICY_PRESETS.join(', ')})`,
      },
    };
  }
  return {};
}

// Cedar names policies of a text policy0, policy1, ...: the location already says which.
const cedarPolicyName = /for policy `[^`]*`, /g;

function detail(e: Cedar.DetailedError): string {
  const help = e.help ? ` (${e.help.replace(cedarPolicyName, '')})` : '';
  const label = e.sourceLocations?.[0]?.label;
  const message = e.message.replace(cedarPolicyName, '').replace(/^failed to parse policies from string: /, '');
  return `${message}${label ? `: ${label}` : ''}${help}`;
}

function diagnose(text: string, file: string, e: Cedar.DetailedError): PolicyDiagnostic {
  const at = lineCol(text, e.sourceLocations?.[0]?.start ?? 0);
  return { file, ...at, message: detail(e) };
}

/**
 * Every problem of a policy text against the schema: parse errors, then the
 * validator's errors (strict mode: unknown attributes, actions, entity types,
 * type mismatches), with line and column. Warnings (an impossible policy) are
 * problems too: a policy that can never apply is a mistake. Empty when valid.
 */
export function checkPolicy(text: string, file = '<policy>'): PolicyDiagnostic[] {
  const out: PolicyDiagnostic[] = [];
  const header = extendsHeader(text, file);
  if (header.problem) out.push(header.problem);
  const answer = cedarApi().validate({
    schema: policySchema(),
    policies: { staticPolicies: text },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') {
    for (const e of answer.errors) out.push(diagnose(text, file, e));
    return out;
  }
  for (const v of [...answer.validationErrors, ...answer.validationWarnings]) out.push(diagnose(text, file, v.error));
  for (const e of answer.otherWarnings) out.push(diagnose(text, file, e));
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

interface Part {
  id: string;
  text: string;
  template: boolean;
}

/** Splits a valid policy text into its policies and templates, each named by its @id (else FILE#N). */
function parts(text: string, file: string, taken: Set<string>): Part[] {
  const p = cedarApi().policySetTextToParts(text);
  if (p.type !== 'success') throw new PolicyError(p.errors.map((e) => diagnose(text, file, e)));
  const out: Part[] = [];
  let cursor = 0;
  const name = (t: string, template: boolean, n: number): Part => {
    const at = text.indexOf(t, cursor);
    if (at >= 0) cursor = at + t.length;
    const json = template ? cedarApi().templateToJson(t) : cedarApi().policyToJson(t);
    const annotated = json.type === 'success' ? json.json.annotations?.id : undefined;
    const id = annotated ?? `${file}#${n}`;
    if (taken.has(id)) {
      throw new PolicyError([
        { file, ...lineCol(text, Math.max(0, at)), message: `policy id ${id} is used twice (ids must be unique)` },
      ]);
    }
    taken.add(id);
    return { id, text: t, template };
  };
  p.policies.forEach((t, i) => out.push(name(t, false, i)));
  p.policy_templates.forEach((t, i) => out.push(name(t, true, p.policies.length + i)));
  return out;
}

export interface PolicyOptions {
  /** Measurement digests the templates (tdisp-strict's) are linked to: one link per template and digest. */
  measurements?: readonly string[];
}

export interface PolicySourceText {
  /** Where it came from (a file path or a preset name): errors and fallback ids name it. */
  name: string;
  text: string;
}

let sets = 0;
let schemaParsed = false;

/** Parses the schema once per thread (cedar-wasm keeps it in thread-local storage under 'vqsim'). */
function preparseSchemaOnce(): void {
  if (schemaParsed) return;
  const schema = cedarApi().preparseSchema('vqsim', policySchema());
  if (schema.type !== 'success') {
    throw new VqsimError('POLICY_SCHEMA', `vqsim.cedarschema: ${schema.errors.map(detail).join('; ')}`, 'host');
  }
  schemaParsed = true;
}

/**
 * A compiled policy: the preset it extends (if any) and its own policies,
 * validated against the schema, preparsed once (cedar-wasm's
 * preparsePolicySet / preparseSchema), every answer cached by request.
 */
export class TrustPolicy {
  /** Every policy id, presets' first. */
  readonly ids: readonly string[];
  /** Cedar calls made (answers not from the cache). */
  evaluations = 0;
  private readonly setId: string;
  private readonly cache = new Map<string, PolicyAnswer>();

  private constructor(
    /** The preset name or file path it was loaded from. */
    readonly name: string,
    /** The preset it extends (or is). */
    readonly preset: PolicyPreset | undefined,
    policies: Part[],
    measurements: readonly string[],
  ) {
    const staticPolicies: Record<string, string> = {};
    const templates: Record<string, string> = {};
    const templateLinks: Cedar.TemplateLink[] = [];
    const ids: string[] = [];
    for (const p of policies) {
      if (!p.template) {
        staticPolicies[p.id] = p.text;
        ids.push(p.id);
        continue;
      }
      templates[p.id] = p.text;
      measurements.forEach((m) => {
        const newId = `${p.id}[${m.slice(0, 12)}]`;
        templateLinks.push({
          templateId: p.id,
          newId,
          values: { '?principal': { type: 'Vqsim::Measurement', id: m } },
        });
        ids.push(newId);
      });
    }
    this.ids = ids;
    this.setId = `vqsim-policy-${++sets}`;
    preparseSchemaOnce();
    const set = cedarApi().preparsePolicySet(this.setId, { staticPolicies, templates, templateLinks });
    if (set.type !== 'success') {
      throw new PolicyError(set.errors.map((e) => ({ file: name, line: 1, col: 1, message: detail(e) })));
    }
  }

  /** A preset, or a policy text (which may extend a preset with `// @extends NAME`). Throws PolicyError when invalid. */
  static fromText(source: PolicySourceText, options: PolicyOptions = {}): TrustPolicy {
    const problems = checkPolicy(source.text, source.name);
    if (problems.length > 0) throw new PolicyError(problems);
    const { preset } = extendsHeader(source.text, source.name);
    const taken = new Set<string>();
    const all = preset ? parts(presetText(preset), preset, taken) : [];
    all.push(...parts(source.text, source.name, taken));
    const measurements = (options.measurements ?? []).map((m) => m.toLowerCase());
    return new TrustPolicy(source.name, isPreset(source.name) ? source.name : preset, all, measurements);
  }

  /** A preset by name. */
  static preset(name: PolicyPreset, options: PolicyOptions = {}): TrustPolicy {
    const taken = new Set<string>();
    const measurements = (options.measurements ?? []).map((m) => m.toLowerCase());
    return new TrustPolicy(name, name, parts(presetText(name), name, taken), measurements);
  }

  /**
   * `spec` is a preset name or a policy file path. An unknown preset or a
   * file that cannot be read is a PolicyError (code POLICY_NOT_FOUND) naming
   * what is allowed.
   */
  static load(spec: string, options: PolicyOptions = {}): TrustPolicy {
    if (isPreset(spec)) return TrustPolicy.preset(spec, options);
    let text: string;
    try {
      text = readFileSync(spec, 'utf8');
    } catch {
      throw new PolicyError(
        [
          {
            file: spec,
            line: 0,
            col: 0,
            message: `not a preset (${POLICY_PRESETS.join(', ')}) nor a readable policy file`,
          },
        ],
        'POLICY_NOT_FOUND',
      );
    }
    return TrustPolicy.fromText({ name: spec, text }, options);
  }

  /** The policy's answer for one request (cached by the exact request). */
  decide(
    action: PolicyAction,
    device: DeviceFacts,
    machine: MachineFacts,
    extra: { feature?: string; violation?: ViolationFacts } = {},
  ): PolicyAnswer {
    const context: Record<string, Cedar.CedarValueJson> = { machine: { ...machine } };
    if (action === 'negotiate_feature') context.feature = extra.feature ?? '';
    if ((REACTIONS as readonly string[]).includes(action)) {
      if (!extra.violation) throw new VqsimError('POLICY_NO_VIOLATION', `policy ${action}: needs a violation`, 'user');
      context.violation = { ...extra.violation };
    }
    const key = `${action}\u0000${JSON.stringify(device)}\u0000${JSON.stringify(context)}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    this.evaluations++;
    const uid = { type: 'Vqsim::Device', id: device.name };
    const entity: Cedar.EntityJson = {
      uid,
      attrs: {
        kind: device.kind,
        vendor: device.vendor,
        deviceId: device.deviceId,
        revision: device.revision,
        transport: device.transport,
        bus: device.bus,
        attestation: { tdisp: device.tdisp, measurement: device.measurement, attested: device.attested },
        hotplugged: device.hotplugged,
      },
      parents: device.measurement === '' ? [] : [{ type: 'Vqsim::Measurement', id: device.measurement }],
    };
    const answer = cedarApi().statefulIsAuthorized({
      principal: uid,
      action: { type: 'Vqsim::Action', id: action },
      resource: { type: 'Vqsim::Guest', id: 'guest' },
      context,
      preparsedSchemaName: 'vqsim',
      validateRequest: true,
      preparsedPolicySetId: this.setId,
      entities: [entity, { uid: { type: 'Vqsim::Guest', id: 'guest' }, attrs: {}, parents: [] }],
    });
    if (answer.type !== 'success') {
      throw new VqsimError('POLICY_REQUEST', `policy ${this.name}: ${answer.errors.map(detail).join('; ')}`, 'host');
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      const e = diagnostics.errors[0]!;
      throw new VqsimError('POLICY_EVALUATION', `policy ${e.policyId}: ${e.error.message}`, 'user');
    }
    const result = { allowed: decision === 'allow', policies: [...diagnostics.reason].sort() };
    this.cache.set(key, result);
    return result;
  }
}

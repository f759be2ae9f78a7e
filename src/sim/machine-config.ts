// The plain-object configuration of a machine (createMachine), its defaults,
// and its checks: every mistake is one ConfigError naming the field's path and
// what is allowed, e.g. `devices[1].ring: "pakced" is not one of split, packed`.
import { DEVICE_LIES, type DeviceBehaviour } from '../trust/behaviour.js';
import { MAX_GUEST_RAM, GUEST_PAGE_SIZE } from '../../assembly/layout.js';
import { DMA_BACKEND_NAMES, type DmaBackendName } from '../dma/backends.js';
import { ENCRYPTION_MODELS, type EncryptionModel } from '../memory/guest-memory.js';
import { DEPLOYMENT_NAMES, DEPLOYMENTS, type DeploymentName } from './deployments.js';
import { ConfigError } from '../errors.js';
import type { RingKind } from '../virtqueue/queue.js';
import { POLICY_PRESETS, type TrustPolicy } from '../trust/policy/policy.js';

/** A TrustPolicy, without loading Cedar to ask instanceof. */
function isTrustPolicy(v: unknown): v is TrustPolicy {
  return typeof v === 'object' && v !== null && typeof (v as { decide?: unknown }).decide === 'function';
}

export const DEVICE_KINDS = ['net', 'blk', 'console'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];
export const TRANSPORT_KINDS = ['pci', 'mmio'] as const;
export type TransportKind = (typeof TRANSPORT_KINDS)[number];
export const RING_KINDS = ['split', 'packed'] as const satisfies readonly RingKind[];
export const NET_BACKENDS = ['loopback', 'sink', 'source'] as const;
export type NetBackendName = (typeof NET_BACKENDS)[number];
export const BLK_BACKENDS = ['memory', 'file'] as const;
export type BlkBackendName = (typeof BLK_BACKENDS)[number];
export const CONSOLE_BACKENDS = ['loopback', 'sink'] as const;
export type ConsoleBackendName = (typeof CONSOLE_BACKENDS)[number];

/** The largest in-memory blk store: it lives in the host area, below guest RAM (62 MiB, shared with the rest). */
export const BLK_MEMORY_MAX_BYTES = 48 << 20;

/** What every device of a machine is given. */
export interface DeviceConfigBase {
  /** The device's name: its stats blocks are "<name>.transport", "<name>.driver.vq0", ... Default kind + index: net0, blk0. */
  name?: string;
  /** 'pci' (virtio-pci modern, MSI-X) or 'mmio' (virtio-mmio v2). Default 'pci'. */
  transport?: TransportKind;
  /** 'split' or 'packed' (VIRTIO_F_RING_PACKED). Default 'split'. */
  ring?: RingKind;
  /** Queue size: 1 to 32768, a power of two for split rings. Default 256. */
  queueSize?: number;
  /** Negotiate VIRTIO_F_EVENT_IDX. Default true. */
  eventIdx?: boolean;
  /** The driver checks what the device says, as Linux does (default true); false trusts it. */
  hardened?: boolean;
  /** PCI vendor id, 0 to 0xffff (what a trust policy and a TDISP report see). Default 0x1af4 (virtio). */
  vendor?: number;
  /** Device revision, 0 to 255 (the PCI revision id; a TDISP report gives it too). Default 1. */
  revision?: number;
  /** TDISP: the measurement digest its report gives, 96 hex digits. Default: derived from its kind and revision. */
  measurement?: string;
  /**
   * The device model lies (src/trust/behaviour.ts): at one doorbell (`at`) or
   * at a seeded share of them (`rate`), about its used elements or ring
   * areas. Default: honest.
   */
  behaviour?: DeviceBehaviour;
}

export interface NetDeviceConfig extends DeviceConfigBase {
  kind: 'net';
  /** RX/TX queue pairs, 1 to 256. Default 1. */
  queues?: number;
  /**
   * loopback: TX frames come back on RX; sink: the device reads and drops
   * them (the guest only transmits); source: the device delivers frames of
   * packetBytes (the guest only receives). Default loopback.
   */
  backend?: NetBackendName;
  /** Frame size without the virtio header, 14 to 65535 (the MTU is at least this). Default 1500. */
  packetBytes?: number;
  /** Negotiate VIRTIO_NET_F_MRG_RXBUF. Default true. */
  mergeable?: boolean;
}

export interface BlkDeviceConfig extends DeviceConfigBase {
  kind: 'blk';
  /** Request queues, 1 to 256. Default 1. */
  queues?: number;
  /** memory: a store in the host area; file: a real file at `path`. Default memory. */
  backend?: BlkBackendName;
  /** Store size in bytes, a multiple of 512 (memory: at most 48 MiB). Default 32 MiB; file: the file's size. */
  capacityBytes?: number;
  /** The file of the file backend (created when missing). */
  path?: string;
  /** Requests in flight per queue the workloads keep (guest RAM is sized for it), 1 to queueSize. Default min(64, queueSize). */
  depth?: number;
  /** Largest request's data in bytes, a multiple of 512 up to 16 MiB. Default 128 KiB. */
  maxIoBytes?: number;
  /** Offer VIRTIO_BLK_F_RO. Default false. */
  readOnly?: boolean;
}

export interface ConsoleDeviceConfig extends DeviceConfigBase {
  kind: 'console';
  /** One port: a receive and a transmit queue. Only 1. */
  queues?: 1;
  /** loopback: what the guest writes comes back; sink: the host collects it. Default loopback. */
  backend?: ConsoleBackendName;
}

export type DeviceConfig = NetDeviceConfig | BlkDeviceConfig | ConsoleDeviceConfig;

/** A machine as a plain object: what createMachine builds. */
export interface MachineConfig {
  /** Guest RAM in bytes, a multiple of 4096 from 64 KiB to 4032 MiB. Default: sized to fit the devices. */
  memory?: number;
  /**
   * The deployment (src/sim/deployments.ts: traditional, vhost-user, vduse,
   * hardware, cvm, cvm-tdisp): picks what `dma` and `encryption` may be and
   * their defaults. Default: none, any backend, no encryption.
   */
  deployment?: DeploymentName;
  /** The guest's DMA backend (src/dma/backends.ts). Default 'direct', or the deployment's. */
  dma?: DmaBackendName;
  /**
   * cvm-tdisp: the measurement digests the guest accepts (96 hex digits
   * each). Default: every attested device is accepted. createMachine's
   * `acceptDevice` option overrides it.
   */
  acceptMeasurements?: string[];
  /**
   * The memory-encryption model (ENCRYPTION_MODELS: none, sev, sev-snp, tdx):
   * what a device sees of a private page. Default 'none'.
   */
  encryption?: EncryptionModel;
  devices: DeviceConfig[];
  /**
   * The trust policy (src/trust/policy): a preset name (traditional,
   * tdx-default, tdisp-strict), a Cedar policy file path, or a TrustPolicy.
   * It decides how each device attaches (trusted: direct DMA; untrusted: the
   * deployment's bounce or IOMMU backend, swiotlb where the deployment has
   * none; or refused), which features are negotiated, and the reaction to a
   * violation (machine.react). Default: none, every device attaches as the
   * deployment says.
   */
  policy?: string | TrustPolicy;
  /**
   * Guest CPUs, 1 to 1024: a multiqueue driver uses at most one queue (pair)
   * per CPU, whatever the device offers, as Linux does. Default: 4, or the
   * most queues a device of this config is given if that is more.
   */
  cpus?: number;
  /** Seed of every random choice the machine's workloads make, 0 to 2^32 − 1. Default 1. */
  seed?: number;
}

type Common = Required<Omit<DeviceConfigBase, 'name' | 'measurement' | 'behaviour'>> & {
  name: string;
  index: number;
  path: string;
  measurement: string | undefined;
  behaviour: DeviceBehaviour | undefined;
};
export type ResolvedNet = Common & Required<Omit<NetDeviceConfig, keyof DeviceConfigBase>>;
export type ResolvedBlk = Common &
  Required<Omit<BlkDeviceConfig, keyof DeviceConfigBase | 'capacityBytes' | 'path'>> & {
    capacityBytes: number | undefined;
    file: string | undefined;
  };
export type ResolvedConsole = Common & Required<Omit<ConsoleDeviceConfig, keyof DeviceConfigBase>>;
export type ResolvedDevice = ResolvedNet | ResolvedBlk | ResolvedConsole;

/** A machine config with every default filled in and every field checked. */
export interface ResolvedMachineConfig {
  memory: number | undefined;
  deployment: DeploymentName | undefined;
  dma: DmaBackendName;
  encryption: EncryptionModel;
  acceptMeasurements: string[] | undefined;
  policy: string | TrustPolicy | undefined;
  seed: number;
  cpus: number;
  devices: ResolvedDevice[];
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function fail(path: string, message: string): never {
  throw new ConfigError(`${path}: ${message}`);
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(path, `${show(v)} is not one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function int(path: string, v: unknown, min: number, max: number, fallback: number, rule = ''): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `${show(v)} is not a whole number from ${min} to ${max}${rule}`);
  }
  return v;
}

function bool(path: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(path, `${show(v)} is not true or false`);
  return v;
}

function plainObject(path: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `${show(v)} is not an object`);
  return v as Record<string, unknown>;
}

function onlyKeys(path: string, o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(`${path}.${k}`, `not an option of ${what} (options: ${allowed.join(', ')})`);
  }
}

const COMMON_KEYS = [
  'kind',
  'name',
  'transport',
  'ring',
  'queues',
  'queueSize',
  'eventIdx',
  'hardened',
  'backend',
  'vendor',
  'revision',
  'measurement',
  'behaviour',
];
const KEYS: Record<DeviceKind, readonly string[]> = {
  net: [...COMMON_KEYS, 'packetBytes', 'mergeable'],
  blk: [...COMMON_KEYS, 'capacityBytes', 'path', 'depth', 'maxIoBytes', 'readOnly'],
  console: COMMON_KEYS,
};
const MACHINE_KEYS = [
  'memory',
  'deployment',
  'dma',
  'encryption',
  'acceptMeasurements',
  'policy',
  'devices',
  'seed',
  'cpus',
];

function resolveDevice(d: unknown, index: number, counts: Map<DeviceKind, number>, names: Map<string, string>) {
  const path = `devices[${index}]`;
  const o = plainObject(path, d);
  if (o.kind === undefined) fail(`${path}.kind`, `missing: one of ${DEVICE_KINDS.join(', ')}`);
  const kind = oneOf(`${path}.kind`, o.kind, DEVICE_KINDS, 'net');
  onlyKeys(path, o, KEYS[kind], `a ${kind} device`);
  const nth = counts.get(kind) ?? 0;
  counts.set(kind, nth + 1);
  let name = `${kind}${nth}`;
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,23}$/.test(o.name)) {
      fail(`${path}.name`, `${show(o.name)} is not a letter then up to 23 letters, digits, _ or -`);
    }
    name = o.name;
  }
  const clash = names.get(name);
  if (clash !== undefined) fail(`${path}.name`, `${show(name)} is already the name of ${clash}`);
  names.set(name, path);
  const ring = oneOf(`${path}.ring`, o.ring, RING_KINDS, 'split');
  const queueSize = int(`${path}.queueSize`, o.queueSize, 1, 32768, 256);
  if (ring === 'split' && (queueSize & (queueSize - 1)) !== 0) {
    fail(`${path}.queueSize`, `${queueSize} is not a power of two (a split ring's size must be, from 1 to 32768)`);
  }
  const common = {
    name,
    index,
    path,
    transport: oneOf(`${path}.transport`, o.transport, TRANSPORT_KINDS, 'pci'),
    ring,
    queueSize,
    eventIdx: bool(`${path}.eventIdx`, o.eventIdx, true),
    hardened: bool(`${path}.hardened`, o.hardened, true),
    vendor: int(`${path}.vendor`, o.vendor, 0, 0xffff, 0x1af4),
    revision: int(`${path}.revision`, o.revision, 0, 255, 1),
    measurement: o.measurement === undefined ? undefined : digest(`${path}.measurement`, o.measurement),
    behaviour: o.behaviour === undefined ? undefined : behaviour(`${path}.behaviour`, o.behaviour),
  };
  if (kind === 'net') {
    const r: ResolvedNet = {
      ...common,
      kind,
      queues: int(`${path}.queues`, o.queues, 1, 256, 1),
      backend: oneOf(`${path}.backend`, o.backend, NET_BACKENDS, 'loopback'),
      packetBytes: int(`${path}.packetBytes`, o.packetBytes, 14, 65535, 1500),
      mergeable: bool(`${path}.mergeable`, o.mergeable, true),
    };
    return r;
  }
  if (kind === 'blk') {
    const backend = oneOf(`${path}.backend`, o.backend, BLK_BACKENDS, 'memory');
    const sectors = ' bytes, a multiple of 512';
    const capacityBytes =
      o.capacityBytes === undefined && backend === 'file'
        ? undefined
        : int(
            `${path}.capacityBytes`,
            o.capacityBytes,
            512,
            backend === 'memory' ? BLK_MEMORY_MAX_BYTES : Number.MAX_SAFE_INTEGER,
            32 << 20,
            sectors,
          );
    if (capacityBytes !== undefined && capacityBytes % 512 !== 0) {
      fail(`${path}.capacityBytes`, `${capacityBytes} is not a multiple of 512`);
    }
    let file: string | undefined;
    if (backend === 'file') {
      if (typeof o.path !== 'string' || o.path === '')
        fail(`${path}.path`, `${show(o.path)}: the file backend needs a path`);
      file = o.path;
    } else if (o.path !== undefined) fail(`${path}.path`, 'only the file backend takes a path');
    const maxIoBytes = int(`${path}.maxIoBytes`, o.maxIoBytes, 512, 16 << 20, 128 << 10, sectors);
    if (maxIoBytes % 512 !== 0) fail(`${path}.maxIoBytes`, `${maxIoBytes} is not a multiple of 512`);
    const r: ResolvedBlk = {
      ...common,
      kind,
      queues: int(`${path}.queues`, o.queues, 1, 256, 1),
      backend,
      capacityBytes,
      file,
      depth: int(`${path}.depth`, o.depth, 1, queueSize, Math.min(64, queueSize), ' (the queue size)'),
      maxIoBytes,
      readOnly: bool(`${path}.readOnly`, o.readOnly, false),
    };
    return r;
  }
  const r: ResolvedConsole = {
    ...common,
    kind,
    queues: int(`${path}.queues`, o.queues, 1, 1, 1, ' (one port)') as 1,
    backend: oneOf(`${path}.backend`, o.backend, CONSOLE_BACKENDS, 'loopback'),
  };
  return r;
}

/** A measurement digest: 96 hex digits (48 bytes, SHA-384 sized). */
function digest(path: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{96}$/.test(v))
    fail(path, `${show(v)} is not 96 hex digits (a 48-byte digest)`);
  return v.toLowerCase();
}

/** The deployment, and the DMA backend and encryption model it allows (with their defaults). */
function deploymentChoices(o: Record<string, unknown>) {
  const name =
    o.deployment === undefined ? undefined : oneOf('deployment', o.deployment, DEPLOYMENT_NAMES, 'traditional');
  const dep = name === undefined ? undefined : DEPLOYMENTS[name];
  const dmaAllowed: readonly DmaBackendName[] = dep?.dma ?? DMA_BACKEND_NAMES;
  const encAllowed: readonly EncryptionModel[] = dep?.encryption ?? ENCRYPTION_MODELS;
  const forDep = name === undefined ? '' : ` (deployment ${name})`;
  const dma = oneOf('dma', o.dma, DMA_BACKEND_NAMES, dmaAllowed[0]!);
  if (!dmaAllowed.includes(dma)) fail('dma', `"${dma}" is not one of ${dmaAllowed.join(', ')}${forDep}`);
  const encryption = oneOf('encryption', o.encryption, ENCRYPTION_MODELS, dep ? encAllowed[0]! : 'none');
  if (!encAllowed.includes(encryption)) {
    fail('encryption', `"${encryption}" is not one of ${encAllowed.join(', ')}${forDep}`);
  }
  let acceptMeasurements: string[] | undefined;
  if (o.acceptMeasurements !== undefined) {
    if (!dep || !('tdisp' in dep)) fail('acceptMeasurements', 'only the cvm-tdisp deployment accepts devices');
    if (!Array.isArray(o.acceptMeasurements)) fail('acceptMeasurements', 'not a list of measurement digests');
    acceptMeasurements = o.acceptMeasurements.map((m, i) => digest(`acceptMeasurements[${i}]`, m));
  }
  return { deployment: name, dma, encryption, acceptMeasurements };
}

/** Checks a machine config and fills in its defaults; throws a ConfigError naming the first bad field. */
export function resolveMachineConfig(config: unknown): ResolvedMachineConfig {
  const o = plainObject('machine config', config);
  onlyKeys('machine config', o, MACHINE_KEYS, 'a machine');
  let memory: number | undefined;
  if (o.memory !== undefined) {
    memory = int('memory', o.memory, 0x10000, MAX_GUEST_RAM, 0, ' bytes');
    if (memory % GUEST_PAGE_SIZE !== 0) fail('memory', `${memory} is not a multiple of 4096`);
  }
  if (!Array.isArray(o.devices)) fail('devices', `${show(o.devices)} is not a list of devices`);
  const counts = new Map<DeviceKind, number>();
  const names = new Map<string, string>();
  const devices = (o.devices as unknown[]).map((d, i) => resolveDevice(d, i, counts, names));
  const policy = o.policy;
  if (policy !== undefined && !(typeof policy === 'string' && policy !== '') && !isTrustPolicy(policy)) {
    fail(
      'policy',
      `${show(policy)} is not a preset name (${POLICY_PRESETS.join(', ')}), a policy file or a TrustPolicy`,
    );
  }
  return {
    memory,
    ...deploymentChoices(o),
    policy,
    seed: int('seed', o.seed, 0, 0xffffffff, 1),
    cpus: int('cpus', o.cpus, 1, 1024, Math.max(4, ...devices.map((d) => d.queues))),
    devices,
  };
}

/** Guest RAM a device's driver and workloads need (the formulas the per-kind builders used). */
export function guestBytesFor(d: ResolvedDevice): number {
  if (d.kind === 'net') {
    const frameBuf = 12 + Math.max(1500, d.packetBytes) + 18;
    return d.queues * d.queueSize * (frameBuf + 4096 + 1536 + 256) * 2;
  }
  if (d.kind === 'blk') return d.queues * (d.depth * d.maxIoBytes + d.queueSize * 4096) + d.maxIoBytes;
  return 2 * d.queueSize * 4096 * 2;
}

/** Guest RAM a machine of `devices` gets by default: what they need and 16 MiB, in whole MiB. */
export function defaultGuestBytes(devices: ResolvedDevice[]): number {
  const need = devices.reduce((s, d) => s + guestBytesFor(d), 16 << 20);
  const bytes = Math.ceil(need / (1 << 20)) * (1 << 20);
  if (bytes > MAX_GUEST_RAM) {
    fail('memory', `these devices need ${bytes} bytes of guest RAM, more than a machine holds (${MAX_GUEST_RAM})`);
  }
  return bytes;
}

/** A device behaviour: `lie` one of DEVICE_LIES, and `at` (a doorbell, from 1) or `rate` (0 to 1), `seed` optional. */
function behaviour(path: string, v: unknown): DeviceBehaviour {
  const o = plainObject(path, v);
  onlyKeys(path, o, ['side', 'lie', 'at', 'rate', 'seed'], 'a behaviour');
  const side = oneOf(`${path}.side`, o.side, ['device', 'driver'] as const, 'device');
  if (o.lie === undefined) fail(`${path}.lie`, `missing: one of ${DEVICE_LIES.join(', ')}`);
  const lie = oneOf(`${path}.lie`, o.lie, DEVICE_LIES, 'mix');
  if ((o.at === undefined) === (o.rate === undefined))
    fail(path, 'give one of at (a doorbell, from 1) or rate (0 to 1)');
  if (side === 'driver' && lie !== 'ring' && lie !== 'mix') {
    fail(`${path}.lie`, `${show(lie)}: a driver lies about its ring (ring or mix); used elements are the device's`);
  }
  const out: DeviceBehaviour = { side, lie };
  if (o.at !== undefined) out.at = int(`${path}.at`, o.at, 1, 2 ** 31, 1);
  if (o.rate !== undefined) {
    if (typeof o.rate !== 'number' || !(o.rate >= 0 && o.rate <= 1))
      fail(`${path}.rate`, `${show(o.rate)} is not a number from 0 to 1`);
    out.rate = o.rate;
  }
  if (o.seed !== undefined) out.seed = int(`${path}.seed`, o.seed, 0, 0xffffffff, 1);
  return out;
}

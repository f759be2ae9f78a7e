// One machine builder: guest memory, a DMA API per device over the chosen
// backend, each device model behind its transport, and the hardened guest
// driver probed through that transport (Linux's virtio_dev_probe), all from a
// plain object (MachineConfig). Every counter of the machine lands in the stats
// registry of its memory under the device's name:
//
//   <name>.transport        transport   register and config accesses, notifications, interrupts
//   <name>.dma-api          dma-api     the driver's maps, unmaps, syncs
//   <name>.driver.vq<i>     ring        the driver's queue i (driver counters)
//   <name>.device.vq<i>     ring        the device's face of queue i (device counters)
//   <name>.device           net, console  device-wide counters
//   <name>.device.pair<i>   net-pair    virtio-net queue pair i
//   <name>.device.q<i>      blk         virtio-blk queue i's server
//
// machine.stats() reads them all by name, as any thread attached to the memory can.
import { DmaApi } from '../dma/api.js';
import { SWIOTLB_DEFAULT_BYTES, Swiotlb } from '../dma/swiotlb.js';
import { createHash } from 'node:crypto';
import { ConfigError, VqsimError } from '../errors.js';
import { applyBehaviour, type LieRecord } from '../trust/behaviour.js';
import { COST_PROFILES, modelCycles, profileFor, type CostModel, type ModeledCycles } from './cost.js';
import { eventTotals, type EventTotals } from './per-op.js';
import { TdispInterface, type TdispAcceptor, type TdispReport } from '../trust/tdisp.js';
import { DEPLOYMENTS, type DeploymentName } from './deployments.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { readStatsRegistry, type StatsRecord } from '../memory/stats-registry.js';
import { VirtioPciTransport } from '../transport/pci.js';
import { VirtioMmioTransport } from '../transport/mmio.js';
import { MmioDriverAccess, PciDriverAccess, type TransportAccess } from '../drivers/transport-access.js';
import { Feature } from '../spec/features.js';
import type { RingKind } from '../virtqueue/queue.js';
import { VirtioNetDevice } from '../devices/net/device.js';
import { VirtioNetDriver } from '../drivers/net/driver.js';
import { BlkDevice } from '../devices/blk/device.js';
import { FileBackend, MemoryBackend, type BlkBackend } from '../devices/blk/backend.js';
import { BlkDriver } from '../drivers/blk/driver.js';
import { ConsoleDevice } from '../devices/console/device.js';
import { CONSOLE_DRIVER_FEATURES, ConsoleDriver } from '../drivers/console/driver.js';
import type { DmaBackendName } from '../dma/backends.js';
import { setFeaturePolicy } from '../drivers/probe.js';
import { violationOf } from '../trust/catalogue/index.js';
import { PolicyGate, type AttachDecision, type Decision } from '../trust/policy/gate.js';
import { TrustPolicy, type DeviceFacts, type Reaction } from '../trust/policy/policy.js';
import {
  defaultGuestBytes,
  resolveMachineConfig,
  type BlkBackendName,
  type ConsoleBackendName,
  type DeviceConfig,
  type DeviceKind,
  type MachineConfig,
  type NetBackendName,
  type ResolvedBlk,
  type ResolvedConsole,
  type ResolvedDevice,
  type ResolvedMachineConfig,
  type ResolvedNet,
} from './machine-config.js';

/** What every device of a machine has: its memory, DMA API, transport and the driver's access to it. */
export interface MachineDeviceBase<K extends DeviceKind> {
  kind: K;
  /** The device's name (net0, blk0, ...): the prefix of its stats blocks. */
  name: string;
  mem: GuestMemory;
  /** The guest DMA API its driver maps through. */
  dma: DmaApi;
  /** What the device lied about, doorbell by doorbell, when its config gave it a `behaviour`. */
  lies?: LieRecord[];
  /** cvm-tdisp: the device's TDISP interface (RUN when the guest accepted it, else CONFIG_LOCKED). */
  tdisp?: TdispInterface;
  transport: VirtioPciTransport | VirtioMmioTransport;
  /** The guest driver's access to the transport. */
  access: TransportAccess;
  ring: RingKind;
}

/** A virtio-net device and its hardened driver. */
export interface NetMachineDevice extends MachineDeviceBase<'net'> {
  device: VirtioNetDevice;
  driver: VirtioNetDriver;
  backend: NetBackendName;
  /** Frame size the workloads send (without the virtio header). */
  packetBytes: number;
}

/** A virtio-blk device over its store, and its hardened driver. */
export interface BlkMachineDevice extends MachineDeviceBase<'blk'> {
  device: BlkDevice;
  driver: BlkDriver;
  backend: BlkBackendName;
  /** The backing store (memory or file). */
  store: BlkBackend;
  /** Requests in flight per queue the workloads keep. */
  depth: number;
  maxIoBytes: number;
}

/** A virtio-console device (one port) and its driver. */
export interface ConsoleMachineDevice extends MachineDeviceBase<'console'> {
  device: ConsoleDevice;
  driver: ConsoleDriver;
  backend: ConsoleBackendName;
}

export type MachineDevice = NetMachineDevice | BlkMachineDevice | ConsoleMachineDevice;

type DeviceOf<K extends DeviceKind> = Extract<MachineDevice, { kind: K }>;

/** A device the trust policy kept out of the machine. */
export interface RefusedDevice {
  name: string;
  kind: DeviceKind;
  /** What the policy denied. */
  reason: string;
  /** The policies behind the refusal (none: nothing permitted it). */
  policies: string[];
}

/** What machine.react did about a violation. */
export interface ReactionResult {
  reaction: Reaction;
  /** The policies that chose it (none: nothing permitted a reaction, so 'continue'). */
  policies: string[];
  /** The catalogue id of the violation. */
  violation: string;
}

/**
 * The policy's panic reaction: the machine is closed. Code POLICY_PANIC; the
 * side is the violation's (who committed what the guest panicked on); the
 * violation's error is the `cause`.
 */
export class PolicyPanic extends VqsimError {
  constructor(message: string, side: 'driver' | 'device', cause: unknown) {
    super('POLICY_PANIC', message, side);
    this.name = 'PolicyPanic';
    this.cause = cause;
  }
}

/** A machine built by createMachine. */
export interface Machine {
  readonly mem: GuestMemory;
  /** The config as built: every default filled in. */
  readonly config: ResolvedMachineConfig;
  readonly dmaBackend: DmaBackendName;
  /** The deployment the config named, if any. */
  readonly deployment: DeploymentName | undefined;
  readonly seed: number;
  readonly devices: readonly MachineDevice[];
  /** The trust policy the config named (undefined: none). */
  readonly policy: TrustPolicy | undefined;
  /** Devices of the config the policy refused: not built, not in `devices`. */
  readonly refused: readonly RefusedDevice[];
  /** Every policy decision so far (attach, feature, hotplug, violation), oldest first, with the policies behind it. */
  decisions(): Decision[];
  /**
   * The policy's reaction to a violation `device` committed (`error`: the
   * catalogue violation a check raised), carried out: 'continue' leaves the
   * device as the check left it; 'reset_device' resets it and probes its
   * driver again; 'detach_device' removes it from `devices`; 'panic' closes
   * the machine and throws PolicyPanic. Without a policy: 'continue'. An
   * error that is no catalogue violation is thrown back.
   */
  react(error: unknown, device: string): ReactionResult;
  /**
   * Asks the policy whether a device may be hotplugged and how it would
   * attach (use_transport, hotplug, attach_trusted, attach_untrusted with
   * hotplugged = true), and records the answer. Without a policy: untrusted
   * unless the deployment's DMA is direct.
   */
  hotplugDecision(device: DeviceConfig): AttachDecision;
  /**
   * PCI hotplug: a device arrives at run time. The policy decides as at boot
   * (use_transport, hotplug, then attach_trusted or attach_untrusted, with
   * hotplugged = true); a refused device is added to `refused` and
   * undefined returned. Otherwise it is built, probed and added to
   * `devices`, named as its config says or `<kind><n>`. virtio-pci only
   * (virtio-mmio has no hotplug); the machine's `memory` must have room for it.
   */
  hotplug(device: DeviceConfig): MachineDevice | undefined;
  /**
   * PCI hot-unplug of device `name`. Orderly (the default): the driver lets
   * the device complete what it was given, resets it and removes it.
   * `surprise`: the function leaves the bus first (its registers read all
   * ones, it raises no interrupt and reaches no memory), then the driver
   * removes it without a reset. Either way the requests still in flight end
   * with an I/O error (blk: VIRTIO_BLK_S_IOERR, handed to the next reap()),
   * no acknowledged write is lost, and an interrupt the device raises while
   * it is removed is ignored and counted (irqNotReady). Returns the
   * requests failed.
   */
  unplug(name: string, options?: { surprise?: boolean }): { failed: number };
  /** The device called `name`; a ConfigError naming the devices there are otherwise. */
  device(name: string): MachineDevice;
  /** The `index`-th device of a kind (default the first). */
  net(index?: number): NetMachineDevice;
  blk(index?: number): BlkMachineDevice;
  console(index?: number): ConsoleMachineDevice;
  /**
   * The modeled cost of everything the machine did so far (or since
   * `since`, a snapshot of eventTotals): the counted events turned into
   * cycles by `model` (default: the profile of the machine's encryption).
   */
  modeledCost(model?: CostModel, since?: EventTotals): ModeledCycles & { events: EventTotals };
  /** Every stats block of the machine, by name, read now (rings, DMA API, transports, devices). */
  stats(): Record<string, StatsRecord>;
  /** Removes every device as its driver would (reset; net unmaps its buffers) and closes the stores. Idempotent. */
  close(): void;
}

export interface CreateMachineOptions {
  /** The compiled Wasm core (a worker gets it from its parent). Default: compile build/vqsim.wasm once. */
  module?: WebAssembly.Module;
  /**
   * cvm-tdisp: the guest's verdict on each device's TDISP report. Default:
   * the config's acceptMeasurements, or every device when it lists none.
   */
  acceptDevice?: TdispAcceptor;
}

/** Virtio device ids (VIRTIO 1.2 §5): the modern PCI device id is 0x1040 plus these. */
const VIRTIO_IDS: Record<DeviceKind, number> = { net: 1, blk: 2, console: 3 };

/** The interface report a device presents under TDISP: its identity and measurement. */
export function tdispIdentity(d: ResolvedDevice): TdispReport {
  return {
    vendor: d.vendor,
    device: 0x1040 + VIRTIO_IDS[d.kind],
    revision: d.revision,
    // A stand-in for the device's firmware measurement: the same kind and revision measure the same.
    measurement: d.measurement ?? createHash('sha384').update(`vqsim-${d.kind}-rev${d.revision}`).digest('hex'),
  };
}

/** The features the guest's policy lets a device's driver accept (undefined: no policy). */
type FeatureFilter = ((features: bigint) => bigint) | undefined;

function transportFor(
  mem: GuestMemory,
  d: ResolvedDevice,
  model: VirtioNetDevice | BlkDevice | ConsoleDevice,
  filter: FeatureFilter,
  cpus: number,
): { transport: VirtioPciTransport | VirtioMmioTransport; access: TransportAccess } {
  const stats = { host: mem, name: `${d.name}.transport` };
  const opts = {
    name: `${d.name}.driver`,
    hardened: d.hardened,
    cpus,
    stats: { host: mem, name: `${d.name}.driver.transport` },
  };
  let out: { transport: VirtioPciTransport | VirtioMmioTransport; access: TransportAccess };
  if (d.transport === 'pci') {
    const transport = new VirtioPciTransport(model, { stats });
    out = { transport, access: new PciDriverAccess(transport, opts) };
  } else {
    const transport = new VirtioMmioTransport(model, { stats });
    out = { transport, access: new MmioDriverAccess(transport, opts) };
  }
  setFeaturePolicy(out.access, filter);
  return out;
}

/** The Vqsim::Device entity of a configured device (src/trust/policy/presets/vqsim.cedarschema). */
export function deviceFacts(d: ResolvedDevice, report: TdispReport | undefined, hotplugged = false): DeviceFacts {
  const pci = d.transport === 'pci';
  return {
    name: d.name,
    kind: d.kind,
    vendor: d.vendor,
    // Modern virtio-pci: 0x1040 + the virtio id; virtio-mmio's DeviceID register holds the virtio id.
    deviceId: pci ? 0x1040 + VIRTIO_IDS[d.kind] : VIRTIO_IDS[d.kind],
    revision: d.revision,
    transport: d.transport,
    // Slots from 00:03.0 as QEMU's q35 fills them; MMIO windows 0x200 apart from 0x0a000000 as QEMU's virt machine.
    bus: pci
      ? `0000:00:${(3 + d.index).toString(16).padStart(2, '0')}.0`
      : `mmio@0x${(0x0a000000 + 0x200 * d.index).toString(16)}`,
    // The guest locked the interface (CONFIG_LOCKED) and read its report before it decides.
    tdisp: report ? 'CONFIG_LOCKED' : 'none',
    measurement: report?.measurement ?? '',
    attested: report !== undefined,
    hotplugged,
  };
}

/** The feature bits a blk or console driver asks for: all it knows, less what the config turns off. */
function ringFeatures(all: bigint, d: ResolvedDevice): bigint {
  let f = all;
  if (d.ring === 'split') f &= ~(1n << BigInt(Feature.RING_PACKED));
  if (!d.eventIdx) f &= ~(1n << BigInt(Feature.EVENT_IDX));
  return f;
}

function probeNet(access: TransportAccess, mem: GuestMemory, dma: DmaApi, d: ResolvedNet): VirtioNetDriver {
  return VirtioNetDriver.probe(access, mem, dma, {
    ring: d.ring,
    mergeable: d.mergeable,
    eventIdx: d.eventIdx,
    queueSize: d.queueSize,
    hardened: d.hardened,
  });
}

function probeBlk(access: TransportAccess, mem: GuestMemory, dma: DmaApi, d: ResolvedBlk): BlkDriver {
  return BlkDriver.probe(access, mem, dma, {
    features: ringFeatures(BlkDriver.ALL_FEATURES, d),
    queueSize: d.queueSize,
    maxIoBytes: d.maxIoBytes,
    hardened: d.hardened,
  });
}

function probeConsole(access: TransportAccess, mem: GuestMemory, dma: DmaApi, d: ResolvedConsole): ConsoleDriver {
  return ConsoleDriver.probe(access, mem, dma, {
    features: ringFeatures(CONSOLE_DRIVER_FEATURES, d),
    queueSize: d.queueSize,
    hardened: d.hardened,
  });
}

/**
 * The policy's reset_device: the driver lets go of the device (reset, and
 * net unmaps its buffers) and probes it again from scratch over the same
 * transport and DMA API, as Linux's virtio_device_reset_prepare/done pair.
 */
function reprobe(m: MachineDevice, d: ResolvedDevice): void {
  remove(m);
  if (m.kind === 'net' && d.kind === 'net') m.driver = probeNet(m.access, m.mem, m.dma, d);
  else if (m.kind === 'blk' && d.kind === 'blk') m.driver = probeBlk(m.access, m.mem, m.dma, d);
  else if (m.kind === 'console' && d.kind === 'console') m.driver = probeConsole(m.access, m.mem, m.dma, d);
}

function buildNet(
  mem: GuestMemory,
  dma: DmaApi,
  d: ResolvedNet,
  filter: FeatureFilter,
  cpus: number,
): NetMachineDevice {
  const device = new VirtioNetDevice(dma.deviceView(), {
    name: `${d.name}.device`,
    queuePairs: d.queues,
    mtu: Math.max(1500, d.packetBytes),
    maxQueueSize: d.queueSize,
    backend: d.backend === 'source' ? { kind: 'source', packetBytes: d.packetBytes } : { kind: d.backend },
  });
  const { transport, access } = transportFor(mem, d, device, filter, cpus);
  const driver = probeNet(access, mem, dma, d);
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend, packetBytes: d.packetBytes };
}

function buildBlk(
  mem: GuestMemory,
  dma: DmaApi,
  d: ResolvedBlk,
  opened: BlkBackend[],
  filter: FeatureFilter,
  cpus: number,
): BlkMachineDevice {
  const view = dma.deviceView();
  const store =
    d.backend === 'memory'
      ? MemoryBackend.create(view, d.capacityBytes!)
      : new FileBackend((at, len) => view.bytesAt(at, len), d.file!, d.capacityBytes);
  opened.push(store);
  const device = new BlkDevice(view, store, {
    name: `${d.name}.device`,
    queues: d.queues,
    maxQueueSize: d.queueSize,
    readOnly: d.readOnly,
  });
  const { transport, access } = transportFor(mem, d, device, filter, cpus);
  const driver = probeBlk(access, mem, dma, d);
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend, store, depth: d.depth, maxIoBytes: d.maxIoBytes };
}

function buildConsole(
  mem: GuestMemory,
  dma: DmaApi,
  d: ResolvedConsole,
  filter: FeatureFilter,
  cpus: number,
): ConsoleMachineDevice {
  const device = new ConsoleDevice(dma.deviceView(), {
    name: `${d.name}.device`,
    backend: d.backend,
    maxQueueSize: d.queueSize,
  });
  const { transport, access } = transportFor(mem, d, device, filter, cpus);
  const driver = probeConsole(access, mem, dma, d);
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend };
}

/** The driver lets go of its device and frees what it allocated (surprise: the device is already gone); returns the requests failed. */
function remove(d: MachineDevice, surprise = false): number {
  if (d.kind === 'blk') return d.driver.removed ? 0 : d.driver.remove({ surprise });
  d.driver.remove({ surprise });
  return 0;
}

/**
 * Builds a machine from a plain object: guest memory (sized to fit unless
 * `memory` says), then for each device a DMA API over the `dma` backend, the
 * device model, its transport, and the hardened driver probed through it.
 * A bad config is one ConfigError naming the field (`devices[1].ring: "pakced"
 * is not one of split, packed`); a device that fails to come up is the
 * driver's or transport's named error, and whatever was built is closed.
 */
export function createMachine(config: MachineConfig, options: CreateMachineOptions = {}): Machine {
  const cfg = resolveMachineConfig(config);
  const policy =
    typeof cfg.policy === 'string'
      ? TrustPolicy.load(cfg.policy, { measurements: cfg.acceptMeasurements })
      : (cfg.policy as TrustPolicy | undefined);
  const gate = policy && new PolicyGate(policy, { deployment: cfg.deployment ?? 'none', encryption: cfg.encryption });
  const tdisp = cfg.deployment !== undefined && 'tdisp' in DEPLOYMENTS[cfg.deployment];
  // In a CVM only a TDISP interface the guest accepted may reach private memory.
  const confidential = cfg.deployment === 'cvm' || cfg.deployment === 'cvm-tdisp';
  const accept: TdispAcceptor =
    options.acceptDevice ??
    ((r) => cfg.acceptMeasurements === undefined || cfg.acceptMeasurements.includes(r.measurement));
  const refused: RefusedDevice[] = [];
  const facts = new Map<string, DeviceFacts>();
  // Each device's way in, decided before guest memory is sized (a bounced device needs the pool).
  const admit = (d: ResolvedDevice, hotplugged: boolean) => {
    // cvm-tdisp: the guest locks the device's interface and checks its report
    // before the driver binds; an accepted device DMAs directly into private
    // memory (no bouncing), the others bounce as in a plain CVM.
    const report = tdisp ? tdispIdentity(d) : undefined;
    if (!gate) {
      const accepted = report !== undefined && accept(report);
      const backend: DmaBackendName = accepted ? 'direct' : cfg.dma;
      const decision: AttachDecision = {
        mode: backend === 'direct' ? 'trusted' : 'untrusted',
        reason: 'no policy: as the deployment says',
        policies: [],
      };
      return { d, report, accepted, backend, decision, facts: deviceFacts(d, report, hotplugged) };
    }
    const f = deviceFacts(d, report, hotplugged);
    let accepted = false;
    const decision = gate.attach(f, () => {
      if (!confidential) return true;
      accepted = report !== undefined && accept(report);
      return accepted;
    });
    // Untrusted: the deployment's bounce or IOMMU backend; where it has none
    // (direct DMA), swiotlb, as Linux bounces an untrusted PCI device's DMA
    // (dev_use_swiotlb, drivers/iommu/dma-iommu.c).
    const backend: DmaBackendName = decision.mode === 'trusted' ? 'direct' : cfg.dma === 'direct' ? 'swiotlb' : cfg.dma;
    return { d, report, accepted, backend, decision, facts: f };
  };
  const plans: ReturnType<typeof admit>[] = [];
  for (const d of cfg.devices) {
    const plan = admit(d, false);
    if (plan.decision.mode === 'refused') {
      const { reason, policies } = plan.decision;
      refused.push({ name: d.name, kind: d.kind, reason, policies });
    } else plans.push(plan);
  }
  const bounce = plans.some((p) => p.backend === 'swiotlb');
  const size = cfg.memory ?? defaultGuestBytes(plans.map((p) => p.d)) + (bounce ? SWIOTLB_DEFAULT_BYTES : 0);
  const mem = new GuestMemory({ size, module: options.module, encryption: cfg.encryption, key: cfg.seed });
  // One bounce pool for every device (Linux's io_tlb_default_mem): 64 MiB
  // in the RAM added for it, or fitted into RAM the config sized itself.
  if (bounce) Swiotlb.forMemory(mem, cfg.memory === undefined ? {} : { fit: true });
  const devices: MachineDevice[] = [];
  const opened: BlkBackend[] = [];
  const build = ({ d, report, accepted, backend, facts: f }: ReturnType<typeof admit>): MachineDevice => {
    const dma = new DmaApi(mem, { backend, track: true, name: `${d.name}.dma-api` });
    let iface: TdispInterface | undefined;
    if (report) {
      iface = new TdispInterface(report, dma.backend.context);
      iface.lock();
      iface.acceptAndStart(() => accepted);
    }
    facts.set(d.name, f);
    // The policy's feature answers, asked before FEATURES_OK (a refused packed ring leaves the split ring).
    let packedMasked = false;
    const filter: FeatureFilter =
      gate &&
      ((features) => {
        const out = gate.features(f, features);
        if (((features & ~out) >> BigInt(Feature.RING_PACKED)) & 1n) packedMasked = true;
        return out;
      });
    let built: MachineDevice;
    if (d.kind === 'net') built = buildNet(mem, dma, d, filter, cfg.cpus);
    else if (d.kind === 'blk') built = buildBlk(mem, dma, d, opened, filter, cfg.cpus);
    else built = buildConsole(mem, dma, d, filter, cfg.cpus);
    if (packedMasked) built.ring = 'split';
    if (iface) built.tdisp = iface;
    if (d.behaviour) built.lies = applyBehaviour(built, d.behaviour, cfg.seed);
    return built;
  };
  try {
    for (const plan of plans) devices.push(build(plan));
  } catch (e) {
    for (const s of opened) s.close();
    throw e;
  }
  let closed = false;
  let hotplugged = 0;
  const nth = <K extends DeviceKind>(kind: K, index: number): DeviceOf<K> => {
    const all = devices.filter((d): d is DeviceOf<K> => d.kind === kind);
    const d = all[index];
    if (!d) {
      throw new VqsimError(
        'NO_SUCH_DEVICE',
        `machine: no ${kind} device number ${index} (it has ${all.length} ${kind} device${all.length === 1 ? '' : 's'})`,
      );
    }
    return d;
  };
  const machine: Machine = {
    mem,
    config: cfg,
    dmaBackend: cfg.dma,
    deployment: cfg.deployment,
    seed: cfg.seed,
    devices,
    policy,
    refused,
    decisions: () => gate?.decisions() ?? [],
    react(error: unknown, name: string): ReactionResult {
      const v = violationOf(error);
      if (!v) throw error;
      const m = machine.device(name);
      if (!gate) return { reaction: 'continue', policies: [], violation: v.id };
      const { reaction, policies } = gate.react(facts.get(name)!, v);
      if (reaction === 'reset_device')
        reprobe(
          m,
          cfg.devices.find((d) => d.name === name)!,
        );
      else if (reaction === 'detach_device') {
        remove(m);
        devices.splice(devices.indexOf(m), 1);
      } else if (reaction === 'panic') {
        machine.close();
        const why = error instanceof Error ? error.message : String(error);
        throw new PolicyPanic(`policy panic (${policies.join(', ')}): ${v.id} from ${name}: ${why}`, v.side, error);
      }
      return { reaction, policies, violation: v.id };
    },
    hotplug(device: DeviceConfig): MachineDevice | undefined {
      const one = resolveMachineConfig({ devices: [device] }).devices[0]!;
      if (one.transport !== 'pci') {
        throw new ConfigError(`hotplug: ${one.kind} over ${one.transport}: only virtio-pci devices are hotplugged`);
      }
      const k = cfg.devices.length + hotplugged++;
      const sameKind = [...cfg.devices, ...devices].filter((x) => x.kind === one.kind).length;
      let name = device.name ?? `${one.kind}${sameKind}`;
      while (device.name === undefined && devices.some((x) => x.name === name)) name += '+';
      if (devices.some((x) => x.name === name))
        throw new ConfigError(`hotplug: a device called ${name} is already there`);
      const plan = admit({ ...one, index: k, name, path: `hotplug[${hotplugged - 1}]` }, true);
      if (plan.decision.mode === 'refused') {
        refused.push({ name, kind: one.kind, reason: plan.decision.reason, policies: plan.decision.policies });
        return undefined;
      }
      // A bounced device needs the bounce pool: the machine's, made now if no boot device needed it.
      if (plan.backend === 'swiotlb') Swiotlb.forMemory(mem, { fit: true });
      const built = build(plan);
      devices.push(built);
      return built;
    },
    unplug(name: string, options: { surprise?: boolean } = {}): { failed: number } {
      const m = machine.device(name);
      const surprise = options.surprise ?? false;
      if (surprise) {
        if (!(m.transport instanceof VirtioPciTransport)) {
          throw new ConfigError(`unplug ${name}: a surprise removal is a PCI event; ${name} is on virtio-mmio`);
        }
        m.transport.unplug();
      }
      const failed = remove(m, surprise);
      devices.splice(devices.indexOf(m), 1);
      facts.delete(name);
      return { failed };
    },
    hotplugDecision(device: DeviceConfig): AttachDecision {
      const one = resolveMachineConfig({ devices: [device] }).devices[0]!;
      const n = cfg.devices.length + hotplugged++;
      const name = device.name ?? `${one.kind}-hp${hotplugged - 1}`;
      return admit({ ...one, index: n, name, path: `hotplug[${hotplugged - 1}]` }, true).decision;
    },
    device(name: string): MachineDevice {
      const d = devices.find((x) => x.name === name);
      if (!d) {
        throw new VqsimError(
          'NO_SUCH_DEVICE',
          `machine: no device ${name} (devices: ${devices.map((x) => x.name).join(', ') || 'none'})`,
        );
      }
      return d;
    },
    net: (index = 0) => nth('net', index),
    blk: (index = 0) => nth('blk', index),
    console: (index = 0) => nth('console', index),
    stats: () => readStatsRegistry(mem.memory),
    modeledCost(model?: CostModel, since?: EventTotals) {
      const now = eventTotals(readStatsRegistry(mem.memory));
      const events = { ...now };
      if (since) for (const k of Object.keys(events) as (keyof EventTotals)[]) events[k] -= since[k];
      return { ...modelCycles(events, model ?? COST_PROFILES[profileFor(cfg.encryption)]), events };
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const d of devices) remove(d);
      for (const s of opened) s.close();
    },
  };
  return machine;
}

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
import { VqsimError } from '../errors.js';
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
import {
  defaultGuestBytes,
  resolveMachineConfig,
  type BlkBackendName,
  type ConsoleBackendName,
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
  /** The device called `name`; a ConfigError naming the devices there are otherwise. */
  device(name: string): MachineDevice;
  /** The `index`-th device of a kind (default the first). */
  net(index?: number): NetMachineDevice;
  blk(index?: number): BlkMachineDevice;
  console(index?: number): ConsoleMachineDevice;
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
    vendor: 0x1af4,
    device: 0x1040 + VIRTIO_IDS[d.kind],
    revision: d.revision,
    // A stand-in for the device's firmware measurement: the same kind and revision measure the same.
    measurement: d.measurement ?? createHash('sha384').update(`vqsim-${d.kind}-rev${d.revision}`).digest('hex'),
  };
}

function transportFor(
  mem: GuestMemory,
  d: ResolvedDevice,
  model: VirtioNetDevice | BlkDevice | ConsoleDevice,
  cpus: number,
): { transport: VirtioPciTransport | VirtioMmioTransport; access: TransportAccess } {
  const stats = { host: mem, name: `${d.name}.transport` };
  const opts = {
    name: `${d.name}.driver`,
    hardened: d.hardened,
    cpus,
    stats: { host: mem, name: `${d.name}.driver.transport` },
  };
  if (d.transport === 'pci') {
    const transport = new VirtioPciTransport(model, { stats });
    return { transport, access: new PciDriverAccess(transport, opts) };
  }
  const transport = new VirtioMmioTransport(model, { stats });
  return { transport, access: new MmioDriverAccess(transport, opts) };
}

/** The feature bits a blk or console driver asks for: all it knows, less what the config turns off. */
function ringFeatures(all: bigint, d: ResolvedDevice): bigint {
  let f = all;
  if (d.ring === 'split') f &= ~(1n << BigInt(Feature.RING_PACKED));
  if (!d.eventIdx) f &= ~(1n << BigInt(Feature.EVENT_IDX));
  return f;
}

function buildNet(mem: GuestMemory, dma: DmaApi, d: ResolvedNet, cpus: number): NetMachineDevice {
  const device = new VirtioNetDevice(dma.deviceView(), {
    name: `${d.name}.device`,
    queuePairs: d.queues,
    mtu: Math.max(1500, d.packetBytes),
    maxQueueSize: d.queueSize,
    backend: d.backend === 'source' ? { kind: 'source', packetBytes: d.packetBytes } : { kind: d.backend },
  });
  const { transport, access } = transportFor(mem, d, device, cpus);
  const driver = VirtioNetDriver.probe(access, mem, dma, {
    ring: d.ring,
    mergeable: d.mergeable,
    eventIdx: d.eventIdx,
    queueSize: d.queueSize,
    hardened: d.hardened,
  });
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend, packetBytes: d.packetBytes };
}

function buildBlk(mem: GuestMemory, dma: DmaApi, d: ResolvedBlk, opened: BlkBackend[], cpus: number): BlkMachineDevice {
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
  const { transport, access } = transportFor(mem, d, device, cpus);
  const driver = BlkDriver.probe(access, mem, dma, {
    features: ringFeatures(BlkDriver.ALL_FEATURES, d),
    queueSize: d.queueSize,
    maxIoBytes: d.maxIoBytes,
    hardened: d.hardened,
  });
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend, store, depth: d.depth, maxIoBytes: d.maxIoBytes };
}

function buildConsole(mem: GuestMemory, dma: DmaApi, d: ResolvedConsole, cpus: number): ConsoleMachineDevice {
  const device = new ConsoleDevice(dma.deviceView(), {
    name: `${d.name}.device`,
    backend: d.backend,
    maxQueueSize: d.queueSize,
  });
  const { transport, access } = transportFor(mem, d, device, cpus);
  const driver = ConsoleDriver.probe(access, mem, dma, {
    features: ringFeatures(CONSOLE_DRIVER_FEATURES, d),
    queueSize: d.queueSize,
    hardened: d.hardened,
  });
  const base = { kind: d.kind, name: d.name, mem, dma, transport, access, ring: d.ring };
  return { ...base, device, driver, backend: d.backend };
}

function remove(d: MachineDevice): void {
  if (d.kind === 'net') d.driver.remove();
  else d.access.reset();
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
  const bounce = cfg.dma === 'swiotlb';
  const size = cfg.memory ?? defaultGuestBytes(cfg.devices) + (bounce ? SWIOTLB_DEFAULT_BYTES : 0);
  const mem = new GuestMemory({ size, module: options.module, encryption: cfg.encryption, key: cfg.seed });
  // One bounce pool for every device (Linux's io_tlb_default_mem): 64 MiB
  // in the RAM added for it, or fitted into RAM the config sized itself.
  if (bounce) Swiotlb.forMemory(mem, cfg.memory === undefined ? {} : { fit: true });
  const devices: MachineDevice[] = [];
  const opened: BlkBackend[] = [];
  try {
    const tdisp = cfg.deployment !== undefined && 'tdisp' in DEPLOYMENTS[cfg.deployment];
    const accept: TdispAcceptor =
      options.acceptDevice ??
      ((r) => cfg.acceptMeasurements === undefined || cfg.acceptMeasurements.includes(r.measurement));
    for (const d of cfg.devices) {
      // cvm-tdisp: the guest locks the device's interface and checks its report
      // before the driver binds; an accepted device DMAs directly into private
      // memory (no bouncing), the others bounce as in a plain CVM.
      const report = tdisp ? tdispIdentity(d) : undefined;
      const accepted = report !== undefined && accept(report);
      const backend = accepted ? 'direct' : cfg.dma;
      const dma = new DmaApi(mem, { backend, track: true, name: `${d.name}.dma-api` });
      let iface: TdispInterface | undefined;
      if (report) {
        iface = new TdispInterface(report, dma.backend.context);
        iface.lock();
        iface.acceptAndStart(() => accepted);
      }
      const before = devices.length;
      if (d.kind === 'net') devices.push(buildNet(mem, dma, d, cfg.cpus));
      else if (d.kind === 'blk') devices.push(buildBlk(mem, dma, d, opened, cfg.cpus));
      else devices.push(buildConsole(mem, dma, d, cfg.cpus));
      if (iface) devices[before]!.tdisp = iface;
    }
  } catch (e) {
    for (const s of opened) s.close();
    throw e;
  }
  let closed = false;
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
  return {
    mem,
    config: cfg,
    dmaBackend: cfg.dma,
    deployment: cfg.deployment,
    seed: cfg.seed,
    devices,
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
    close(): void {
      if (closed) return;
      closed = true;
      for (const d of devices) remove(d);
      for (const s of opened) s.close();
    },
  };
}

// Attack scenarios for the transport- and config-layer entries of the
// violation catalogue: a device that lies through its virtio-pci or
// virtio-mmio registers or its config space (src/trust/attack/lying-device.ts)
// against the guest's own probe (src/drivers/probe.ts), hardened or naive.
// After a naive probe that went through, the victim uses the device (one
// chain on queue 0): a lie that cost it its device shows as a hang.
import { capQueues, probeDevice, readConfigStable, type ProbedDevice } from '../../drivers/probe.js';
import { MmioDriverAccess, PciDriverAccess, type TransportAccess } from '../../drivers/transport-access.js';
import { TransportError, VqsimError } from '../../errors.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Status } from '../../spec/config.js';
import { Feature } from '../../spec/features.js';
import { Mmio } from '../../spec/mmio.js';
import { PciCapType, PciCommon, VIRTIO_MSI_NO_VECTOR } from '../../spec/pci.js';
import { VirtioMmioTransport } from '../../transport/mmio.js';
import { VirtioPciTransport } from '../../transport/pci.js';
import { violationOf } from '../catalogue/index.js';
import { Damage, rng } from '../attack/damage.js';
import { EchoDevice, LyingMmio, LyingPci, type EchoDeviceOptions, type Lie } from '../attack/lying-device.js';
import type { AttackContext, AttackOutcome, Scenario } from '../attack/types.js';

/**
 * The simulator's budget for a loop the naive victim would run without a
 * bound (Linux's vp_modern_reset polls while the status is not 0;
 * __virtio_cread_many rereads while the generation moves): it ending is a hang.
 */
export const SIM_SPIN_BUDGET = 100_000;

/** A guest, a lying device behind PCI or MMIO, and canaries in guest RAM outside every queue. */
export interface Rig {
  mem: GuestMemory;
  dev: EchoDevice;
  access: TransportAccess;
  pci?: LyingPci;
  mmio?: LyingMmio;
  damage: Damage;
}

export interface RigOptions {
  kind?: 'pci' | 'mmio';
  lies?: readonly Lie[];
  device?: EchoDeviceOptions;
  msix?: boolean;
  pciCapabilities?: ConstructorParameters<typeof LyingPci>[2];
}

/** Guest RAM with a page of canaries outside every queue and buffer. */
export function guest(ctx: AttackContext): { mem: GuestMemory; damage: Damage } {
  const mem = new GuestMemory({ size: 1 << 22 });
  const damage = new Damage(mem, ctx.seed);
  damage.canary(mem.alloc(4096), 4096);
  return { mem, damage };
}

/** Builds the rig on `g`; the guest access is built here too, so a device without a usable function throws. */
export function rig(ctx: AttackContext, o: RigOptions = {}, g = guest(ctx)): Rig {
  const { mem, damage } = g;
  const dev = new EchoDevice(mem, o.device);
  if (o.kind === 'mmio') {
    const mmio = new LyingMmio(new VirtioMmioTransport(dev), o.lies);
    return { mem, dev, mmio, damage, access: new MmioDriverAccess(mmio, { hardened: ctx.hardened }) };
  }
  const pci = new LyingPci(new VirtioPciTransport(dev), o.lies, o.pciCapabilities);
  const access = new PciDriverAccess(pci, { hardened: ctx.hardened, msix: o.msix ?? true });
  return { mem, dev, pci, damage, access };
}

/** The probe every scenario runs: EVENT_IDX wanted, 64-entry queues. */
export function probe(r: Rig): ProbedDevice {
  return probeDevice(r.access, r.mem, { features: 1n << BigInt(Feature.EVENT_IDX), queueSize: 64 });
}

/**
 * Uses the device: one chain (16 readable, 32 writable bytes) on queue 0,
 * kicked, then polled for its completion up to SIM_SPIN_BUDGET times.
 * Returns whether it completed.
 */
export function exercise(r: Rig, d: ProbedDevice): boolean {
  const vq = d.queues[0]!;
  const buf = r.mem.alloc(4096, { shared: true });
  vq.driver.add([{ addr: buf, len: 16 }], [{ addr: buf + 64, len: 32 }], 1);
  if (vq.driver.kick()) r.access.notify(0);
  for (let i = 0; i < SIM_SPIN_BUDGET; i++) if (vq.driver.getUsed(1).length > 0) return true;
  return false;
}

/** What the victim suffered when `run` threw: the violation it named, or the hang a budget ended. */
export function caught(e: unknown, r: { damage: Damage }, hangCode?: string): AttackOutcome {
  const base = { bytesLeaked: 0, bytesCorrupted: r.damage.corrupted() };
  if (hangCode !== undefined && e instanceof TransportError && e.code === hangCode) {
    return {
      ...base,
      detected: false,
      reaction: 'none',
      hung: true,
      note: `the simulator's budget ended it: ${e.message}`,
    };
  }
  const v = violationOf(e);
  if (!v) throw e;
  return {
    ...base,
    detected: true,
    violation: v.id,
    reaction: v.handling === 'break' ? 'broken' : v.handling === 'clamp' ? 'clamped' : 'failed',
    hung: false,
    note: (e as Error).message,
  };
}

/** A probe that went through: the victim then uses the device; a chain that never completes is a hang. */
export function afterProbe(r: Rig, d: ProbedDevice, belief: (r: Rig, d: ProbedDevice) => string): AttackOutcome {
  const done = exercise(r, d);
  return {
    detected: false,
    reaction: 'none',
    bytesLeaked: 0,
    bytesCorrupted: r.damage.corrupted(),
    hung: !done,
    note: `${belief(r, d)}; ${done ? 'a chain on queue 0 completed' : `no completion after ${SIM_SPIN_BUDGET} polls`}`,
  };
}

/** The common shape: probe a lying device; hardened it names the lie, naive it goes on and uses the device. */
function probeScenario(
  id: string,
  violation: string,
  title: string,
  setup: (ctx: AttackContext) => RigOptions,
  belief: (r: Rig, d: ProbedDevice) => string,
  noNaive?: string,
): Scenario {
  return {
    id,
    violation,
    attacker: 'device',
    title,
    ...(noNaive === undefined ? {} : { noNaive }),
    run(ctx) {
      const g = guest(ctx);
      let r: Rig;
      let d: ProbedDevice;
      try {
        r = rig(ctx, setup(ctx), g);
        d = probe(r);
      } catch (e) {
        return caught(e, g);
      }
      return afterProbe(r, d, belief);
    },
  };
}

const hexs = (n: number | bigint): string => '0x' + n.toString(16);

export const transportScenarios: readonly Scenario[] = [
  probeScenario(
    'transport-no-version-1',
    'NO_VERSION_1',
    'the device feature word 1 reads without VIRTIO_F_VERSION_1 (bit 32)',
    () => ({
      // getDeviceFeatures reads word 0 then word 1: the odd reads are word 1.
      lies: [{ space: 'common', offset: PciCommon.DEVICE_FEATURE, answer: (h, n) => (n % 2 === 1 ? h & ~1 : h) }],
    }),
    (_r, d) => `the driver accepted ${hexs(d.features)} from a device it took for modern`,
  ),
  probeScenario(
    'transport-features-refused',
    'FEATURES_REFUSED',
    'the status reads back without FEATURES_OK after the driver set it',
    () => ({
      lies: [{ space: 'common', offset: PciCommon.DEVICE_STATUS, answer: (h) => h & ~Status.FEATURES_OK }],
    }),
    (r) =>
      `the driver went on without FEATURES_OK and its DRIVER_OK write was refused (${r.pci?.lastRejection() ?? ''})`,
  ),
  probeScenario(
    'transport-bad-magic',
    'BAD_MAGIC',
    'a virtio-mmio window whose MagicValue is not "virt"',
    (ctx) => ({
      kind: 'mmio',
      lies: [{ space: 'mmio', offset: Mmio.MAGIC_VALUE, answer: () => rng(ctx.seed)() | 1 }],
    }),
    () => 'the driver drove a window that does not say it is virtio-mmio',
  ),
  probeScenario(
    'transport-bad-version',
    'BAD_VERSION',
    'a virtio-mmio window that says Version 1 (legacy)',
    () => ({ kind: 'mmio', lies: [{ space: 'mmio', offset: Mmio.VERSION, answer: () => 1 }] }),
    () => 'the driver used the version 2 register layout on a device that said version 1',
  ),
  probeScenario(
    'transport-missing-capability',
    'MISSING_CAPABILITY',
    'a virtio-pci function without a NOTIFY_CFG capability',
    () => ({ pciCapabilities: { capabilities: (caps) => caps.filter((c) => c.cfgType !== PciCapType.NOTIFY_CFG) } }),
    () => 'unreachable: no driver can ring a doorbell it was not given',
    'no driver, naive or not, gets past a missing NOTIFY_CFG: there is no doorbell to ring',
  ),
  probeScenario(
    'transport-queue-unavailable',
    'QUEUE_UNAVAILABLE',
    'queue 1, which the driver needs, reports a maximum size of 0',
    () => ({ lies: [{ space: 'common', offset: PciCommon.QUEUE_SIZE, queue: 1, answer: () => 0 }] }),
    () => 'the driver set up a queue of size 0',
  ),
  probeScenario(
    'transport-queue-size',
    'QUEUE_SIZE',
    'queue 0 reports a maximum size that is not a power of two (a seeded value from 65 to 127)',
    (ctx) => {
      const size = 65 + (rng(ctx.seed)() % 63);
      return { lies: [{ space: 'common', offset: PciCommon.QUEUE_SIZE, queue: 0, answer: () => size }] };
    },
    (_r, d) => `the driver rounded the size down and used ${d.queues[0]!.size} entries`,
  ),
  probeScenario(
    'transport-queue-enable-refused',
    'QUEUE_ENABLE_REFUSED',
    'queue_enable reads back 0 after the driver enabled queue 0',
    () => ({ lies: [{ space: 'common', offset: PciCommon.QUEUE_ENABLE, queue: 0, answer: () => 0 }] }),
    () => 'the driver used a queue the device said was not enabled',
  ),
  probeScenario(
    'transport-msix-vector-refused',
    'MSIX_VECTOR_REFUSED',
    "queue 0's MSI-X vector reads back as VIRTIO_MSI_NO_VECTOR",
    () => ({
      lies: [{ space: 'common', offset: PciCommon.QUEUE_MSIX_VECTOR, queue: 0, answer: () => VIRTIO_MSI_NO_VECTOR }],
    }),
    () => 'the driver counted on a vector the device said it had no use for',
  ),
  {
    id: 'transport-reset-timeout',
    violation: 'RESET_TIMEOUT',
    attacker: 'device',
    title: 'the status never reads back 0 after the driver wrote 0 (reset)',
    run(ctx) {
      const r = rig(ctx, {
        lies: [{ space: 'common', offset: PciCommon.DEVICE_STATUS, answer: (h) => h | Status.ACKNOWLEDGE }],
      });
      try {
        if (ctx.hardened) probe(r);
        else {
          // The naive driver polls as vp_modern_reset does, without a bound.
          r.access.setStatus(0);
          let i = 0;
          while (r.access.getStatus() !== 0 && i < SIM_SPIN_BUDGET) i++;
          if (i === SIM_SPIN_BUDGET) {
            throw new TransportError('RESET_TIMEOUT', `status still not 0 after ${SIM_SPIN_BUDGET} reads`);
          }
        }
      } catch (e) {
        return caught(e, r, ctx.hardened ? undefined : 'RESET_TIMEOUT');
      }
      return { detected: false, reaction: 'none', bytesLeaked: 0, bytesCorrupted: 0, hung: false };
    },
  },
  probeScenario(
    'transport-device-failed',
    'DEVICE_FAILED',
    'the device sets NEEDS_RESET while it validates the driver features',
    () => ({
      device: {
        validateFeatures: (_f, dctx) => {
          dctx.needsReset('device lies: needs a reset during probe');
          return true;
        },
      },
    }),
    () => 'the driver set DRIVER_OK on a device that asked to be reset',
  ),
  {
    id: 'config-unstable',
    violation: 'CONFIG_UNSTABLE',
    attacker: 'device',
    title: 'the config generation changes on every read, so a config read never settles',
    run(ctx) {
      const r = rig(ctx, {
        lies: [{ space: 'common', offset: PciCommon.CONFIG_GENERATION, answer: (_h, n) => n & 0xff }],
      });
      try {
        probe(r);
        // Hardened: the bounded reread; naive: Linux's unbounded one, which the simulator's budget ends.
        readConfigStable(r.access, () => r.access.readConfig(0, 4), ctx.hardened ? undefined : SIM_SPIN_BUDGET);
      } catch (e) {
        return caught(e, r, ctx.hardened ? undefined : 'CONFIG_UNSTABLE');
      }
      return { detected: false, reaction: 'none', bytesLeaked: 0, bytesCorrupted: r.damage.corrupted(), hung: false };
    },
  },
  {
    id: 'config-value-width',
    violation: 'CONFIG_VALUE_WIDTH',
    attacker: 'device',
    title: 'a 16-bit config field reads 0x1_0000_0001, a 32-bit one -1, an 8-bit one 1.5, another NaN',
    run(ctx) {
      const answers = new Map<number, number>([
        [0, 2 ** 32 + 1],
        [4, -1],
        [8, 1.5],
        [12, NaN],
      ]);
      // The lie is told on the function's config space itself, as a device that owns its BAR
      // (hardware, vDPA) can: the guest's load is the only place left to apply the width.
      const lies: Lie[] = [...answers].map(([offset, v]) => ({ space: 'config', offset, answer: () => v }));
      const r = rig(ctx, { lies });
      try {
        probe(r);
      } catch (e) {
        return caught(e, r);
      }
      const got = [
        r.access.readConfig(0, 2),
        r.access.readConfig(4, 4),
        r.access.readConfig(8, 1),
        r.access.readConfig(12, 1),
      ];
      const masked = r.access.counters.valuesMasked;
      const inRange = got.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
      return {
        detected: ctx.hardened && masked > 0,
        violation: ctx.hardened && masked > 0 ? 'CONFIG_VALUE_WIDTH' : undefined,
        reaction: ctx.hardened ? 'clamped' : 'none',
        bytesLeaked: 0,
        bytesCorrupted: r.damage.corrupted(),
        hung: false,
        note: `the driver read ${got.map(String).join(', ')} (${inRange ? 'each within its width' : 'values no load of that width returns'})`,
      };
    },
  },
  probeScenario(
    'transport-bad-notify-offset',
    'BAD_NOTIFY_OFFSET',
    "queue_notify_off puts queue 0's doorbell past the notify region (a seeded offset)",
    (ctx) => {
      const off = 0x400 + (rng(ctx.seed)() % 0x1000);
      return { lies: [{ space: 'common', offset: PciCommon.QUEUE_NOTIFY_OFF, answer: () => off }] };
    },
    (r) => `the driver rang queue 0 outside the notify region (${r.pci?.lastRejection() ?? ''})`,
  ),
  probeScenario(
    'transport-features-changed',
    'FEATURES_CHANGED',
    'the device feature word 1 gains VIRTIO_F_RING_PACKED after the driver chose its features',
    () => ({
      lies: [
        { space: 'common', offset: PciCommon.DEVICE_FEATURE, from: 2, answer: (h, n) => (n % 2 === 1 ? h | 4 : h) },
      ],
    }),
    (_r, d) => `the driver kept ${hexs(d.features)} from a device whose offer changed`,
  ),
  {
    id: 'transport-queues-capped',
    violation: 'QUEUES_CAPPED',
    attacker: 'device',
    title: 'a device with 64 queues of 1024 entries in a guest of 4 CPUs',
    run(ctx) {
      const r = rig(ctx, { device: { numQueues: 64, maxQueueSize: 1024 } });
      const pages = r.mem.pages.freePages();
      let d: ProbedDevice;
      try {
        // A multiqueue driver: as many queues as the device offers, as far as the guest has CPUs.
        const queues = capQueues(r.access, r.access.numQueues());
        d = probeDevice(r.access, r.mem, { features: 0n, queueSize: 1024, queues });
      } catch (e) {
        if (!(e instanceof VqsimError && e.code === 'OUT_OF_GUEST_MEMORY')) return caught(e, r);
        // The device's word cost the guest all its RAM: the probe failed, nothing was left to run.
        return {
          detected: false,
          reaction: 'none',
          bytesLeaked: 0,
          bytesCorrupted: r.damage.corrupted(),
          hung: false,
          note: `guest RAM (${r.mem.size} bytes) ran out setting up ${r.access.numQueues()} queues: ${e.message}`,
        };
      }
      const spent = (pages - r.mem.pages.freePages()) * 4096;
      const detected = r.access.counters.queuesCapped > 0;
      return {
        detected,
        violation: detected ? 'QUEUES_CAPPED' : undefined,
        reaction: detected ? 'clamped' : 'none',
        bytesLeaked: 0,
        bytesCorrupted: r.damage.corrupted(),
        hung: !exercise(r, d),
        note: `${d.queues.length} queues set up, ${spent} bytes of guest RAM spent on them`,
      };
    },
  },
  probeScenario(
    'transport-features-mismatch',
    'FEATURES_MISMATCH',
    'driver_feature word 1 reads back VIRTIO_F_RING_PACKED, which the driver did not write',
    () => ({
      lies: [{ space: 'common', offset: PciCommon.DRIVER_FEATURE, answer: (h, n) => (n % 2 === 1 ? h | 4 : h) }],
    }),
    (_r, d) => `the driver believes ${hexs(d.features)} while the device holds more (it never reads them back)`,
  ),
];

// Attack scenarios for the DMA layer: what crosses the boundary as an
// address. A device reaching for guest memory it was never given (the
// talk's "malicious read from RAM" and "malicious write to RAM"), and a
// driver handing a device an address its deployment does not let it reach.
// Both run on a machine from createMachine, so each deployment's own DMA
// backend and context decide, exactly as they do for real I/O.
import { ConfigError } from '../../errors.js';
import { Status } from '../../spec/config.js';
import { PciCommon } from '../../spec/pci.js';
import { VirtioPciTransport } from '../../transport/pci.js';
import { DmaDirection } from '../../dma/types.js';
import { BlkType } from '../../spec/blk.js';
import { createMachine, type BlkMachineDevice, type Machine } from '../../sim/machine.js';
import type { MachineConfig } from '../../sim/machine-config.js';
import { SplitQueue } from '../../virtqueue/split/queue.js';
import type { DmaView } from '../../memory/dma-view.js';
import { VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from '../../spec/ring.js';
import { violationOf } from '../catalogue/index.js';
import { Damage, rng } from '../attack/damage.js';
import type { AttackContext, AttackOutcome, Scenario } from '../attack/types.js';

const PAGE = 4096;

function blkMachine(ctx: AttackContext, extra: Partial<MachineConfig> = {}): Machine {
  return createMachine({
    deployment: ctx.deployment,
    seed: ctx.seed,
    ...extra,
    devices: [{ kind: 'blk', ring: 'split', capacityBytes: 1 << 20, hardened: ctx.hardened }],
  });
}

/** The device may do this by design here: all RAM (traditional, vhost-user), or an accepted TDISP device. */
function trustedWithRam(m: Machine, b: BlkMachineDevice): boolean {
  return m.deployment === 'traditional' || m.deployment === 'vhost-user' || b.tdisp?.state === 'RUN';
}

type Damages = Omit<AttackOutcome, 'detected' | 'violation' | 'reaction'>;

/** The outcome of an access that threw `e` (undefined: it went through): the operation failed with the violation. */
function outcome(e: unknown, o: Damages): AttackOutcome {
  const v = violationOf(e);
  if (e !== undefined && !v) throw e;
  return { ...o, detected: v !== undefined, violation: v?.id, reaction: v ? 'failed' : 'none' };
}

/** The outcome of a device that stopped with `fault` (virtio_error, NEEDS_RESET), or served on: broken or not. */
function stopped(fault: unknown, o: Damages): AttackOutcome {
  const v = violationOf(fault);
  if (fault !== undefined && !v) throw fault;
  return { ...o, detected: v !== undefined, violation: v?.id, reaction: v ? 'broken' : 'none' };
}

/**
 * A device reaching for a private page it was never given. Hardened: the
 * guest never mapped it, so the device aims at its guest physical address.
 * Naive: a guest that maps more than it must (iommu=pt, a buffer left
 * mapped, a page shared for convenience) has mapped it, and the device goes
 * through that mapping; the naive guest unmaps when it is done (a bounce
 * copies the slot back). `touch` is what the device does there; it returns
 * what it read, if anything.
 */
function privatePage(
  id: string,
  title: string,
  plant: (dmg: Damage, gpa: number) => number,
  touch: (view: DmaView, at: number, seed: number) => Uint8Array | undefined,
): Scenario {
  return {
    id,
    violation: 'DMA_FAULT',
    attacker: 'device',
    title,
    run(ctx) {
      const m = blkMachine(ctx);
      try {
        const b = m.blk();
        const dmg = new Damage(m.mem, ctx.seed);
        const page = plant(dmg, m.mem.alloc(PAGE));
        const at = ctx.hardened ? page : b.dma.map(page, PAGE, DmaDirection.BIDIRECTIONAL);
        let seen: Uint8Array | undefined;
        let err: unknown;
        try {
          seen = touch(b.dma.deviceView(), at, ctx.seed);
        } catch (e) {
          err = e;
        }
        if (!ctx.hardened) b.dma.unmap(at, PAGE, DmaDirection.BIDIRECTIONAL);
        const leaked = seen ? dmg.leakedIn(seen) : 0;
        return {
          ...outcome(err, { bytesLeaked: leaked, bytesCorrupted: dmg.corrupted(), hung: false }),
          trusted: ctx.hardened && trustedWithRam(m, b),
          note: seen && err === undefined && leaked === 0 ? `read ${seen.length} bytes of ciphertext` : undefined,
        };
      } finally {
        m.close();
      }
    },
  };
}

/** The talk's "malicious read from RAM": the device reads a private page holding a secret. */
const readPrivate = privatePage(
  'dma-read-private',
  'the device reads a private guest page it was never given',
  (dmg, gpa) => dmg.secret(gpa, PAGE),
  (view, at) => view.read(at, PAGE),
);

/** The talk's "malicious write to RAM": the device writes 256 bytes into a private page (a canary). */
const writePrivate = privatePage(
  'dma-write-private',
  'the device writes into a private guest page it was never given',
  (dmg, gpa) => dmg.canary(gpa, PAGE),
  (view, at, seed) => {
    const next = rng(seed);
    view.write(
      at,
      new Uint8Array(256).map(() => next() & 0xff),
    );
    return undefined;
  },
);

/**
 * An accepted TDISP device changes its locked configuration (a BAR moved
 * under the guest) and goes on serving requests into private memory. The
 * interface goes to ERROR, and TDISP says an interface in ERROR does no DMA:
 * the device's next pop is refused by its context.
 */
const tdiError: Scenario = {
  id: 'dma-tdi-error',
  violation: 'DMA_BLOCKED',
  attacker: 'device',
  title: 'an accepted TDISP device changes its locked configuration and goes on doing DMA',
  deployments: ['cvm-tdisp'],
  noNaive: 'TDISP blocks the DMA of an interface in ERROR in the host IOMMU, whatever the guest checks',
  run(ctx) {
    const m = blkMachine(ctx);
    try {
      const b = m.blk();
      const dmg = new Damage(m.mem, ctx.seed);
      dmg.canary(m.mem.alloc(PAGE), PAGE);
      b.tdisp?.configChange('BAR0 moved by the device after LOCK');
      // One read request, straight on the queue (the one-request helpers would
      // reset the device on NEEDS_RESET, clearing the fault this looks at).
      const q = b.driver.queues[0]!;
      q.submit(BlkType.IN, 0, m.mem.alloc(PAGE), PAGE);
      q.kick();
      return stopped(b.device.fault, { bytesLeaked: 0, bytesCorrupted: dmg.corrupted(), hung: false });
    } finally {
      m.close();
    }
  },
};

/**
 * The driver programs its queue at an address the device cannot map (past
 * guest RAM; behind an IOMMU, an IOVA nobody mapped) and sets DRIVER_OK: the
 * device cannot take up the ring, names it and asks for a reset, as QEMU's
 * virtio_queue_set_rings does ("Cannot map descriptor ring").
 */
const ringUnmappable: Scenario = {
  id: 'dma-ring-unmappable',
  violation: 'RING_UNMAPPABLE',
  attacker: 'driver',
  title: 'the driver programs a ring at an address the device cannot map',
  noNaive: 'the device reaches the ring only through its DMA context: there is no unchecked way to map it',
  run(ctx) {
    const m = blkMachine(ctx);
    try {
      const b = m.blk();
      const t = b.transport;
      if (!(t instanceof VirtioPciTransport))
        throw new ConfigError('dma-ring-unmappable programs virtio-pci registers');
      const features = t.core.negotiated;
      b.access.reset();
      b.access.setStatus(Status.ACKNOWLEDGE | Status.DRIVER);
      b.access.setDriverFeatures(features);
      b.access.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
      const bogus = m.mem.size + 0x10000;
      t.writeCommon(PciCommon.QUEUE_SELECT, 2, 0);
      t.writeCommon(PciCommon.QUEUE_SIZE, 2, 16);
      for (const lo of [PciCommon.QUEUE_DESC_LO, PciCommon.QUEUE_DRIVER_LO, PciCommon.QUEUE_DEVICE_LO]) {
        t.writeCommon(lo, 4, bogus);
        t.writeCommon(lo + 4, 4, 0);
      }
      t.writeCommon(PciCommon.QUEUE_ENABLE, 2, 1);
      b.access.setStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
      // The device asked for a reset with its reason (virtio_error): the transport keeps it.
      return stopped(t.core.needsResetFault(), {
        bytesLeaked: 0,
        bytesCorrupted: 0,
        hung: false,
        note: (b.access.getStatus() & Status.NEEDS_RESET) !== 0 ? 'device set NEEDS_RESET' : undefined,
      });
    } finally {
      m.close();
    }
  },
};

interface RawDesc {
  addr: number;
  len: number;
  write: boolean;
}

/**
 * A malicious driver posts a chain straight into the split ring (its own
 * driver face would refuse some of these): descriptors from the top of the
 * table down, one avail entry, avail idx + 1, then the doorbell. The device
 * serves it; what its pop makes of the addresses is the outcome.
 */
function postRaw(b: BlkMachineDevice, chain: readonly RawDesc[]): void {
  const vq = b.driver.queues[0]!.vq;
  if (!(vq instanceof SplitQueue)) throw new ConfigError('dma scenarios post to a split ring');
  const mem = b.mem;
  const gpa = (dma: number) => vq.ringAddr + (dma - vq.ringDma);
  const { desc, avail } = vq.areas;
  chain.forEach((d, k) => {
    const i = vq.size - 1 - k;
    const at = gpa(desc) + 16 * i;
    mem.writeU64(at, d.addr);
    mem.writeU32(at + 8, d.len);
    mem.writeU16(at + 12, (d.write ? VRING_DESC_F_WRITE : 0) | (k + 1 < chain.length ? VRING_DESC_F_NEXT : 0));
    mem.writeU16(at + 14, i - 1);
  });
  const idx = mem.readU16(gpa(avail) + 2);
  mem.writeU16(gpa(avail) + 4 + 2 * (idx % vq.size), vq.size - 1);
  mem.writeU16(gpa(avail) + 2, (idx + 1) & 0xffff);
  b.access.notify(0);
}

/**
 * One driver-lie scenario: a blk read request whose data buffer is `data`
 * (given the machine, its blk device and the damage tracker), posted raw. The
 * victim is the device: its pop translates every descriptor through its DMA
 * context and stops with the violation (NEEDS_RESET), as QEMU's virtio_error does.
 */
function badAddress(
  id: string,
  violation: string,
  title: string,
  deployments: Scenario['deployments'],
  data: (m: Machine, b: BlkMachineDevice, dmg: Damage) => RawDesc,
  config: Partial<MachineConfig> = {},
  setup?: string,
): Scenario {
  return {
    id,
    violation,
    attacker: 'driver',
    title,
    deployments,
    noNaive:
      "the device reaches guest memory only through its DMA context: the deployment's isolation, not a check a device model can skip",
    run(ctx) {
      const m = blkMachine(ctx, config);
      try {
        const b = m.blk();
        const dmg = new Damage(m.mem, ctx.seed);
        // The header and status in a shared page: only the data buffer lies.
        const hdrGpa = m.mem.alloc(PAGE, { shared: true });
        m.mem.writeU32(hdrGpa, BlkType.IN);
        const hdr = b.dma.map(hdrGpa, 16, DmaDirection.TO_DEVICE);
        const status = b.dma.map(hdrGpa + 64, 1, DmaDirection.FROM_DEVICE);
        postRaw(b, [{ addr: hdr, len: 16, write: false }, data(m, b, dmg), { addr: status, len: 1, write: true }]);
        return stopped(b.device.fault, { bytesLeaked: 0, bytesCorrupted: dmg.corrupted(), hung: false, note: setup });
      } finally {
        m.close();
      }
    },
  };
}

export const dmaScenarios: readonly Scenario[] = [
  readPrivate,
  writePrivate,
  tdiError,
  ringUnmappable,
  badAddress(
    'dma-outside-ram',
    'ADDRESS_OUTSIDE_GUEST_RAM',
    'the driver posts a buffer past the end of guest RAM',
    ['traditional', 'vhost-user', 'cvm', 'cvm-tdisp'],
    (m) => ({ addr: m.mem.size + PAGE, len: 512, write: true }),
  ),
  badAddress(
    'dma-stale-iova',
    'DMA_UNMAPPED',
    'the driver posts an IOVA it already unmapped (use after unmap)',
    ['hardware', 'vduse'],
    (_m, b, dmg) => {
      const gpa = b.mem.alloc(PAGE);
      const iova = b.dma.map(gpa, PAGE, DmaDirection.FROM_DEVICE);
      b.dma.unmap(iova, PAGE, DmaDirection.FROM_DEVICE);
      // The canary goes in after the unmap, whose copy back is the guest's own doing.
      dmg.canary(gpa, PAGE);
      return { addr: iova, len: 512, write: true };
    },
  ),
  badAddress(
    'dma-write-read-only',
    'DMA_PERMISSION',
    'the driver posts a device-writable buffer over a mapping made TO_DEVICE (read-only to the device)',
    ['hardware'],
    (_m, b, dmg) => {
      const gpa = dmg.canary(b.mem.alloc(PAGE), PAGE);
      return { addr: b.dma.map(gpa, PAGE, DmaDirection.TO_DEVICE), len: 512, write: true };
    },
  ),
  badAddress(
    'dma-write-private-rmp',
    'DMA_RMP_VIOLATION',
    'the driver hands an untrusted SEV-SNP device a private page to write (no bounce)',
    ['cvm'],
    (_m, b, dmg) => ({ addr: dmg.canary(b.mem.alloc(PAGE), PAGE), len: 512, write: true }),
  ),
  badAddress(
    'dma-private-page',
    'DMA_PRIVATE_PAGE',
    'the driver hands a device behind swiotlb=force a private page (not bounced)',
    ['traditional'],
    (_m, b, dmg) => ({ addr: dmg.canary(b.mem.alloc(PAGE), PAGE), len: 512, write: true }),
    { deployment: undefined, dma: 'swiotlb' },
    'no deployment: dma swiotlb with encryption none (swiotlb=force)',
  ),
  badAddress(
    'dma-staging-overflow',
    'DMA_STAGING_FULL',
    'the driver hands an untrusted SEV device more private pages to write in one batch than the write-back list holds',
    ['traditional'],
    (_m, b) => ({ addr: b.mem.alloc(17 << 20), len: 4097 * PAGE, write: true }),
    { deployment: undefined, encryption: 'sev', dma: 'direct', memory: 64 << 20 },
    'no deployment: encryption sev with direct DMA (a CVM guest that does not bounce)',
  ),
];

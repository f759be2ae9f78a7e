// Attack scenarios for the device-layer entries of the violation catalogue:
// one per entry of catalogue/device.ts. Each builds a victim over a device
// model in a traditional VM (direct DMA: the device reaches all guest RAM,
// so what a naive driver leaks or believes is measured without a bounce
// buffer in the way), plays the lying side at one chosen step, and measures
// with Damage: secrets planted next to the attacker's buffers, and what the
// victim handed up or believed.
import { DmaApi } from '../../dma/api.js';
import { DeviceError, VqsimError } from '../../errors.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { BlkDevice, type BlkDeviceOptions } from '../../devices/blk/device.js';
import { MemoryBackend } from '../../devices/blk/backend.js';
import { BlkRequestError } from '../../devices/blk/server.js';
import { ConsoleDevice } from '../../devices/console/device.js';
import { VirtioNetDevice, type NetDeviceOptions } from '../../devices/net/device.js';
import { BlkDriver, type BlkDriverOptions } from '../../drivers/blk/driver.js';
import { ConsoleDriver } from '../../drivers/console/driver.js';
import { VirtioNetDriver, type NetDriverOptions } from '../../drivers/net/driver.js';
import { PciDriverAccess } from '../../drivers/transport-access.js';
import type { ConfigWidth } from '../../transport/device-model.js';
import { VirtioPciTransport } from '../../transport/pci.js';
import { DEPLOYMENTS } from '../../sim/deployments.js';
import { SplitPair } from '../../sim/workers.js';
import { BlkConfig, BlkType } from '../../spec/blk.js';
import { Status } from '../../spec/config.js';
import { NetConfig, VIRTIO_NET_HDR_LEN } from '../../spec/net.js';
import { MockSplitQueue } from '../../virtqueue/split/mock.js';
import { SplitQueue } from '../../virtqueue/split/queue.js';
import { createQueue } from '../../virtqueue/queue.js';
import { Damage } from '../attack/damage.js';
import type { AttackContext, AttackOutcome, Scenario } from '../attack/types.js';
import { violationOf } from '../catalogue/index.js';

const TRADITIONAL = ['traditional'] as const;
/**
 * Where the RX scenarios play the device through a raw view of the split
 * ring (MockSplitQueue reads it at guest physical addresses): the
 * deployments whose rings are at their guest physical address, not behind
 * an IOVA (vduse, hardware).
 */
const RING_AT_GPA = ['traditional', 'vhost-user', 'cvm', 'cvm-tdisp'] as const;

/**
 * Guest memory and the driver's DMA API as `ctx.deployment` makes them: its
 * first encryption model and DMA backend (cvm-tdisp without a TDISP
 * handshake: its devices are not accepted and bounce as in cvm).
 */
function env(ctx: AttackContext, size: number): { mem: GuestMemory; dma: DmaApi } {
  const d = DEPLOYMENTS[ctx.deployment];
  const mem = new GuestMemory({ size, encryption: d.encryption[0], key: ctx.seed });
  return { mem, dma: new DmaApi(mem, { backend: d.dma[0] }) };
}

/** What a caught error (or none) says: the catalogue entry it names, and the reaction. */
function outcomeOf(e: unknown, reaction: AttackOutcome['reaction'], rest: Partial<AttackOutcome> = {}): AttackOutcome {
  const v = violationOf(e);
  if (e !== undefined && !v && !(e instanceof VqsimError)) throw e;
  return {
    detected: v !== undefined,
    violation: v?.id,
    reaction: v ? reaction : 'none',
    bytesLeaked: 0,
    bytesCorrupted: 0,
    hung: false,
    ...rest,
  };
}

function attempt(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** A counted clamp: detected when the counter moved. */
function clamped(id: string, count: number, rest: Partial<AttackOutcome> = {}): AttackOutcome {
  return {
    detected: count > 0,
    violation: count > 0 ? id : undefined,
    reaction: count > 0 ? 'clamped' : 'none',
    bytesLeaked: 0,
    bytesCorrupted: 0,
    hung: false,
    ...rest,
  };
}

// ---------------------------------------------------------------- virtio-net

function netMachine(
  ctx: AttackContext,
  dev: NetDeviceOptions,
  drv: NetDriverOptions,
  make?: (d: DmaApi) => VirtioNetDevice,
) {
  const { mem, dma } = env(ctx, 32 << 20);
  const device = make ? make(dma) : new VirtioNetDevice(dma.deviceView(), dev);
  const access = new PciDriverAccess(new VirtioPciTransport(device));
  return { mem, dma, device, access, probe: () => VirtioNetDriver.probe(access, mem, dma, drv) };
}

/**
 * A 100-byte frame looped back and left in the RX used ring; the device's
 * used entry for it is then rewritten by `lie` (the device lying at that
 * step). A secret is planted in the RX buffer after the frame's: another
 * flow's packet, stale in guest memory. Returns what receive() handed up.
 */
function rxLie(
  ctx: AttackContext,
  drv: NetDriverOptions,
  lie: (m: MockSplitQueue, slot: number, dmaAddr: number, dev: VirtioNetDevice) => void,
): AttackOutcome {
  const m = netMachine(ctx, {}, { ...drv, hardened: ctx.hardened, queueSize: 16 });
  const driver = m.probe();
  const rx = driver.pairs[0]!.rx;
  if (!(rx instanceof SplitQueue)) throw new VqsimError('SCENARIO_SETUP', 'split ring expected');
  const mock = new MockSplitQueue(rx);
  const before = mock.usedIdx;
  const frame = new Uint8Array(100).fill(0x5a);
  driver.send(0, [frame]);
  if (mock.usedIdx === before) throw new VqsimError('SCENARIO_SETUP', 'the loopback did not deliver the frame');
  const slot = before % mock.size;
  // The used buffer: its DMA address (what the device wrote) and, through the
  // driver's premapped slots, its guest-private buffer and the one after it.
  const dmaAddr = Number(mock.readDesc(mock.usedRing(slot).id).addr);
  const slots = driver.pairs[0]!.rxSlots;
  const k = slots.dma.indexOf(dmaAddr);
  if (k < 0 || k + 1 >= slots.count) throw new VqsimError('SCENARIO_SETUP', 'the used RX buffer is not a middle slot');
  const stride = (slots.bufBytes + 63) & ~63;
  const damage = new Damage(m.mem, ctx.seed);
  damage.secret(slots.gpa + (k + 1) * stride, 1024);
  lie(mock, slot, dmaAddr, m.device);
  const got = driver.receive(0);
  const leaked = got.reduce((n, p) => n + damage.leakedIn(p.data), 0);
  const err = driver.errors[0];
  return outcomeOf(err, 'failed', {
    bytesLeaked: leaked,
    bytesCorrupted: damage.corrupted(),
    note: `${got.length} packet(s) handed up, ${got.reduce((n, p) => n + p.data.length, 0)} bytes`,
  });
}

/** A device whose control queue never answers. */
class MuteCtrl extends VirtioNetDevice {
  override onNotify(index: number): void {
    if (index === 2 * this.maxPairs) return;
    super.onNotify(index);
  }
}

/** A device whose MTU reads 1500 the first time and `later` after. */
class ShiftyMtu extends VirtioNetDevice {
  reads = 0;
  later = 60;
  override readConfig(offset: number, width: ConfigWidth): number {
    if (offset === NetConfig.MTU) return this.reads++ === 0 ? 1500 : this.later;
    return super.readConfig(offset, width);
  }
}

const netScenarios: Scenario[] = [
  {
    id: 'net-rx-len-past-buffer',
    violation: 'RX_LEN_EXCEEDS',
    attacker: 'device',
    title: 'completes an RX buffer with a used len of 3000 into a 1530-byte buffer',
    deployments: RING_AT_GPA,
    run: (ctx) =>
      rxLie(ctx, { mergeable: false }, (mock, slot) => mock.setUsedRing(slot, { ...mock.usedRing(slot), len: 3000 })),
  },
  {
    id: 'net-rx-num-buffers-missing',
    violation: 'RX_BUFFERS_MISSING',
    attacker: 'device',
    title: 'writes num_buffers 5 into a frame that used one mergeable buffer',
    deployments: RING_AT_GPA,
    run: (ctx) =>
      rxLie(ctx, {}, (_mock, _slot, dmaAddr, dev) => {
        // The device writes num_buffers = 5 (struct virtio_net_hdr_mrg_rxbuf, byte 10) where it wrote the header.
        dev.view.write(dmaAddr + 10, Uint8Array.of(5, 0));
      }),
  },
  {
    id: 'net-rx-short',
    violation: 'RX_SHORT',
    attacker: 'device',
    title: 'completes an RX buffer with a used len of 8, shorter than the virtio_net_hdr',
    deployments: RING_AT_GPA,
    run: (ctx) => rxLie(ctx, {}, (mock, slot) => mock.setUsedRing(slot, { ...mock.usedRing(slot), len: 8 })),
  },
  {
    id: 'net-mtu-changed',
    violation: 'MTU_CHANGED',
    attacker: 'device',
    title: 'reports MTU 1500 at validate and 60 when probe reads it again',
    run: (ctx) => {
      const m = netMachine(ctx, {}, { hardened: ctx.hardened, queueSize: 16 }, (d) => new ShiftyMtu(d.deviceView()));
      let mtu: number | undefined;
      const e = attempt(() => (mtu = m.probe().mtu));
      return outcomeOf(e, 'failed', { note: mtu === undefined ? undefined : `the driver runs with MTU ${mtu}` });
    },
  },
  {
    id: 'net-ctrl-no-answer',
    violation: 'CTRL_NO_ANSWER',
    attacker: 'device',
    title: 'never completes VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET',
    run: (ctx) => {
      const m = netMachine(
        ctx,
        {},
        { hardened: ctx.hardened, queueSize: 16 },
        (d) => new MuteCtrl(d.deviceView(), { queuePairs: 2 }),
      );
      return outcomeOf(
        attempt(() => m.probe()),
        'failed',
      );
    },
  },
  {
    id: 'net-mtu-below-minimum',
    violation: 'MTU_INVALID',
    attacker: 'device',
    title: 'offers VIRTIO_NET_F_MTU with an MTU of 50',
    run: (ctx) => {
      const d = netMachine(ctx, { mtu: 50 }, { hardened: ctx.hardened, queueSize: 16 }).probe();
      return clamped('MTU_INVALID', d.counters.mtuInvalid, { note: `the driver runs with MTU ${d.mtu ?? 1500}` });
    },
  },
  {
    id: 'net-max-pairs-out-of-range',
    violation: 'MAX_PAIRS_INVALID',
    attacker: 'device',
    title: 'reports max_virtqueue_pairs 0x8001 (2 queue pairs exist)',
    run: (ctx) => {
      const m = netMachine(ctx, {}, { hardened: ctx.hardened, queueSize: 16 }, (d) => {
        const dev = new VirtioNetDevice(d.deviceView(), { queuePairs: 2 });
        dev.config.setUint16(NetConfig.MAX_VIRTQUEUE_PAIRS, 0x8001, true);
        return dev;
      });
      let pairs = 0;
      let count = 0;
      const e = attempt(() => {
        const d = m.probe();
        pairs = d.maxPairs;
        count = d.counters.maxPairsInvalid;
      });
      if (e !== undefined) {
        // The naive driver believed it and asked for 2 × 0x8001 + 1 queues.
        const v = e instanceof VqsimError ? e.code : String(e);
        return { ...clamped('MAX_PAIRS_INVALID', 0), note: `probe failed: ${v}` };
      }
      return clamped('MAX_PAIRS_INVALID', count, { note: `the driver uses ${pairs} pair(s)` });
    },
  },
];

// ------------------------------------------------------------ virtio-console

const consoleScenarios: Scenario[] = [
  {
    id: 'console-rx-len-past-buffer',
    violation: 'RX_LEN_CLAMPED',
    attacker: 'device',
    title: 'completes a 64-byte receive buffer with a used len of 200',
    deployments: TRADITIONAL,
    run: (ctx) => {
      const mem = new GuestMemory({ size: 8 << 20 });
      const dma = new DmaApi(mem);
      const dev = new ConsoleDevice(dma.deviceView(), {});
      const access = new PciDriverAccess(new VirtioPciTransport(dev));
      const con = ConsoleDriver.probe(access, mem, dma, { queueSize: 16, rxBufferBytes: 64, hardened: ctx.hardened });
      // The device's face of the receive queue (the model keeps it private).
      const face = (
        dev as unknown as {
          rx: { pop(): { id: number; writable: { addr: bigint }[] }[] } & {
            push(u: { id: number; len: number }[]): void;
          };
        }
      ).rx;
      const chains = face.pop();
      const first = chains[0]!;
      const damage = new Damage(mem, ctx.seed);
      // The next receive buffers hold what the guest read before: secrets.
      damage.secret(Number(first.writable[0]!.addr) + 64, 128);
      face.push([{ id: first.id, len: 200 }]);
      const got = con.read();
      return clamped('RX_LEN_CLAMPED', con.rxLenClamped, {
        bytesLeaked: damage.leakedIn(got),
        note: `read() returned ${got.length} bytes`,
      });
    },
  },
];

// --------------------------------------------------------------- virtio-blk

function blkMachine(ctx: AttackContext, dev: BlkDeviceOptions, make: typeof BlkDevice = BlkDevice) {
  const { mem, dma } = env(ctx, 8 << 20);
  const view = dma.deviceView();
  const backend = MemoryBackend.create(view, 1 << 20);
  const device = new make(view, backend, dev);
  const access = new PciDriverAccess(new VirtioPciTransport(device));
  const probe = (o: BlkDriverOptions) => BlkDriver.probe(access, mem, dma, { queueSize: 16, ...o });
  return { mem, dma, view, backend, device, access, probe };
}

/** Completes every chain with used len `len`, writing no status byte. */
class LenLiar extends BlkDevice {
  len = 0;
  override onNotify(index: number): void {
    const q = this.server(index)!.queue;
    q.push(q.pop().map((c) => ({ id: c.id, len: this.len })));
  }
}

/** Completes nothing. */
class SilentBlk extends BlkDevice {
  override onNotify(_index: number): void {}
}

function blkLenLie(ctx: AttackContext, len: number): AttackOutcome {
  const m = blkMachine(ctx, {}, LenLiar);
  (m.device as LenLiar).len = len;
  const blk = m.probe({ hardened: ctx.hardened });
  const damage = new Damage(m.mem, ctx.seed);
  // A write the guest believes stored only with status OK; what the naive
  // driver takes as the status is the byte it left there.
  let status = -1;
  const e = attempt(() => (status = blk.write(0, new Uint8Array(512).fill(7))));
  return outcomeOf(e, 'failed', {
    bytesCorrupted: damage.corrupted(),
    note:
      status < 0 ? undefined : `the naive driver took status 0x${status.toString(16)} (never written by the device)`,
  });
}

const blkScenarios: Scenario[] = [
  {
    id: 'blk-used-len-past-buffer',
    violation: 'BLK_USED_LEN',
    attacker: 'device',
    title: 'completes a 512-byte write with a used len of 4098',
    run: (ctx) => blkLenLie(ctx, 4098),
  },
  {
    id: 'blk-no-status',
    violation: 'BLK_NO_STATUS',
    attacker: 'device',
    title: 'completes a write with a used len of 0: the status byte is never written',
    run: (ctx) => blkLenLie(ctx, 0),
  },
  {
    id: 'blk-never-completes',
    violation: 'BLK_NOT_COMPLETED',
    attacker: 'device',
    title: 'takes a read and never completes it',
    run: (ctx) => {
      const m = blkMachine(ctx, {}, SilentBlk);
      const blk = m.probe({ hardened: ctx.hardened, timeoutPolls: 1000 });
      const e = attempt(() => blk.read(0, 512));
      const q = blk.queues[0]!;
      return outcomeOf(e, 'failed', {
        note: `${blk.counters.timeouts} timeout(s), ${blk.counters.resets} reset(s), ${q.freeTags} of ${q.vq.size} tags free`,
      });
    },
  },
  {
    id: 'blk-mq-zero-queues',
    violation: 'BLK_MQ_ZERO_QUEUES',
    attacker: 'device',
    title: 'offers VIRTIO_BLK_F_MQ with num_queues 0',
    run: (ctx) => {
      const m = blkMachine(ctx, { mq: true });
      m.device.config.setUint16(BlkConfig.NUM_QUEUES, 0, true);
      let queues = -1;
      const e = attempt(() => (queues = m.probe({ hardened: ctx.hardened }).queues.length));
      return outcomeOf(e, 'failed', { note: queues < 0 ? undefined : `the driver runs with ${queues} queues` });
    },
  },
  {
    id: 'blk-invalid-block-size',
    violation: 'BLK_INVALID_BLOCK_SIZE',
    attacker: 'device',
    title: 'reports blk_size 100',
    run: (ctx) => {
      const m = blkMachine(ctx, {});
      m.device.config.setUint32(BlkConfig.BLK_SIZE, 100, true);
      let size = -1;
      const e = attempt(() => (size = m.probe({ hardened: ctx.hardened }).info.blkSize));
      return outcomeOf(e, 'failed', { note: size < 0 ? undefined : `the driver runs with blk_size ${size}` });
    },
  },
  {
    id: 'blk-capacity-past-2-53',
    violation: 'CAPACITY_CLAMPED',
    attacker: 'device',
    title: 'reports a capacity of 2^60 + 1 sectors',
    run: (ctx) => {
      const m = blkMachine(ctx, {});
      m.device.config.setUint32(BlkConfig.CAPACITY, 1, true);
      m.device.config.setUint32(BlkConfig.CAPACITY + 4, 2 ** 28, true);
      const blk = m.probe({ hardened: ctx.hardened });
      const c = blk.info.capacity;
      return clamped('CAPACITY_CLAMPED', blk.counters.capacityClamped, {
        note: `capacity ${c} sectors${Number.isSafeInteger(c * 512) ? '' : ': byte offsets past 2^53 are inexact'}`,
      });
    },
  },
  {
    id: 'blk-size-max-below-page',
    violation: 'BLK_INVALID_SIZE_MAX',
    attacker: 'device',
    title: 'offers VIRTIO_BLK_F_SIZE_MAX with size_max 512',
    run: (ctx) => {
      const m = blkMachine(ctx, { sizeMax: 512 });
      let seg = -1;
      const e = attempt(() => (seg = m.probe({ hardened: ctx.hardened }).maxSegmentBytes));
      return outcomeOf(e, 'failed', {
        note: seg < 0 ? undefined : `the driver ignores size_max: segments of up to ${seg} bytes`,
      });
    },
  },
];

// ----------------------------------------- any device: alive, serving nothing

const progressScenarios: Scenario[] = [
  {
    id: 'device-thread-stalls',
    violation: 'NO_PROGRESS',
    attacker: 'device',
    title: 'a device thread that keeps its heartbeat but stops completing after 64 chains (two-thread run)',
    deployments: TRADITIONAL,
    run: async (ctx) => {
      const q = createQueue(new GuestMemory({ size: 4 << 20 }), { ring: 'split', size: 64, name: 'attack' });
      const pair = await SplitPair.start(q, {
        deviceFault: { kind: 'stall', afterChains: 64 },
        // Naive: no progress watchdog; only the scenario's own bound ends the run.
        progressTimeoutMs: ctx.hardened ? 300 : Number.POSITIVE_INFINITY,
        hangTimeoutMs: 60_000,
        waitMs: 5,
      });
      let e: unknown;
      let done = 0;
      try {
        done = (await pair.run({ chains: 1e12, durationMs: 1500 })).chains;
      } catch (err) {
        e = err;
      } finally {
        await pair.stop();
      }
      const hung = e === undefined && done < 1e12;
      return outcomeOf(e, 'failed', { hung, note: hung ? 'the run ended only at the scenario bound' : undefined });
    },
  },
];

// ------------------------------------------------ a driver lying to a device

const driverScenarios: Scenario[] = [
  {
    id: 'blk-short-header',
    violation: 'BLK_BAD_REQUEST',
    attacker: 'driver',
    title: 'posts a blk request whose out header is 8 bytes',
    deployments: TRADITIONAL,
    run: (ctx) => {
      const m = blkMachine(ctx, {});
      const blk = m.probe({ hardened: ctx.hardened });
      const hdr = m.mem.alloc(4096, { shared: true });
      const damage = new Damage(m.mem, ctx.seed);
      // The device must not take what follows the 8 bytes as the sector: a canary there.
      damage.canary(hdr + 8, 8);
      m.mem.writeU32(hdr, BlkType.IN);
      const vq = blk.queues[0]!.vq;
      m.mem.writeU8(hdr + 64, 0xff);
      vq.driver.add([{ addr: hdr, len: 8 }], [{ addr: hdr + 64, len: 1 }], 0);
      m.access.notify(0);
      const fault = m.device.fault;
      const broken = (m.access.getStatus() & Status.NEEDS_RESET) !== 0;
      const variant = fault instanceof BlkRequestError ? fault.variant : undefined;
      return outcomeOf(fault, broken ? 'broken' : 'failed', {
        bytesCorrupted: damage.corrupted(),
        note:
          variant === undefined
            ? undefined
            : `variant ${variant}; status byte 0x${m.mem.readU8(hdr + 64).toString(16)}`,
      });
    },
  },
  {
    id: 'net-tx-frame-too-big',
    violation: 'NET_TX_FRAME_TOO_BIG',
    attacker: 'driver',
    title: 'posts a TX chain of 12 + 1519 bytes to a device with MTU 1500 and no GSO',
    deployments: TRADITIONAL,
    run: (ctx) => {
      const m = netMachine(ctx, { mtu: 1500, backend: { kind: 'sink' } }, { hardened: ctx.hardened, queueSize: 16 });
      const driver = m.probe();
      const buf = m.mem.alloc(4096, { shared: true });
      const tx = driver.pairs[0]!.tx;
      tx.driver.add([{ addr: buf, len: VIRTIO_NET_HDR_LEN + 1519 }], [], 0);
      m.access.notify(1);
      const fault = m.device.fault;
      if (fault !== undefined && !(fault instanceof DeviceError)) throw fault;
      const broken = (m.access.getStatus() & Status.NEEDS_RESET) !== 0;
      return outcomeOf(fault, broken ? 'broken' : 'failed', {
        note: `${m.device.txOversize} oversize chain(s) counted, ${m.device.totals().sinkPackets} frame(s) read`,
      });
    },
  },
];

export const deviceScenarios: readonly Scenario[] = [
  ...netScenarios,
  ...consoleScenarios,
  ...blkScenarios,
  ...progressScenarios,
  ...driverScenarios,
];

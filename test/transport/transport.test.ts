// Transports: register layouts against the Linux uapi headers, the device
// status state machine with its refusal paths and reset, 64-bit feature
// negotiation through both select halves, the config generation counter and
// the driver's stable-read loop, queue register rules, notifications and
// interrupts with their counters, and a full probe on PCI and MMIO.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DmaApi,
  DmaDirection,
  DmaView,
  Feature,
  GuestMemory,
  MmioDriverAccess,
  MmioReg,
  PackedQueue,
  PciBarLayout,
  PciCommon,
  PciDriverAccess,
  SplitQueue,
  TransportError,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MSI_NO_VECTOR,
  VirtioIsr,
  VirtioMmioTransport,
  VirtioPciTransport,
  VirtioStatus as S,
  deviceQueueFromAreas,
  features,
  hasFeature,
  probeDevice,
  type QueueDevice,
  readConfig64,
  readConfigStable,
  type ConfigWidth,
  type QueueConfig,
  type TransportAccess,
  type Virtqueue,
  type VirtioDeviceContext,
  type VirtioDeviceModel,
} from '../../src/internal.js';

const DEV_BIT_LO = 5; // a device-specific bit in the low word
const DEV_BIT_HI = 50; // a device-specific bit in the high word

/** A toy device: config space of 16 bytes, queues that complete every chain with its writable length. */
class ToyDevice implements VirtioDeviceModel {
  readonly deviceId = 3;
  readonly numQueues: number;
  readonly maxQueueSize = 128;
  readonly configSize = 16;
  ctx!: VirtioDeviceContext;
  readonly config = new DataView(new ArrayBuffer(16));
  readonly events: string[] = [];
  readonly ready = new Map<number, QueueConfig>();
  readonly attached = new Map<number, QueueDevice>();
  /** Called before each config read (lets a test change config between two reads). */
  beforeRead: ((offset: number) => void) | undefined;
  accept = true;
  live = false;

  constructor(
    readonly mem: GuestMemory,
    readonly deviceFeatures = features(
      Feature.VERSION_1,
      Feature.EVENT_IDX,
      Feature.INDIRECT_DESC,
      DEV_BIT_LO,
      DEV_BIT_HI,
    ),
    numQueues = 2,
  ) {
    this.numQueues = numQueues;
    this.config.setUint32(0, 0x11223344, true);
    this.config.setUint32(4, 1500, true);
  }
  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, width: ConfigWidth): number {
    this.beforeRead?.(offset);
    return width === 1
      ? this.config.getUint8(offset)
      : width === 2
        ? this.config.getUint16(offset, true)
        : this.config.getUint32(offset, true);
  }
  writeConfig(offset: number, width: ConfigWidth, value: number): void {
    if (width === 4) this.config.setUint32(offset, value, true);
    else if (width === 2) this.config.setUint16(offset, value, true);
    else this.config.setUint8(offset, value);
    this.ctx.configChanged();
  }
  /** A device-side veto: the toy refuses every feature set while `accept` is false. */
  validateFeatures(_f: bigint): boolean {
    return this.accept;
  }
  onQueueReady(index: number, q: QueueConfig): void {
    this.events.push(`ready ${index}`);
    this.ready.set(index, q);
    // A device model builds its own face from the programmed areas, through its DMA view.
    const areas = { desc: Number(q.desc), driver: Number(q.driver), device: Number(q.device) };
    this.attached.set(index, deviceQueueFromAreas(new DmaApi(this.mem).deviceView(), { ...q, ...areas }));
  }
  onDriverOk(f: bigint): void {
    this.events.push(`driver ok ${f.toString(16)}`);
    this.live = true;
  }
  onNotify(index: number): void {
    this.events.push(`notify ${index}`);
    const vq = this.attached.get(index);
    if (!vq || !this.live) return;
    const chains = vq.pop();
    vq.push(chains.map((c) => ({ id: c.id, len: c.writeBytes })));
    if (vq.shouldNotify()) this.ctx.raiseQueueInterrupt(index);
  }
  onReset(): void {
    this.events.push('reset');
    this.ready.clear();
    this.attached.clear();
    this.live = false;
  }
}

function setup(kind: 'pci' | 'mmio', dev?: (mem: GuestMemory) => ToyDevice) {
  const mem = new GuestMemory({ size: 1 << 22 });
  const toy = dev ? dev(mem) : new ToyDevice(mem);
  if (kind === 'pci') {
    const t = new VirtioPciTransport(toy);
    return { mem, toy, t, access: new PciDriverAccess(t) as TransportAccess };
  }
  const t = new VirtioMmioTransport(toy);
  return { mem, toy, t, access: new MmioDriverAccess(t) as TransportAccess };
}

/** `#define NAME value` lines of a uapi header, when the header is installed. */
function defines(path: string): Map<string, number> | undefined {
  if (!existsSync(path)) return undefined;
  const out = new Map<string, number>();
  for (const m of readFileSync(path, 'utf8').matchAll(
    /^#define\s+(\w+)\s+\(?\s*(0x[0-9a-fA-F]+|\d+)\s*\)?\s*(?:\/\*.*)?$/gm,
  )) {
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('register layouts', () => {
  it('virtio_pci_common_cfg offsets match linux/virtio_pci.h', () => {
    const want: Record<string, number> = {
      VIRTIO_PCI_COMMON_DFSELECT: PciCommon.DEVICE_FEATURE_SELECT,
      VIRTIO_PCI_COMMON_DF: PciCommon.DEVICE_FEATURE,
      VIRTIO_PCI_COMMON_GFSELECT: PciCommon.DRIVER_FEATURE_SELECT,
      VIRTIO_PCI_COMMON_GF: PciCommon.DRIVER_FEATURE,
      VIRTIO_PCI_COMMON_MSIX: PciCommon.CONFIG_MSIX_VECTOR,
      VIRTIO_PCI_COMMON_NUMQ: PciCommon.NUM_QUEUES,
      VIRTIO_PCI_COMMON_STATUS: PciCommon.DEVICE_STATUS,
      VIRTIO_PCI_COMMON_CFGGENERATION: PciCommon.CONFIG_GENERATION,
      VIRTIO_PCI_COMMON_Q_SELECT: PciCommon.QUEUE_SELECT,
      VIRTIO_PCI_COMMON_Q_SIZE: PciCommon.QUEUE_SIZE,
      VIRTIO_PCI_COMMON_Q_MSIX: PciCommon.QUEUE_MSIX_VECTOR,
      VIRTIO_PCI_COMMON_Q_ENABLE: PciCommon.QUEUE_ENABLE,
      VIRTIO_PCI_COMMON_Q_NOFF: PciCommon.QUEUE_NOTIFY_OFF,
      VIRTIO_PCI_COMMON_Q_DESCLO: PciCommon.QUEUE_DESC_LO,
      VIRTIO_PCI_COMMON_Q_DESCHI: PciCommon.QUEUE_DESC_HI,
      VIRTIO_PCI_COMMON_Q_AVAILLO: PciCommon.QUEUE_DRIVER_LO,
      VIRTIO_PCI_COMMON_Q_AVAILHI: PciCommon.QUEUE_DRIVER_HI,
      VIRTIO_PCI_COMMON_Q_USEDLO: PciCommon.QUEUE_DEVICE_LO,
      VIRTIO_PCI_COMMON_Q_USEDHI: PciCommon.QUEUE_DEVICE_HI,
      VIRTIO_MSI_NO_VECTOR,
      VIRTIO_PCI_ISR_CONFIG: VirtioIsr.CONFIG,
    };
    // Known values, so the test means something where the header is missing.
    expect([
      PciCommon.DEVICE_STATUS,
      PciCommon.QUEUE_SELECT,
      PciCommon.QUEUE_DESC_LO,
      PciCommon.QUEUE_DEVICE_HI,
    ]).toEqual([20, 22, 32, 52]);
    const h = defines('/usr/include/linux/virtio_pci.h');
    if (h) for (const [name, value] of Object.entries(want)) expect([name, h.get(name)]).toEqual([name, value]);
  });

  it('virtio-mmio offsets match linux/virtio_mmio.h, status bits match linux/virtio_config.h', () => {
    const want: Record<string, number> = {
      VIRTIO_MMIO_MAGIC_VALUE: MmioReg.MAGIC_VALUE,
      VIRTIO_MMIO_VERSION: MmioReg.VERSION,
      VIRTIO_MMIO_DEVICE_ID: MmioReg.DEVICE_ID,
      VIRTIO_MMIO_VENDOR_ID: MmioReg.VENDOR_ID,
      VIRTIO_MMIO_DEVICE_FEATURES: MmioReg.DEVICE_FEATURES,
      VIRTIO_MMIO_DEVICE_FEATURES_SEL: MmioReg.DEVICE_FEATURES_SEL,
      VIRTIO_MMIO_DRIVER_FEATURES: MmioReg.DRIVER_FEATURES,
      VIRTIO_MMIO_DRIVER_FEATURES_SEL: MmioReg.DRIVER_FEATURES_SEL,
      VIRTIO_MMIO_QUEUE_SEL: MmioReg.QUEUE_SEL,
      VIRTIO_MMIO_QUEUE_NUM_MAX: MmioReg.QUEUE_NUM_MAX,
      VIRTIO_MMIO_QUEUE_NUM: MmioReg.QUEUE_NUM,
      VIRTIO_MMIO_QUEUE_READY: MmioReg.QUEUE_READY,
      VIRTIO_MMIO_QUEUE_NOTIFY: MmioReg.QUEUE_NOTIFY,
      VIRTIO_MMIO_INTERRUPT_STATUS: MmioReg.INTERRUPT_STATUS,
      VIRTIO_MMIO_INTERRUPT_ACK: MmioReg.INTERRUPT_ACK,
      VIRTIO_MMIO_STATUS: MmioReg.STATUS,
      VIRTIO_MMIO_QUEUE_DESC_LOW: MmioReg.QUEUE_DESC_LOW,
      VIRTIO_MMIO_QUEUE_DESC_HIGH: MmioReg.QUEUE_DESC_HIGH,
      VIRTIO_MMIO_QUEUE_AVAIL_LOW: MmioReg.QUEUE_DRIVER_LOW,
      VIRTIO_MMIO_QUEUE_AVAIL_HIGH: MmioReg.QUEUE_DRIVER_HIGH,
      VIRTIO_MMIO_QUEUE_USED_LOW: MmioReg.QUEUE_DEVICE_LOW,
      VIRTIO_MMIO_QUEUE_USED_HIGH: MmioReg.QUEUE_DEVICE_HIGH,
      VIRTIO_MMIO_CONFIG_GENERATION: MmioReg.CONFIG_GENERATION,
      VIRTIO_MMIO_CONFIG: MmioReg.CONFIG,
    };
    const status: Record<string, number> = {
      VIRTIO_CONFIG_S_ACKNOWLEDGE: S.ACKNOWLEDGE,
      VIRTIO_CONFIG_S_DRIVER: S.DRIVER,
      VIRTIO_CONFIG_S_DRIVER_OK: S.DRIVER_OK,
      VIRTIO_CONFIG_S_FEATURES_OK: S.FEATURES_OK,
      VIRTIO_CONFIG_S_NEEDS_RESET: S.NEEDS_RESET,
      VIRTIO_CONFIG_S_FAILED: S.FAILED,
      VIRTIO_F_VERSION_1: Feature.VERSION_1,
      VIRTIO_F_ACCESS_PLATFORM: Feature.ACCESS_PLATFORM,
      VIRTIO_F_RING_PACKED: Feature.RING_PACKED,
      VIRTIO_F_IN_ORDER: Feature.IN_ORDER,
    };
    expect([MmioReg.QUEUE_READY, MmioReg.STATUS, MmioReg.CONFIG_GENERATION, MmioReg.CONFIG]).toEqual([
      0x44, 0x70, 0xfc, 0x100,
    ]);
    const h = defines('/usr/include/linux/virtio_mmio.h');
    if (h) for (const [name, value] of Object.entries(want)) expect([name, h.get(name)]).toEqual([name, value]);
    const c = defines('/usr/include/linux/virtio_config.h');
    if (c) for (const [name, value] of Object.entries(status)) expect([name, c.get(name)]).toEqual([name, value]);
  });

  it('the PCI registers read back at their offsets, with their widths', () => {
    const { t } = setup('pci');
    const pci = t as VirtioPciTransport;
    expect(pci.readCommon(PciCommon.NUM_QUEUES, 2)).toBe(2);
    expect(pci.readCommon(PciCommon.QUEUE_SIZE, 2)).toBe(128);
    expect(pci.readCommon(PciCommon.CONFIG_MSIX_VECTOR, 2)).toBe(VIRTIO_MSI_NO_VECTOR);
    pci.writeCommon(PciCommon.QUEUE_SELECT, 2, 1);
    expect(pci.readCommon(PciCommon.QUEUE_NOTIFY_OFF, 2)).toBe(1);
    pci.writeCommon(PciCommon.QUEUE_SELECT, 2, 7); // past the last queue
    expect(pci.readCommon(PciCommon.QUEUE_SIZE, 2)).toBe(0);
    // A 4-byte access to the 1-byte status field hits no field: ignored and counted.
    expect(pci.readCommon(PciCommon.DEVICE_STATUS, 4)).toBe(0);
    expect(pci.counters().invalidAccesses).toBe(1);
    // Through the BAR: device config at 0x2000.
    expect(pci.barRead(PciBarLayout.DEVICE + 4, 4)).toBe(1500);
    expect(pci.capabilities.find((c) => c.cfgType === 2)?.notifyOffMultiplier).toBe(4);
    expect(pci.pciDeviceId).toBe(0x1043);
  });

  it('the MMIO identity registers', () => {
    const { t } = setup('mmio');
    const mmio = t as VirtioMmioTransport;
    expect(mmio.read(MmioReg.MAGIC_VALUE)).toBe(VIRTIO_MMIO_MAGIC);
    expect(mmio.read(MmioReg.MAGIC_VALUE)).toBe(0x74726976);
    expect(mmio.read(MmioReg.VERSION)).toBe(2);
    expect(mmio.read(MmioReg.DEVICE_ID)).toBe(3);
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX)).toBe(128);
    mmio.write(MmioReg.QUEUE_SEL, 4, 2);
    expect(mmio.read(MmioReg.QUEUE_NUM_MAX)).toBe(0);
    expect(mmio.read(MmioReg.CONFIG, 4)).toBe(0x11223344);
    expect(mmio.read(MmioReg.CONFIG + 3, 1)).toBe(0x11);
    expect(mmio.read(MmioReg.CONFIG + 14, 4)).toBe(0); // past the 16-byte config space
    expect(mmio.counters().invalidAccesses).toBe(1);
  });
});

describe.each(['pci', 'mmio'] as const)('%s: device status state machine', (kind) => {
  it('walks ACKNOWLEDGE → DRIVER → FEATURES_OK → DRIVER_OK', () => {
    const { access, toy } = setup(kind);
    access.setStatus(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER);
    access.setDriverFeatures(features(Feature.VERSION_1));
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(access.getStatus()).toBe(15);
    expect(toy.events).toEqual(['driver ok 100000000']);
    expect(toy.ctx.negotiatedFeatures).toBe(features(Feature.VERSION_1));
  });

  it('rejects out-of-order bits and cleared bits, and keeps the old status', () => {
    const { access, t } = setup(kind);
    access.setStatus(S.DRIVER); // DRIVER before ACKNOWLEDGE
    expect(access.getStatus()).toBe(0);
    access.setStatus(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.FEATURES_OK); // FEATURES_OK before DRIVER
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER);
    access.setDriverFeatures(features(Feature.VERSION_1));
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.DRIVER_OK); // DRIVER_OK before FEATURES_OK
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.DRIVER);
    access.setStatus(S.DRIVER); // clears ACKNOWLEDGE
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.DRIVER);
    expect(t.lastRejection()).toMatch(/clears bits/);
    expect(t.counters().rejectedWrites).toBe(4);
  });

  it('FAILED sticks until a reset', () => {
    const { access } = setup(kind);
    access.setStatus(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.FAILED);
    access.setStatus(S.ACKNOWLEDGE | S.FAILED | S.DRIVER);
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.FAILED);
    access.reset();
    expect(access.getStatus()).toBe(0);
  });

  it('FEATURES_OK stays clear for unoffered features, without VERSION_1, or when the device says no', () => {
    const { access, toy, t } = setup(kind);
    const tryFeatures = (f: bigint) => {
      access.reset();
      access.setStatus(S.ACKNOWLEDGE);
      access.setStatus(S.ACKNOWLEDGE | S.DRIVER);
      access.setDriverFeatures(f);
      access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
      return (access.getStatus() & S.FEATURES_OK) !== 0;
    };
    expect(tryFeatures(features(Feature.VERSION_1, Feature.RING_PACKED))).toBe(false); // not offered
    expect(t.lastRejection()).toMatch(/does not offer/);
    expect(tryFeatures(features(Feature.EVENT_IDX))).toBe(false); // VERSION_1 dropped
    expect(t.lastRejection()).toMatch(/VERSION_1/);
    toy.accept = false;
    expect(tryFeatures(features(Feature.VERSION_1))).toBe(false);
    toy.accept = true;
    expect(tryFeatures(features(Feature.VERSION_1, DEV_BIT_HI))).toBe(true);
    expect(t.counters().featuresRefused).toBe(3);
    // Features are frozen once FEATURES_OK is set.
    access.setDriverFeatures(features(Feature.VERSION_1));
    expect(toy.ctx.negotiatedFeatures).toBe(features(Feature.VERSION_1, DEV_BIT_HI));
    expect(t.lastRejection()).toMatch(/after FEATURES_OK/);
  });

  it('a reset clears status, features, queue registers and tells the device', () => {
    const { access, toy, mem, t } = setup(kind);
    probeDevice(access, mem, { features: features(Feature.EVENT_IDX), queueSize: 16 });
    expect(toy.ready.size).toBe(2);
    toy.events.length = 0;
    access.reset();
    expect(toy.events).toEqual(['reset']);
    expect(access.getStatus()).toBe(0);
    expect(toy.ctx.negotiatedFeatures).toBe(0n);
    expect(access.queueMaxSize(0)).toBe(128);
    if (t instanceof VirtioPciTransport) {
      expect(t.readCommon(PciCommon.QUEUE_ENABLE, 2)).toBe(0);
      expect(t.readCommon(PciCommon.QUEUE_DESC_LO, 4)).toBe(0);
      expect(t.readCommon(PciCommon.QUEUE_MSIX_VECTOR, 2)).toBe(VIRTIO_MSI_NO_VECTOR);
    } else {
      expect(t.read(MmioReg.QUEUE_READY)).toBe(0);
      expect(t.read(MmioReg.QUEUE_DESC_LOW)).toBe(0);
    }
    expect(t.counters().resets).toBe(2); // the probe's and this one
  });

  it('NEEDS_RESET: set by the device, kept across driver writes, announced by a config interrupt', () => {
    const { access, toy, mem, t } = setup(kind);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    let configIrqs = 0;
    access.onConfigInterrupt(() => configIrqs++);
    toy.ctx.needsReset('toy broke');
    expect(access.getStatus() & S.NEEDS_RESET).toBe(S.NEEDS_RESET);
    expect(configIrqs).toBe(1);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK); // without NEEDS_RESET
    expect(access.getStatus()).toBe(15 | S.NEEDS_RESET);
    expect(t.core.needsResetReason()).toBe('toy broke');
    access.reset();
    expect(access.getStatus()).toBe(0);
  });
});

describe.each(['pci', 'mmio'] as const)('%s: features, config, queues', (kind) => {
  it('negotiates 64 bits through both select halves', () => {
    const { access, toy } = setup(kind);
    const offered = access.getDeviceFeatures();
    expect(offered).toBe(toy.deviceFeatures);
    expect(offered >> 32n).toBe(features(Feature.VERSION_1 - 32, DEV_BIT_HI - 32));
    access.setStatus(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER);
    const want = features(Feature.VERSION_1, DEV_BIT_LO, DEV_BIT_HI, Feature.EVENT_IDX);
    access.setDriverFeatures(want);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    expect(access.getStatus() & S.FEATURES_OK).toBe(S.FEATURES_OK);
    expect(toy.ctx.negotiatedFeatures).toBe(want);
  });

  it('device feature words past 63 read 0', () => {
    const { t } = setup(kind);
    if (t instanceof VirtioPciTransport) {
      t.writeCommon(PciCommon.DEVICE_FEATURE_SELECT, 4, 2);
      expect(t.readCommon(PciCommon.DEVICE_FEATURE, 4)).toBe(0);
      t.writeCommon(PciCommon.DEVICE_FEATURE_SELECT, 4, 1);
      expect(t.readCommon(PciCommon.DEVICE_FEATURE, 4)).toBe(1 | (1 << 18));
    } else {
      t.write(MmioReg.DEVICE_FEATURES_SEL, 4, 2);
      expect(t.read(MmioReg.DEVICE_FEATURES)).toBe(0);
      t.write(MmioReg.DEVICE_FEATURES_SEL, 4, 0);
      expect(t.read(MmioReg.DEVICE_FEATURES)).toBe((1 << 28) | (1 << 29) | (1 << 5));
    }
  });

  it('the generation counter moves on a change, and the stable read rereads across it', () => {
    const { access, toy, t } = setup(kind);
    const g0 = access.generation();
    toy.ctx.configChanged();
    expect(access.generation()).toBe(g0 + 1);
    // The device changes its config between the driver's two field reads, once.
    let changes = 0;
    toy.beforeRead = (offset) => {
      if (offset === 4 && changes === 0) {
        changes++;
        toy.config.setUint32(0, 0xaabbccdd, true);
        toy.config.setUint32(4, 9000, true);
        toy.ctx.configChanged();
      }
    };
    const before = t.counters();
    const got = readConfigStable(access, () => [access.readConfig(0, 4), access.readConfig(4, 4)]);
    expect(got).toEqual([0xaabbccdd, 9000]);
    const after = t.counters();
    expect(after.configReads - before.configReads).toBe(4); // two rounds of two fields
    expect(after.configGenerationChanges).toBe(2);
    // A device that changes on every read gets a named error, not a hang.
    toy.beforeRead = () => toy.ctx.configChanged();
    expect(() => readConfigStable(access, () => access.readConfig(0, 4), 5)).toThrow(
      expect.objectContaining({ code: 'CONFIG_UNSTABLE' }),
    );
  });

  it('a driver config write reaches the device, which bumps the generation and interrupts after DRIVER_OK', () => {
    const { access, toy, mem, t } = setup(kind);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    let configIrqs = 0;
    access.onConfigInterrupt(() => configIrqs++);
    const g = access.generation();
    access.writeConfig(8, 2, 0xbeef);
    expect(toy.config.getUint16(8, true)).toBe(0xbeef);
    expect(access.generation()).toBe(g + 1);
    expect(configIrqs).toBe(1);
    const c = t.counters();
    expect(c.configWrites).toBe(1);
    expect(c.configInterrupts).toBe(1);
  });

  it('queue registers: refused while enabled, after DRIVER_OK, before FEATURES_OK, with a bad size', () => {
    const { access, mem, t, toy } = setup(kind);
    const q = new SplitQueue(mem, { size: 16 });
    access.setStatus(S.ACKNOWLEDGE);
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER);
    expect(() => access.setupQueue(0, q)).toThrow(expect.objectContaining({ code: 'QUEUE_ENABLE_REFUSED' }));
    expect(t.lastRejection()).toMatch(/before FEATURES_OK/);
    access.setDriverFeatures(features(Feature.VERSION_1));
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    access.setupQueue(0, q);
    expect(toy.ready.get(0)).toMatchObject({ size: 16, ring: 'split', desc: BigInt(q.areas.desc) });
    expect(toy.ready.get(0)).toMatchObject({ driver: BigInt(q.areas.avail), device: BigInt(q.areas.used) });
    // Queue 0 is enabled: its size may not change.
    if (t instanceof VirtioPciTransport) {
      t.writeCommon(PciCommon.QUEUE_SELECT, 2, 0);
      t.writeCommon(PciCommon.QUEUE_SIZE, 2, 8);
      expect(t.readCommon(PciCommon.QUEUE_SIZE, 2)).toBe(16);
      t.writeCommon(PciCommon.QUEUE_ENABLE, 2, 0); // the driver may not write 0
      expect(t.readCommon(PciCommon.QUEUE_ENABLE, 2)).toBe(1);
      // Queue 1: a size that is not a power of two cannot be enabled on a split ring.
      t.writeCommon(PciCommon.QUEUE_SELECT, 2, 1);
      t.writeCommon(PciCommon.QUEUE_SIZE, 2, 24);
      t.writeCommon(PciCommon.QUEUE_ENABLE, 2, 1);
      expect(t.readCommon(PciCommon.QUEUE_ENABLE, 2)).toBe(0);
      expect(t.lastRejection()).toMatch(/size 24: must be a power of two/);
    } else {
      t.write(MmioReg.QUEUE_SEL, 4, 0);
      t.write(MmioReg.QUEUE_DESC_LOW, 4, 0x1000);
      expect(t.read(MmioReg.QUEUE_DESC_LOW)).toBe(q.areas.desc);
      t.write(MmioReg.QUEUE_SEL, 4, 1);
      t.write(MmioReg.QUEUE_NUM, 4, 256); // above QueueNumMax
      t.write(MmioReg.QUEUE_READY, 4, 1);
      expect(t.read(MmioReg.QUEUE_READY)).toBe(0);
      expect(t.lastRejection()).toMatch(/size 256/);
    }
    access.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    // PCI fails at the vector read-back, MMIO at the QueueReady read-back: both refused writes.
    expect(() => access.setupQueue(1, new SplitQueue(mem, { size: 8 }))).toThrow(
      expect.objectContaining({ code: kind === 'pci' ? 'MSIX_VECTOR_REFUSED' : 'QUEUE_ENABLE_REFUSED' }),
    );
    expect(t.lastRejection()).toMatch(/written after DRIVER_OK/);
  });
});

/** Adds one chain (16 readable + 32 writable bytes) on queue `i` and kicks. */
function roundTrip(mem: GuestMemory, access: TransportAccess, vq: Virtqueue, i: number, token: number): void {
  const buf = mem.alloc(4096, { shared: true });
  expect(vq.driver.add([{ addr: buf, len: 16 }], [{ addr: buf + 64, len: 32 }], token)).toBe(true);
  if (vq.driver.kick()) access.notify(i);
}

describe.each(['pci', 'mmio'] as const)('%s: full probe against a toy device', (kind) => {
  it('probes, runs a chain on each queue, and counts every exit and interrupt', () => {
    const { access, toy, mem, t } = setup(kind);
    const dev = probeDevice(access, mem, {
      features: features(Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED, DEV_BIT_HI),
      queueSize: 64,
    });
    expect(dev.deviceId).toBe(3);
    expect(dev.features).toBe(features(Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, DEV_BIT_HI));
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(dev.queues.map((q) => [q.size, q instanceof SplitQueue])).toEqual([
      [64, true],
      [64, true],
    ]);
    expect(toy.events).toEqual(['reset', 'ready 0', 'ready 1', `driver ok ${dev.features.toString(16)}`]);
    expect(toy.ready.get(1)).toMatchObject({ eventIdx: true, indirect: true, inOrder: false, ring: 'split' });

    const done: number[][] = [[], []];
    dev.queues.forEach((vq, i) =>
      access.onQueueInterrupt(i, () => done[i]!.push(...vq.driver.getUsed().map((c) => c.token))),
    );
    const before = t.counters();
    roundTrip(mem, access, dev.queues[0]!, 0, 7);
    roundTrip(mem, access, dev.queues[1]!, 1, 8);
    expect(done).toEqual([[7], [8]]);
    const c = t.counters();
    expect(c.notifications - before.notifications).toBe(2);
    expect(c.perQueue).toEqual([
      { notifications: 1, interrupts: 1 },
      { notifications: 1, interrupts: 1 },
    ]);
    expect(c.queueInterrupts).toBe(2);
    expect(c.interrupts).toBe(2);
    expect(c.interruptsSuppressed).toBe(0);
    expect(c.registerReads).toBeGreaterThan(0);
    expect(c.registerWrites).toBeGreaterThan(0);
    if (kind === 'mmio') {
      // vm_interrupt: one InterruptStatus read and one ACK per interrupt.
      expect(c.isrReads - before.isrReads).toBe(2);
      expect((t as VirtioMmioTransport).read(MmioReg.INTERRUPT_STATUS)).toBe(0);
    } else {
      // MSI-X: no ISR read; vectors 1 and 2 for the queues, 0 for config.
      expect(c.isrReads).toBe(0);
      const pci = t as VirtioPciTransport;
      pci.writeCommon(PciCommon.QUEUE_SELECT, 2, 1);
      expect(pci.readCommon(PciCommon.QUEUE_MSIX_VECTOR, 2)).toBe(2);
      expect(pci.readCommon(PciCommon.CONFIG_MSIX_VECTOR, 2)).toBe(0);
    }
  });

  it('RING_PACKED negotiated builds packed queues', () => {
    const { access, toy, mem } = setup(kind, (m) => new ToyDevice(m, features(Feature.VERSION_1, Feature.RING_PACKED)));
    const dev = probeDevice(access, mem, { features: features(Feature.RING_PACKED), queueSize: 100 });
    expect(dev.queues.map((q) => [q.size, q instanceof PackedQueue])).toEqual([
      [100, true],
      [100, true],
    ]);
    expect(toy.ready.get(0)?.ring).toBe('packed');
    let got: number[] = [];
    access.onQueueInterrupt(0, () => (got = dev.queues[0]!.driver.getUsed().map((c) => c.token)));
    roundTrip(mem, access, dev.queues[0]!, 0, 42);
    expect(got).toEqual([42]);
  });

  it('refuses a device without VERSION_1, and sets FAILED', () => {
    const { access, mem } = setup(kind, (m) => new ToyDevice(m, features(Feature.EVENT_IDX)));
    let caught: unknown;
    try {
      probeDevice(access, mem, { features: features(Feature.EVENT_IDX) });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TransportError);
    expect((caught as TransportError).code).toBe('NO_VERSION_1');
    expect((caught as Error).message).toBe(
      'virtio: device 3 uses modern interface but does not have VIRTIO_F_VERSION_1',
    );
    expect(access.getStatus() & S.FAILED).toBe(S.FAILED);
  });

  it('fails with FEATURES_REFUSED when the device does not keep FEATURES_OK', () => {
    const { access, mem, toy } = setup(kind);
    toy.accept = false;
    expect(() => probeDevice(access, mem, { features: 0n })).toThrow(
      expect.objectContaining({ code: 'FEATURES_REFUSED', message: 'virtio: device refuses features: 0x100000000' }),
    );
    expect(access.getStatus()).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FAILED);
  });
});

describe('notifications and interrupts', () => {
  it('PCI doorbells: address = notify base + queue_notify_off × multiplier; ignored before DRIVER_OK', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const toy = new ToyDevice(mem, undefined, 3);
    const t = new VirtioPciTransport(toy, { notifyOffMultiplier: 8 });
    t.barWrite(PciBarLayout.NOTIFY + 16, 2, 2); // before DRIVER_OK
    expect(t.counters()).toMatchObject({ notifications: 1, notificationsIgnored: 1 });
    const access = new PciDriverAccess(t);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    toy.events.length = 0;
    t.barWrite(PciBarLayout.NOTIFY + 16, 2, 2);
    access.notify(1);
    expect(toy.events).toEqual(['notify 2', 'notify 1']);
    const c = t.counters();
    expect(c.notifications).toBe(3);
    expect(c.perQueue.map((q) => q.notifications)).toEqual([0, 1, 1]);
  });

  it('PCI INTx: ISR bits, read to clear', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const toy = new ToyDevice(mem);
    const t = new VirtioPciTransport(toy);
    const access = new PciDriverAccess(t, { msix: false });
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    let q0 = 0;
    let cfg = 0;
    access.onQueueInterrupt(0, () => q0++);
    access.onConfigInterrupt(() => cfg++);
    expect(toy.ctx.raiseQueueInterrupt(0)).toBe(true);
    expect(q0).toBe(1); // the driver's handler read the ISR, which cleared it
    expect(t.readIsr()).toBe(0);
    // Without a handler the bits stay until read, once.
    t.setInterruptHandler(undefined);
    toy.ctx.raiseQueueInterrupt(1);
    toy.ctx.raiseConfigInterrupt();
    expect(t.readIsr()).toBe(VirtioIsr.QUEUE | VirtioIsr.CONFIG);
    expect(t.readIsr()).toBe(0);
    const c = t.counters();
    expect(c).toMatchObject({ interrupts: 3, queueInterrupts: 2, configInterrupts: 1, isrReads: 4 });
    expect(cfg).toBe(0);
  });

  it('PCI MSI-X: a vector the table lacks reads back NO_VECTOR; an interrupt to no vector is suppressed', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const toy = new ToyDevice(mem);
    const t = new VirtioPciTransport(toy, { msixVectors: 3 });
    t.writeCommon(PciCommon.CONFIG_MSIX_VECTOR, 2, 3);
    expect(t.readCommon(PciCommon.CONFIG_MSIX_VECTOR, 2)).toBe(VIRTIO_MSI_NO_VECTOR);
    t.writeCommon(PciCommon.CONFIG_MSIX_VECTOR, 2, 2);
    expect(t.readCommon(PciCommon.CONFIG_MSIX_VECTOR, 2)).toBe(2);
    const access = new PciDriverAccess(t);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    t.writeCommon(PciCommon.QUEUE_SELECT, 2, 0);
    expect(t.readCommon(PciCommon.QUEUE_MSIX_VECTOR, 2)).toBe(1);
    // A queue left without a vector: the interrupt goes nowhere, counted.
    t.core.queues[1]!.msixVector = VIRTIO_MSI_NO_VECTOR;
    expect(toy.ctx.raiseQueueInterrupt(1)).toBe(false);
    expect(t.counters().interruptsSuppressed).toBe(1);
  });

  it('PCI MSI-X with a short table: queues share vector 1, and each interrupt reaches every queue on it', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const toy = new ToyDevice(mem, undefined, 3);
    const t = new VirtioPciTransport(toy, { msixVectors: 2 });
    const access = new PciDriverAccess(t);
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    const hits: number[] = [];
    for (let i = 0; i < 3; i++) access.onQueueInterrupt(i, () => hits.push(i));
    toy.ctx.raiseQueueInterrupt(2);
    expect(hits).toEqual([0, 1, 2]);
    expect(t.counters().perQueue.map((q) => q.interrupts)).toEqual([0, 0, 1]);
  });

  it('a 64-bit config field is read as two halves inside the stable read', () => {
    const { access, toy } = setup('pci');
    toy.config.setBigUint64(8, 0x123456789abcdef0n, true);
    expect(readConfigStable(access, () => readConfig64(access, 8))).toBe(0x123456789abcdef0n);
  });

  it('no used-buffer interrupt before DRIVER_OK', () => {
    const { toy, t } = setup('mmio');
    expect(toy.ctx.raiseQueueInterrupt(0)).toBe(false);
    expect(t.counters()).toMatchObject({ interrupts: 0, interruptsSuppressed: 1 });
  });

  it('MMIO: InterruptStatus holds the bits until InterruptACK', () => {
    const { toy, t, access, mem } = setup('mmio');
    probeDevice(access, mem, { features: 0n, queueSize: 8 });
    const mmio = t as VirtioMmioTransport;
    mmio.setInterruptHandler(undefined);
    toy.ctx.raiseQueueInterrupt(0);
    toy.ctx.configChanged();
    expect(mmio.read(MmioReg.INTERRUPT_STATUS)).toBe(3);
    expect(mmio.read(MmioReg.INTERRUPT_STATUS)).toBe(3);
    mmio.write(MmioReg.INTERRUPT_ACK, 4, VirtioIsr.QUEUE);
    expect(mmio.read(MmioReg.INTERRUPT_STATUS)).toBe(VirtioIsr.CONFIG);
    expect(mmio.counters()).toMatchObject({ interrupts: 2, queueInterrupts: 1, configInterrupts: 1 });
  });
});

describe('device models see guest memory through a DMA view', () => {
  it('a device reads a driver buffer by DMA address', () => {
    const mem = new GuestMemory({ size: 1 << 22 });
    const dma = new DmaApi(mem);
    const view: DmaView = dma.deviceView();
    const buf = mem.alloc(4096);
    mem.writeU32(buf, 0xcafef00d);
    const addr = dma.map(buf, 4, DmaDirection.TO_DEVICE);
    expect(view.readU32(addr)).toBe(0xcafef00d);
    dma.unmap(addr, 4, DmaDirection.TO_DEVICE);
  });
});

describe('VIRTIO_F_IN_ORDER through the transport', () => {
  for (const kind of ['pci', 'mmio'] as const) {
    it(`${kind}: negotiated with a packed ring, the device's face batches; dropped for a split ring`, () => {
      const offered = features(Feature.VERSION_1, Feature.RING_PACKED, Feature.IN_ORDER);
      const { access, toy, mem } = setup(kind, (m) => new ToyDevice(m, offered));
      const dev = probeDevice(access, mem, { features: offered, queueSize: 10 });
      expect(toy.ready.get(0)?.inOrder).toBe(true);
      expect((dev.queues[0] as PackedQueue).inOrder).toBe(true);
      const face = toy.attached.get(0) as unknown as { inOrder: boolean };
      expect(face.inOrder).toBe(true);

      const split = setup(kind, (m) => new ToyDevice(m, features(Feature.VERSION_1, Feature.IN_ORDER)));
      const sdev = probeDevice(split.access, split.mem, { features: features(Feature.IN_ORDER), queueSize: 8 });
      expect(hasFeature(sdev.features, Feature.IN_ORDER)).toBe(false);
      expect(split.toy.ready.get(0)?.inOrder).toBe(false);
    });
  }
});

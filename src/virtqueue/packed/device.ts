import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import { registerStats } from '../../memory/stats-registry.js';
import { DeviceFace, type DeviceAddrs, type DeviceStateOffsets } from '../device-face.js';
import type { DeviceFaceOwner, DeviceHost, DeviceRingOptions, ProgrammedRing } from '../device-host.js';
import { checkPopElements, deviceModeFlags, faceOwner } from '../device-host.js';
import type { PackedEngine } from '../engine.js';
import { checkPackedQueueSize } from './layout.js';

/** Where a packed device's state lives (see DeviceAddrs). */
export type PackedDeviceAddrs = DeviceAddrs;

const OFFSETS: DeviceStateOffsets = {
  broken: P.PDEV_BROKEN,
  inflight: P.PDEV_INFLIGHT,
  errA: P.PDEV_ERR_A,
  errB: P.PDEV_ERR_B,
  batchDone: P.PDEV_BATCH_DONE,
};

/**
 * The device's face of a packed queue, after QEMU's virtqueue_packed_pop and
 * virtqueue_packed_flush. Pop output and push input have the split ring's
 * format, so a device model works on either ring unchanged; a chain's id is
 * its buffer id.
 */
export class PackedDevice extends DeviceFace {
  constructor(
    private readonly pq: DeviceFaceOwner<PackedEngine>,
    addrs: PackedDeviceAddrs,
  ) {
    super(pq, addrs, OFFSETS);
    this.inOrder = (this.u32(P.PDEV_FEATURES) & L.QF_IN_ORDER) !== 0;
  }

  /** VIRTIO_F_IN_ORDER negotiated: each push is one batch, written as one used descriptor. */
  readonly inOrder: boolean;

  private static layOut(
    host: DeviceHost,
    engine: PackedEngine,
    size: number,
    areas: { desc: number; driver: number; device: number },
    flags: number,
    statsBlock: number,
    popElements: number,
  ): PackedDeviceAddrs {
    const state = host.hostAlloc(P.PDEV_SIZE);
    const s = (off: number, val: number) => host.hostView.setUint32(state + off, val, true);
    s(P.PDEV_NUM, size);
    s(P.PDEV_FEATURES, flags);
    s(P.PDEV_DESC, areas.desc);
    s(P.PDEV_DRIVER_AREA, areas.driver);
    s(P.PDEV_DEVICE_AREA, areas.device);
    s(P.PDEV_STATS, statsBlock);
    s(P.PDEV_DMA_CTX, host.dmaContext);
    s(P.PDEV_IDS, host.hostAlloc(size * 2));
    if (flags & L.QF_IN_ORDER) s(P.PDEV_ORDER, host.hostAlloc(size * 2));
    engine.packed_dev_init(state);
    return {
      state,
      popOut: host.hostAlloc(size * L.POP_SIZE + popElements * L.ELEM_SIZE),
      popChains: size,
      popElements,
      pushIn: host.hostAlloc(size * 8),
      statsBlock,
    };
  }

  /**
   * The device's own face of a packed ring a driver programmed through the
   * transport, the only way a packed device face is built (see
   * SplitDevice.fromAreas): the areas and every descriptor are translated
   * through the device's DMA context; state and stats live in its host memory.
   */
  static fromAreas(host: DeviceHost, ring: ProgrammedRing, options: DeviceRingOptions = {}): PackedDevice {
    const { size } = ring;
    checkPackedQueueSize(size);
    const areas = {
      desc: host.linear(ring.desc, size * P.PDESC_SIZE, false),
      driver: host.linear(ring.driver, P.PEVENT_SIZE, false),
      device: host.linear(ring.device, P.PEVENT_SIZE, true),
    };
    const flags =
      (ring.eventIdx ? L.QF_EVENT_IDX : 0) |
      (ring.indirect ? L.QF_INDIRECT : 0) |
      (ring.inOrder ? L.QF_IN_ORDER : 0) |
      deviceModeFlags(host, options);
    const popElements = checkPopElements(options.popElements, size);
    const statsBlock = host.hostAlloc(L.ST_SIZE);
    registerStats(host.hostView.buffer, 'ring', options.statsName ?? options.name ?? 'vq0', statsBlock);
    const owner = faceOwner<PackedEngine>(host, size, options);
    return new PackedDevice(
      owner,
      PackedDevice.layOut(host, owner.engine, size, areas, flags, statsBlock, popElements),
    );
  }

  /** A second face of a device queue laid out in the same memory (another thread's). */
  static attach(
    host: Pick<DeviceHost, 'hostView' | 'core'>,
    addrs: PackedDeviceAddrs,
    size: number,
    options: DeviceRingOptions = {},
  ): PackedDevice {
    return new PackedDevice(faceOwner<PackedEngine>(host, size, options), addrs);
  }

  /** The device's avail wrap counter (the lap it expects at its next descriptor). */
  get availWrapCounter(): number {
    return this.u32(P.PDEV_AVAIL_WRAP);
  }

  /** The device ring wrap counter used for the next used descriptor. */
  get usedWrapCounter(): number {
    return this.u32(P.PDEV_USED_WRAP);
  }

  protected popRaw(out: number, max: number, elemCap: number): number {
    if (this.inOrder) return this.pq.engine.packed_dev_pop_in_order(this.state, out, max, elemCap);
    return this.pq.engine.packed_dev_pop(this.state, out, max, elemCap);
  }
  protected pushRaw(entries: number, n: number, stride: number): number {
    if (this.inOrder) return this.pq.engine.packed_dev_push_in_order(this.state, entries, n, stride);
    return this.pq.engine.packed_dev_push(this.state, entries, n, stride);
  }
  protected useRaw(out: number, max: number, elemCap: number): number {
    return this.pq.engine.packed_dev_use(this.state, out, max, elemCap);
  }
  // virtio_packed_should_notify()
  protected shouldNotifyRaw(): number {
    return this.pq.engine.packed_dev_should_notify(this.state);
  }
  // virtio_queue_packed_set_notification()
  protected setNotifyRaw(enable: number): number {
    return this.pq.engine.packed_dev_set_notify(this.state, enable);
  }
}

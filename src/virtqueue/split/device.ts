import * as L from '../../../assembly/layout.js';
import { registerStats } from '../../memory/stats-registry.js';
import { DeviceFace, type DeviceAddrs, type DeviceStateOffsets } from '../device-face.js';
import type { DeviceFaceOwner, DeviceHost, DeviceRingOptions, ProgrammedRing } from '../device-host.js';
import { checkPopElements, deviceModeFlags, faceOwner } from '../device-host.js';
import type { SplitEngine } from '../engine.js';
import { checkQueueSize } from './layout.js';

export type { Chain, PoppedBuffer, UsedElem } from '../device-face.js';
/** Where a split device's state lives (see DeviceAddrs). */
export type SplitDeviceAddrs = DeviceAddrs;

const OFFSETS: DeviceStateOffsets = {
  broken: L.DEV_BROKEN,
  inflight: L.DEV_INFLIGHT,
  errA: L.DEV_ERR_A,
  errB: L.DEV_ERR_B,
  batchDone: L.DEV_BATCH_DONE,
};

/**
 * The device's face of a split queue, after QEMU's virtqueue_pop, virtqueue_
 * fill/flush and virtio_should_notify, on the engine the queue runs.
 */
export class SplitDevice extends DeviceFace {
  constructor(
    private readonly sq: DeviceFaceOwner<SplitEngine>,
    addrs: SplitDeviceAddrs,
  ) {
    super(sq, addrs, OFFSETS);
  }

  private static layOut(
    host: DeviceHost,
    size: number,
    rings: { desc: number; avail: number; used: number },
    flags: number,
    statsBlock: number,
    popElements: number,
  ): SplitDeviceAddrs {
    const state = host.hostAlloc(L.DEV_SIZE);
    const s = (off: number, val: number) => host.hostView.setUint32(state + off, val, true);
    s(L.DEV_NUM, size);
    s(L.DEV_FEATURES, flags);
    s(L.DEV_DESC, rings.desc);
    s(L.DEV_AVAIL, rings.avail);
    s(L.DEV_USED, rings.used);
    s(L.DEV_STATS, statsBlock);
    s(L.DEV_DMA_CTX, host.dmaContext);
    s(L.DEV_NOTIFY_ENABLED, 1);
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
   * The device's own face of a split ring that a driver programmed through the
   * transport: the only way a split device face is built. The three areas are
   * translated through the device's DMA context once, here (QEMU's vring
   * caches; a fault if the driver pointed them outside what the device may
   * reach), and every descriptor is translated through it at pop time; state,
   * stats and pop output live in the device's host memory. Nothing of the
   * driver's side is shared but the ring itself.
   */
  static fromAreas(host: DeviceHost, ring: ProgrammedRing, options: DeviceRingOptions = {}): SplitDevice {
    const { size } = ring;
    checkQueueSize(size);
    const rings = {
      desc: host.linear(ring.desc, size * L.VRING_DESC_SIZE, false),
      avail: host.linear(ring.driver, L.VRING_AVAIL_RING + 2 * size + 2, false),
      used: host.linear(ring.device, L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * size + 2, true),
    };
    const flags =
      (ring.eventIdx ? L.QF_EVENT_IDX : 0) | (ring.indirect ? L.QF_INDIRECT : 0) | deviceModeFlags(host, options);
    const popElements = checkPopElements(options.popElements, size);
    const statsBlock = host.hostAlloc(L.ST_SIZE);
    registerStats(host.hostView.buffer, 'ring', options.statsName ?? options.name ?? 'vq0', statsBlock);
    return new SplitDevice(
      faceOwner<SplitEngine>(host, size, options),
      SplitDevice.layOut(host, size, rings, flags, statsBlock, popElements),
    );
  }

  /** A second face of a device queue laid out in the same memory (another thread's). */
  static attach(
    host: Pick<DeviceHost, 'hostView' | 'core'>,
    addrs: SplitDeviceAddrs,
    size: number,
    options: DeviceRingOptions = {},
  ): SplitDevice {
    return new SplitDevice(faceOwner<SplitEngine>(host, size, options), addrs);
  }

  protected popRaw(out: number, max: number, elemCap: number): number {
    return this.sq.engine.split_dev_pop(this.state, out, max, elemCap);
  }
  protected pushRaw(entries: number, n: number, stride: number): number {
    return this.sq.engine.split_dev_push(this.state, entries, n, stride);
  }
  protected useRaw(out: number, max: number, elemCap: number): number {
    return this.sq.engine.split_dev_use(this.state, out, max, elemCap);
  }
  protected shouldNotifyRaw(): number {
    return this.sq.engine.split_dev_should_notify(this.state);
  }
  protected setNotifyRaw(enable: number): number {
    return this.sq.engine.split_dev_set_notify(this.state, enable);
  }
}

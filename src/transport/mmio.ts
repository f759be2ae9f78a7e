// virtio-mmio version 2 (VIRTIO 1.2 §4.2): 32-bit registers below 0x100, the
// device-specific config space from 0x100, one interrupt line with the
// InterruptStatus / InterruptACK pair.

import { Mmio, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION } from '../spec/mmio.js';
import { TransportBase, type TransportStatsOptions } from './core.js';
import type { VirtioDeviceModel } from './device-model.js';

/** VendorID a device model without one presents ("QEMU", as QEMU's virtio-mmio does). */
export const DEFAULT_MMIO_VENDOR_ID = 0x554d4551;

/**
 * A virtio-mmio device window carrying one device model. The guest accesses
 * it with read(offset, width) and write(offset, width, value); MmioDriverAccess
 * does this for a driver.
 */
export class VirtioMmioTransport extends TransportBase {
  readonly kind = 'mmio' as const;

  /** `options.stats`: keep the counters in the machine's stats registry (default: a private block). */
  constructor(device: VirtioDeviceModel, options: { stats?: TransportStatsOptions } = {}) {
    super(device, `virtio-mmio device ${device.deviceId}`, options.stats);
    device.attach(this.core.ctx);
  }

  read(offset: number, width = 4): number {
    const c = this.core;
    if (offset >= Mmio.CONFIG) return c.readConfig(offset - Mmio.CONFIG, width);
    c.countRead();
    if (width !== 4 || offset % 4 !== 0) {
      c.invalid(`register read of ${width} bytes at ${offset}: registers are 32-bit and aligned`);
      return 0;
    }
    const q = c.selected();
    switch (offset) {
      case Mmio.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case Mmio.VERSION:
        return VIRTIO_MMIO_VERSION;
      case Mmio.DEVICE_ID:
        return this.device.deviceId;
      case Mmio.VENDOR_ID:
        return this.device.vendorId ?? DEFAULT_MMIO_VENDOR_ID;
      case Mmio.DEVICE_FEATURES:
        return c.deviceFeatureWord();
      case Mmio.QUEUE_NUM_MAX:
        return q ? this.device.maxQueueSize : 0; // 0: the queue is not available
      case Mmio.QUEUE_READY:
        return q?.enabled ? 1 : 0;
      case Mmio.INTERRUPT_STATUS:
        c.count('isrReads');
        return c.isr;
      case Mmio.STATUS:
        return c.status;
      case Mmio.QUEUE_DESC_LOW:
      case Mmio.QUEUE_DESC_HIGH:
        return c.readQueueAddr('desc', offset === Mmio.QUEUE_DESC_HIGH);
      case Mmio.QUEUE_DRIVER_LOW:
      case Mmio.QUEUE_DRIVER_HIGH:
        return c.readQueueAddr('driver', offset === Mmio.QUEUE_DRIVER_HIGH);
      case Mmio.QUEUE_DEVICE_LOW:
      case Mmio.QUEUE_DEVICE_HIGH:
        return c.readQueueAddr('device', offset === Mmio.QUEUE_DEVICE_HIGH);
      case Mmio.CONFIG_GENERATION:
        return c.generation;
      default:
        // Write-only registers (…Sel, QueueNum, QueueNotify, InterruptACK, DriverFeatures) and holes.
        c.invalid(`register at ${offset} is not readable`);
        return 0;
    }
  }

  write(offset: number, width: number, value: number): void {
    const c = this.core;
    if (offset >= Mmio.CONFIG) {
      c.writeConfig(offset - Mmio.CONFIG, width, value);
      return;
    }
    if (offset === Mmio.QUEUE_NOTIFY) {
      // A doorbell: counted as a notification, not as a register write.
      if (width !== 4) {
        c.count('notifications');
        c.count('notificationsIgnored');
        c.invalid(`QueueNotify write of ${width} bytes: registers are 32-bit`);
        return;
      }
      c.notify(value >>> 0);
      return;
    }
    c.countWrite();
    if (width !== 4 || offset % 4 !== 0) {
      c.invalid(`register write of ${width} bytes at ${offset}: registers are 32-bit and aligned`);
      return;
    }
    switch (offset) {
      case Mmio.DEVICE_FEATURES_SEL:
        c.deviceFeatureSel = value >>> 0;
        return;
      case Mmio.DRIVER_FEATURES:
        c.writeDriverFeatureWord(value);
        return;
      case Mmio.DRIVER_FEATURES_SEL:
        c.driverFeatureSel = value >>> 0;
        return;
      case Mmio.QUEUE_SEL:
        c.queueSel = value >>> 0;
        return;
      case Mmio.QUEUE_NUM:
        c.writeQueueSize(value);
        return;
      case Mmio.QUEUE_READY:
        if (value >>> 0 === 1) c.enableQueue();
        else if (value === 0) c.disableQueue();
        else c.reject(`QueueReady ${value >>> 0}: must be 0 or 1`);
        return;
      case Mmio.INTERRUPT_ACK:
        c.isr &= ~value;
        return;
      case Mmio.STATUS:
        c.writeStatus(value);
        return;
      case Mmio.QUEUE_DESC_LOW:
      case Mmio.QUEUE_DESC_HIGH:
        c.writeQueueAddr('desc', offset === Mmio.QUEUE_DESC_HIGH, value);
        return;
      case Mmio.QUEUE_DRIVER_LOW:
      case Mmio.QUEUE_DRIVER_HIGH:
        c.writeQueueAddr('driver', offset === Mmio.QUEUE_DRIVER_HIGH, value);
        return;
      case Mmio.QUEUE_DEVICE_LOW:
      case Mmio.QUEUE_DEVICE_HIGH:
        c.writeQueueAddr('device', offset === Mmio.QUEUE_DEVICE_HIGH, value);
        return;
      default:
        c.reject(`register at ${offset} is read-only or does not exist`);
    }
  }
}

// virtio-pci, modern interface (VIRTIO 1.2 §4.1): the common configuration
// structure, the notification area, the ISR status byte and the device-specific
// config space, all in one memory BAR, with MSI-X vectors per queue.

import {
  PCI_COMMON_WIDTH,
  PCI_MODERN_DEVICE_ID_BASE,
  PCI_VENDOR_ID_REDHAT_QUMRANET,
  PciCapType,
  PciCommon,
  VIRTIO_MSI_NO_VECTOR,
  type VirtioPciCap,
} from '../spec/pci.js';
import { TransportBase, type TransportStatsOptions } from './core.js';
import type { VirtioDeviceModel } from './device-model.js';
import { TransportError } from '../errors.js';

/** Where each structure sits in the BAR (the layout QEMU uses, one 4 KiB page each). */
export const PciBarLayout = {
  BAR: 4,
  COMMON: 0x0000,
  ISR: 0x1000,
  DEVICE: 0x2000,
  NOTIFY: 0x3000,
  REGION_SIZE: 0x1000,
} as const;

export type { VirtioPciCap } from '../spec/pci.js';

export interface VirtioPciOptions {
  /** MSI-X table size. Default numQueues + 1 (one per queue plus the config vector); 0: no MSI-X. */
  msixVectors?: number;
  /** notify_off_multiplier: bytes between two queues' doorbells. Default 4; 0 puts every queue on one address. */
  notifyOffMultiplier?: number;
  /** Keep the counters in the machine's stats registry (default: a private block). */
  stats?: TransportStatsOptions;
}

/**
 * A virtio-pci modern function carrying one device model. The guest side
 * accesses it with readCommon/writeCommon, readIsr, readDeviceConfig/
 * writeDeviceConfig and writeNotify (or barRead/barWrite by BAR offset, which
 * dispatch to those); PciDriverAccess does this for a driver.
 */
export class VirtioPciTransport extends TransportBase {
  readonly kind = 'pci' as const;
  readonly vendorId = PCI_VENDOR_ID_REDHAT_QUMRANET;
  readonly pciDeviceId: number;
  readonly msixVectors: number;
  readonly notifyOffMultiplier: number;
  readonly capabilities: readonly VirtioPciCap[];

  constructor(device: VirtioDeviceModel, options: VirtioPciOptions = {}) {
    super(device, `virtio-pci device ${device.deviceId}`, options.stats);
    this.pciDeviceId = PCI_MODERN_DEVICE_ID_BASE + device.deviceId;
    const msix = options.msixVectors ?? device.numQueues + 1;
    if (!Number.isInteger(msix) || msix < 0 || msix > 2048) {
      throw new TransportError('BAD_OPTION', `msixVectors ${msix}: must be a whole number from 0 to 2048`);
    }
    this.msixVectors = msix;
    const mult = options.notifyOffMultiplier ?? 4;
    if (!Number.isInteger(mult) || mult < 0 || (mult !== 0 && mult % 2 !== 0)) {
      throw new TransportError('BAD_OPTION', `notifyOffMultiplier ${mult}: must be 0 or an even number of bytes`);
    }
    if (mult * device.numQueues > PciBarLayout.REGION_SIZE) {
      throw new TransportError(
        'BAD_OPTION',
        `notifyOffMultiplier ${mult} × ${device.numQueues} queues does not fit the ${PciBarLayout.REGION_SIZE}-byte notify region`,
      );
    }
    if (device.configSize > PciBarLayout.REGION_SIZE) {
      throw new TransportError('BAD_OPTION', `configSize ${device.configSize}: at most ${PciBarLayout.REGION_SIZE}`);
    }
    this.notifyOffMultiplier = mult;
    const bar = PciBarLayout.BAR;
    this.capabilities = [
      { cfgType: PciCapType.COMMON_CFG, bar, offset: PciBarLayout.COMMON, length: PciCommon.SIZE },
      { cfgType: PciCapType.ISR_CFG, bar, offset: PciBarLayout.ISR, length: 1 },
      { cfgType: PciCapType.DEVICE_CFG, bar, offset: PciBarLayout.DEVICE, length: device.configSize },
      {
        cfgType: PciCapType.NOTIFY_CFG,
        bar,
        offset: PciBarLayout.NOTIFY,
        length: Math.max(2, mult * device.numQueues),
        notifyOffMultiplier: mult,
      },
    ];
    device.attach(this.core.ctx);
  }

  /** The MSI-X Enable bit of the function's MSI-X capability (PCI config space). */
  setMsixEnabled(on: boolean): void {
    if (on && this.msixVectors === 0) throw new TransportError('BAD_OPTION', 'the function has no MSI-X capability');
    this.core.msixEnabled = on;
  }

  get msixEnabled(): boolean {
    return this.core.msixEnabled;
  }

  // ---- common configuration structure ----

  private fieldWidth(offset: number, width: number, write: boolean): boolean {
    const w = PCI_COMMON_WIDTH.get(offset);
    if (w !== width) {
      this.core.invalid(
        `common config ${write ? 'write' : 'read'} of ${width} bytes at ${offset}: ` +
          (w ? `the field there is ${w} bytes` : 'no field starts there'),
      );
      return false;
    }
    return true;
  }

  /**
   * False once the function was surprise-removed (PCIe hot-unplug): a read
   * of any of its registers completes with all ones (an unsupported request,
   * as a read of a vanished function does), a write goes nowhere, and the
   * device raises no interrupt. Linux's pci_device_is_present() reads the
   * vendor id and finds 0xffff.
   */
  present = true;

  /** The function leaves the bus at once: the host pulled it (surprise removal). */
  unplug(): void {
    this.present = false;
    this.core.setInterruptHandler(undefined);
  }

  readCommon(offset: number, width: number): number {
    if (!this.present) return allOnes(width);
    const c = this.core;
    c.countRead();
    if (!this.fieldWidth(offset, width, false)) return 0;
    const q = c.selected();
    switch (offset) {
      case PciCommon.DEVICE_FEATURE_SELECT:
        return c.deviceFeatureSel;
      case PciCommon.DEVICE_FEATURE:
        return c.deviceFeatureWord();
      case PciCommon.DRIVER_FEATURE_SELECT:
        return c.driverFeatureSel;
      case PciCommon.DRIVER_FEATURE:
        return c.driverFeatureWord();
      case PciCommon.CONFIG_MSIX_VECTOR:
        return c.configVector;
      case PciCommon.NUM_QUEUES:
        return c.queues.length;
      case PciCommon.DEVICE_STATUS:
        return c.status;
      case PciCommon.CONFIG_GENERATION:
        return c.generation & 0xff;
      case PciCommon.QUEUE_SELECT:
        return c.queueSel;
      case PciCommon.QUEUE_SIZE:
        return q ? q.size : 0; // 0: no such queue (VIRTIO 1.2 §4.1.4.3.1)
      case PciCommon.QUEUE_MSIX_VECTOR:
        return q ? q.msixVector : VIRTIO_MSI_NO_VECTOR;
      case PciCommon.QUEUE_ENABLE:
        return q?.enabled ? 1 : 0;
      case PciCommon.QUEUE_NOTIFY_OFF:
        return q ? c.queueSel : 0; // queue i rings at NOTIFY + i × multiplier
      case PciCommon.QUEUE_DESC_LO:
      case PciCommon.QUEUE_DESC_HI:
        return c.readQueueAddr('desc', offset === PciCommon.QUEUE_DESC_HI);
      case PciCommon.QUEUE_DRIVER_LO:
      case PciCommon.QUEUE_DRIVER_HI:
        return c.readQueueAddr('driver', offset === PciCommon.QUEUE_DRIVER_HI);
      default:
        return c.readQueueAddr('device', offset === PciCommon.QUEUE_DEVICE_HI);
    }
  }

  writeCommon(offset: number, width: number, value: number): void {
    if (!this.present) return;
    const c = this.core;
    c.countWrite();
    if (!this.fieldWidth(offset, width, true)) return;
    switch (offset) {
      case PciCommon.DEVICE_FEATURE_SELECT:
        c.deviceFeatureSel = value >>> 0;
        return;
      case PciCommon.DRIVER_FEATURE_SELECT:
        c.driverFeatureSel = value >>> 0;
        return;
      case PciCommon.DRIVER_FEATURE:
        c.writeDriverFeatureWord(value);
        return;
      case PciCommon.CONFIG_MSIX_VECTOR:
        c.configVector = this.mapVector(value & 0xffff);
        return;
      case PciCommon.DEVICE_STATUS:
        c.writeStatus(value);
        return;
      case PciCommon.QUEUE_SELECT:
        c.queueSel = value & 0xffff;
        return;
      case PciCommon.QUEUE_SIZE:
        c.writeQueueSize(value);
        return;
      case PciCommon.QUEUE_MSIX_VECTOR: {
        const q = c.writableQueue('queue_msix_vector');
        if (q) q.msixVector = this.mapVector(value & 0xffff);
        return;
      }
      case PciCommon.QUEUE_ENABLE:
        if ((value & 0xffff) === 1) c.enableQueue();
        else c.reject(`queue_enable ${value} for queue ${c.queueSel}: the driver may only write 1`);
        return;
      case PciCommon.QUEUE_DESC_LO:
      case PciCommon.QUEUE_DESC_HI:
        c.writeQueueAddr('desc', offset === PciCommon.QUEUE_DESC_HI, value);
        return;
      case PciCommon.QUEUE_DRIVER_LO:
      case PciCommon.QUEUE_DRIVER_HI:
        c.writeQueueAddr('driver', offset === PciCommon.QUEUE_DRIVER_HI, value);
        return;
      case PciCommon.QUEUE_DEVICE_LO:
      case PciCommon.QUEUE_DEVICE_HI:
        c.writeQueueAddr('device', offset === PciCommon.QUEUE_DEVICE_HI, value);
        return;
      default:
        // device_feature, num_queues, config_generation, queue_notify_off are read-only.
        c.reject(`common config field at ${offset} is read-only`);
    }
  }

  /** A vector the table has, else VIRTIO_MSI_NO_VECTOR (the driver reads it back to see the mapping failed). */
  private mapVector(v: number): number {
    return v < this.msixVectors ? v : VIRTIO_MSI_NO_VECTOR;
  }

  // ---- ISR status (VIRTIO 1.2 §4.1.4.5): read to clear ----

  readIsr(): number {
    if (!this.present) return 0xff;
    const c = this.core;
    c.countRead();
    c.count('isrReads');
    const v = c.isr;
    c.isr = 0;
    return v;
  }

  // ---- device-specific configuration ----

  readDeviceConfig(offset: number, width: number): number {
    if (!this.present) return allOnes(width);
    return this.core.readConfig(offset, width);
  }

  writeDeviceConfig(offset: number, width: number, value: number): void {
    if (!this.present) return;
    this.core.writeConfig(offset, width, value);
  }

  // ---- notification area (VIRTIO 1.2 §4.1.4.4) ----

  /** Byte offset of queue `index`'s doorbell inside the notify region: queue_notify_off × multiplier. */
  notifyOffset(index: number): number {
    return index * this.notifyOffMultiplier;
  }

  /** A doorbell write of `value` (the queue index, 16 bits) at `offset` in the notify region. */
  writeNotify(offset: number, width: number, value: number): void {
    if (!this.present) return;
    const c = this.core;
    if (width !== 2 && width !== 4) {
      c.count('notifications');
      c.count('notificationsIgnored');
      c.invalid(`notify write of ${width} bytes: must be 2 (or 4 with notification data)`);
      return;
    }
    const mult = this.notifyOffMultiplier;
    // Like QEMU, the address picks the queue; with a multiplier of 0 all queues share it and the value does.
    let index = mult === 0 ? value & 0xffff : offset / mult;
    if (!Number.isInteger(index)) index = -1;
    c.notify(index);
  }

  // ---- the BAR as one address space ----

  barRead(offset: number, width: number): number {
    const region = Math.floor(offset / PciBarLayout.REGION_SIZE) * PciBarLayout.REGION_SIZE;
    const at = offset - region;
    switch (region) {
      case PciBarLayout.COMMON:
        return this.readCommon(at, width);
      case PciBarLayout.ISR:
        if (at === 0 && width === 1) return this.readIsr();
        break;
      case PciBarLayout.DEVICE:
        return this.readDeviceConfig(at, width);
    }
    this.core.countRead();
    this.core.invalid(`BAR read of ${width} bytes at ${offset}: nothing readable there`);
    return 0;
  }

  barWrite(offset: number, width: number, value: number): void {
    const region = Math.floor(offset / PciBarLayout.REGION_SIZE) * PciBarLayout.REGION_SIZE;
    const at = offset - region;
    switch (region) {
      case PciBarLayout.COMMON:
        return this.writeCommon(at, width, value);
      case PciBarLayout.DEVICE:
        return this.writeDeviceConfig(at, width, value);
      case PciBarLayout.NOTIFY:
        return this.writeNotify(at, width, value);
    }
    this.core.countWrite();
    this.core.invalid(`BAR write of ${width} bytes at ${offset}: nothing writable there`);
  }
}

/** What a read of a vanished PCI function returns: every bit set, at the access width. */
function allOnes(width: number): number {
  return width >= 4 ? 0xffffffff : (1 << (8 * width)) - 1;
}

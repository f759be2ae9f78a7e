// The contract between a transport (virtio-pci, virtio-mmio) and the host-side
// device model it carries (virtio-net, virtio-blk, virtio-console, toys in
// tests). A device model never sees registers: the transport decodes every
// guest access, runs the status state machine and feature negotiation, and
// calls the model at the few points where the device itself must act.

import type { VqsimError } from '../errors.js';
import type { ConfigWidth } from '../spec/config.js';
import type { RingKind } from '../virtqueue/queue.js';

export type { ConfigWidth } from '../spec/config.js';

/** A queue the driver has enabled: what the device needs to drive it. */
export interface QueueConfig {
  /** Queue index. */
  index: number;
  /** Queue size the driver chose (≤ the device's maximum). */
  size: number;
  /** Guest addresses of the three areas, as the driver programmed them (DMA addresses). */
  desc: bigint;
  /** Driver area: the avail ring (split) or the driver event suppression area (packed). */
  driver: bigint;
  /** Device area: the used ring (split) or the device event suppression area (packed). */
  device: bigint;
  /** 'packed' when VIRTIO_F_RING_PACKED was negotiated, else 'split'. */
  ring: RingKind;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  indirect: boolean;
  /** VIRTIO_F_IN_ORDER negotiated. */
  inOrder: boolean;
}

/**
 * What the transport hands a device model (in attach()): the device's ways to
 * reach the driver. Each call is counted by the transport.
 */
export interface VirtioDeviceContext {
  /** Features the driver accepted (valid from FEATURES_OK on; 0n before). */
  readonly negotiatedFeatures: bigint;
  /** The current device status byte. */
  readonly status: number;
  /**
   * A used-buffer notification for queue `index` (the device has pushed used
   * buffers and its queue said to notify). PCI: the queue's MSI-X vector, or
   * INTx with ISR bit 0; MMIO: InterruptStatus bit 0. Not delivered (and
   * counted as suppressed) before DRIVER_OK. Returns true when delivered.
   */
  raiseQueueInterrupt(index: number): boolean;
  /** A configuration change notification (ISR bit 1 / the config MSI-X vector). */
  raiseConfigInterrupt(): boolean;
  /**
   * The device-specific config space changed: bumps the config generation
   * counter and raises a config interrupt (once DRIVER_OK is set). Call it
   * after the change, so a driver reading across it sees a new generation.
   */
  configChanged(): void;
  /**
   * The device hit an error it cannot recover from without a reset: sets
   * NEEDS_RESET and, when DRIVER_OK is set, raises a config interrupt
   * (VIRTIO 1.2 §2.1.2). `reason` is kept for the log (QEMU's virtio_error):
   * pass the error itself, so its code and side are kept too; a bare message
   * is recorded as a DeviceError DEVICE_NEEDS_RESET, side 'device'.
   */
  needsReset(reason: string | VqsimError): void;
}

/**
 * A host-side virtio device as a transport sees it. Implement this to write a
 * device (virtio-net, virtio-blk, ...); wrap it with VirtioPciTransport or
 * VirtioMmioTransport to expose it to a guest driver.
 *
 * Order of calls: attach() once; then for each driver session: (validateFeatures
 * at FEATURES_OK) → onQueueReady per enabled queue → onDriverOk → onNotify /
 * config accesses ... → onReset (a status write of 0) and again. The device
 * must not touch a queue before onDriverOk, nor after onReset until it is
 * enabled again. Guest memory is reached only through the DMA view the model
 * was built with (src/dma), never through GuestMemory.
 */
export interface VirtioDeviceModel {
  /** Virtio device ID (VIRTIO 1.2 §5: 1 net, 2 block, 3 console, ...). */
  readonly deviceId: number;
  /** Vendor ID presented by virtio-mmio (default 0x554d4551, "QEMU"). */
  readonly vendorId?: number;
  /**
   * Every feature bit the device offers, device-independent (VERSION_1,
   * RING_PACKED, EVENT_IDX, ...) and device-specific (bits 0–23, 50+),
   * as one 64-bit word. Constant for the device's life.
   */
  readonly deviceFeatures: bigint;
  /** Number of virtqueues. */
  readonly numQueues: number;
  /** Largest queue size the device accepts, for every queue (QueueNumMax / initial queue_size). */
  readonly maxQueueSize: number;
  /** Size in bytes of the device-specific config space. */
  readonly configSize: number;

  /** Called once by the transport that carries the device. */
  attach(ctx: VirtioDeviceContext): void;
  /** Reads `width` bytes (little-endian) of config space at `offset` (in range: the transport checks). */
  readConfig(offset: number, width: ConfigWidth): number;
  /** Writes config space; a device that changes what the driver reads calls ctx.configChanged(). */
  writeConfig(offset: number, width: ConfigWidth, value: number): void;
  /**
   * Device-specific acceptance of the driver's features at FEATURES_OK,
   * after the transport checked they are a subset of deviceFeatures and
   * include VERSION_1. Return false to leave FEATURES_OK clear. Optional.
   */
  validateFeatures?(features: bigint): boolean;
  /** The driver enabled queue `index` (queue_enable / QueueReady). Do not process it before onDriverOk. */
  onQueueReady(index: number, queue: QueueConfig): void;
  /** The driver set DRIVER_OK with `features` negotiated: the device is live. */
  onDriverOk(features: bigint): void;
  /** The driver notified queue `index` (a doorbell write, after DRIVER_OK). */
  onNotify(index: number): void;
  /** The driver wrote 0 to the status: forget every queue and all negotiated state. */
  onReset(): void;
}

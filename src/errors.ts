/** Base class of every error vqsim raises on purpose. `code` is stable and machine-readable. */
export class VqsimError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VqsimError';
    this.code = code;
  }
}

/** An address or range outside guest RAM, or a bad memory configuration. */
export class GuestMemoryError extends VqsimError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'GuestMemoryError';
  }
}

/** A bad option given to a constructor or command: names the option and what is allowed. */
export class ConfigError extends VqsimError {
  constructor(message: string) {
    super('CONFIG', message);
    this.name = 'ConfigError';
  }
}

/**
 * A transport-level failure seen by the guest driver while probing or driving
 * a device (the device refused features, lacks VERSION_1, refused a queue...),
 * or a bad transport option. Both sides raise it: the device-side transports
 * (src/transport) and the guest-side probe (src/drivers). `code` is stable:
 *
 * - NO_VERSION_1: the device does not offer VIRTIO_F_VERSION_1 (Linux:
 *   "virtio: device uses modern interface but does not have VIRTIO_F_VERSION_1").
 * - FEATURES_REFUSED: FEATURES_OK did not stick (Linux: "virtio: device refuses features").
 * - BAD_MAGIC / BAD_VERSION: not a virtio-mmio version 2 device.
 * - QUEUE_UNAVAILABLE: a queue the driver needs has a maximum size of 0.
 * - QUEUE_SIZE: the queue size wanted is not allowed by the device or the ring.
 * - QUEUE_ENABLE_REFUSED: queue_enable / QueueReady read back 0 after enabling.
 * - MSIX_VECTOR_REFUSED: a vector read back as VIRTIO_MSI_NO_VECTOR.
 * - RESET_TIMEOUT: device status did not read back 0 after a reset.
 * - CONFIG_UNSTABLE: the generation counter kept changing during a config read.
 * - DEVICE_FAILED: the device status has NEEDS_RESET set during probe.
 * - MISSING_CAPABILITY: a virtio-pci function without a capability the driver needs.
 * - BAD_OPTION: a bad option given to a transport or the probe.
 */
export class TransportError extends VqsimError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'TransportError';
  }
}

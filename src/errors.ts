/**
 * Who committed the fault an error reports (not who noticed it):
 *
 * - 'driver': the guest driver broke the VIRTIO protocol or misused a guest
 *   API (an impossible chain, a request the device cannot parse, an address
 *   it may not hand out). A device, or the driver's own checks, caught it.
 * - 'device': the device broke the protocol or lied (a used id out of range,
 *   a length past the buffer, features refused, a config that never settles),
 *   or a device model misused its own queue face. A hardened driver, or the
 *   device's checks, caught it.
 * - 'user': whoever configures or calls vqsim: a bad option, machine config or
 *   command-line flag, a call out of order, a device handed to the wrong driver.
 * - 'host': vqsim itself or what it runs on: a missing build output, a worker
 *   thread that died or hung, a benchmark whose counters disagree, an internal
 *   limit. Never the fault of the simulated driver or device.
 */
export type FaultSide = 'driver' | 'device' | 'user' | 'host';

/**
 * Base class of every error vqsim raises on purpose. `code` is stable and
 * machine-readable (UPPER_SNAKE_CASE); `side` says who committed the fault.
 * Without a side, an error is the host's.
 */
export class VqsimError extends Error {
  readonly code: string;
  readonly side: FaultSide;
  constructor(code: string, message: string, side: FaultSide = 'host') {
    super(message);
    this.name = 'VqsimError';
    this.code = code;
    this.side = side;
  }
}

/**
 * `e` as a VqsimError: itself when it is one, else wrapped (same message) with
 * `code` and `side`. For catch blocks that must record a coded fault.
 */
export function toVqsimError(e: unknown, code: string, side: FaultSide = 'host'): VqsimError {
  if (e instanceof VqsimError) return e;
  return new VqsimError(code, e instanceof Error ? e.message : String(e), side);
}

/**
 * An address or range outside guest RAM, or a bad memory request (codes
 * ADDRESS_OUTSIDE_GUEST_RAM, BAD_ALLOC, BAD_FREE, OUT_OF_GUEST_MEMORY: the
 * caller's, side 'user'; OUT_OF_HOST_MEMORY: the host area vqsim keeps for
 * device state is full, side 'host').
 */
export class GuestMemoryError extends VqsimError {
  constructor(code: string, message: string, side: FaultSide = 'user') {
    super(code, message, side);
    this.name = 'GuestMemoryError';
  }
}

/** A bad option given to a constructor or command: names the option and what is allowed. Code CONFIG, side 'user'. */
export class ConfigError extends VqsimError {
  constructor(message: string) {
    super('CONFIG', message, 'user');
    this.name = 'ConfigError';
  }
}

/**
 * A device model stopped serving: it found something it cannot serve (a
 * request it cannot parse, a buffer it may not reach) or ran out of room. The
 * device sets NEEDS_RESET, as QEMU's virtio_error() does, and keeps the error
 * as its `fault`. Codes are per device (BLK_BAD_REQUEST, NET_POOL_EXHAUSTED,
 * ...); DEVICE_NEEDS_RESET is a reset asked for with a reason only;
 * DEVICE_INTERNAL an unexpected exception in the model (side 'host').
 */
export class DeviceError extends VqsimError {
  constructor(code: string, message: string, side: FaultSide) {
    super(code, message, side);
    this.name = 'DeviceError';
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
 * - BAD_NOTIFY_OFFSET: queue_notify_off puts a doorbell outside the notify region
 *   (Linux: "bad notification offset %u (x %u) for queue %u > %zd").
 * - FEATURES_CHANGED: the device feature bits read differently after FEATURES_OK.
 * - FEATURES_MISMATCH: driver_feature reads back bits the driver did not write.
 * - BAD_OPTION: a bad option given to a transport or the probe.
 *
 * BAD_OPTION is the user's fault; every other code the device's.
 */
export class TransportError extends VqsimError {
  constructor(code: string, message: string) {
    super(code, message, code === 'BAD_OPTION' ? 'user' : 'device');
    this.name = 'TransportError';
  }
}

// virtio-mmio, version 2 only: VIRTIO 1.2 §4.2 and the Linux uapi header
// linux/virtio_mmio.h.

/** Register offsets (VIRTIO_MMIO_* in linux/virtio_mmio.h; §4.2.2). */
export const Mmio = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  CONFIG_GENERATION: 0x0fc,
  /** VIRTIO_MMIO_CONFIG: the device-specific config space starts here. */
  CONFIG: 0x100,
} as const;

/** The MagicValue register: "virt" in little-endian (§4.2.2). */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** The Version register of a modern (non-legacy) device (§4.2.2). */
export const VIRTIO_MMIO_VERSION = 2;

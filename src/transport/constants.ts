// Register layouts and status bits of the virtio transports, as VIRTIO 1.2
// §2.1 and §4.1 / §4.2 and the Linux uapi headers linux/virtio_config.h,
// linux/virtio_pci.h and linux/virtio_mmio.h define them.

/** Device status bits (VIRTIO 1.2 §2.1, VIRTIO_CONFIG_S_* in linux/virtio_config.h). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** "No vector" for config_msix_vector and queue_msix_vector (VIRTIO_MSI_NO_VECTOR). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** ISR status bits (PCI ISR capability and MMIO InterruptStatus share them). */
export const Isr = {
  /** VIRTIO_MMIO_INT_VRING: a used buffer notification. */
  QUEUE: 1,
  /** VIRTIO_PCI_ISR_CONFIG / VIRTIO_MMIO_INT_CONFIG: a configuration change. */
  CONFIG: 2,
} as const;

/**
 * struct virtio_pci_common_cfg field offsets (VIRTIO_PCI_COMMON_* in
 * linux/virtio_pci.h). The 64-bit queue addresses are accessed as lo/hi halves.
 */
export const PciCommon = {
  DEVICE_FEATURE_SELECT: 0,
  DEVICE_FEATURE: 4,
  DRIVER_FEATURE_SELECT: 8,
  DRIVER_FEATURE: 12,
  CONFIG_MSIX_VECTOR: 16,
  NUM_QUEUES: 18,
  DEVICE_STATUS: 20,
  CONFIG_GENERATION: 21,
  QUEUE_SELECT: 22,
  QUEUE_SIZE: 24,
  QUEUE_MSIX_VECTOR: 26,
  QUEUE_ENABLE: 28,
  QUEUE_NOTIFY_OFF: 30,
  QUEUE_DESC_LO: 32,
  QUEUE_DESC_HI: 36,
  QUEUE_DRIVER_LO: 40,
  QUEUE_DRIVER_HI: 44,
  QUEUE_DEVICE_LO: 48,
  QUEUE_DEVICE_HI: 52,
  /** Size of the structure this model implements (without queue_notify_data / queue_reset). */
  SIZE: 56,
} as const;

/** Width in bytes of each common-config field, by offset. */
export const PCI_COMMON_WIDTH: ReadonlyMap<number, 1 | 2 | 4> = new Map<number, 1 | 2 | 4>([
  [PciCommon.DEVICE_FEATURE_SELECT, 4],
  [PciCommon.DEVICE_FEATURE, 4],
  [PciCommon.DRIVER_FEATURE_SELECT, 4],
  [PciCommon.DRIVER_FEATURE, 4],
  [PciCommon.CONFIG_MSIX_VECTOR, 2],
  [PciCommon.NUM_QUEUES, 2],
  [PciCommon.DEVICE_STATUS, 1],
  [PciCommon.CONFIG_GENERATION, 1],
  [PciCommon.QUEUE_SELECT, 2],
  [PciCommon.QUEUE_SIZE, 2],
  [PciCommon.QUEUE_MSIX_VECTOR, 2],
  [PciCommon.QUEUE_ENABLE, 2],
  [PciCommon.QUEUE_NOTIFY_OFF, 2],
  [PciCommon.QUEUE_DESC_LO, 4],
  [PciCommon.QUEUE_DESC_HI, 4],
  [PciCommon.QUEUE_DRIVER_LO, 4],
  [PciCommon.QUEUE_DRIVER_HI, 4],
  [PciCommon.QUEUE_DEVICE_LO, 4],
  [PciCommon.QUEUE_DEVICE_HI, 4],
]);

/** virtio_pci_cap cfg_type values (VIRTIO_PCI_CAP_* in linux/virtio_pci.h). */
export const PciCapType = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
} as const;

/** Vendor ID of virtio PCI devices; device ID is 0x1040 + virtio device id (modern). */
export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
export const PCI_MODERN_DEVICE_ID_BASE = 0x1040;

/** virtio-mmio register offsets (VIRTIO_MMIO_* in linux/virtio_mmio.h), version 2 only. */
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
  CONFIG: 0x100,
} as const;

/** "virt" in little-endian: the MagicValue register. */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
export const VIRTIO_MMIO_VERSION = 2;

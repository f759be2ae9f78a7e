// virtio-pci, modern interface: VIRTIO 1.2 §4.1 and the Linux uapi header
// linux/virtio_pci.h.

/** "No vector" for config_msix_vector and queue_msix_vector (VIRTIO_MSI_NO_VECTOR, linux/virtio_pci.h; §4.1.5.1.2). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/**
 * struct virtio_pci_common_cfg field offsets (VIRTIO_PCI_COMMON_* in
 * linux/virtio_pci.h; §4.1.4.3). The 64-bit queue addresses are accessed as lo/hi halves.
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
  /** Size of the structure vqsim implements (without queue_notify_data / queue_reset). */
  SIZE: 56,
} as const;

/** Width in bytes of each common-config field, by offset (the types of struct virtio_pci_common_cfg). */
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

/** virtio_pci_cap cfg_type values (VIRTIO_PCI_CAP_* in linux/virtio_pci.h; §4.1.4). */
export const PciCapType = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
} as const;

/**
 * A virtio vendor capability: struct virtio_pci_cap (cfg_type, bar, offset,
 * length), plus notify_off_multiplier for struct virtio_pci_notify_cap (§4.1.4, §4.1.4.4).
 */
export interface VirtioPciCap {
  cfgType: number;
  bar: number;
  offset: number;
  length: number;
  notifyOffMultiplier?: number;
}

/** Vendor ID of every virtio PCI function (PCI_VENDOR_ID_REDHAT_QUMRANET, linux/pci_ids.h; §4.1.2). */
export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
/** A modern function's PCI device ID is 0x1040 + the virtio device ID (§4.1.2). */
export const PCI_MODERN_DEVICE_ID_BASE = 0x1040;

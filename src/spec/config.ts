// Device status, interrupt status and device-configuration access, common to
// every transport: VIRTIO 1.2 §2.1, §2.5, §4.1.4.5, §4.2.2 and the Linux uapi
// header linux/virtio_config.h.

/** Device status bits (VIRTIO 1.2 §2.1, VIRTIO_CONFIG_S_* in linux/virtio_config.h). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** ISR status bits (VIRTIO 1.2 §4.1.4.5 and §4.2.2: the PCI ISR capability and MMIO InterruptStatus share them). */
export const Isr = {
  /** VIRTIO_MMIO_INT_VRING (linux/virtio_mmio.h): a used buffer notification. */
  QUEUE: 1,
  /** VIRTIO_PCI_ISR_CONFIG (linux/virtio_pci.h) / VIRTIO_MMIO_INT_CONFIG: a configuration change. */
  CONFIG: 2,
} as const;

/** Access width of a device-specific config space access, in bytes (VIRTIO 1.2 §2.5: 8, 16 and 32-bit fields). */
export type ConfigWidth = 1 | 2 | 4;

/**
 * An interrupt as the driver receives it: an MSI-X vector (virtio-pci,
 * §4.1.5.1.2), or the shared line (PCI INTx, MMIO's one interrupt) whose cause
 * the driver reads from the ISR status (§4.1.4.5, §4.2.2).
 */
export type InterruptEvent = { line: 'msix'; vector: number } | { line: 'intx' };

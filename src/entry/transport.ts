// `vqsim/transport`: virtio-pci (VIRTIO 1.2 §4.1) and virtio-mmio (§4.2), the
// device side (status register, feature negotiation, config space,
// notifications, interrupts) and the guest driver's access to them, the
// guest-side probe (Linux virtio_dev_probe), and the interface a device model
// implements to sit behind a transport. virtio-pci and virtio-mmio's classes
// are named VirtioPciTransport and VirtioMmioTransport in their source files;
// they are exported here as PciTransport and MmioTransport (the same classes).
export {
  VirtioPciTransport as PciTransport,
  PciBarLayout,
  type VirtioPciCap as PciCap,
  type VirtioPciOptions as PciTransportOptions,
} from '../transport/pci.js';
export { VirtioMmioTransport as MmioTransport, DEFAULT_MMIO_VENDOR_ID } from '../transport/mmio.js';
export {
  TransportCore,
  type TransportCounters,
  type TransportStatsOptions,
  type InterruptEvent,
} from '../transport/core.js';
export type { VirtioDeviceModel, VirtioDeviceContext, QueueConfig, ConfigWidth } from '../transport/device-model.js';
export {
  PciDriverAccess,
  MmioDriverAccess,
  queueAreas,
  type TransportAccess,
  type PciAccessOptions,
  type PciFunction,
  type MmioWindow,
  type QueueAreas,
} from '../drivers/transport-access.js';
export { probeDevice, readConfigStable, readConfig64, type ProbeOptions, type ProbedDevice } from '../drivers/probe.js';
export { deviceQueueFromAreas } from '../virtqueue/queue.js';
export type { DeviceHost, ProgrammedRing, DeviceRingOptions } from '../virtqueue/device-host.js';
export { Status as VirtioStatus, Isr as VirtioIsr } from '../spec/config.js';
export { PciCommon, PCI_COMMON_WIDTH, PciCapType, VIRTIO_MSI_NO_VECTOR } from '../spec/pci.js';
export { Mmio as MmioReg, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION } from '../spec/mmio.js';

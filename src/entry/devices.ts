// `vqsim/devices`: the device models (host side) and the guest drivers of
// virtio-net, virtio-blk and virtio-console, with their spec constants.
// One naming scheme: <Kind>Device, <Kind>Driver, <Kind>DeviceOptions,
// <Kind>DriverOptions. virtio-net's classes are named VirtioNetDevice and
// VirtioNetDriver in their source files; they are exported here as
// NetDevice and NetDriver (the same classes).

// virtio-net (VIRTIO 1.2 §5.1; Linux drivers/net/virtio_net.c, QEMU hw/net/virtio-net.c).
export {
  VirtioNetDevice as NetDevice,
  type NetBackend,
  type NetDeviceOptions,
  type NetPairCounters,
} from '../devices/net/device.js';
export {
  VirtioNetDriver as NetDriver,
  NetQueuePair,
  type NetDriverOptions,
  type NetDriverCounters,
  type NetPacket,
} from '../drivers/net/driver.js';
export { NetDriverError } from '../drivers/net/errors.js';
export * from '../spec/net.js';

// virtio-blk (§5.2; Linux drivers/block/virtio_blk.c, QEMU hw/block/virtio-blk.c).
export { BlkDevice, type BlkDeviceOptions } from '../devices/blk/device.js';
export { MemoryBackend, FileBackend, type BlkBackend, type BlkBackendDesc } from '../devices/blk/backend.js';
export { BlkRequestError, type BlkServerCounters } from '../devices/blk/server.js';
export {
  BlkDriver,
  BlkQueue,
  BlkDriverError,
  BLK_DRIVER_FEATURES,
  type BlkDriverOptions,
  type BlkDeviceInfo,
  type BlkCompletion,
  type BlkRange,
} from '../drivers/blk/driver.js';
export * from '../spec/blk.js';

// virtio-console (§5.3; Linux drivers/char/virtio_console.c, QEMU hw/char/virtio-serial-bus.c).
export { ConsoleDevice, type ConsoleDeviceOptions, type ConsoleCounters } from '../devices/console/device.js';
export {
  ConsoleDriver,
  ConsoleDriverError,
  CONSOLE_DRIVER_FEATURES,
  type ConsoleDriverOptions,
} from '../drivers/console/driver.js';
export * from '../spec/console.js';

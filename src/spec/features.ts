// Device-independent feature bits, VIRTIO 1.2 §6. The bit numbers live in
// assembly/layout.ts (the Wasm core reads them too); here they get their names.
import * as L from '../../assembly/layout.js';

/** Reserved feature bits for the transport and the rings, as bit numbers. */
export const Feature = {
  /** VIRTIO_RING_F_INDIRECT_DESC (28, linux/virtio_ring.h; §2.7.5.3, §2.8.7). */
  INDIRECT_DESC: L.VIRTIO_F_INDIRECT_DESC,
  /** VIRTIO_RING_F_EVENT_IDX (29, linux/virtio_ring.h; §2.7.10, §2.8.10). */
  EVENT_IDX: L.VIRTIO_F_EVENT_IDX,
  /** VIRTIO_F_VERSION_1 (32, linux/virtio_config.h): a modern device. */
  VERSION_1: L.VIRTIO_F_VERSION_1,
  /** VIRTIO_F_ACCESS_PLATFORM (33, linux/virtio_config.h): the device is behind an IOMMU / restricted. */
  ACCESS_PLATFORM: L.VIRTIO_F_ACCESS_PLATFORM,
  /** VIRTIO_F_RING_PACKED (34, linux/virtio_config.h; §2.8). */
  RING_PACKED: L.VIRTIO_F_RING_PACKED,
  /** VIRTIO_F_IN_ORDER (35, linux/virtio_config.h): buffers are used in the order made available. */
  IN_ORDER: L.VIRTIO_F_IN_ORDER,
} as const;

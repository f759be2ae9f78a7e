// The ring formats, VIRTIO 1.2 §2.7 (split) and §2.8 (packed), and the Linux
// uapi header linux/virtio_ring.h. The numbers live in assembly/layout.ts and
// assembly/packed/layout.ts, which the Wasm core compiles too: this file only
// names them for TypeScript, so there is one source for each.

export {
  // ---- Split ring (VIRTIO 1.2 §2.7, struct vring_desc / vring_avail / vring_used in linux/virtio_ring.h) ----
  /** sizeof(struct vring_desc): addr u64, len u32, flags u16, next u16 (§2.7.5). */
  VRING_DESC_SIZE,
  VRING_DESC_ADDR,
  VRING_DESC_LEN,
  VRING_DESC_FLAGS,
  VRING_DESC_NEXT,
  /** VRING_DESC_F_NEXT: the chain continues in `next` (§2.7.5). */
  VRING_DESC_F_NEXT,
  /** VRING_DESC_F_WRITE: the buffer is device-writable (§2.7.5). */
  VRING_DESC_F_WRITE,
  /** VRING_DESC_F_INDIRECT: the buffer is a table of descriptors (§2.7.5.3). */
  VRING_DESC_F_INDIRECT,
  /** struct vring_avail: flags u16, idx u16, ring[num] u16, then used_event u16 (§2.7.6). */
  VRING_AVAIL_FLAGS,
  VRING_AVAIL_IDX,
  VRING_AVAIL_RING,
  /** VRING_AVAIL_F_NO_INTERRUPT (§2.7.7). */
  VRING_AVAIL_F_NO_INTERRUPT,
  /** struct vring_used: flags u16, idx u16, ring[num] of {id u32, len u32}, then avail_event u16 (§2.7.8). */
  VRING_USED_FLAGS,
  VRING_USED_IDX,
  VRING_USED_RING,
  /** sizeof(struct vring_used_elem). */
  VRING_USED_ELEM_SIZE,
  /** VRING_USED_F_NO_NOTIFY (§2.7.10). */
  VRING_USED_F_NO_NOTIFY,
  /** Largest split queue size, 2^15 (§2.7: "Queue Size ... a power of 2 ... maximum 32768"). */
  VQ_MAX_SIZE,
} from '../../assembly/layout.js';

export {
  // ---- Packed ring (VIRTIO 1.2 §2.8, struct vring_packed_desc / vring_packed_desc_event in linux/virtio_ring.h) ----
  /** sizeof(struct vring_packed_desc): addr u64, len u32, id u16, flags u16 (§2.8.13). */
  PDESC_SIZE,
  PDESC_ADDR,
  PDESC_LEN,
  PDESC_ID,
  PDESC_FLAGS,
  /** NEXT, WRITE and INDIRECT, as for the split ring (§2.8.13). */
  PDESC_F_NEXT,
  PDESC_F_WRITE,
  PDESC_F_INDIRECT,
  /** 1 << VRING_PACKED_DESC_F_AVAIL (bit 7, §2.8.1). */
  PDESC_F_AVAIL,
  /** 1 << VRING_PACKED_DESC_F_USED (bit 15, §2.8.1). */
  PDESC_F_USED,
  PDESC_F_AVAIL_SHIFT,
  PDESC_F_USED_SHIFT,
  /** struct vring_packed_desc_event: off_wrap u16, flags u16 (§2.8.14). */
  PEVENT_OFF_WRAP,
  PEVENT_FLAGS,
  PEVENT_SIZE,
  /** VRING_PACKED_EVENT_F_WRAP_CTR: the wrap counter is bit 15 of off_wrap. */
  PEVENT_WRAP_SHIFT,
  PEVENT_OFF_MASK,
  /** VRING_PACKED_EVENT_FLAG_ENABLE / _DISABLE / _DESC (§2.8.10). */
  PEVENT_FLAG_ENABLE,
  PEVENT_FLAG_DISABLE,
  PEVENT_FLAG_DESC,
  /** Largest packed queue size, 2^15, any value allowed (§2.8.10.1). */
  PVQ_MAX_SIZE,
} from '../../assembly/packed/layout.js';

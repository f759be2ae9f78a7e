// Packed virtqueue (VIRTIO 1.2 §2.8) offsets, flags, state blocks and error
// codes, shared by the Wasm core and TypeScript. Like ../layout.ts this file is
// valid AssemblyScript and valid TypeScript: integer constants only.

// ---- Ring layout ----
// Descriptor: {addr u64, len u32, id u16, flags u16} (struct pvirtq_desc).
export const PDESC_SIZE = 16;
export const PDESC_ADDR = 0;
export const PDESC_LEN = 8;
export const PDESC_ID = 12;
export const PDESC_FLAGS = 14;
// Flags: NEXT, WRITE and INDIRECT as for the split ring, plus the two wrap bits.
export const PDESC_F_NEXT = 1;
export const PDESC_F_WRITE = 2;
export const PDESC_F_INDIRECT = 4;
export const PDESC_F_AVAIL = 128;
export const PDESC_F_USED = 32768;
export const PDESC_F_AVAIL_SHIFT = 7;
export const PDESC_F_USED_SHIFT = 15;

// Event suppression structure (struct pvirtq_event_suppress): off_wrap u16
// (offset in bits 0-14, wrap counter in bit 15), then flags u16.
export const PEVENT_OFF_WRAP = 0;
export const PEVENT_FLAGS = 2;
export const PEVENT_SIZE = 4;
export const PEVENT_WRAP_SHIFT = 15;
export const PEVENT_OFF_MASK = 32767;
export const PEVENT_FLAG_ENABLE = 0;
export const PEVENT_FLAG_DISABLE = 1;
export const PEVENT_FLAG_DESC = 2;

// Queue sizes: 1 to 2^15, any value (not only powers of two).
export const PVQ_MAX_SIZE = 32768;

// ---- Driver state of a packed queue: guest-private memory (Linux's struct
// vring_virtqueue_packed). Pointers are linear addresses. u32 fields. ----
export const PDRV_NUM = 0;
export const PDRV_FEATURES = 4;
export const PDRV_DESC = 8;
// Driver Event Suppression area (written by the driver, read by the device).
export const PDRV_DRIVER_AREA = 12;
// Device Event Suppression area (written by the device, read by the driver).
export const PDRV_DEVICE_AREA = 16;
export const PDRV_FREE_HEAD = 20;
export const PDRV_NUM_FREE = 24;
export const PDRV_NEXT_AVAIL = 28;
export const PDRV_AVAIL_WRAP = 32;
// Linux's last_used_idx: ring index in bits 0-14, used wrap counter in bit 15.
export const PDRV_LAST_USED = 36;
export const PDRV_NUM_ADDED = 40;
export const PDRV_EVENT_FLAGS_SHADOW = 44;
export const PDRV_BROKEN = 48;
export const PDRV_EXTRA = 52;
export const PDRV_STATE = 56;
export const PDRV_INDIR_POOL = 60;
export const PDRV_INDIR_CAP = 64;
export const PDRV_STATS = 68;
export const PDRV_ERR_CODE = 72;
export const PDRV_ERR_A = 76;
export const PDRV_ERR_B = 80;
export const PDRV_BATCH_DONE = 84;
// VIRTIO_F_IN_ORDER only (Linux's desc_state[].total_len and batch_last):
// linear address of total_len[num] (u32 each: every byte of buffer id's
// chain, readable and writable), and the used descriptor of the batch being
// reaped ({id, len}; id = num when none is pending).
export const PDRV_TOTAL_LEN = 88;
export const PDRV_BATCH_LAST_ID = 92;
export const PDRV_BATCH_LAST_LEN = 96;
// As the split ring's DRV_DMA_BASE, DRV_DMA_SIZE and DRV_INDIR_DMA (u64s).
export const PDRV_DMA_BASE = 104;
export const PDRV_DMA_SIZE = 112;
export const PDRV_INDIR_DMA = 120;
export const PDRV_SIZE = 128;

// desc_extra[] uses the split ring's EXTRA_* layout ({addr, len, flags, next});
// `next` links free buffer ids, as in Linux's packed ring.
// desc_state[id] (Linux struct vring_desc_state_packed): the caller's token,
// the number of ring descriptors the buffer took (0: id not outstanding), and
// the last desc_extra entry of its chain.
export const PSTATE_TOKEN = 0;
export const PSTATE_NUM = 4;
export const PSTATE_LAST = 6;
// Writable bytes of the chain (as the split ring's STATE_WLEN).
export const PSTATE_WLEN = 8;
export const PSTATE_SIZE = 16;

// ---- Device state of a packed queue: host memory (QEMU VirtQueue). ----
export const PDEV_NUM = 0;
export const PDEV_FEATURES = 4;
export const PDEV_DESC = 8;
export const PDEV_DRIVER_AREA = 12;
export const PDEV_DEVICE_AREA = 16;
export const PDEV_LAST_AVAIL = 20;
export const PDEV_AVAIL_WRAP = 24;
export const PDEV_USED_IDX = 28;
export const PDEV_USED_WRAP = 32;
export const PDEV_SIGNALLED_USED = 36;
export const PDEV_SIGNALLED_VALID = 40;
export const PDEV_NOTIFY_ENABLED = 44;
export const PDEV_BROKEN = 48;
export const PDEV_STATS = 52;
export const PDEV_ERR_CODE = 56;
export const PDEV_ERR_A = 60;
export const PDEV_ERR_B = 64;
export const PDEV_INFLIGHT = 68;
export const PDEV_BATCH_DONE = 72;
// Linear address of ids[num] (u16 each, host memory): ring descriptors taken
// by each buffer id the device holds, 0 when the id is not in flight (QEMU
// keeps this as VirtQueueElement.ndescs).
export const PDEV_IDS = 76;
// VIRTIO_F_IN_ORDER only: linear address of order[num] (u16 each, host
// memory): the buffer id popped with its first descriptor at each ring
// position, so a push can check that ids come back in the order popped.
export const PDEV_ORDER = 80;
// Linear address of the device's DMA context (as the split ring's DEV_DMA_CTX).
export const PDEV_DMA_CTX = 84;
export const PDEV_SIZE = 128;

// ---- Error codes (60-79; the split ring's codes are reused where the
// condition is the same). ----
// Driver side: the used descriptor at last_used has flags that are neither the
// driver's own available pattern nor "used" in the current used wrap lap.
export const E_USED_WRAP = 60;
// Device side: the driver made a buffer available with an id already in flight.
export const E_AVAIL_ID_IN_USE = 61;
// Device side, caller error: pushing an id the device does not hold.
export const E_PUSH_NOT_INFLIGHT = 62;
// Device side, caller error (VIRTIO_F_IN_ORDER): pushing an id out of the
// order in which the buffers were popped.
export const E_PUSH_OUT_OF_ORDER = 63;

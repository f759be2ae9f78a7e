// virtio-blk: VIRTIO 1.2 §5.2 and the Linux uapi header linux/virtio_blk.h.

/** Virtio device ID of a block device (VIRTIO_ID_BLOCK, linux/virtio_ids.h; §5). */
export const VIRTIO_ID_BLOCK = 2;

/** Device feature bits (VIRTIO_BLK_F_* in linux/virtio_blk.h; §5.2.3). */
export const BlkFeature = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** Request types (VIRTIO_BLK_T_* in linux/virtio_blk.h; §5.2.6). */
export const BlkType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
} as const;

/** Status byte values (VIRTIO_BLK_S_* in linux/virtio_blk.h; §5.2.6). */
export const BlkStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

/** Bytes of the device ID string GET_ID returns (VIRTIO_BLK_ID_BYTES, linux/virtio_blk.h). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** Sectors are 512 bytes whatever blk_size says (§5.2.6: "sector ... in 512-byte units"). */
export const SECTOR_SIZE = 512;
/** sizeof(struct virtio_blk_outhdr): type u32, ioprio u32, sector u64 (linux/virtio_blk.h; §5.2.6). */
export const BLK_OUTHDR_SIZE = 16;
/** sizeof(struct virtio_blk_discard_write_zeroes): sector u64, num_sectors u32, flags u32 (§5.2.6). */
export const BLK_DWZ_SIZE = 16;
/** VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP (linux/virtio_blk.h; §5.2.6). */
export const BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

/** Offsets in struct virtio_blk_config (linux/virtio_blk.h; §5.2.4). */
export const BlkConfig = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  GEOMETRY_CYLINDERS: 16,
  GEOMETRY_HEADS: 18,
  GEOMETRY_SECTORS: 19,
  BLK_SIZE: 20,
  PHYSICAL_BLOCK_EXP: 24,
  ALIGNMENT_OFFSET: 25,
  MIN_IO_SIZE: 26,
  OPT_IO_SIZE: 28,
  WCE: 32,
  NUM_QUEUES: 34,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56,
  /** Up to and including unused1[3]; the secure-erase and zoned fields are not offered. */
  SIZE: 60,
} as const;

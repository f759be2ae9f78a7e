// Device-layer violations: what a lying device does inside a device type's
// protocol (the Linux drivers' checks: virtio_net.c, virtio_blk.c,
// virtio_console.c) and what a lying driver sends a device (the device
// models' checks, after QEMU's hw/block/virtio-blk.c and hw/net/virtio-net.c).
// A 'clamp' entry's id is the counter it bumps, in UPPER_SNAKE case (the
// driver counter mtuInvalid is MTU_INVALID).
import type { Violation } from './types.js';

const NET = 'drivers/net/virtio_net.c';
const BLK = 'drivers/block/virtio_blk.c';
const CONSOLE = 'drivers/char/virtio_console.c';

export const deviceViolations: readonly Violation[] = [
  // ---- virtio-net, a device lying ----
  {
    id: 'RX_LEN_EXCEEDS',
    side: 'device',
    layer: 'device',
    severity: 'high',
    handling: 'fail',
    summary: 'an RX used length larger than the buffer posted',
    message: '%s: rx error: len %u exceeds max size %d',
    source: `receive_small / receive_big / receive_mergeable, ${NET}`,
  },
  {
    id: 'RX_BUFFERS_MISSING',
    side: 'device',
    layer: 'device',
    severity: 'high',
    handling: 'fail',
    summary: 'num_buffers larger than the buffers the device used',
    message: '%s: rx error: %d buffers out of %d missing',
    source: `receive_mergeable, ${NET}`,
  },
  {
    id: 'RX_SHORT',
    side: 'device',
    layer: 'device',
    severity: 'low',
    handling: 'fail',
    summary: 'an RX used length shorter than the virtio_net_hdr',
    message: '%s: short packet %i',
    source: `receive_buf, ${NET}`,
  },
  {
    id: 'MTU_CHANGED',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'fail',
    summary: 'the MTU read again at probe is below 68',
    message: 'device MTU appears to have changed it is now %d < %d',
    source: `virtnet_probe, ${NET}`,
  },
  {
    id: 'CTRL_NO_ANSWER',
    side: 'device',
    layer: 'device',
    severity: 'medium',
    handling: 'fail',
    summary: 'the device never completes a control-queue command',
    message: 'control command not completed',
    source: `virtnet_send_command_reply, ${NET}`,
  },
  {
    id: 'MTU_INVALID',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'clamp',
    summary: 'an MTU below 68 at validate: VIRTIO_NET_F_MTU is dropped (counter mtuInvalid)',
    message: '(silent) __virtio_clear_bit(vdev, VIRTIO_NET_F_MTU)',
    source: `virtnet_validate, ${NET}`,
  },
  {
    id: 'MAX_PAIRS_INVALID',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'clamp',
    summary: 'max_virtqueue_pairs outside [1, 0x8000]: one pair is used (counter maxPairsInvalid)',
    message: '(silent) max_queue_pairs = 1',
    source: `virtnet_probe, ${NET}`,
  },
  // ---- virtio-console, a device lying ----
  {
    id: 'RX_LEN_CLAMPED',
    side: 'device',
    layer: 'device',
    severity: 'high',
    handling: 'clamp',
    summary: 'a console used length larger than the receive buffer: clamped to it (counter rxLenClamped)',
    message: '(silent) buf->len = min_t(size_t, len, buf->size)',
    source: `get_inbuf, ${CONSOLE}`,
  },
  // ---- virtio-blk, a device lying ----
  {
    id: 'CAPACITY_CLAMPED',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'clamp',
    summary:
      'a capacity above 2^44 − 1 sectors (byte offsets past 2^53 lose precision): clamped to it (counter capacityClamped)',
    message: '(counted: Linux keeps capacity in a u64 sector_t and prints nothing)',
    source: `virtblk_update_capacity / set_capacity (sector_t), ${BLK}`,
  },
  {
    id: 'BLK_INVALID_SIZE_MAX',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'fail',
    summary: 'a size_max below PAGE_SIZE (0 means no limit)',
    message: 'virtio_blk: size_max %u is below PAGE_SIZE %lu',
    source: 'virtblk_probe → blk_validate_limits (max_segment_size < PAGE_SIZE: -EINVAL), block/blk-settings.c',
  },
  {
    id: 'BLK_USED_LEN',
    side: 'device',
    layer: 'device',
    severity: 'high',
    handling: 'fail',
    summary: 'a blk used length larger than the writable bytes of the request',
    message: 'used len %d is larger than in buflen %u',
    source: `virtblk_done (the check 939779f5152d moved to drivers), ${BLK}`,
  },
  {
    id: 'BLK_NO_STATUS',
    side: 'device',
    layer: 'device',
    severity: 'high',
    handling: 'fail',
    summary: 'a blk completion whose used length leaves the status byte unwritten',
    message: 'virtio_blk: used len %u leaves the status byte unwritten',
    source: `virtblk_request_done, ${BLK}`,
  },
  {
    id: 'BLK_NOT_COMPLETED',
    side: 'device',
    layer: 'device',
    severity: 'medium',
    handling: 'fail',
    summary: 'the device did not complete a request within the timeout (the driver resets it, frees every tag)',
    message:
      'blk queue %u: the device did not complete the request within %u polls / after a reset: it needs a reset again',
    source: `virtblk_timeout (blk_mq timeout), ${BLK}`,
  },
  {
    id: 'BLK_MQ_ZERO_QUEUES',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'fail',
    summary: 'VIRTIO_BLK_F_MQ with num_queues 0',
    message: 'MQ advertised but zero queues reported',
    source: `init_vq, ${BLK}`,
  },
  {
    id: 'BLK_INVALID_BLOCK_SIZE',
    side: 'device',
    layer: 'config',
    severity: 'low',
    handling: 'fail',
    summary: 'a blk_size that is not a power of two in [512, PAGE_SIZE]',
    message: 'virtio_blk: invalid block size: 0x%x',
    source: `virtblk_probe, ${BLK}`,
  },
  // ---- Any device, a live thread serving nothing ----
  {
    id: 'NO_PROGRESS',
    side: 'device',
    layer: 'device',
    severity: 'medium',
    handling: 'fail',
    summary:
      'a device alive but serving nothing: no chain completed in a two-thread run for progressTimeoutMs, or three net rounds that move no frame',
    message:
      '%s: no chain completed for %u ms (%u of %u done): the device stopped serving / net pair %u: no frame moved in 3 rounds',
    source: 'vduse_dev_msg_sync timeout (VDUSE_MSG_DEFAULT_TIMEOUT), drivers/vdpa/vdpa_user/vduse_dev.c',
  },
  // ---- A driver lying to a device ----
  {
    id: 'NET_TX_FRAME_TOO_BIG',
    side: 'driver',
    layer: 'device',
    severity: 'medium',
    handling: 'break',
    summary: 'a TX chain larger than the header + negotiated MTU + 18 without a GSO feature',
    message: 'virtio-net: queue %u: TX packet of %u bytes exceeds %u (header + MTU + 18)',
    source: 'tun_get_user (len > ...: -EINVAL), drivers/net/tun.c; Firecracker net FrameTooBig',
  },
  {
    id: 'BLK_BAD_REQUEST',
    side: 'driver',
    layer: 'device',
    severity: 'medium',
    handling: 'break',
    summary: 'a malformed blk request (variant no-header, no-status: none or not device-writable, short-header)',
    message: 'virtio-blk missing headers / virtio-blk request outbuf too short',
    source: 'virtio_blk_handle_request, hw/block/virtio-blk.c',
  },
];

// Device-layer violations: what a lying device does inside a device type's
// protocol (the Linux drivers' checks: virtio_net.c, virtio_blk.c,
// virtio_console.c) and what a lying driver sends a device (the device
// models' checks, after QEMU's hw/block/virtio-blk.c and hw/net/virtio-net.c).
import type { Violation } from './types.js';

const NET = 'drivers/net/virtio_net.c';
const BLK = 'drivers/block/virtio_blk.c';

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
  // ---- virtio-blk, a device lying ----
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
    summary: 'the device did not complete a request the driver waits for',
    message: 'blk queue %u: the device did not complete the request',
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
  // ---- A driver lying to a device ----
  {
    id: 'BLK_BAD_REQUEST',
    side: 'driver',
    layer: 'device',
    severity: 'medium',
    handling: 'break',
    summary: 'a malformed blk request (short header, no writable status byte, sectors past capacity)',
    message: 'virtio-blk missing headers / virtio-blk request outbuf too short',
    source: 'virtio_blk_handle_request, hw/block/virtio-blk.c',
  },
];

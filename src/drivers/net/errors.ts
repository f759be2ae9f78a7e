import { VqsimError, type FaultSide } from '../../errors.js';

/**
 * A check of Linux's virtio_net driver failed on what the device said. `code`
 * is stable; the message is the one Linux prints:
 *
 * - RX_LEN_EXCEEDS: an RX used length larger than the buffer posted
 *   (receive_small/receive_big: "%s: rx error: len %u exceeds max size %d";
 *   a later buffer of a mergeable packet: "%s: rx error: len %u exceeds truesize %lu").
 * - RX_BUFFERS_MISSING: num_buffers larger than the buffers the device used
 *   (receive_mergeable: "%s: rx error: %d buffers out of %d missing").
 * - RX_SHORT: a used length shorter than the virtio_net_hdr_v1
 *   (receive_buf: "%s: short packet %i").
 * - MTU_CHANGED: the MTU read again at probe is below 68
 *   (virtnet_probe: "device MTU appears to have changed it is now %d < %d"); the probe fails.
 * - CTRL_NO_ANSWER: the device did not complete a control command.
 * - RX_UNKNOWN: an RX check the driver does not know by name.
 * - CTRL_NO_QUEUE: a control command with no control queue negotiated (the
 *   caller's misuse: side 'user').
 * - NET_FRAME_TOO_BIG: send() of a frame larger than MTU + 18 (Ethernet
 *   header and a VLAN tag): the caller's (side 'user').
 *
 * Every code but CTRL_NO_QUEUE and NET_FRAME_TOO_BIG is the device's fault (side 'device').
 *
 * Not errors but counted (NetDriverCounters): an MTU below 68 at validate
 * (VIRTIO_NET_F_MTU is dropped, as virtnet_validate does) and a
 * max_virtqueue_pairs outside [1, 0x8000] (clamped to 1, as virtnet_probe does silently).
 */
export class NetDriverError extends VqsimError {
  /**
   * With onError 'throw': the frames of the same receive() that passed
   * their checks, delivered with the error rather than lost with it.
   */
  delivered: { header: Uint8Array; data: Uint8Array; buffers: number }[] = [];
  constructor(code: string, message: string, side: FaultSide = 'device') {
    super(code, message, side);
    this.name = 'NetDriverError';
  }
}

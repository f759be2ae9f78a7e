// virtio-net: VIRTIO 1.2 §5.1 and the Linux uapi header linux/virtio_net.h.

/** Virtio device ID of a network card (VIRTIO_ID_NET, linux/virtio_ids.h; §5). */
export const VIRTIO_ID_NET = 1;

/** Device feature bits (VIRTIO_NET_F_* in linux/virtio_net.h; §5.1.3). */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
} as const;

/** struct virtio_net_config offsets (linux/virtio_net.h; §5.1.4). */
export const NetConfig = {
  MAC: 0,
  STATUS: 6,
  MAX_VIRTQUEUE_PAIRS: 8,
  MTU: 10,
  SPEED: 12,
  DUPLEX: 16,
  RSS_MAX_KEY_SIZE: 17,
  RSS_MAX_INDIRECTION_TABLE_LENGTH: 18,
  SUPPORTED_HASH_TYPES: 20,
  SIZE: 24,
} as const;

/** The status field (VIRTIO_NET_S_* in linux/virtio_net.h; §5.1.4). */
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** Control queue acks (virtio_net_ctrl_ack in linux/virtio_net.h; §5.1.6.5). */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
/** Control class and command of multiqueue (VIRTIO_NET_CTRL_MQ*, linux/virtio_net.h; §5.1.6.5.5). */
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

export {
  /** sizeof(struct virtio_net_hdr_v1) (linux/virtio_net.h; §5.1.6): 12 bytes. */
  VIRTIO_NET_HDR_LEN,
  /** Offset of num_buffers in struct virtio_net_hdr_v1. */
  VIRTIO_NET_HDR_NUM_BUFFERS,
} from '../../assembly/net/layout.js';

/** Smallest MTU a driver accepts (ETH_MIN_MTU, linux/if_ether.h; virtio_net's virtnet_validate). */
export const ETH_MIN_MTU = 68;
/** Largest MTU virtio_net takes (ETH_MAX_MTU, linux/if_ether.h: 0xFFFF; the mtu config field is a le16). */
export const ETH_MAX_MTU = 65535;
/**
 * Bytes a frame adds to its MTU-sized payload: the Ethernet header
 * (ETH_HLEN 14) and one VLAN tag (VLAN_HLEN 4), as virtio_net sizes its
 * buffers (GOOD_PACKET_LEN = ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN).
 */
export const ETH_FRAME_OVERHEAD = 18;
/** Ethernet payload bytes of a standard frame (ETH_DATA_LEN, linux/if_ether.h). */
export const ETH_DATA_LEN = 1500;

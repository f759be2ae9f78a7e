// virtio-net constants, from linux/virtio_net.h and VIRTIO 1.2 §5.1.

export const VIRTIO_ID_NET = 1;

/** Device feature bits (VIRTIO_NET_F_*). */
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

/** struct virtio_net_config offsets. */
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

export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** Control queue: classes, commands and acks. */
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

/** struct virtio_net_hdr_v1 (12 bytes; num_buffers at offset 10). */
export const VIRTIO_NET_HDR_LEN = 12;
export const ETH_MIN_MTU = 68;
export const ETH_DATA_LEN = 1500;

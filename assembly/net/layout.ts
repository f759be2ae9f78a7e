// virtio-net structure offsets shared by the Wasm core and TypeScript (valid
// AssemblyScript and valid TypeScript: integer constants only).

// ---- linux/virtio_net.h ----
export const VIRTIO_NET_HDR_LEN = 12; // struct virtio_net_hdr_v1
export const VIRTIO_NET_HDR_NUM_BUFFERS = 10;

// ---- Device: a pool of popped chains waiting for their packet (host memory).
// Records in pop order; each names a run of elements in the element array.
export const POOL_REC = 0; // linear address of the record array
export const POOL_ELEM = 4; // linear address of the element array
export const POOL_N = 8; // records held
export const POOL_HEAD = 12; // first record not yet consumed
export const POOL_ELEMS = 16; // elements held
export const POOL_REC_CAP = 20;
export const POOL_ELEM_CAP = 24;
export const POOL_SIZE = 32;
// Pool record: chain head id, bytes of the buffers kept (readable for TX, writable for RX), element run.
export const PR_ID = 0;
export const PR_BYTES = 4;
export const PR_START = 8;
export const PR_END = 12;
export const PR_SIZE = 16;
// Pool element: same layout as a pop element (ELEM_ADDR u64, ELEM_LEN u32,
// ELEM_FLAGS u32, ELEM_LINEAR u32: the iovec the pop's DMA context made).
export const PE_ADDR = 0;
export const PE_LEN = 8;
export const PE_LINEAR = 16;
export const PE_SIZE = 24;

// ---- Device: per queue pair state (host memory). u32 fields, then u64 counters. ----
export const NS_MODE = 0;
export const NS_FLAGS = 4;
export const NS_TXPOOL = 8;
export const NS_RXPOOL = 12;
export const NS_TX_USED = 16; // where TX used records {id, len} go, stride 16 (the TX pop output)
export const NS_RX_USED = 20; // where RX used records go, stride 16 (the RX pop output)
export const NS_TX_USED_N = 24;
export const NS_RX_USED_N = 28;
export const NS_TX_USED_CAP = 32;
export const NS_RX_USED_CAP = 36;
export const NS_SRC_ELEM = 40; // one pool element: the source backend's frame template (PE_LINEAR: host linear)
export const NS_SRC_SEQ = 64;
export const NS_SRC_LEFT = 68; // packets the source still sends; 0xffffffff: no limit
export const NS_TX_PKTS = 72;
export const NS_TX_BYTES = 80;
export const NS_RX_PKTS = 88;
export const NS_RX_BYTES = 96;
export const NS_RX_BUFS = 104;
export const NS_DROPS = 112; // packets dropped: a big-mode RX buffer too small, or a bad RX buffer
export const NS_TX_ERRORS = 120; // TX chains shorter than the header
export const NS_SINK_PKTS = 128;
// Direct TX input for net_run: chains of the TX pop output (at NS_TX_USED) not
// stashed, and the pop output's chain capacity (its elements follow the records).
export const NS_TXIN_N = 136;
export const NS_TXIN_CHAINS = 140;
// Where a frame the device does not loop back is read to (host linear), and
// that buffer's size: a sink or source still takes every TX frame in, as a
// NIC reads it over DMA before its wire.
export const NS_SINK_BUF = 144;
export const NS_SINK_CAP = 148;
// Linear address of the device's DMA context, where its accesses are counted.
export const NS_CTX = 152;
export const NS_SIZE = 160;

export const NET_MODE_SINK = 0;
export const NET_MODE_LOOPBACK = 1;
export const NET_MODE_SOURCE = 2;
export const NET_FLAG_MRG = 1;

// ---- Driver: RX completion processing state (guest-private memory). ----
export const DR_COMPL = 0; // linear address of the reap output {token, len}
export const DR_N = 4;
export const DR_SLOTS = 8; // slot table: per RX buffer {cpu linear u32, posted len u32, dma u64}
export const DR_NSLOTS = 12;
export const DR_FLAGS = 16;
export const DR_REQ = 20; // refill request batch (REQ_* / SG_* records)
export const DR_PKT_OUT = 24; // packet records, or 0 for counting only
export const DR_PKTS = 28;
export const DR_BYTES = 32;
export const DR_REFILL = 36;
export const DR_ERRS = 40;
export const DR_ERR_CODE = 44;
export const DR_ERR_A = 48;
export const DR_ERR_B = 52;
export const DR_ERR_C = 56; // token of the buffer
export const DR_CNT_LEN = 60; // cumulative counts per check
export const DR_CNT_MISSING = 64;
export const DR_CNT_SHORT = 68;
export const DR_SIZE = 128;

export const DRF_HARDENED = 1;
export const DRF_MRG = 2;

export const SLOT_CPU = 0;
export const SLOT_LEN = 4;
export const SLOT_DMA = 8;
export const SLOT_SIZE = 16;

// Packet record: index of its first completion, buffers, bytes including the header.
export const PK_FIRST = 0;
export const PK_NBUFS = 4;
export const PK_LEN = 8;
export const PK_SIZE = 16;

// Driver check codes (the TypeScript side names them).
export const NE_LEN_EXCEEDS = 1; // a: len, b: max size
export const NE_BUFS_MISSING = 2; // a: buffers missing, b: num_buffers
export const NE_SHORT = 3; // a: len, b: header length
export const NE_TRUESIZE = 4; // a: len, b: posted size (a later buffer of a mergeable packet)

// ---- Driver: TX state (guest-private memory). ----
export const DT_FREE = 0; // linear address of the free-slot stack (u32 per slot)
export const DT_NFREE = 4;
export const DT_SLOTS = 8; // slot table, SLOT_* records
export const DT_NSLOTS = 12;
export const DT_REQ = 16; // request batch the build writes
export const DT_COMPL = 20; // reap output the reclaim reads
export const DT_LENS = 24; // per-frame lengths (header included), or 0: one length for all
export const DT_SIZE = 32;

// Memory map and structure offsets shared by the Wasm core and TypeScript.
//
// This file is valid AssemblyScript and valid TypeScript: it holds only integer
// constants, so both sides compile the same numbers from one source.
//
// Linear memory of a machine (one shared WebAssembly.Memory):
//   [0, CONFIG_BASE)            the Wasm module's static area (data segments)
//   [CONFIG_BASE, PAGE_MAP_BASE) machine config block
//   [PAGE_MAP_BASE, HOST_BASE)  page ownership map, one byte per guest page
//   [HOST_BASE, GUEST_BASE)     host-side structures: device queue state, stats
//                               blocks, pop output; never reachable by the guest
//   [GUEST_BASE, +ram)          guest physical RAM; guest physical 0 is GUEST_BASE

export const CONFIG_BASE = 0x10000;
export const PAGE_MAP_BASE = 0x100000;
export const HOST_BASE = 0x200000;
export const GUEST_BASE = 0x4000000;
export const WASM_PAGE = 0x10000;
// Wasm32 addresses 4 GiB; guest RAM is what is left above GUEST_BASE.
export const MAX_GUEST_RAM = 0x100000000 - 0x4000000;

export const GUEST_PAGE_SHIFT = 12;
export const GUEST_PAGE_SIZE = 4096;
export const PAGE_PRIVATE = 0;
export const PAGE_SHARED = 1;
// A private page a device wrote under TDX: its integrity check failed, and
// the guest's next read of it is a machine check. Bit 0 still says shared.
export const PAGE_POISONED = 2;

// Config block at CONFIG_BASE (u32 fields).
export const CFG_RAM_SIZE = 0;
export const CFG_PAGE_COUNT = 4;
// Host-area bump pointer: the linear address of the next free host byte (0
// before the first allocation means HOST_BASE). Every thread attached to the
// memory allocates by compare-exchange on this word, so no two get one block.
export const CFG_HOST_NEXT = 8;
// Linear address of the stats registry table (src/memory/stats-registry.ts),
// 0 until the first block is registered; set once by compare-exchange.
export const CFG_STATS = 12;
// The machine's memory-encryption model (ENC_* in assembly/mem/layout.ts)
// and its key (from the machine's seed): every DMA context of the machine
// takes them.
export const CFG_ENCRYPTION = 16;
export const CFG_KEY = 20;
export const CFG_SIZE = 64;

// ---- Split virtqueue, VIRTIO 1.2 §2.7 and linux/virtio_ring.h ----
export const VRING_DESC_SIZE = 16;
export const VRING_DESC_ADDR = 0;
export const VRING_DESC_LEN = 8;
export const VRING_DESC_FLAGS = 12;
export const VRING_DESC_NEXT = 14;
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;

export const VRING_AVAIL_FLAGS = 0;
export const VRING_AVAIL_IDX = 2;
export const VRING_AVAIL_RING = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;

export const VRING_USED_FLAGS = 0;
export const VRING_USED_IDX = 2;
export const VRING_USED_RING = 4;
export const VRING_USED_ELEM_SIZE = 8;
export const VRING_USED_F_NO_NOTIFY = 1;

export const VQ_MAX_SIZE = 32768;

// Feature bits (VIRTIO 1.2 §6).
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_IN_ORDER = 35;

// Queue feature flags as the Wasm core sees them (a u32 in each state block).
export const QF_EVENT_IDX = 1;
export const QF_INDIRECT = 2;
// VIRTIO_F_IN_ORDER (packed ring): buffers are used in the order they were made
// available, and one used descriptor may stand for a whole batch.
export const QF_IN_ORDER = 4;
// Queue modes, in the same u32 (not feature bits; vqsim's own):
// QF_NAIVE: the face runs without its trust checks (`hardened: false`), as a
// pre-hardening Linux driver or an unchecked device model does; the
// simulator itself stays inside the queue's own areas (see the rings).
export const QF_NAIVE = 8;
// QF_NOSPEC: every index the other side supplies is masked after its bounds
// check (Linux array_index_nospec), so a mispredicted check cannot load out
// of bounds under speculation.
export const QF_NOSPEC = 16;
// QF_USED_LEN_RING (driver only): used.len is checked against the writable
// bytes of the chain at ring level (Linux 939779f5152d, reverted by
// f124034faa91 in 5.16); without it the drivers check it themselves.
export const QF_USED_LEN_RING = 32;
// QF_STORE_ORDERED: the host CPU keeps stores in program order (x86 total
// store order), so smp_store_release() is a plain store there, as in Linux's
// x86 barriers (a compiler barrier, then mov). Wasm has only sequentially
// consistent atomic stores, which V8 emits as xchg on x86: a full barrier that
// stalls until the store buffer drains, the cost of smp_mb() on every publish.
// With the bit, a publishing store (avail->idx, used->idx, a packed descriptor's
// flags) is a plain Wasm store, which V8 emits in program order, and the
// smp_mb() the notification decisions need after it is an explicit locked
// instruction (measured, packed ring, one chain per call on two threads:
// 11 to 14.5 M round trips/s). Without it (another CPU) every publish is
// seq-cst. The TypeScript reference model, single-threaded, ignores it.
export const QF_STORE_ORDERED = 64;

// ---- Driver state of a split queue: guest-private memory (like Linux's
// struct vring_virtqueue plus desc_extra / desc_state). Pointers are linear-
// memory addresses. u32 fields. ----
export const DRV_NUM = 0;
export const DRV_FEATURES = 4;
export const DRV_DESC = 8;
export const DRV_AVAIL = 12;
export const DRV_USED = 16;
export const DRV_FREE_HEAD = 20;
export const DRV_NUM_FREE = 24;
export const DRV_LAST_USED = 28;
export const DRV_AVAIL_IDX_SHADOW = 32;
export const DRV_NUM_ADDED = 36;
export const DRV_AVAIL_FLAGS_SHADOW = 40;
export const DRV_BROKEN = 44;
export const DRV_EXTRA = 48;
export const DRV_STATE = 52;
export const DRV_INDIR_POOL = 56;
export const DRV_INDIR_CAP = 60;
export const DRV_STATS = 64;
export const DRV_ERR_CODE = 68;
export const DRV_ERR_A = 72;
export const DRV_ERR_B = 76;
export const DRV_BATCH_DONE = 80;
// 1 when a kick was decided for (a forced decision at 65535 chains added) and
// not yet returned by kick_prepare.
export const DRV_KICK_OWED = 84;
// The DMA window of the driver's domain (u64s): a buffer's DMA address must
// lie in [DRV_DMA_BASE, DRV_DMA_BASE + DRV_DMA_SIZE).
export const DRV_DMA_BASE = 88;
export const DRV_DMA_SIZE = 96;
// DMA address of the indirect pool (u64): it comes from dma_alloc_coherent,
// so a table's DMA address is this plus its offset in the pool.
export const DRV_INDIR_DMA = 104;
export const DRV_SIZE = 128;

// desc_extra[i]: private shadow of each descriptor (Linux struct vring_desc_extra).
export const EXTRA_ADDR = 0;
export const EXTRA_LEN = 8;
export const EXTRA_FLAGS = 12;
export const EXTRA_NEXT = 14;
export const EXTRA_SIZE = 16;

// desc_state[head] (Linux struct vring_desc_state_split): the caller's token,
// and 0 when the id is not an outstanding head, 1 for a direct chain, or the
// linear address of the chain's indirect table.
export const STATE_TOKEN = 0;
export const STATE_HEAD = 4;
// The writable bytes of the chain (Linux 939779f5152d's desc_state buflen),
// set at add time from the caller's request, never read from the ring.
export const STATE_WLEN = 8;
export const STATE_SIZE = 16;
export const STATE_DIRECT = 1;

// ---- Device state of a split queue: host memory (QEMU VirtQueue). ----
export const DEV_NUM = 0;
export const DEV_FEATURES = 4;
export const DEV_DESC = 8;
export const DEV_AVAIL = 12;
export const DEV_USED = 16;
export const DEV_LAST_AVAIL = 20;
export const DEV_USED_IDX = 24;
export const DEV_SIGNALLED_USED = 28;
export const DEV_SIGNALLED_VALID = 32;
export const DEV_NOTIFY_ENABLED = 36;
export const DEV_BROKEN = 40;
export const DEV_STATS = 44;
export const DEV_ERR_CODE = 48;
export const DEV_ERR_A = 52;
export const DEV_ERR_B = 56;
export const DEV_INFLIGHT = 60;
export const DEV_BATCH_DONE = 64;
// Linear address of the device's DMA context (assembly/mem/layout.ts): every
// descriptor is translated through it at pop time.
export const DEV_DMA_CTX = 68;
export const DEV_SIZE = 128;

// ---- Batch records ----
// Driver add request (guest-private): header then sg entries.
export const REQ_OUT = 0;
export const REQ_IN = 4;
export const REQ_TOKEN = 8;
export const REQ_FLAGS = 12;
export const REQ_HDR_SIZE = 16;
export const REQ_F_INDIRECT = 1;
export const SG_ADDR = 0;
export const SG_LEN = 8;
export const SG_SIZE = 16;

// Driver reap output: one entry per completed chain.
export const REAP_TOKEN = 0;
export const REAP_LEN = 4;
export const REAP_SIZE = 8;

// Device pop output (host): chain records, then an element array.
// A chain record starts with {id, len} so it can be pushed back as a used
// element directly (len = every writable byte of the chain). Elements are the
// chain's buffers translated through the device's DMA context, as QEMU's
// virtqueue_map_desc() makes iovecs: one or more per descriptor (split where
// the translation is not contiguous), each with the DMA address it came from
// and the linear address the device may touch.
export const POP_ID = 0;
export const POP_WRITE_BYTES = 4;
export const POP_READ_BYTES = 8;
export const POP_ELEM_END = 12;
export const POP_SIZE = 16;
export const ELEM_ADDR = 0;
export const ELEM_LEN = 8;
export const ELEM_FLAGS = 12;
export const ELEM_LINEAR = 16;
export const ELEM_SIZE = 24;

// Device push input: {id, len} with a caller-given stride (8 or POP_SIZE).
export const PUSH_ID = 0;
export const PUSH_LEN = 4;

// ---- Stats block (host memory), u64 counters ----
// The driver's counters fill the first 128 bytes and the device's start at
// 128: each side writes only its own aligned 128-byte pair of cache lines, so
// a driver thread and a device thread do not false-share through the
// adjacent-line prefetcher (the reason for DPDK's RTE_CACHE_GUARD).
export const ST_CHAINS_ADDED = 0;
export const ST_DESCS_ADDED = 8;
export const ST_BYTES_ADDED = 16;
export const ST_INDIRECT_ADDED = 24;
export const ST_KICKS = 32;
export const ST_KICKS_SUPPRESSED = 40;
export const ST_CHAINS_COMPLETED = 48;
export const ST_BYTES_COMPLETED = 56;
export const ST_DRIVER_CHECKS_FAILED = 64;
export const ST_CHAINS_POPPED = 128;
export const ST_DESCS_POPPED = 136;
export const ST_CHAINS_USED = 144;
export const ST_BYTES_USED = 152;
export const ST_INTERRUPTS = 160;
export const ST_INTERRUPTS_SUPPRESSED = 168;
export const ST_DEVICE_CHECKS_FAILED = 176;
export const ST_SIZE = 512;

// ---- Error codes: Wasm returns -code; details go to *_ERR_A / *_ERR_B. ----
export const E_BROKEN = 1;
// Driver side: the device lied (Linux BAD_RING in virtqueue_get_buf_ctx_split).
export const E_USED_ID_RANGE = 10;
export const E_USED_ID_NOT_HEAD = 11;
// used->idx moved by more than the chains in flight (split); the packed ring
// needs no twin: see packed_drv_get_used.
export const E_USED_IDX_JUMP = 12;
// used.len larger than the chain's writable bytes (QF_USED_LEN_RING).
export const E_USED_LEN = 13;
// Driver side: the caller asked for something impossible (queue not broken).
export const E_REQ_EMPTY = 20;
export const E_REQ_ZERO_LEN = 21;
export const E_REQ_ADDR = 22;
export const E_REQ_TOO_LONG = 23;
// Device side: the driver lied (QEMU virtio_error, vhost vq_err).
export const E_AVAIL_IDX_JUMP = 30;
export const E_AVAIL_HEAD_RANGE = 31;
export const E_DESC_NEXT_RANGE = 32;
export const E_DESC_LOOP = 33;
export const E_ZERO_LEN = 34;
export const E_ADDR_RANGE = 35;
export const E_INDIRECT_LEN = 36;
export const E_INDIRECT_NESTED = 37;
export const E_INDIRECT_NOT_NEGOTIATED = 38;
export const E_DESC_ORDER = 39;
export const E_INDIRECT_TOO_BIG = 40;
export const E_CHAIN_LEN_OVERFLOW = 41;
export const E_INFLIGHT = 42;
// More than VIRTQUEUE_MAX_SIZE (1024) write descriptors in one chain (QEMU
// virtqueue_map_desc: "too many write descriptors in indirect table").
export const E_TOO_MANY_WRITE_DESCS = 52;
// A naive (unchecked) walk ran past the simulator's budget: the real code
// would loop on; vqsim stops and says so (a host-side limit, not a check).
export const E_NAIVE_BUDGET = 53;
// Device side: the DMA context refused an access (E_ADDR_RANGE: outside the
// device's DMA address space, which for the direct backend is guest RAM).
export const E_DMA_UNMAPPED = 43;
export const E_DMA_PERM = 44;
export const E_DMA_PRIVATE = 45;
// An indirect table that does not translate to one contiguous run.
export const E_INDIRECT_MAP = 46;
// A device write to a guest-owned page under SEV-SNP (the RMP check refuses it).
export const E_DMA_RMP = 47;
// Any access by a device whose DMA is blocked (a TDISP interface in ERROR).
export const E_DMA_BLOCKED = 48;
// A device access to private pages larger than the ciphertext staging ring.
export const E_DMA_STAGE = 49;
// Device side: the caller asked for something impossible (queue not broken).
export const E_PUSH_ID_RANGE = 50;
export const E_POP_OUTPUT = 51;

// The DMA context (the memory room's one way into guest memory for a device):
// block and stats offsets shared by the Wasm core and TypeScript (valid
// AssemblyScript and valid TypeScript: integer constants only).
//
// A context is one device's DMA domain (QEMU: the AddressSpace a device's
// DMA goes through; Linux: the IOMMU domain or the lack of one). It lives in
// host memory, where the guest cannot reach it; TypeScript configures it and
// the Wasm pops, device copies and the DmaView's scalar accessors all
// translate through it.

// ---- Context block (host memory) ----
export const CTX_MODE = 0; // DMA_MODE_*
export const CTX_FLAGS = 4; // DMA_F_*
export const CTX_STATS = 8; // linear address of the context's stats block (DST_*)
export const CTX_PT = 12; // paged: linear address of the page table (u32 per 4 KiB IOVA page)
export const CTX_LIMIT = 16; // u64: bytes of the DMA address space (direct: guest RAM; paged: the IOVA window)
export const CTX_BASE = 24; // u64: paged: the first DMA address of the IOVA window
export const CTX_FAULT_ADDR = 32; // u64: the last fault's DMA address
export const CTX_FAULT_LEN = 40;
export const CTX_FAULT_CODE = 44; // its error code (E_ADDR_RANGE or E_DMA_*)
export const CTX_FAULT_WRITE = 48; // 1 for a device write
// The machine's memory-encryption model as this device meets it (ENC_*):
// what a device access to a private page does.
export const CTX_ENC = 52;
export const CTX_KEY = 56; // the keystream's key (the machine's, from its seed)
// Ciphertext staging (host memory): a private page a device reads or writes
// is seen through a staged copy of its ciphertext; a ring of CTX_STAGE_CAP bytes.
export const CTX_STAGE = 60;
export const CTX_STAGE_CAP = 64;
export const CTX_STAGE_NEXT = 68;
// Device writes to staged private pages, applied to guest memory at the next
// push (WB_* records): what the device wrote, decrypted, lands in the page.
export const CTX_WB = 72;
export const CTX_WB_N = 76;
export const CTX_WB_CAP = 80;
export const CTX_IOTLB = 84; // paged: linear address of the IOTLB (IOTLB_ENTRY_SIZE bytes per entry), 0 for none
export const CTX_IOTLB_MASK = 88; // paged: the IOTLB's entries − 1 (entries are a power of two)
export const CTX_SIZE = 128;

// Direct: the DMA address is the guest physical address, and the space is
// guest RAM (a traditional VM's device built into the hypervisor).
export const DMA_MODE_DIRECT = 0;
// Paged: DMA addresses are IOVAs in a window [base, base + limit), translated
// page by page through a table the guest's IOMMU driver fills (an IOMMU, a
// VDUSE IOTLB, or the test-only offset backend).
export const DMA_MODE_PAGED = 1;

// The device may touch shared pages only (a confidential VM: private pages
// are encrypted and the host has no key); checked against the page-ownership
// map for every page an access touches.
export const DMA_F_SHARED_ONLY = 1;
// Every access refused (a TDISP device interface in ERROR: no DMA at all).
export const DMA_F_BLOCKED = 2;

// Memory-encryption models (what the device sees of a private page).
export const ENC_NONE = 0; // no encryption: plaintext to all
export const ENC_SEV = 1; // AMD SEV/SEV-ES: reads give ciphertext; writes land, the guest reads garbage
export const ENC_SNP = 2; // AMD SEV-SNP: reads give ciphertext; writes are refused (RMP check)
export const ENC_TDX = 3; // Intel TDX: reads give ciphertext; writes poison the page (#MC on the guest's next read)

// A write-back record: the staged bytes, the guest page range they belong to.
export const WB_STAGE = 0;
export const WB_GPA = 4;
export const WB_LEN = 8;
export const WB_SIZE = 16;

// Page-table entry: the guest physical page base | the permissions below;
// 0 is "not mapped".
export const PTE_READ = 1; // the device may read (DMA_TO_DEVICE)
export const PTE_WRITE = 2; // the device may write (DMA_FROM_DEVICE)
export const PTE_PERM_MASK = 3;

// The IOTLB of a paged context: a direct-mapped cache of page-table entries,
// in host memory, consulted before the table walk (an IOMMU's IOTLB; vhost's
// device IOTLB). Entry i holds one u64: the low word is the tag, the IOVA page
// index within the window + 1 (0: empty), for a page with page & mask == i;
// the high word is that page's PTE as the walk found it. Only present entries
// are cached. Unmapping, or changing a present entry, invalidates the page
// (the TypeScript face does it, as an IOMMU driver's iotlb_sync does).
export const IOTLB_TAG = 0;
export const IOTLB_PTE = 4;
export const IOTLB_ENTRY_SIZE = 8;
export const IOTLB_DEFAULT_ENTRIES = 64;

// ---- Context stats block (host memory), u64 counters, updated with atomic
// adds once per batch: a device's queues may run on several threads. ----
export const DST_READS = 0; // device reads of guest memory (one per iovec or scalar read)
export const DST_WRITES = 8; // device writes
export const DST_BYTES_READ = 16;
export const DST_BYTES_WRITTEN = 24;
export const DST_FAULTS = 32; // accesses refused
export const DST_MAPS = 40; // iovecs made by translating descriptors (pops, indirect tables, ring areas)
export const DST_SPLITS = 48; // iovecs beyond the first of a range (the translation was not contiguous)
export const DST_IOTLB_HITS = 56; // paged: page translations the IOTLB answered
export const DST_IOTLB_MISSES = 64; // paged: page translations that walked the table (found or not)
export const DST_IOTLB_INVALIDATIONS = 72; // paged: invalidation requests (one per unmap or remap of present pages)
export const DST_SIZE = 128;

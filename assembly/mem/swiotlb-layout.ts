// The swiotlb bounce pool (Linux kernel/dma/swiotlb.c): constants and block
// offsets shared by the Wasm core (assembly/mem/swiotlb.ts) and TypeScript
// (src/dma/swiotlb.ts). Valid AssemblyScript and valid TypeScript: integer
// constants only. Values are Linux 6.12's; the source of each is named.

// ---- Constants (include/linux/swiotlb.h) ----
export const IO_TLB_SHIFT = 11; // a slot is 2 KiB
export const IO_TLB_SIZE = 2048; // 1 << IO_TLB_SHIFT
export const IO_TLB_SEGSIZE = 128; // slots per segment: the longest mapping is 256 KiB
export const IO_TLB_DEFAULT_SIZE = 0x4000000; // 64 MiB (IO_TLB_DEFAULT_SIZE)
export const IO_TLB_MIN_SLABS = 512; // (1 << 20) >> IO_TLB_SHIFT: 1 MiB (swiotlb.c)
// The largest allocation one mapping may take, padding included
// (swiotlb_find_slots: alloc_size > IO_TLB_SEGSIZE * IO_TLB_SIZE fails at once).
export const IO_TLB_MAX_ALLOC = 262144;
// slot orig_addr of a free or padding slot (INVALID_PHYS_ADDR). Guest RAM ends
// below 4 GiB - 64 MiB, so no buffer starts here.
export const SW_INVALID = 0xffffffff;
// The flag on the align-offset entry of the first data slot of a mapping:
// unmap accepts only the address map() returned (Linux trusts the caller).
export const SW_HEAD = 0x8000;
export const SW_AOFF_MASK = 0x7fff;

// DMA attributes (include/linux/dma-mapping.h).
export const DMA_ATTR_SKIP_CPU_SYNC = 32; // 1UL << 5
export const DMA_ATTR_NO_WARN = 256; // 1UL << 8

// ---- The pool descriptor: the guest kernel's struct io_tlb_pool, in guest-
// private memory (the device never reaches it). u32 fields. ----
export const SWP_NSLABS = 0;
export const SWP_NAREAS = 4;
export const SWP_AREA_NSLABS = 8;
export const SWP_START = 12; // guest physical address of slot 0 (the shared bounce pages)
export const SWP_LIST = 16; // linear address of list[]: u16 per slot, free slots from here to the segment end
export const SWP_ORIG = 20; // linear address of orig_addr[]: u32 per slot (SW_INVALID when free)
export const SWP_ASIZE = 24; // linear address of alloc_size[]: u32 per slot
export const SWP_PAD = 28; // linear address of pad_slots[]: u16 per slot
export const SWP_AOFF = 32; // linear address of the align offset[]: u16 per slot (| SW_HEAD)
export const SWP_STATS = 36; // linear address of the stats block (host memory, SWS_*)
export const SWP_SIZE = 64;
// struct io_tlb_area, one 64-byte line each after the descriptor.
export const SWA_LOCK = 0; // u32 spin lock: 0 free, 1 held (atomic compare-exchange)
export const SWA_INDEX = 4; // u32 next-fit cursor
export const SWA_USED = 8; // u32 slots in use
export const SWA_SIZE = 64;
// Bytes of metadata per slot (the five arrays above).
export const SW_SLOT_META = 14;

// ---- The stats block (host memory), u64 counters: Linux's debugfs files
// first (atomic adds), then one item per CPU that maps through the pool,
// written only by that CPU's thread (plain stores: no lock-prefixed add on
// the hot path, as Linux's per-cpu counters). ----
export const SWS_NSLABS = 0; // io_tlb_nslabs
export const SWS_USED = 8; // io_tlb_used (atomic, as CONFIG_DEBUG_FS's total_used)
export const SWS_HIWATER = 16; // io_tlb_used_hiwater
export const SWS_TRANSIENT = 24; // io_tlb_transient_nslabs (no dynamic pools here: 0)
export const SWS_WARNINGS = 32; // "swiotlb buffer is full" messages kept (TypeScript)
export const SWS_WARNINGS_SUPPRESSED = 40; // messages the rate limit dropped
export const SWS_ITEMS = 48; // u64: CPUs (items)
export const SWS_ITEM0 = 128; // item k at SWS_ITEM0 + k * SWC_SIZE
// Per-CPU item.
export const SWC_MAPS = 0; // mappings made
export const SWC_SEARCHES = 8; // slot searches (swiotlb_find_slots calls, failed ones too)
export const SWC_AREA_SEARCHES = 16; // areas searched (swiotlb_search_pool_area calls)
export const SWC_SLOTS_SCANNED = 24; // slots the searches checked
export const SWC_RELEASES = 32; // mappings released (swiotlb_release_slots)
export const SWC_FULL = 40; // mappings refused: pool full, or larger than a segment
export const SWC_BOUNCES_TO_DEVICE = 48; // copies original -> bounce (map, sync for device)
export const SWC_BYTES_TO_DEVICE = 56;
export const SWC_BOUNCES_FROM_DEVICE = 64; // copies bounce -> original (unmap, sync for cpu)
export const SWC_BYTES_FROM_DEVICE = 72;
export const SWC_OVERFLOWS = 80; // copies clamped to the mapping ("Buffer overflow detected")
export const SWC_LOCK_SPINS = 88; // times an area lock was found held
export const SWC_SIZE = 128;

// ---- Error codes: the Wasm functions return -code. ----
export const SWE_FULL = 1; // no free run fits (DMA_MAPPING_ERROR)
export const SWE_TOO_BIG = 2; // the allocation is larger than a segment (DMA_MAPPING_ERROR)
export const SWE_NOT_MAPPED = 3; // unmap of an address that is not the start of a mapping
export const SWE_RANGE = 4; // an address outside the pool, or a buffer outside guest RAM

// vqsim native comparison loop: a C port of the Wasm core's split-ring round
// trip (assembly/split/driver.ts and assembly/split/device.ts), function for
// function, over the same memory map (assembly/layout.ts) in one malloc'd
// buffer. Addresses are 32-bit offsets into that buffer, as in wasm32; the
// index publishes and event-index reads are seq_cst atomics, as Wasm's
// atomic.store/atomic.load are. Each exported Wasm function is a noinline C
// function here, called once per step per batch, as the JavaScript loop calls
// the Wasm exports.
//
// Usage: roundtrip <queue-size> <batch-chains> <chain-length> <event-idx 0|1>
//                  <indirect 0|1> <buffer-bytes> <time-ms>
// Prints one JSON line: {"chains":..,"seconds":..,"chainsPerSec":..,"nsPerChain":..}
// Built by `vqsim bench` with gcc -O2 (see src/cli/bench/native.ts).
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint32_t usize; // wasm32 addresses
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t i32;

// ---- assembly/layout.ts ----
#define CONFIG_BASE 0x10000u
#define HOST_BASE 0x200000u
#define GUEST_BASE 0x4000000u
#define CFG_RAM_SIZE 0u
#define VRING_DESC_SIZE 16u
#define VRING_DESC_ADDR 0u
#define VRING_DESC_LEN 8u
#define VRING_DESC_FLAGS 12u
#define VRING_DESC_NEXT 14u
#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_FLAGS 0u
#define VRING_AVAIL_IDX 2u
#define VRING_AVAIL_RING 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_FLAGS 0u
#define VRING_USED_IDX 2u
#define VRING_USED_RING 4u
#define VRING_USED_ELEM_SIZE 8u
#define VRING_USED_F_NO_NOTIFY 1u
#define QF_EVENT_IDX 1u
#define QF_INDIRECT 2u
#define DRV_NUM 0u
#define DRV_FEATURES 4u
#define DRV_DESC 8u
#define DRV_AVAIL 12u
#define DRV_USED 16u
#define DRV_FREE_HEAD 20u
#define DRV_NUM_FREE 24u
#define DRV_LAST_USED 28u
#define DRV_AVAIL_IDX_SHADOW 32u
#define DRV_NUM_ADDED 36u
#define DRV_AVAIL_FLAGS_SHADOW 40u
#define DRV_BROKEN 44u
#define DRV_EXTRA 48u
#define DRV_STATE 52u
#define DRV_INDIR_POOL 56u
#define DRV_INDIR_CAP 60u
#define DRV_STATS 64u
#define DRV_ERR_CODE 68u
#define DRV_ERR_A 72u
#define DRV_ERR_B 76u
#define DRV_BATCH_DONE 80u
#define DRV_KICK_OWED 84u
#define DRV_DMA_BASE 88u
#define DRV_DMA_SIZE 96u
#define DRV_INDIR_DMA 104u
#define DRV_SIZE 128u
#define EXTRA_ADDR 0u
#define EXTRA_LEN 8u
#define EXTRA_FLAGS 12u
#define EXTRA_NEXT 14u
#define EXTRA_SIZE 16u
#define STATE_TOKEN 0u
#define STATE_HEAD 4u
#define STATE_WLEN 8u
#define STATE_SIZE 16u
#define STATE_DIRECT 1u
#define DEV_NUM 0u
#define DEV_FEATURES 4u
#define DEV_DESC 8u
#define DEV_AVAIL 12u
#define DEV_USED 16u
#define DEV_LAST_AVAIL 20u
#define DEV_USED_IDX 24u
#define DEV_SIGNALLED_USED 28u
#define DEV_SIGNALLED_VALID 32u
#define DEV_NOTIFY_ENABLED 36u
#define DEV_BROKEN 40u
#define DEV_STATS 44u
#define DEV_ERR_CODE 48u
#define DEV_ERR_A 52u
#define DEV_ERR_B 56u
#define DEV_INFLIGHT 60u
#define DEV_BATCH_DONE 64u
#define DEV_DMA_CTX 68u
#define DEV_SIZE 128u
#define REQ_OUT 0u
#define REQ_IN 4u
#define REQ_TOKEN 8u
#define REQ_FLAGS 12u
#define REQ_HDR_SIZE 16u
#define REQ_F_INDIRECT 1u
#define SG_ADDR 0u
#define SG_LEN 8u
#define SG_SIZE 16u
#define REAP_TOKEN 0u
#define REAP_LEN 4u
#define REAP_SIZE 8u
#define POP_ID 0u
#define POP_WRITE_BYTES 4u
#define POP_READ_BYTES 8u
#define POP_ELEM_END 12u
#define POP_SIZE 16u
#define ELEM_ADDR 0u
#define ELEM_LEN 8u
#define ELEM_FLAGS 12u
#define ELEM_LINEAR 16u
#define ELEM_SIZE 24u
#define PUSH_ID 0u
#define PUSH_LEN 4u
#define ST_CHAINS_ADDED 0u
#define ST_DESCS_ADDED 8u
#define ST_BYTES_ADDED 16u
#define ST_INDIRECT_ADDED 24u
#define ST_KICKS 32u
#define ST_KICKS_SUPPRESSED 40u
#define ST_CHAINS_COMPLETED 48u
#define ST_BYTES_COMPLETED 56u
#define ST_DRIVER_CHECKS_FAILED 64u
#define ST_CHAINS_POPPED 128u
#define ST_DESCS_POPPED 136u
#define ST_CHAINS_USED 144u
#define ST_BYTES_USED 152u
#define ST_INTERRUPTS 160u
#define ST_INTERRUPTS_SUPPRESSED 168u
#define ST_DEVICE_CHECKS_FAILED 176u
#define ST_SIZE 512u
#define E_BROKEN 1
#define E_USED_ID_RANGE 10
#define E_USED_ID_NOT_HEAD 11
#define E_USED_IDX_JUMP 12
#define E_REQ_EMPTY 20
#define E_REQ_ZERO_LEN 21
#define E_REQ_ADDR 22
#define E_REQ_TOO_LONG 23
#define E_AVAIL_IDX_JUMP 30
#define E_AVAIL_HEAD_RANGE 31
#define E_DESC_NEXT_RANGE 32
#define E_DESC_LOOP 33
#define E_ZERO_LEN 34
#define E_ADDR_RANGE 35
#define E_INDIRECT_LEN 36
#define E_INDIRECT_NESTED 37
#define E_INDIRECT_NOT_NEGOTIATED 38
#define E_DESC_ORDER 39
#define E_INDIRECT_TOO_BIG 40
#define E_CHAIN_LEN_OVERFLOW 41
#define E_INFLIGHT 42
#define E_PUSH_ID_RANGE 50
#define E_POP_OUTPUT 51

// The linear memory. Each function copies the base into a local (as V8 keeps
// the Wasm memory base in a register), so the seq_cst atomics, which are
// compiler barriers, do not force a reload of the global.
static u8 *M;

#define load16(a) ld16(m, (a))
#define load32(a) ld32(m, (a))
#define load64(a) ld64(m, (a))
#define store16(a, v) st16(m, (a), (u16)(v))
#define store32(a, v) st32(m, (a), (u32)(v))
#define store64(a, v) st64(m, (a), (u64)(v))
#define atomic_load16(a) __atomic_load_n((u16 *)(m + (usize)(a)), __ATOMIC_SEQ_CST)
#define atomic_store16(a, v) __atomic_store_n((u16 *)(m + (usize)(a)), (u16)(v), __ATOMIC_SEQ_CST)

static inline u16 ld16(u8 *m, usize a) { u16 v; memcpy(&v, m + a, 2); return v; }
static inline u32 ld32(u8 *m, usize a) { u32 v; memcpy(&v, m + a, 4); return v; }
static inline u64 ld64(u8 *m, usize a) { u64 v; memcpy(&v, m + a, 8); return v; }
static inline void st16(u8 *m, usize a, u16 v) { memcpy(m + a, &v, 2); }
static inline void st32(u8 *m, usize a, u32 v) { memcpy(m + a, &v, 4); }
static inline void st64(u8 *m, usize a, u64 v) { memcpy(m + a, &v, 8); }

// ---- assembly/mem/layout.ts (the DMA context block and its stats) ----
#define CTX_MODE 0u
#define CTX_FLAGS 4u
#define CTX_STATS 8u
#define CTX_LIMIT 16u
#define CTX_ENC 52u
#define CTX_WB_N 76u
#define CTX_SIZE 128u
#define DMA_MODE_DIRECT 0u
#define DST_MAPS 40u
#define DST_SIZE 128u

// ---- assembly/ring.ts and assembly/mem/dma.ts (the plain direct context) ----
static inline int within(u64 addr, u32 len, u64 size) { return addr <= size && (u64)len <= size - addr; }
static inline int in_window(u64 addr, u32 len, u64 base, u64 size) { return addr >= base && within(addr - base, len, size); }
static inline usize plain_linear(u64 addr) { return (usize)(addr + (u64)GUEST_BASE); }
static inline int dma_is_plain(u8 *m, usize ctx) {
  return (load32(ctx + CTX_MODE) | load32(ctx + CTX_FLAGS) | load32(ctx + CTX_ENC)) == DMA_MODE_DIRECT;
}
static inline void store_iov(u8 *m, usize e, u64 dma, u32 len, u32 write, usize lin) {
  store64(e + ELEM_ADDR, dma);
  store64(e + ELEM_LEN, (u64)len | ((u64)write << 32));
  store32(e + ELEM_LINEAR, lin);
}
static inline void dma_count_maps(u8 *m, usize ctx, u32 n) {
  if (n > 0) __atomic_fetch_add((u64 *)(m + (usize)load32(ctx + CTX_STATS) + DST_MAPS), (u64)n, __ATOMIC_SEQ_CST);
}
static inline int need_event(u32 event_idx, u32 new_idx, u32 old_idx) {
  return ((new_idx - event_idx - 1) & 0xffff) < ((new_idx - old_idx) & 0xffff);
}
static inline void bump(u8 *m, usize stats, usize offset, u64 by) { store64(stats + offset, load64(stats + offset) + by); }

// ---- assembly/split/driver.ts ----
static void split_drv_init(usize drv) {
  u8 *const m = M;
  const u32 num = load32(drv + DRV_NUM);
  const usize extra = load32(drv + DRV_EXTRA);
  for (u32 i = 0; i < num; i++) store16(extra + i * EXTRA_SIZE + EXTRA_NEXT, (i + 1) % num);
  store32(drv + DRV_FREE_HEAD, 0);
  store32(drv + DRV_NUM_FREE, num);
}

static i32 drv_fail(u8 *m, usize drv, i32 code, u32 a, u32 b, int breaks) {
  store32(drv + DRV_ERR_CODE, code);
  store32(drv + DRV_ERR_A, a);
  store32(drv + DRV_ERR_B, b);
  if (breaks) {
    store32(drv + DRV_BROKEN, 1);
    bump(m, load32(drv + DRV_STATS), ST_DRIVER_CHECKS_FAILED, 1);
  }
  return -code;
}

// kickWanted() in assembly/split/driver.ts
static inline int kick_wanted(u8 *m, usize drv, u32 new_idx, u32 old_idx) {
  const usize used = load32(drv + DRV_USED);
  if ((load32(drv + DRV_FEATURES) & QF_EVENT_IDX) != 0) {
    const u32 num = load32(drv + DRV_NUM);
    const u32 avail_event = atomic_load16(used + VRING_USED_RING + num * VRING_USED_ELEM_SIZE);
    return need_event(avail_event, new_idx, old_idx);
  }
  return (atomic_load16(used + VRING_USED_FLAGS) & VRING_USED_F_NO_NOTIFY) == 0;
}

// addOneBuffers() in assembly/split/driver.ts: the leading one-buffer requests.
static u32 add_one_buffers(u8 *m, usize drv, usize req, u32 n, u64 dma_base, u64 dma_size) {
  const u32 num_free = load32(drv + DRV_NUM_FREE);
  const u32 end = n < num_free ? n : num_free;
  const u32 mask = load32(drv + DRV_NUM) - 1;
  const usize desc = load32(drv + DRV_DESC);
  const usize ring = load32(drv + DRV_AVAIL) + VRING_AVAIL_RING;
  const usize extra = load32(drv + DRV_EXTRA);
  const usize state = load32(drv + DRV_STATE);
  u32 free_head = load32(drv + DRV_FREE_HEAD);
  u32 avail_idx = load32(drv + DRV_AVAIL_IDX_SHADOW);
  u64 bytes = 0;
  u32 k = 0;
  for (usize p = req; k < end; k++, p += REQ_HDR_SIZE + SG_SIZE) {
    const u32 out_n = load32(p + REQ_OUT);
    if (out_n + load32(p + REQ_IN) != 1) break;
    const u64 addr = load64(p + REQ_HDR_SIZE + SG_ADDR);
    const u32 len = load32(p + REQ_HDR_SIZE + SG_LEN);
    if (len == 0 || !in_window(addr, len, dma_base, dma_size)) break;
    const u32 head = free_head;
    const u32 flags = out_n != 0 ? 0 : VRING_DESC_F_WRITE;
    const usize x = extra + head * EXTRA_SIZE;
    free_head = load16(x + EXTRA_NEXT);
    const usize d = desc + head * VRING_DESC_SIZE;
    store64(d + VRING_DESC_ADDR, addr);
    store32(d + VRING_DESC_LEN, len);
    store16(d + VRING_DESC_FLAGS, flags);
    store16(d + VRING_DESC_NEXT, free_head);
    store64(x + EXTRA_ADDR, addr);
    store32(x + EXTRA_LEN, len);
    store16(x + EXTRA_FLAGS, flags);
    const usize st = state + head * STATE_SIZE;
    store32(st + STATE_HEAD, STATE_DIRECT);
    store32(st + STATE_TOKEN, load32(p + REQ_TOKEN));
    store32(st + STATE_WLEN, out_n != 0 ? 0 : len);
    store16(ring + (avail_idx & mask) * 2, head);
    avail_idx = (avail_idx + 1) & 0xffff;
    bytes += len;
  }
  if (k > 0) {
    store32(drv + DRV_FREE_HEAD, free_head);
    store32(drv + DRV_NUM_FREE, num_free - k);
    store32(drv + DRV_AVAIL_IDX_SHADOW, avail_idx);
    bump(m, load32(drv + DRV_STATS), ST_BYTES_ADDED, bytes);
  }
  return k;
}

__attribute__((noinline)) static i32 split_drv_add(usize drv, usize req, u32 n) {
  u8 *const m = M;
  store32(drv + DRV_BATCH_DONE, 0);
  if (load32(drv + DRV_BROKEN) != 0) return drv_fail(m, drv, E_BROKEN, 0, 0, 0);
  const u32 num = load32(drv + DRV_NUM);
  const u32 mask = num - 1;
  const usize desc = load32(drv + DRV_DESC);
  const usize avail = load32(drv + DRV_AVAIL);
  const usize extra = load32(drv + DRV_EXTRA);
  const usize state = load32(drv + DRV_STATE);
  const int indirect = (load32(drv + DRV_FEATURES) & QF_INDIRECT) != 0;
  const usize indir_pool = load32(drv + DRV_INDIR_POOL);
  const u32 indir_cap = load32(drv + DRV_INDIR_CAP);
  const u64 dma_base = load64(drv + DRV_DMA_BASE);
  const u64 dma_size = load64(drv + DRV_DMA_SIZE);
  const u32 ones = add_one_buffers(m, drv, req, n, dma_base, dma_size);
  u32 free_head = load32(drv + DRV_FREE_HEAD);
  u32 num_free = load32(drv + DRV_NUM_FREE);
  u32 avail_idx = load32(drv + DRV_AVAIL_IDX_SHADOW);
  u32 added = ones;
  u64 descs = ones, bytes = 0, indirects = 0;
  i32 err = 0;
  u32 err_a = 0;
  usize p = req + ones * (REQ_HDR_SIZE + SG_SIZE);
  for (; added < n; added++) {
    const u32 out_n = load32(p + REQ_OUT);
    const u32 total = out_n + load32(p + REQ_IN);
    const usize sg = p + REQ_HDR_SIZE;
    if (total == 0) {
      err = E_REQ_EMPTY;
      break;
    }
    if (total > num) {
      err = E_REQ_TOO_LONG;
      err_a = total;
      break;
    }
    u64 chain_bytes = 0;
    u32 write_bytes = 0;
    for (u32 k = 0; k < total; k++) {
      const usize e = sg + k * SG_SIZE;
      const u32 len = load32(e + SG_LEN);
      if (k >= out_n) write_bytes += len;
      if (len == 0) {
        err = E_REQ_ZERO_LEN;
        err_a = k;
        break;
      }
      if (!in_window(load64(e + SG_ADDR), len, dma_base, dma_size)) {
        err = E_REQ_ADDR;
        err_a = k;
        break;
      }
      chain_bytes += len;
    }
    if (err != 0) break;
    const int use_indirect =
        indirect && (load32(p + REQ_FLAGS) & REQ_F_INDIRECT) != 0 && total > 1 && total <= indir_cap;
    const u32 need = use_indirect ? 1 : total;
    if (num_free < need) break;
    const u32 head = free_head;
    const usize st = state + head * STATE_SIZE;
    if (use_indirect) {
      const usize table = indir_pool + head * indir_cap * VRING_DESC_SIZE;
      for (u32 k = 0; k < total; k++) {
        const usize e = sg + k * SG_SIZE;
        const usize d = table + k * VRING_DESC_SIZE;
        u32 flags = k < out_n ? 0 : VRING_DESC_F_WRITE;
        if (k + 1 < total) flags |= VRING_DESC_F_NEXT;
        store64(d + VRING_DESC_ADDR, load64(e + SG_ADDR));
        store32(d + VRING_DESC_LEN, load32(e + SG_LEN));
        store16(d + VRING_DESC_FLAGS, flags);
        store16(d + VRING_DESC_NEXT, k + 1);
      }
      const usize x = extra + head * EXTRA_SIZE;
      const u32 next = load16(x + EXTRA_NEXT);
      const usize d = desc + head * VRING_DESC_SIZE;
      const u64 table_addr = load64(drv + DRV_INDIR_DMA) + (u64)(table - indir_pool);
      const u32 table_len = total * VRING_DESC_SIZE;
      store64(d + VRING_DESC_ADDR, table_addr);
      store32(d + VRING_DESC_LEN, table_len);
      store16(d + VRING_DESC_FLAGS, VRING_DESC_F_INDIRECT);
      store16(d + VRING_DESC_NEXT, next);
      store64(x + EXTRA_ADDR, table_addr);
      store32(x + EXTRA_LEN, table_len);
      store16(x + EXTRA_FLAGS, VRING_DESC_F_INDIRECT);
      free_head = next;
      store32(st + STATE_HEAD, table);
      indirects++;
    } else {
      u32 i = head;
      u32 prev = head;
      for (u32 k = 0; k < total; k++) {
        const usize e = sg + k * SG_SIZE;
        const u64 addr = load64(e + SG_ADDR);
        const u32 len = load32(e + SG_LEN);
        const u32 flags = (k < out_n ? 0 : VRING_DESC_F_WRITE) | VRING_DESC_F_NEXT;
        const usize x = extra + i * EXTRA_SIZE;
        const u32 next = load16(x + EXTRA_NEXT);
        const usize d = desc + i * VRING_DESC_SIZE;
        store64(d + VRING_DESC_ADDR, addr);
        store32(d + VRING_DESC_LEN, len);
        store16(d + VRING_DESC_FLAGS, flags);
        store16(d + VRING_DESC_NEXT, next);
        store64(x + EXTRA_ADDR, addr);
        store32(x + EXTRA_LEN, len);
        store16(x + EXTRA_FLAGS, flags);
        prev = i;
        i = next;
      }
      const usize dl = desc + prev * VRING_DESC_SIZE + VRING_DESC_FLAGS;
      store16(dl, load16(dl) & ~VRING_DESC_F_NEXT);
      const usize xl = extra + prev * EXTRA_SIZE + EXTRA_FLAGS;
      store16(xl, load16(xl) & ~VRING_DESC_F_NEXT);
      free_head = i;
      store32(st + STATE_HEAD, STATE_DIRECT);
    }
    store32(st + STATE_TOKEN, load32(p + REQ_TOKEN));
    store32(st + STATE_WLEN, write_bytes);
    num_free -= need;
    store16(avail + VRING_AVAIL_RING + (avail_idx & mask) * 2, head);
    avail_idx = (avail_idx + 1) & 0xffff;
    descs += total;
    bytes += chain_bytes;
    p = sg + total * SG_SIZE;
  }
  if (added > 0) {
    atomic_store16(avail + VRING_AVAIL_IDX, avail_idx);
    store32(drv + DRV_AVAIL_IDX_SHADOW, avail_idx);
    const u32 before = load32(drv + DRV_NUM_ADDED);
    u32 num_added = before + added;
    if (num_added >= 0xffff) {
      const u32 at = (avail_idx - (num_added - 0xffff)) & 0xffff;
      if (kick_wanted(m, drv, at, (at - 0xffff) & 0xffff)) store32(drv + DRV_KICK_OWED, 1);
      num_added -= 0xffff;
    }
    store32(drv + DRV_NUM_ADDED, num_added);
    store32(drv + DRV_FREE_HEAD, free_head);
    store32(drv + DRV_NUM_FREE, num_free);
    const usize stats = load32(drv + DRV_STATS);
    bump(m, stats, ST_CHAINS_ADDED, added);
    bump(m, stats, ST_DESCS_ADDED, descs);
    bump(m, stats, ST_BYTES_ADDED, bytes);
    bump(m, stats, ST_INDIRECT_ADDED, indirects);
  }
  store32(drv + DRV_BATCH_DONE, added);
  if (err != 0) return drv_fail(m, drv, err, added, err_a, 0);
  return (i32)added;
}

__attribute__((noinline)) static i32 split_drv_kick_prepare(usize drv) {
  u8 *const m = M;
  const u32 new_idx = load32(drv + DRV_AVAIL_IDX_SHADOW);
  const u32 old_idx = (new_idx - load32(drv + DRV_NUM_ADDED)) & 0xffff;
  store32(drv + DRV_NUM_ADDED, 0);
  const int owed = load32(drv + DRV_KICK_OWED) != 0;
  store32(drv + DRV_KICK_OWED, 0);
  const int kick = kick_wanted(m, drv, new_idx, old_idx) || owed;
  const usize stats = load32(drv + DRV_STATS);
  bump(m, stats, kick ? ST_KICKS : ST_KICKS_SUPPRESSED, 1);
  return kick ? 1 : 0;
}

__attribute__((noinline)) static i32 split_drv_get_used(usize drv, usize out, u32 max) {
  u8 *const m = M;
  store32(drv + DRV_BATCH_DONE, 0);
  if (load32(drv + DRV_BROKEN) != 0) return 0;
  const u32 num = load32(drv + DRV_NUM);
  const u32 mask = num - 1;
  const usize used = load32(drv + DRV_USED);
  const usize extra = load32(drv + DRV_EXTRA);
  const usize state = load32(drv + DRV_STATE);
  u32 last_used = load32(drv + DRV_LAST_USED);
  const u32 used_idx = atomic_load16(used + VRING_USED_IDX);
  // As the core: no more used entries than chains in flight (USED_IDX_JUMP).
  const u32 last_used0 = last_used;
  const u32 in_flight = (load32(drv + DRV_AVAIL_IDX_SHADOW) - last_used) & 0xffff;
  const u32 end = ((used_idx - last_used) & 0xffff) > in_flight ? (last_used + in_flight) & 0xffff : used_idx;
  u32 free_head = load32(drv + DRV_FREE_HEAD);
  u32 num_free = load32(drv + DRV_NUM_FREE);
  u32 count = 0;
  u64 bytes = 0;
  i32 err = 0;
  u32 err_a = 0;
  while (count < max && last_used != end) {
    const usize u = used + VRING_USED_RING + (last_used & mask) * VRING_USED_ELEM_SIZE;
    const u32 id = load32(u);
    const u32 len = load32(u + 4);
    if (id >= num) {
      err = E_USED_ID_RANGE;
      err_a = id;
      break;
    }
    const usize st = state + id * STATE_SIZE;
    if (load32(st + STATE_HEAD) == 0) {
      err = E_USED_ID_NOT_HEAD;
      err_a = id;
      break;
    }
    store32(st + STATE_HEAD, 0);
    u32 i = id;
    num_free++;
    while ((load16(extra + i * EXTRA_SIZE + EXTRA_FLAGS) & VRING_DESC_F_NEXT) != 0) {
      i = load16(extra + i * EXTRA_SIZE + EXTRA_NEXT);
      num_free++;
    }
    store16(extra + i * EXTRA_SIZE + EXTRA_NEXT, free_head);
    free_head = id;
    const usize o = out + count * REAP_SIZE;
    store32(o + REAP_TOKEN, load32(st + STATE_TOKEN));
    store32(o + REAP_LEN, len);
    bytes += len;
    last_used = (last_used + 1) & 0xffff;
    count++;
  }
  if (count > 0) {
    store32(drv + DRV_LAST_USED, last_used);
    store32(drv + DRV_FREE_HEAD, free_head);
    store32(drv + DRV_NUM_FREE, num_free);
    if ((load32(drv + DRV_AVAIL_FLAGS_SHADOW) & VRING_AVAIL_F_NO_INTERRUPT) == 0) {
      const usize avail = load32(drv + DRV_AVAIL);
      atomic_store16(avail + VRING_AVAIL_RING + num * 2, last_used);
    }
    const usize stats = load32(drv + DRV_STATS);
    bump(m, stats, ST_CHAINS_COMPLETED, count);
    bump(m, stats, ST_BYTES_COMPLETED, bytes);
  }
  store32(drv + DRV_BATCH_DONE, count);
  if (err == 0 && end != used_idx && last_used == end && count < max) {
    err = E_USED_IDX_JUMP;
    err_a = last_used0;
  }
  if (err != 0) return drv_fail(m, drv, err, err_a, count, 1);
  return (i32)count;
}

// ---- assembly/split/device.ts ----
static i32 dev_fail(u8 *m, usize dev, i32 code, u32 a, u32 b) {
  store32(dev + DEV_ERR_CODE, code);
  store32(dev + DEV_ERR_A, a);
  store32(dev + DEV_ERR_B, b);
  return -code;
}

static i32 dev_broken(u8 *m, usize dev, i32 code, u32 a, u32 b) {
  store32(dev + DEV_BROKEN, 1);
  bump(m, load32(dev + DEV_STATS), ST_DEVICE_CHECKS_FAILED, 1);
  return dev_fail(m, dev, code, a, b);
}

// popOneBuffers() in assembly/split/device.ts: the leading chains of one descriptor.
static u32 pop_one_buffers(u8 *m, usize dev, usize out, u32 max_chains, u32 elem_cap, u32 avail_idx, u64 limit) {
  const u32 num = load32(dev + DEV_NUM);
  const u32 mask = num - 1;
  const usize ring = load32(dev + DEV_DESC);
  const usize avail_ring = load32(dev + DEV_AVAIL) + VRING_AVAIL_RING;
  const usize elems = out + max_chains * POP_SIZE;
  const u32 end = max_chains < elem_cap ? max_chains : elem_cap;
  u32 last_avail = load32(dev + DEV_LAST_AVAIL);
  u32 inflight = load32(dev + DEV_INFLIGHT);
  u32 k = 0;
  while (k < end && last_avail != avail_idx && inflight < num) {
    const u32 head = load16(avail_ring + (last_avail & mask) * 2);
    if (head >= num) break;
    const usize d = ring + head * VRING_DESC_SIZE;
    const u32 flags = load16(d + VRING_DESC_FLAGS);
    if ((flags & (VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT)) != 0) break;
    const u64 addr = load64(d + VRING_DESC_ADDR);
    const u32 len = load32(d + VRING_DESC_LEN);
    if (len == 0 || !within(addr, len, limit)) break;
    const u32 write = flags & VRING_DESC_F_WRITE;
    store_iov(m, elems + k * ELEM_SIZE, addr, len, write, plain_linear(addr));
    const usize r = out + k * POP_SIZE;
    store32(r + POP_ID, head);
    store32(r + POP_WRITE_BYTES, write != 0 ? len : 0);
    store32(r + POP_READ_BYTES, write != 0 ? 0 : len);
    store32(r + POP_ELEM_END, k + 1);
    last_avail = (last_avail + 1) & 0xffff;
    inflight++;
    k++;
  }
  store32(dev + DEV_LAST_AVAIL, last_avail);
  store32(dev + DEV_INFLIGHT, inflight);
  return k;
}

__attribute__((noinline)) static i32 split_dev_pop(usize dev, usize out, u32 max_chains, u32 elem_cap) {
  u8 *const m = M;
  store32(dev + DEV_BATCH_DONE, 0);
  if (load32(dev + DEV_BROKEN) != 0) return 0;
  const u32 num = load32(dev + DEV_NUM);
  const u32 mask = num - 1;
  const usize ring = load32(dev + DEV_DESC);
  const usize avail = load32(dev + DEV_AVAIL);
  const u32 features = load32(dev + DEV_FEATURES);
  // The port models the plain direct DMA context only (what the benchmark sets up).
  const usize ctx = load32(dev + DEV_DMA_CTX);
  if (!dma_is_plain(m, ctx)) {
    fprintf(stderr, "roundtrip: the native port runs a plain direct DMA context only\n");
    exit(1);
  }
  const u64 limit = load64(ctx + CTX_LIMIT);
  const usize elems = out + max_chains * POP_SIZE;
  u32 last_avail = load32(dev + DEV_LAST_AVAIL);
  u32 inflight = load32(dev + DEV_INFLIGHT);
  const u32 avail_idx = atomic_load16(avail + VRING_AVAIL_IDX);
  u32 count = 0;
  u32 elem_end = 0;
  i32 err = 0;
  u32 err_a = 0;
  u32 err_b = 0;
  if (((avail_idx - last_avail) & 0xffff) > num) {
    err = E_AVAIL_IDX_JUMP;
    err_a = last_avail;
    err_b = avail_idx;
  } else {
    count = pop_one_buffers(m, dev, out, max_chains, elem_cap, avail_idx, limit);
    elem_end = count;
    last_avail = load32(dev + DEV_LAST_AVAIL);
    inflight = load32(dev + DEV_INFLIGHT);
  }
  while (err == 0 && count < max_chains && last_avail != avail_idx) {
    if (inflight >= num) {
      err = E_INFLIGHT;
      err_a = inflight;
      break;
    }
    const u32 head = load16(avail + VRING_AVAIL_RING + (last_avail & mask) * 2);
    if (head >= num) {
      err = E_AVAIL_HEAD_RANGE;
      err_a = head;
      break;
    }
    const u32 chain_start = elem_end;
    usize table = ring;
    u32 max = num;
    u32 i = head;
    usize d = ring + head * VRING_DESC_SIZE;
    u32 flags = load16(d + VRING_DESC_FLAGS);
    if ((flags & VRING_DESC_F_INDIRECT) != 0) {
      if ((features & QF_INDIRECT) == 0) {
        err = E_INDIRECT_NOT_NEGOTIATED;
        err_a = head;
        break;
      }
      const u32 tlen = load32(d + VRING_DESC_LEN);
      if (tlen == 0 || (tlen & (VRING_DESC_SIZE - 1)) != 0) {
        err = E_INDIRECT_LEN;
        err_a = tlen;
        break;
      }
      if (tlen / VRING_DESC_SIZE > num) {
        err = E_INDIRECT_TOO_BIG;
        err_a = tlen;
        break;
      }
      const u64 taddr = load64(d + VRING_DESC_ADDR);
      if (elem_end >= elem_cap) {
        if (count == 0) err = E_POP_OUTPUT;
        break;
      }
      if (!within(taddr, tlen, limit)) {
        err = E_ADDR_RANGE;
        err_a = (u32)taddr;
        err_b = (u32)(taddr >> 32);
        break;
      }
      dma_count_maps(m, ctx, 1);
      table = plain_linear(taddr);
      max = tlen / VRING_DESC_SIZE;
      i = 0;
    }
    u32 n = 0;
    int seen_write = 0;
    u64 read_bytes = 0;
    u64 write_bytes = 0;
    int full = 0;
    for (;;) {
      if (n >= max) {
        err = E_DESC_LOOP;
        err_a = head;
        break;
      }
      d = table + i * VRING_DESC_SIZE;
      const u64 addr = load64(d + VRING_DESC_ADDR);
      const u32 len = load32(d + VRING_DESC_LEN);
      flags = load16(d + VRING_DESC_FLAGS);
      if ((flags & VRING_DESC_F_INDIRECT) != 0) {
        err = E_INDIRECT_NESTED;
        err_a = i;
        break;
      }
      if (len == 0) {
        err = E_ZERO_LEN;
        err_a = i;
        break;
      }
      if (!within(addr, len, limit)) {
        err = E_ADDR_RANGE;
        err_a = (u32)addr;
        err_b = (u32)(addr >> 32);
        break;
      }
      if ((flags & VRING_DESC_F_WRITE) != 0) {
        seen_write = 1;
        write_bytes += len;
      } else {
        if (seen_write) {
          err = E_DESC_ORDER;
          err_a = i;
          break;
        }
        read_bytes += len;
      }
      if (elem_end >= elem_cap) {
        full = 1;
        break;
      }
      store_iov(m, elems + elem_end * ELEM_SIZE, addr, len, flags & VRING_DESC_F_WRITE, plain_linear(addr));
      elem_end++;
      n++;
      if ((flags & VRING_DESC_F_NEXT) == 0) break;
      i = load16(d + VRING_DESC_NEXT);
      if (i >= max) {
        err = E_DESC_NEXT_RANGE;
        err_a = i;
        break;
      }
    }
    if (err != 0) break;
    if (full) {
      elem_end = chain_start;
      if (count == 0) err = E_POP_OUTPUT;
      break;
    }
    if (read_bytes + write_bytes > 0xffffffffull) {
      err = E_CHAIN_LEN_OVERFLOW;
      err_a = head;
      break;
    }
    const usize r = out + count * POP_SIZE;
    store32(r + POP_ID, head);
    store32(r + POP_WRITE_BYTES, write_bytes);
    store32(r + POP_READ_BYTES, read_bytes);
    store32(r + POP_ELEM_END, elem_end);
    last_avail = (last_avail + 1) & 0xffff;
    inflight++;
    count++;
  }
  store32(dev + DEV_LAST_AVAIL, last_avail);
  store32(dev + DEV_INFLIGHT, inflight);
  if (count > 0) {
    const usize stats = load32(dev + DEV_STATS);
    bump(m, stats, ST_CHAINS_POPPED, count);
    bump(m, stats, ST_DESCS_POPPED, elem_end);
    dma_count_maps(m, ctx, elem_end);
    if ((features & QF_EVENT_IDX) != 0 && load32(dev + DEV_NOTIFY_ENABLED) != 0) {
      const usize used = load32(dev + DEV_USED);
      atomic_store16(used + VRING_USED_RING + num * VRING_USED_ELEM_SIZE, last_avail);
    }
  }
  store32(dev + DEV_BATCH_DONE, count);
  if (err == E_POP_OUTPUT) return dev_fail(m, dev, err, elem_cap, 0);
  if (err != 0) return dev_broken(m, dev, err, err_a, err_b);
  return (i32)count;
}

__attribute__((noinline)) static i32 split_dev_push(usize dev, usize entries, u32 n, u32 stride) {
  u8 *const m = M;
  store32(dev + DEV_BATCH_DONE, 0);
  if (load32(dev + DEV_BROKEN) != 0) return dev_fail(m, dev, E_BROKEN, 0, 0);
  // dmaCommitPending(): a plain context never has staged private-page writes.
  if (load32(load32(dev + DEV_DMA_CTX) + CTX_WB_N) != 0) exit(1);
  const u32 num = load32(dev + DEV_NUM);
  const u32 mask = num - 1;
  const usize used = load32(dev + DEV_USED);
  u32 used_idx = load32(dev + DEV_USED_IDX);
  u64 bytes = 0;
  u32 k = 0;
  i32 err = 0;
  u32 err_a = 0;
  for (; k < n; k++) {
    const usize p = entries + k * stride;
    const u32 id = load32(p + PUSH_ID);
    const u32 len = load32(p + PUSH_LEN);
    if (id >= num) {
      err = E_PUSH_ID_RANGE;
      err_a = id;
      break;
    }
    const usize u = used + VRING_USED_RING + (used_idx & mask) * VRING_USED_ELEM_SIZE;
    store32(u, id);
    store32(u + 4, len);
    used_idx = (used_idx + 1) & 0xffff;
    bytes += len;
  }
  if (k > 0) {
    atomic_store16(used + VRING_USED_IDX, used_idx);
    const u32 old_idx = load32(dev + DEV_USED_IDX);
    if ((i32)(int16_t)(used_idx - load32(dev + DEV_SIGNALLED_USED)) < (i32)((used_idx - old_idx) & 0xffff))
      store32(dev + DEV_SIGNALLED_VALID, 0);
    store32(dev + DEV_USED_IDX, used_idx);
    const u32 inflight = load32(dev + DEV_INFLIGHT);
    store32(dev + DEV_INFLIGHT, inflight > k ? inflight - k : 0);
    const usize stats = load32(dev + DEV_STATS);
    bump(m, stats, ST_CHAINS_USED, k);
    bump(m, stats, ST_BYTES_USED, bytes);
  }
  store32(dev + DEV_BATCH_DONE, k);
  if (err != 0) return dev_fail(m, dev, err, err_a, k);
  return (i32)k;
}

__attribute__((noinline)) static i32 split_dev_should_notify(usize dev) {
  u8 *const m = M;
  const usize avail = load32(dev + DEV_AVAIL);
  int notify;
  if ((load32(dev + DEV_FEATURES) & QF_EVENT_IDX) == 0) {
    notify = (atomic_load16(avail + VRING_AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
  } else {
    const u32 num = load32(dev + DEV_NUM);
    const int valid = load32(dev + DEV_SIGNALLED_VALID) != 0;
    const u32 old_idx = load32(dev + DEV_SIGNALLED_USED);
    const u32 new_idx = load32(dev + DEV_USED_IDX);
    store32(dev + DEV_SIGNALLED_VALID, 1);
    store32(dev + DEV_SIGNALLED_USED, new_idx);
    const u32 used_event = atomic_load16(avail + VRING_AVAIL_RING + num * 2);
    notify = !valid || need_event(used_event, new_idx, old_idx);
  }
  bump(m, load32(dev + DEV_STATS), notify ? ST_INTERRUPTS : ST_INTERRUPTS_SUPPRESSED, 1);
  return notify ? 1 : 0;
}

// ---- The benchmark: the same setup as SplitQueue, and the same loop as
// src/cli/bench/ring.ts (one call per step per batch). ----

static usize host_next = HOST_BASE;
static usize guest_next = 0; // guest physical, page-granular like GuestMemory.alloc

static usize host_alloc(u32 bytes) {
  const usize at = (host_next + 63) & ~63u;
  host_next = at + bytes;
  return at;
}
// Returns a linear address; the guest physical address is that minus GUEST_BASE.
static usize guest_alloc(u32 bytes, u32 align) {
  const usize at = (guest_next + align - 1) & ~(align - 1);
  guest_next = (at + bytes + 4095) & ~4095u;
  return GUEST_BASE + at;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, long long a, long long b) {
  fprintf(stderr, "roundtrip: %s (%lld, %lld)\n", what, a, b);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: roundtrip <queue-size> <batch-chains> <chain-length> <event-idx 0|1> <indirect 0|1> "
                    "<buffer-bytes> <time-ms>\n");
    return 2;
  }
  const u32 num = (u32)strtoul(argv[1], 0, 10);
  const u32 batch = (u32)strtoul(argv[2], 0, 10);
  const u32 chain_len = (u32)strtoul(argv[3], 0, 10);
  const int event_idx = atoi(argv[4]) != 0;
  const int indirect = atoi(argv[5]) != 0;
  const u32 buf_bytes = (u32)strtoul(argv[6], 0, 10);
  const double time_s = atof(argv[7]) / 1000.0;
  if (num == 0 || (num & (num - 1)) != 0 || num > 32768 || batch == 0 || batch > num || chain_len == 0 ||
      chain_len > num || buf_bytes == 0)
    die("bad arguments", num, batch);

  // Ring layout (VIRTIO 1.2 §2.7, vring_init with align 4096).
  const u32 desc_off = 0;
  const u32 avail_off = num * VRING_DESC_SIZE;
  const u32 used_off = (avail_off + 6 + 2 * num + 4095) & ~4095u;
  const u32 ring_total = used_off + 6 + 8 * num;
  const u32 indir_cap = indirect ? (chain_len > 32 ? chain_len : 32) : 0;
  const u32 buffers = batch * chain_len;
  const u64 ram = (u64)ring_total + 2 * 4096ull + (u64)num * (DRV_SIZE + num * 0) + (u64)num * (EXTRA_SIZE + STATE_SIZE) +
                  (u64)num * indir_cap * VRING_DESC_SIZE + (u64)batch * REQ_HDR_SIZE + (u64)buffers * SG_SIZE +
                  (u64)num * REAP_SIZE + (u64)buffers * buf_bytes + 16 * 4096ull + DRV_SIZE;
  const u64 ram_rounded = (ram + 0xfffff) & ~0xfffffull;
  if (ram_rounded > 0xfc000000ull) die("guest RAM too large", (long long)ram_rounded, 0);
  M = calloc(1, (size_t)GUEST_BASE + (size_t)ram_rounded);
  if (!M) die("out of memory", (long long)ram_rounded, 0);
  u8 *const m = M;
  store32(CONFIG_BASE + CFG_RAM_SIZE, (u32)ram_rounded);

  const usize ring = guest_alloc(ring_total, 4096);
  const u32 flags = (event_idx ? QF_EVENT_IDX : 0) | (indirect ? QF_INDIRECT : 0);
  const usize stats = host_alloc(ST_SIZE);
  // Driver: private state block, desc_extra[num], desc_state[num].
  const usize drv = guest_alloc(DRV_SIZE + num * (EXTRA_SIZE + STATE_SIZE), 4096);
  store32(drv + DRV_NUM, num);
  store32(drv + DRV_FEATURES, flags);
  store32(drv + DRV_DESC, ring + desc_off);
  store32(drv + DRV_AVAIL, ring + avail_off);
  store32(drv + DRV_USED, ring + used_off);
  store32(drv + DRV_EXTRA, drv + DRV_SIZE);
  store32(drv + DRV_STATE, drv + DRV_SIZE + num * EXTRA_SIZE);
  store32(drv + DRV_STATS, stats);
  // The DMA window of the driver's domain: guest RAM (the direct backend).
  store64(drv + DRV_DMA_BASE, 0);
  store64(drv + DRV_DMA_SIZE, ram_rounded);
  if (indir_cap > 0) {
    const usize pool = guest_alloc(num * indir_cap * VRING_DESC_SIZE, 4096);
    store32(drv + DRV_INDIR_POOL, pool);
    store32(drv + DRV_INDIR_CAP, indir_cap);
    store64(drv + DRV_INDIR_DMA, (u64)(pool - GUEST_BASE));
  }
  split_drv_init(drv);
  const usize reap_out = guest_alloc(num * REAP_SIZE, 4096);
  // Device: host state block and pop output.
  const usize dev = host_alloc(DEV_SIZE);
  store32(dev + DEV_NUM, num);
  store32(dev + DEV_FEATURES, flags);
  store32(dev + DEV_DESC, ring + desc_off);
  store32(dev + DEV_AVAIL, ring + avail_off);
  store32(dev + DEV_USED, ring + used_off);
  store32(dev + DEV_STATS, stats);
  store32(dev + DEV_NOTIFY_ENABLED, 1);
  // Its DMA context: direct over guest RAM, as DmaContext.direct() lays it out.
  const usize ctx = host_alloc(CTX_SIZE);
  store32(ctx + CTX_MODE, DMA_MODE_DIRECT);
  store32(ctx + CTX_FLAGS, 0);
  store32(ctx + CTX_STATS, host_alloc(DST_SIZE));
  store64(ctx + CTX_LIMIT, ram_rounded);
  store32(dev + DEV_DMA_CTX, ctx);
  const u32 pop_elements = buffers > 4 * num ? buffers : (4 * num > 1024 ? 4 * num : 1024);
  const usize pop_out = host_alloc(num * POP_SIZE + pop_elements * ELEM_SIZE);

  // The request batch: `batch` chains of chain_len device-readable buffers,
  // each its own buf_bytes bytes of shared guest memory.
  const usize bufs = guest_alloc(buffers * buf_bytes, 4096);
  const usize req = guest_alloc(batch * REQ_HDR_SIZE + buffers * SG_SIZE, 4096);
  usize p = req;
  for (u32 c = 0; c < batch; c++) {
    store32(p + REQ_OUT, chain_len);
    store32(p + REQ_IN, 0);
    store32(p + REQ_TOKEN, c);
    store32(p + REQ_FLAGS, indirect ? REQ_F_INDIRECT : 0);
    p += REQ_HDR_SIZE;
    for (u32 k = 0; k < chain_len; k++) {
      store64(p + SG_ADDR, (u64)(bufs - GUEST_BASE) + (u64)(c * chain_len + k) * buf_bytes);
      store32(p + SG_LEN, buf_bytes);
      store32(p + SG_LEN + 4, 0);
      p += SG_SIZE;
    }
  }

  // Round trips per timed block: the same work per block as the JS bench.
  u32 rounds = (u32)((262144ull + (u64)batch * chain_len - 1) / ((u64)batch * chain_len));
  if (rounds < 16) rounds = 16;
  u64 counted = 0;
#define ROUND_TRIPS(R)                                                                  \
  for (u32 r = 0; r < (R); r++) {                                                       \
    const i32 added = split_drv_add(drv, req, batch);                                   \
    split_drv_kick_prepare(drv);                                                        \
    const i32 popped = split_dev_pop(dev, pop_out, num, pop_elements);                  \
    const i32 pushed = split_dev_push(dev, pop_out, popped > 0 ? (u32)popped : 0, POP_SIZE); \
    split_dev_should_notify(dev);                                                       \
    const i32 reaped = split_drv_get_used(drv, reap_out, num);                          \
    if (added != (i32)batch || popped != added || pushed != popped || reaped != pushed) \
      die("round trip lost chains", added, reaped);                                     \
    counted += (u64)reaped;                                                             \
  }

  // Warm up (caches, branch predictors, CPU clock) for a tenth of the time.
  double t0 = now_s();
  while (now_s() - t0 < time_s / 10) ROUND_TRIPS(rounds);
  const u64 warm = counted;
  t0 = now_s();
  double t1;
  do {
    ROUND_TRIPS(rounds);
    t1 = now_s();
  } while (t1 - t0 < time_s);
  const u64 chains = counted - warm;
  const u64 completed = load64(stats + ST_CHAINS_COMPLETED);
  if (completed != counted) die("stats chainsCompleted differs from the chains counted", (long long)completed,
                                (long long)counted);
  const double secs = t1 - t0;
  printf("{\"chains\":%llu,\"seconds\":%.9f,\"chainsPerSec\":%.1f,\"nsPerChain\":%.4f}\n", (unsigned long long)chains,
         secs, (double)chains / secs, secs * 1e9 / (double)chains);
  free(M);
  return 0;
}

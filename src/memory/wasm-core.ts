import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { VqsimError } from '../errors.js';

/** The exports of the Wasm core (assembly/index.ts). Addresses are linear-memory offsets. */
export interface WasmCore {
  split_drv_init(drv: number): void;
  split_drv_add(drv: number, req: number, n: number): number;
  split_drv_kick_prepare(drv: number): number;
  split_drv_get_used(drv: number, out: number, max: number): number;
  split_drv_disable_cb(drv: number): void;
  split_drv_enable_cb(drv: number): number;
  split_dev_pop(dev: number, out: number, maxChains: number, elemCap: number): number;
  split_dev_push(dev: number, entries: number, n: number, stride: number): number;
  /** A loopback device's turn: split_dev_pop, then split_dev_push of what it popped (len = writable bytes). */
  split_dev_use(dev: number, out: number, maxChains: number, elemCap: number): number;
  split_dev_should_notify(dev: number): number;
  split_dev_set_notify(dev: number, enable: number): number;
  packed_drv_init(drv: number): void;
  packed_drv_add(drv: number, req: number, n: number): number;
  packed_drv_kick_prepare(drv: number): number;
  packed_drv_get_used(drv: number, out: number, max: number): number;
  packed_drv_disable_cb(drv: number): void;
  packed_drv_enable_cb(drv: number): number;
  packed_dev_init(dev: number): void;
  packed_dev_pop(dev: number, out: number, maxChains: number, elemCap: number): number;
  packed_dev_push(dev: number, entries: number, n: number, stride: number): number;
  /** A loopback device's turn: packed_dev_pop, then packed_dev_push of what it popped (len = writable bytes). */
  packed_dev_use(dev: number, out: number, maxChains: number, elemCap: number): number;
  packed_dev_should_notify(dev: number): number;
  packed_dev_set_notify(dev: number, enable: number): number;
  /** VIRTIO_F_IN_ORDER: packed_drv_add, then each chain's total length for skipped completions. */
  packed_drv_add_in_order(drv: number, req: number, n: number): number;
  /** VIRTIO_F_IN_ORDER: one used descriptor completes every outstanding buffer up to its id. */
  packed_drv_get_used_in_order(drv: number, out: number, max: number): number;
  /** VIRTIO_F_IN_ORDER: packed_dev_pop, recording the order of the buffers popped. */
  packed_dev_pop_in_order(dev: number, out: number, maxChains: number, elemCap: number): number;
  /** VIRTIO_F_IN_ORDER: one push is one batch, written as one used descriptor; ids in popped order. */
  packed_dev_push_in_order(dev: number, entries: number, n: number, stride: number): number;
  /** memory.copy (a v128 loop up to 256 bytes) between checked linear addresses. */
  dma_copy(dst: number, src: number, len: number): void;
  /** n copies from {dst, src, len, pad} u32 records at `list`. */
  dma_copy_batch(list: number, n: number): void;
  /** DMA context: translates (hi:lo, len) into at most `cap` iovecs at `out`; count, 0 when they do not fit, or -code. */
  dma_map(ctx: number, lo: number, hi: number, len: number, write: number, out: number, cap: number): number;
  /** DMA context: a device write of `len` bytes of `value`; as dma_read. */
  dma_fill(ctx: number, lo: number, hi: number, len: number, value: number, scratch: number, cap: number): number;
  /** DMA context: applies pending device writes to staged private pages (an encryption model's write-back). */
  dma_commit(ctx: number): void;
  /** DMA context: counts device accesses made through iovecs of its pops. */
  dma_count(ctx: number, reads: number, readBytes: number, writes: number, writtenBytes: number): void;
  /** swiotlb: sets every slot of the pool whose descriptor (assembly/mem/swiotlb-layout.ts SWP_*) is at `pool` free. */
  swiotlb_init(pool: number): void;
  /** swiotlb: bounces guest [orig, orig + size) for CPU `cpu` (copy 0: no copy in); the bounce offset in the pool, or -SWE_*. */
  swiotlb_map(
    pool: number,
    orig: number,
    size: number,
    allocAlignMask: number,
    minAlignMask: number,
    cpu: number,
    copy: number,
  ): number;
  /** swiotlb: copies back (FROM_DEVICE, BIDIRECTIONAL, no SKIP_CPU_SYNC) and releases; slots freed, or -SWE_*. */
  swiotlb_unmap(pool: number, tlbOff: number, size: number, dir: number, attrs: number, cpu: number): number;
  /** swiotlb: copies part of a mapping towards the device (1) or back (0); bytes copied, or -SWE_*. */
  swiotlb_sync(pool: number, tlbOff: number, size: number, toDevice: number, cpu: number): number;
  /** virtio-net device: appends n popped chains to a pool, keeping writable (RX) or readable (TX) buffers. */
  net_stash(pool: number, popOut: number, n: number, popChains: number, wantWrite: number): number;
  /** virtio-net device: moves every packet it can for one queue pair (state at `st`); returns packets handled. */
  net_run(st: number): number;
  /** virtio-net driver: checks and groups one RX reap, writes the refill batch; returns packets received. */
  net_drv_rx(st: number): number;
  /** virtio-net driver: returns n reaped TX slots to the free stack; returns the free count. */
  net_drv_tx_reclaim(st: number, n: number): number;
  /** virtio-net driver: writes up to n one-descriptor TX requests from free slots; returns how many. */
  net_drv_tx_build(st: number, n: number, len: number): number;
}

// The bundle ships vqsim.wasm beside itself (workers one folder down); from
// the sources it is in build/.
const candidates = ['./vqsim.wasm', '../vqsim.wasm', '../../build/vqsim.wasm', '../build/vqsim.wasm'];

let compiled: WebAssembly.Module | undefined;

/** Compiles the core once per process (per worker); instances are cheap after that. */
export function wasmModule(): WebAssembly.Module {
  if (compiled) return compiled;
  for (const rel of candidates) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) {
      compiled = new WebAssembly.Module(readFileSync(path));
      return compiled;
    }
  }
  throw new VqsimError(
    'WASM_NOT_FOUND',
    'vqsim.wasm not found: run `npm run build` (the package build makes it)',
    'host',
  );
}

/** Instantiates the core over a machine's shared memory. */
export function instantiateCore(memory: WebAssembly.Memory, module = wasmModule()): WasmCore {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as WasmCore;
}

import * as L from '../../../assembly/layout.js';
import { DriverFace, type DriverAddrs, type DriverStateOffsets } from '../driver-face.js';
import type { SplitQueue } from './queue.js';
import { setDriverDma, type DriverDma } from '../ring-memory.js';

export type { Completion } from '../driver-face.js';
/** Where a split driver's state lives (see DriverAddrs). */
export type SplitDriverAddrs = DriverAddrs;

const OFFSETS: DriverStateOffsets = {
  numFree: L.DRV_NUM_FREE,
  broken: L.DRV_BROKEN,
  errA: L.DRV_ERR_A,
  errB: L.DRV_ERR_B,
  batchDone: L.DRV_BATCH_DONE,
};

/**
 * The guest driver's face of a split queue, after Linux's virtio_ring.c:
 * virtqueue_add_split, virtqueue_kick_prepare_split, virtqueue_get_buf_ctx_split
 * and the callback controls, on the engine the queue runs.
 */
export class SplitDriver extends DriverFace {
  constructor(
    private readonly sq: SplitQueue,
    addrs: SplitDriverAddrs,
  ) {
    super(sq, addrs, OFFSETS);
  }

  /** Lays out and initialises the driver's private memory for queue `q`. */
  static create(q: SplitQueue, ring: number, flags: number, indirectMax: number, dma: DriverDma): SplitDriver {
    const { mem, size, layout } = q;
    const v = mem.view;
    // Private guest pages: the state block, desc_extra[size], desc_state[size].
    const privBytes = L.DRV_SIZE + size * (L.EXTRA_SIZE + L.STATE_SIZE);
    const priv = mem.linear(mem.alloc(privBytes), privBytes);
    const s = (off: number, val: number) => v.setUint32(priv + off, val, true);
    s(L.DRV_NUM, size);
    s(L.DRV_FEATURES, flags);
    s(L.DRV_DESC, ring + layout.desc);
    s(L.DRV_AVAIL, ring + layout.avail);
    s(L.DRV_USED, ring + layout.used);
    s(L.DRV_EXTRA, priv + L.DRV_SIZE);
    s(L.DRV_STATE, priv + L.DRV_SIZE + size * L.EXTRA_SIZE);
    s(L.DRV_STATS, q.statsBlock);
    let indirDma = 0;
    if (indirectMax > 0) {
      // Indirect tables are read by the device, so they come from the DMA
      // API's coherent memory (shared pages in a CVM): one slot per head, as
      // a head has at most one table outstanding.
      const bytes = size * indirectMax * L.VRING_DESC_SIZE;
      const pool = dma.allocCoherent(bytes, 16);
      s(L.DRV_INDIR_POOL, mem.linear(pool.addr, bytes));
      s(L.DRV_INDIR_CAP, indirectMax);
      indirDma = pool.dma ?? pool.addr;
    }
    setDriverDma(v, priv, { base: L.DRV_DMA_BASE, size: L.DRV_DMA_SIZE, indirDma: L.DRV_INDIR_DMA }, dma, indirDma);
    q.engine.split_drv_init(priv);
    const outBytes = size * L.REAP_SIZE;
    return new SplitDriver(q, { state: priv, reapOut: mem.linear(mem.alloc(outBytes), outBytes) });
  }

  protected addRaw(req: number, n: number): number {
    return this.sq.engine.split_drv_add(this.state, req, n);
  }
  protected kickRaw(): number {
    return this.sq.engine.split_drv_kick_prepare(this.state);
  }
  protected getUsedRaw(out: number, max: number): number {
    return this.sq.engine.split_drv_get_used(this.state, out, max);
  }
  protected disableRaw(): void {
    this.sq.engine.split_drv_disable_cb(this.state);
  }
  protected enableRaw(): number {
    return this.sq.engine.split_drv_enable_cb(this.state);
  }
}

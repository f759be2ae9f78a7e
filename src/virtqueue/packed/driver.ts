import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import { DriverFace, type DriverAddrs, type DriverStateOffsets } from '../driver-face.js';
import type { PackedQueue } from './queue.js';
import { setDriverDma, type DriverDma } from '../ring-memory.js';

/** Where a packed driver's state lives (see DriverAddrs). */
export type PackedDriverAddrs = DriverAddrs;

const OFFSETS: DriverStateOffsets = {
  numFree: P.PDRV_NUM_FREE,
  broken: P.PDRV_BROKEN,
  errA: P.PDRV_ERR_A,
  errB: P.PDRV_ERR_B,
  batchDone: P.PDRV_BATCH_DONE,
};

/**
 * The guest driver's face of a packed queue, after Linux's virtio_ring.c
 * (virtqueue_add_packed and friends). The same methods, batch formats and
 * errors as SplitDriver; addBatch writes the first head's flags last, so the
 * device sees the whole batch at once.
 */
export class PackedDriver extends DriverFace {
  /** VIRTIO_F_IN_ORDER negotiated: adds and reaps take the in-order engine calls. */
  readonly inOrder: boolean;

  constructor(
    private readonly pq: PackedQueue,
    addrs: PackedDriverAddrs,
  ) {
    super(pq, addrs, OFFSETS);
    this.inOrder = (this.u32(P.PDRV_FEATURES) & L.QF_IN_ORDER) !== 0;
  }

  /** Lays out and initialises the driver's private memory for queue `q`. */
  static create(q: PackedQueue, ring: number, flags: number, indirectMax: number, dma: DriverDma): PackedDriver {
    const { mem, size, layout } = q;
    const v = mem.view;
    // Private guest pages: the state block, desc_extra[size], desc_state[size],
    // and with VIRTIO_F_IN_ORDER total_len[size] (u32).
    const inOrder = (flags & L.QF_IN_ORDER) !== 0;
    const privBytes = P.PDRV_SIZE + size * (L.EXTRA_SIZE + P.PSTATE_SIZE + (inOrder ? 4 : 0));
    const priv = mem.linear(mem.alloc(privBytes), privBytes);
    const s = (off: number, val: number) => v.setUint32(priv + off, val, true);
    s(P.PDRV_NUM, size);
    s(P.PDRV_FEATURES, flags);
    s(P.PDRV_DESC, ring + layout.desc);
    s(P.PDRV_DRIVER_AREA, ring + layout.driver);
    s(P.PDRV_DEVICE_AREA, ring + layout.device);
    s(P.PDRV_EXTRA, priv + P.PDRV_SIZE);
    s(P.PDRV_STATE, priv + P.PDRV_SIZE + size * L.EXTRA_SIZE);
    s(P.PDRV_STATS, q.statsBlock);
    if (inOrder) s(P.PDRV_TOTAL_LEN, priv + P.PDRV_SIZE + size * (L.EXTRA_SIZE + P.PSTATE_SIZE));
    let indirDma = 0;
    if (indirectMax > 0) {
      // Indirect tables are read by the device: coherent memory, one slot per id.
      const bytes = size * indirectMax * P.PDESC_SIZE;
      const pool = dma.allocCoherent(bytes, 16);
      s(P.PDRV_INDIR_POOL, mem.linear(pool.addr, bytes));
      s(P.PDRV_INDIR_CAP, indirectMax);
      indirDma = pool.dma ?? pool.addr;
    }
    setDriverDma(v, priv, { base: P.PDRV_DMA_BASE, size: P.PDRV_DMA_SIZE, indirDma: P.PDRV_INDIR_DMA }, dma, indirDma);
    q.engine.packed_drv_init(priv);
    const outBytes = size * L.REAP_SIZE;
    return new PackedDriver(q, { state: priv, reapOut: mem.linear(mem.alloc(outBytes), outBytes) });
  }

  /** The driver ring wrap counter (1 at start, flips each time the avail index passes the ring end). */
  get availWrapCounter(): number {
    return this.u32(P.PDRV_AVAIL_WRAP);
  }

  /** Index of the next descriptor the driver will make available. */
  get nextAvail(): number {
    return this.u32(P.PDRV_NEXT_AVAIL);
  }

  /** The used wrap counter the driver expects at its next used descriptor. */
  get usedWrapCounter(): number {
    return this.u32(P.PDRV_LAST_USED) >>> P.PEVENT_WRAP_SHIFT;
  }

  /** Index of the next used descriptor the driver will read. */
  get lastUsed(): number {
    return this.u32(P.PDRV_LAST_USED) & P.PEVENT_OFF_MASK;
  }

  protected addRaw(req: number, n: number): number {
    if (this.inOrder) return this.pq.engine.packed_drv_add_in_order(this.state, req, n);
    return this.pq.engine.packed_drv_add(this.state, req, n);
  }
  protected kickRaw(): number {
    return this.pq.engine.packed_drv_kick_prepare(this.state);
  }
  protected getUsedRaw(out: number, max: number): number {
    if (this.inOrder) return this.pq.engine.packed_drv_get_used_in_order(this.state, out, max);
    return this.pq.engine.packed_drv_get_used(this.state, out, max);
  }
  protected disableRaw(): void {
    this.pq.engine.packed_drv_disable_cb(this.state);
  }
  protected enableRaw(): number {
    return this.pq.engine.packed_drv_enable_cb(this.state);
  }
}

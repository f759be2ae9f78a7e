// The request loop of one virtio-blk queue, after QEMU's virtio_blk_handle_vq:
// pop a set of chains, parse each request (header, data, status byte), do its
// I/O against the backing store, and push the set back used. Payload copies of
// a popped set to and from a memory store are one dma_copy_batch call; every
// status byte is written, and the set pushed, only after all of the set's data
// is in the store (nothing is acknowledged before it is stored).
import * as L from '../../../assembly/layout.js';
import { getAddr } from '../../virtqueue/buffers.js';
import type { DeviceHost } from '../../virtqueue/device-host.js';
import type { QueueDevice } from '../../virtqueue/queue.js';
import type { BlkBackend } from './backend.js';
import {
  BLK_DWZ_SIZE,
  BLK_OUTHDR_SIZE,
  BLK_WRITE_ZEROES_FLAG_UNMAP,
  BlkStatus,
  BlkType,
  SECTOR_SIZE,
  VIRTIO_BLK_ID_BYTES,
} from './constants.js';

/** What the server enforces and answers; from the device's config and the negotiated features. */
export interface BlkServerConfig {
  capacity: number;
  readOnly: boolean;
  flush: boolean;
  discard: boolean;
  writeZeroes: boolean;
  maxDiscardSectors: number;
  maxDiscardSeg: number;
  maxWriteZeroesSectors: number;
  maxWriteZeroesSeg: number;
  /** GET_ID answer (at most 20 bytes are sent). */
  id: Uint8Array;
}

/** Counters of one queue's server. */
export interface BlkServerCounters {
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  getIds: number;
  discards: number;
  writeZeroes: number;
  unsupported: number;
  ioErrors: number;
  bytesRead: number;
  bytesWritten: number;
  /** dma_copy_batch calls. */
  copyBatches: number;
}

/** A chain the device cannot parse as a request (QEMU's virtio_error: the device needs a reset). */
export class BlkRequestError extends Error {
  readonly code = 'BLK_BAD_REQUEST';
  constructor(message: string) {
    super(message);
    this.name = 'BlkRequestError';
  }
}

/** Where a queue face leaves its pop output (SplitDevice and PackedDevice share the layout). */
interface PopOutput {
  popOut: number;
  popChains: number;
  popElements: number;
}

export class BlkQueueServer {
  readonly counters: BlkServerCounters = {
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    getIds: 0,
    discards: 0,
    writeZeroes: 0,
    unsupported: 0,
    ioErrors: 0,
    bytesRead: 0,
    bytesWritten: 0,
    copyBatches: 0,
  };
  private readonly v: DataView;
  private readonly pop: PopOutput;
  /** {dst, src, len, pad} records for dma_copy_batch. */
  private readonly list: number;
  private readonly listCap: number;
  private nList = 0;
  /** Status bytes of the set: linear address and value, written after the copies. */
  private readonly statusAt: Int32Array;
  private readonly statusVal: Uint8Array;
  /** (pos, len) of the store writes among the pending copies, when the backend watches (BlkBackend.stored). */
  private readonly storedPending: number[] = [];

  constructor(
    readonly host: DeviceHost,
    readonly queue: QueueDevice,
    readonly backend: BlkBackend,
    readonly config: BlkServerConfig,
  ) {
    this.v = host.hostView;
    const p = queue;
    this.pop = { popOut: p.popOut, popChains: p.popChains, popElements: p.popElements };
    this.listCap = p.popElements;
    this.list = host.hostAlloc(this.listCap * 16);
    this.statusAt = new Int32Array(p.popChains);
    this.statusVal = new Uint8Array(p.popChains);
  }

  /**
   * Serves every request available (at most `maxSets` popped sets): returns
   * the requests completed and whether the driver wants an interrupt. Throws
   * BlkRequestError (a chain that is not a request), VirtqueueError or
   * DmaError; the set being served is then not pushed.
   */
  serve(maxSets = Infinity, maxPerSet?: number): { requests: number; interrupt: boolean } {
    let total = 0;
    for (let s = 0; s < maxSets; s++) {
      const n = this.queue.popBatch(maxPerSet);
      if (n === 0) break;
      this.process(n);
      this.queue.pushPopped(n);
      total += n;
    }
    this.counters.requests += total;
    return { requests: total, interrupt: total > 0 && this.queue.shouldNotify() };
  }

  private copy(dst: number, src: number, len: number): void {
    if (this.nList === this.listCap) this.runCopies();
    const r = this.list + this.nList * 16;
    this.v.setUint32(r, dst, true);
    this.v.setUint32(r + 4, src, true);
    this.v.setUint32(r + 8, len, true);
    this.nList++;
  }

  private runCopies(): void {
    if (this.nList === 0) return;
    this.host.core.dma_copy_batch(this.list, this.nList);
    this.counters.copyBatches++;
    this.nList = 0;
    const s = this.storedPending;
    for (let k = 0; k < s.length; k += 2) this.backend.stored!(s[k]!, s[k + 1]!);
    s.length = 0;
  }

  /** Does the I/O of the first n chains of the last pop and writes their status bytes. */
  private process(n: number): void {
    const v = this.v;
    const { popOut } = this.pop;
    const elems = this.queue.popElementsAt;
    let start = 0;
    for (let k = 0; k < n; k++) {
      const end = v.getUint32(popOut + k * L.POP_SIZE + L.POP_ELEM_END, true);
      const st = this.request(elems, start, end);
      this.statusAt[k] = st.at;
      this.statusVal[k] = st.status;
      start = end;
    }
    this.runCopies();
    for (let k = 0; k < n; k++) v.setUint8(this.statusAt[k]!, this.statusVal[k]!);
  }

  /** One request: elements [start, end) of the pop output. Returns its status byte's address and value. */
  private request(elems: number, start: number, end: number): { at: number; status: number } {
    const v = this.v;
    const host = this.host;
    const addr = (e: number) => getAddr(v, elems + e * L.ELEM_SIZE + L.ELEM_ADDR);
    const len = (e: number) => v.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_LEN, true);
    const writable = (e: number) =>
      (v.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_FLAGS, true) & L.VRING_DESC_F_WRITE) !== 0;
    // Readable elements come first (the ring code enforces the order). QEMU's
    // checks and words: a readable and a writable part, a whole out header.
    let firstW = start;
    while (firstW < end && !writable(firstW)) firstW++;
    if (firstW === start || firstW === end) throw new BlkRequestError('virtio-blk missing headers');
    if (len(start) < BLK_OUTHDR_SIZE) throw new BlkRequestError('virtio-blk request outhdr too short');
    const last = end - 1;
    const statusAt = host.linear(addr(last) + len(last) - 1, 1, true);
    const h = host.linear(addr(start), BLK_OUTHDR_SIZE, false);
    const type = v.getUint32(h, true);
    const sector = v.getUint32(h + 8, true) + v.getUint32(h + 12, true) * 2 ** 32;
    const c = this.counters;
    const cfg = this.config;
    const status = (s: number) => {
      if (s === BlkStatus.IOERR) c.ioErrors++;
      if (s === BlkStatus.UNSUPP) c.unsupported++;
      return { at: statusAt, status: s };
    };

    if (type === BlkType.IN || type === BlkType.GET_ID) {
      // Data: the writable elements, less the status byte at the end.
      let dataLen = 0;
      for (let e = firstW; e < end; e++) dataLen += len(e);
      dataLen -= 1;
      if (type === BlkType.GET_ID) {
        c.getIds++;
        let left = Math.min(dataLen, VIRTIO_BLK_ID_BYTES);
        let off = 0;
        for (let e = firstW; e < end && left > 0; e++) {
          const n = Math.min(len(e), left);
          const at = host.linear(addr(e), n, true);
          for (let i = 0; i < n; i++) v.setUint8(at + i, cfg.id[off + i] ?? 0);
          off += n;
          left -= n;
        }
        return status(BlkStatus.OK);
      }
      c.reads++;
      if (!this.inRange(sector, dataLen)) return status(BlkStatus.IOERR);
      let pos = sector * SECTOR_SIZE;
      const base = this.backend.linearBase;
      for (let e = firstW, left = dataLen; e < end && left > 0; e++) {
        const n = Math.min(len(e), left);
        const dst = host.linear(addr(e), n, true);
        if (base !== undefined) this.copy(dst, base + pos, n);
        else this.backend.read(pos, dst, n);
        pos += n;
        left -= n;
      }
      c.bytesRead += dataLen;
      return status(BlkStatus.OK);
    }

    // Device-readable data: the rest of the header element, then the other readable elements.
    if (type === BlkType.OUT) {
      c.writes++;
      let dataLen = len(start) - BLK_OUTHDR_SIZE;
      for (let e = start + 1; e < firstW; e++) dataLen += len(e);
      if (cfg.readOnly || !this.inRange(sector, dataLen)) return status(BlkStatus.IOERR);
      let pos = sector * SECTOR_SIZE;
      const base = this.backend.linearBase;
      for (let e = start; e < firstW; e++) {
        const skip = e === start ? BLK_OUTHDR_SIZE : 0;
        const n = len(e) - skip;
        if (n === 0) continue;
        const src = host.linear(addr(e) + skip, n, false);
        if (base !== undefined) {
          this.copy(base + pos, src, n);
          if (this.backend.stored) this.storedPending.push(pos, n);
        } else this.backend.write(pos, src, n);
        pos += n;
      }
      c.bytesWritten += dataLen;
      return status(BlkStatus.OK);
    }

    if (type === BlkType.FLUSH) {
      c.flushes++;
      if (!cfg.flush) return status(BlkStatus.UNSUPP);
      this.runCopies(); // writes before the flush are in the store first
      this.backend.flush();
      return status(BlkStatus.OK);
    }

    if (type === BlkType.DISCARD || type === BlkType.WRITE_ZEROES) {
      const discard = type === BlkType.DISCARD;
      if (discard) c.discards++;
      else c.writeZeroes++;
      if (discard ? !cfg.discard : !cfg.writeZeroes) return status(BlkStatus.UNSUPP);
      if (cfg.readOnly) return status(BlkStatus.IOERR);
      // The segments: struct virtio_blk_discard_write_zeroes, whole ones per element.
      const segs: { at: number }[] = [];
      for (let e = start; e < firstW; e++) {
        const skip = e === start ? BLK_OUTHDR_SIZE : 0;
        const n = len(e) - skip;
        if (n % BLK_DWZ_SIZE !== 0) return status(BlkStatus.IOERR);
        const at = host.linear(addr(e) + skip, n, false);
        for (let o = 0; o < n; o += BLK_DWZ_SIZE) segs.push({ at: at + o });
      }
      const maxSeg = discard ? cfg.maxDiscardSeg : cfg.maxWriteZeroesSeg;
      const maxSectors = discard ? cfg.maxDiscardSectors : cfg.maxWriteZeroesSectors;
      if (segs.length === 0 || segs.length > maxSeg) return status(BlkStatus.IOERR);
      const ranges: [number, number][] = [];
      for (const s of segs) {
        const first = v.getUint32(s.at, true) + v.getUint32(s.at + 4, true) * 2 ** 32;
        const num = v.getUint32(s.at + 8, true);
        const flags = v.getUint32(s.at + 12, true);
        if (discard ? flags !== 0 : (flags & ~BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return status(BlkStatus.UNSUPP);
        if (num > maxSectors || !this.inRange(first, num * SECTOR_SIZE)) return status(BlkStatus.IOERR);
        ranges.push([first, num]);
      }
      this.runCopies(); // keep the order with writes earlier in the set
      // A discarded range reads back as zeroes here (deterministic; a real disk may keep the old data).
      for (const [first, num] of ranges) this.backend.zero(first * SECTOR_SIZE, num * SECTOR_SIZE);
      return status(BlkStatus.OK);
    }

    return status(BlkStatus.UNSUPP);
  }

  /** A transfer of `bytes` at `sector`: whole sectors, inside the capacity. */
  private inRange(sector: number, bytes: number): boolean {
    return (
      bytes % SECTOR_SIZE === 0 &&
      Number.isSafeInteger(sector) &&
      sector <= this.config.capacity &&
      bytes / SECTOR_SIZE <= this.config.capacity - sector
    );
  }
}

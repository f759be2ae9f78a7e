// The request loop of one virtio-blk queue, after QEMU's virtio_blk_handle_vq:
// pop a set of chains, parse each request (header, data, status byte), do its
// I/O against the backing store, and push the set back used. Payload copies of
// a popped set to and from a memory store are one dma_copy_batch call; every
// status byte is written, and the set pushed, only after all of the set's data
// is in the store (nothing is acknowledged before it is stored).
import * as L from '../../../assembly/layout.js';
import { DeviceError } from '../../errors.js';
import { CounterBlock } from '../../memory/stats-registry.js';
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
} from '../../spec/blk.js';
import { VRING_DESC_F_WRITE } from '../../spec/ring.js';

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

/** Counters of one queue's server: a `blk` block in the stats registry, written by the thread that serves the queue. */
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

/**
 * Which malformation a BLK_BAD_REQUEST is (QEMU's virtio_blk_handle_request
 * prints the first two messages for all of them):
 * - 'no-header': nothing device-readable ("virtio-blk missing headers");
 * - 'no-status': nothing device-writable: no status byte, or the status byte
 *   is device-readable ("virtio-blk missing headers");
 * - 'short-header': an out header shorter than 16 bytes
 *   ("virtio-blk request outhdr too short").
 */
export type BlkBadRequestVariant = 'no-header' | 'no-status' | 'short-header';

/**
 * A chain the device cannot parse as a request (QEMU's virtio_error: the
 * device needs a reset). Code BLK_BAD_REQUEST, side 'driver': the driver sent
 * it; `variant` names the malformation.
 */
export class BlkRequestError extends DeviceError {
  constructor(
    message: string,
    readonly variant: BlkBadRequestVariant,
  ) {
    super('BLK_BAD_REQUEST', message, 'driver');
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
  private readonly c: CounterBlock<'blk'>;
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
    /** The name of the server's counter block in the stats registry. */
    readonly name = 'blk.q0',
  ) {
    this.c = CounterBlock.alloc(host, 'blk', name);
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
    this.c.f.requests.add(total);
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
    this.c.f.copyBatches.add();
    this.nList = 0;
    const s = this.storedPending;
    for (let k = 0; k < s.length; k += 2) this.backend.stored!(s[k]!, s[k + 1]!);
    s.length = 0;
  }

  /** The counters, read now from the block. */
  get counters(): BlkServerCounters {
    return this.c.read();
  }

  /** Does the I/O of the first n chains of the last pop and writes their status bytes. */
  private process(n: number): void {
    const v = this.v;
    const { popOut } = this.pop;
    const elems = this.queue.popElementsAt;
    let start = 0;
    this.io.reads = this.io.readBytes = this.io.writes = this.io.writtenBytes = 0;
    for (let k = 0; k < n; k++) {
      const end = v.getUint32(popOut + k * L.POP_SIZE + L.POP_ELEM_END, true);
      const st = this.request(elems, start, end);
      this.statusAt[k] = st.at;
      this.statusVal[k] = st.status;
      start = end;
    }
    this.runCopies();
    // The status bytes last: the data is in place first (virtio-blk §5.2.6).
    for (let k = 0; k < n; k++) this.host.bytesAt(this.statusAt[k]!, 1)[0] = this.statusVal[k]!;
    const io = this.io;
    this.host.core.dma_count(this.host.dmaContext, io.reads, io.readBytes, io.writes + n, io.writtenBytes + n);
  }

  /** Device accesses of the batch, counted in the DMA context once per batch. */
  private readonly io = { reads: 0, readBytes: 0, writes: 0, writtenBytes: 0 };

  /** `n` bytes from the iovecs [e, end) of a chain, `skip` bytes into element e (headers, segments). */
  private gather(elems: number, e: number, end: number, skip: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let got = 0; got < n && e < end; e++) {
      const at = elems + e * L.ELEM_SIZE;
      const l = this.v.getUint32(at + L.ELEM_LEN, true);
      if (skip >= l) {
        skip -= l;
        continue;
      }
      const take = Math.min(l - skip, n - got);
      out.set(this.host.bytesAt(this.v.getUint32(at + L.ELEM_LINEAR, true) + skip, take), got);
      got += take;
      skip = 0;
    }
    this.io.reads++;
    this.io.readBytes += n;
    return out;
  }

  /**
   * One request: elements [start, end) of the pop output, the iovecs the
   * queue's DMA context made. Returns its status byte's linear address and value.
   */
  private request(elems: number, start: number, end: number): { at: number; status: number } {
    const v = this.v;
    const io = this.io;
    const len = (e: number) => v.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_LEN, true);
    const lin = (e: number) => v.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_LINEAR, true);
    const writable = (e: number) =>
      (v.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_FLAGS, true) & VRING_DESC_F_WRITE) !== 0;
    // Readable elements come first (the ring code enforces the order). QEMU's
    // checks and words: a readable and a writable part, a whole out header
    // (which may span iovecs where the translation was not contiguous).
    let firstW = start;
    while (firstW < end && !writable(firstW)) firstW++;
    let outBytes = 0;
    for (let e = start; e < firstW; e++) outBytes += len(e);
    if (firstW === start) throw new BlkRequestError('virtio-blk missing headers', 'no-header');
    if (firstW === end) throw new BlkRequestError('virtio-blk missing headers', 'no-status');
    if (outBytes < BLK_OUTHDR_SIZE) throw new BlkRequestError('virtio-blk request outhdr too short', 'short-header');
    const last = end - 1;
    const statusAt = lin(last) + len(last) - 1;
    // The header may span iovecs where the translation was not contiguous.
    const hdr = new DataView(this.gather(elems, start, firstW, 0, BLK_OUTHDR_SIZE).buffer);
    const type = hdr.getUint32(0, true);
    const sector = hdr.getUint32(8, true) + hdr.getUint32(12, true) * 2 ** 32;
    // Where the data after the header starts: element `dataE`, `dataSkip` bytes in.
    let dataE = start;
    let dataSkip = BLK_OUTHDR_SIZE;
    while (dataE < firstW && dataSkip >= len(dataE)) dataSkip -= len(dataE++);
    const c = this.c;
    const cfg = this.config;
    const status = (s: number) => {
      if (s === BlkStatus.IOERR) c.f.ioErrors.add();
      if (s === BlkStatus.UNSUPP) c.f.unsupported.add();
      return { at: statusAt, status: s };
    };

    if (type === BlkType.IN || type === BlkType.GET_ID) {
      // Data: the writable elements, less the status byte at the end.
      let dataLen = 0;
      for (let e = firstW; e < end; e++) dataLen += len(e);
      dataLen -= 1;
      if (type === BlkType.GET_ID) {
        c.f.getIds.add();
        let left = Math.min(dataLen, VIRTIO_BLK_ID_BYTES);
        let off = 0;
        for (let e = firstW; e < end && left > 0; e++) {
          const n = Math.min(len(e), left);
          const dst = this.host.bytesAt(lin(e), n);
          for (let i = 0; i < n; i++) dst[i] = cfg.id[off + i] ?? 0;
          off += n;
          left -= n;
          io.writes++;
          io.writtenBytes += n;
        }
        return status(BlkStatus.OK);
      }
      c.f.reads.add();
      if (!this.inRange(sector, dataLen)) return status(BlkStatus.IOERR);
      let pos = sector * SECTOR_SIZE;
      const base = this.backend.linearBase;
      for (let e = firstW, left = dataLen; e < end && left > 0; e++) {
        const n = Math.min(len(e), left);
        if (base !== undefined) this.copy(lin(e), base + pos, n);
        else this.backend.read(pos, lin(e), n);
        pos += n;
        left -= n;
        io.writes++;
      }
      io.writtenBytes += dataLen;
      c.f.bytesRead.add(dataLen);
      return status(BlkStatus.OK);
    }

    // Device-readable data: the rest of the header element, then the other readable elements.
    if (type === BlkType.OUT) {
      c.f.writes.add();
      const dataLen = outBytes - BLK_OUTHDR_SIZE;
      if (cfg.readOnly || !this.inRange(sector, dataLen)) return status(BlkStatus.IOERR);
      let pos = sector * SECTOR_SIZE;
      const base = this.backend.linearBase;
      for (let e = dataE; e < firstW; e++) {
        const skip = e === dataE ? dataSkip : 0;
        const n = len(e) - skip;
        if (n === 0) continue;
        if (base !== undefined) {
          this.copy(base + pos, lin(e) + skip, n);
          if (this.backend.stored) this.storedPending.push(pos, n);
        } else this.backend.write(pos, lin(e) + skip, n);
        pos += n;
        io.reads++;
      }
      io.readBytes += dataLen;
      c.f.bytesWritten.add(dataLen);
      return status(BlkStatus.OK);
    }

    if (type === BlkType.FLUSH) {
      c.f.flushes.add();
      if (!cfg.flush) return status(BlkStatus.UNSUPP);
      this.runCopies(); // writes before the flush are in the store first
      this.backend.flush();
      return status(BlkStatus.OK);
    }

    if (type === BlkType.DISCARD || type === BlkType.WRITE_ZEROES) {
      const discard = type === BlkType.DISCARD;
      c.add(discard ? 'discards' : 'writeZeroes');
      if (discard ? !cfg.discard : !cfg.writeZeroes) return status(BlkStatus.UNSUPP);
      if (cfg.readOnly) return status(BlkStatus.IOERR);
      // The segments: struct virtio_blk_discard_write_zeroes, whole ones.
      const dataLen = outBytes - BLK_OUTHDR_SIZE;
      const maxSeg = discard ? cfg.maxDiscardSeg : cfg.maxWriteZeroesSeg;
      const maxSectors = discard ? cfg.maxDiscardSectors : cfg.maxWriteZeroesSectors;
      const nseg = dataLen / BLK_DWZ_SIZE;
      if (dataLen % BLK_DWZ_SIZE !== 0 || nseg === 0 || nseg > maxSeg) return status(BlkStatus.IOERR);
      const segs = new DataView(this.gather(elems, dataE, firstW, dataSkip, dataLen).buffer);
      const ranges: [number, number][] = [];
      for (let o = 0; o < dataLen; o += BLK_DWZ_SIZE) {
        const first = segs.getUint32(o, true) + segs.getUint32(o + 4, true) * 2 ** 32;
        const num = segs.getUint32(o + 8, true);
        const flags = segs.getUint32(o + 12, true);
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

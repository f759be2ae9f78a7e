// The record layer for virtio-net (issue #11, end-to-end protection): each
// payload a guest sender hands the driver is sealed into a TLS-like record,
// AES-256-GCM with the sequence number in the nonce and the 16-byte tag
// appended (TLS 1.3, RFC 8446 §5.2-5.3), and opened by the receiver, which
// also checks that the sequence number is the next one it expects (carried
// in the header, as DTLS 1.3 does, so that a replay, a drop or a reorder is
// named apart from an alteration). A device, snooping or lying, then only
// ever holds ciphertext, and any change it makes fails the receiver's check
// with a named error instead of reaching the application.
//
// Zero copy (Bifrost's ZC, Li et al., ATC '23; L. Rizzo's "swiotlb: avoid
// double copy with swiotlb on tx socket"): in a confidential VM every TX
// buffer is bounced through swiotlb, so a sealed record would be written
// twice, into the private TX buffer and then into its bounce slot. Since the
// record is already ciphertext, ProtectedNet seals it straight into the bounce
// slot (the TX buffer's premapped DMA address, a shared page) and posts it
// without dma_sync_single_for_device: one write of the bytes instead of two.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import * as N from '../../../assembly/net/layout.js';
import type { DmaApi } from '../../dma/api.js';
import type { VirtioNetDriver } from '../../drivers/net/driver.js';
import { ConfigError } from '../../errors.js';
import { CounterBlock } from '../../memory/stats-registry.js';
import { VIRTIO_NET_HDR_LEN } from '../../spec/net.js';
import { ProtectError } from './errors.js';
import { deriveKey, masterFromSeed } from './keys.js';

/** Header: type, version, reserved (2), length of ciphertext + tag (u32 BE), sequence number (u64 BE). */
export const RECORD_HEADER_BYTES = 16;
/** The AES-GCM tag appended to the ciphertext. */
export const RECORD_TAG_BYTES = 16;
/** Bytes a record adds to its payload. */
export const RECORD_OVERHEAD = RECORD_HEADER_BYTES + RECORD_TAG_BYTES;
/** TLS's content type for application data (RFC 8446 §5.1). */
export const RECORD_TYPE_APPLICATION_DATA = 0x17;
export const RECORD_VERSION = 1;

/** One direction's AES-256-GCM key and static IV (RFC 8446 §7.3: a key and an IV per direction). */
export interface RecordKeys {
  key: Uint8Array;
  iv: Uint8Array;
}

/**
 * The keys of one direction of a channel between two endpoints A and B:
 * A seals with 'a-to-b' and B opens with it; B seals with 'b-to-a'.
 */
export function recordKeys(master: Uint8Array, direction: 'a-to-b' | 'b-to-a'): RecordKeys {
  return { key: deriveKey(master, `record ${direction} key`, 32), iv: deriveKey(master, `record ${direction} iv`, 12) };
}

/** The per-record nonce: the static IV xor the 64-bit sequence number, left-padded (RFC 8446 §5.3). */
function nonce(iv: Uint8Array, seq: number): Buffer {
  const n = Buffer.from(iv);
  const hi = Math.floor(seq / 2 ** 32);
  const lo = seq >>> 0;
  n.writeUInt32BE((n.readUInt32BE(4) ^ hi) >>> 0, 4);
  n.writeUInt32BE((n.readUInt32BE(8) ^ lo) >>> 0, 8);
  return n;
}

function writeHeader(out: Uint8Array, at: number, bodyLen: number, seq: number): void {
  const v = new DataView(out.buffer, out.byteOffset + at, RECORD_HEADER_BYTES);
  v.setUint8(0, RECORD_TYPE_APPLICATION_DATA);
  v.setUint8(1, RECORD_VERSION);
  v.setUint16(2, 0);
  v.setUint32(4, bodyLen);
  v.setUint32(8, Math.floor(seq / 2 ** 32));
  v.setUint32(12, seq >>> 0);
}

/** The sending end of one direction. */
export class RecordSealer {
  /** Sequence number of the next record (the count of records sealed). */
  seq = 0;
  /** Payload bytes sealed. */
  bytes = 0;
  constructor(private readonly keys: RecordKeys) {}

  /** Seals `payload` into `out` at `at` (RECORD_OVERHEAD bytes more than the payload); returns the record's length. */
  sealInto(payload: Uint8Array, out: Uint8Array, at = 0): number {
    const len = payload.length + RECORD_OVERHEAD;
    if (at + len > out.length) {
      throw new ConfigError(`record of ${payload.length} bytes: needs ${len} bytes, ${out.length - at} there`);
    }
    const seq = this.seq++;
    writeHeader(out, at, payload.length + RECORD_TAG_BYTES, seq);
    const c = createCipheriv('aes-256-gcm', this.keys.key, nonce(this.keys.iv, seq));
    // The header is additional data: its length and sequence number are authenticated too.
    c.setAAD(out.subarray(at, at + RECORD_HEADER_BYTES));
    out.set(c.update(payload), at + RECORD_HEADER_BYTES);
    c.final();
    out.set(c.getAuthTag(), at + RECORD_HEADER_BYTES + payload.length);
    this.bytes += payload.length;
    return len;
  }

  /** Seals `payload` into a new array. */
  seal(payload: Uint8Array): Uint8Array {
    const out = new Uint8Array(payload.length + RECORD_OVERHEAD);
    this.sealInto(payload, out);
    return out;
  }
}

/**
 * The receiving end of one direction. The first record that fails closes it,
 * as a TLS fatal alert closes the connection (RFC 8446 §6.2): every later
 * open throws the same error, since the stream can no longer be trusted to be
 * complete.
 */
export class RecordOpener {
  /** Sequence number of the next record expected. */
  expected = 0;
  /** Payload bytes opened. */
  bytes = 0;
  /** The error that closed the receiver, if one did. */
  closed: ProtectError | undefined;
  constructor(private readonly keys: RecordKeys) {}

  /** Checks and decrypts one record; returns its payload or throws a ProtectError naming what the device did. */
  open(record: Uint8Array): Uint8Array {
    if (this.closed) throw this.closed;
    try {
      return this.check(record);
    } catch (e) {
      if (e instanceof ProtectError) this.closed = e;
      throw e;
    }
  }

  private check(record: Uint8Array): Uint8Array {
    const n = record.length;
    const v = new DataView(record.buffer, record.byteOffset, Math.min(n, RECORD_HEADER_BYTES));
    if (
      n < RECORD_OVERHEAD ||
      v.getUint8(0) !== RECORD_TYPE_APPLICATION_DATA ||
      v.getUint8(1) !== RECORD_VERSION ||
      v.getUint16(2) !== 0 ||
      v.getUint32(4) !== n - RECORD_HEADER_BYTES
    ) {
      const said = n >= 8 ? v.getUint32(4) + RECORD_HEADER_BYTES : 0;
      throw new ProtectError(
        'PROTECT_RECORD_LENGTH',
        `record layer: malformed record of ${n} bytes (header says ${said}): decode_error`,
      );
    }
    const seq = v.getUint32(8) * 2 ** 32 + v.getUint32(12);
    const body = n - RECORD_HEADER_BYTES - RECORD_TAG_BYTES;
    const d = createDecipheriv('aes-256-gcm', this.keys.key, nonce(this.keys.iv, seq));
    d.setAAD(record.subarray(0, RECORD_HEADER_BYTES));
    d.setAuthTag(record.subarray(n - RECORD_TAG_BYTES));
    const plain = d.update(record.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + body));
    try {
      d.final();
    } catch {
      throw new ProtectError(
        'PROTECT_RECORD_AUTH',
        `record layer: record ${seq} failed authentication: bad_record_mac`,
      );
    }
    // Only an authentic record's sequence number is believed (RFC 9147 §4.5.1:
    // the replay check follows authentication).
    if (seq < this.expected) {
      throw new ProtectError(
        'PROTECT_RECORD_REPLAY',
        `record layer: record ${seq} replayed (next expected ${this.expected})`,
      );
    }
    if (seq > this.expected) {
      throw new ProtectError(
        'PROTECT_RECORD_GAP',
        `record layer: record ${seq} arrived, ${this.expected} expected: ${seq - this.expected} record(s) dropped or reordered`,
      );
    }
    this.expected++;
    this.bytes += body;
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.length);
  }
}

export interface ProtectedNetOptions {
  /** The channel's master secret (≥ 16 bytes). Default: derived from `seed`. */
  master?: Uint8Array;
  /** Seed of the master secret when none is given (default 1). */
  seed?: number;
  /**
   * Where a record is sealed when the DMA API bounces through swiotlb:
   * 'zero-copy' (default) straight into the TX buffer's bounce slot, posted
   * without a sync (Bifrost's ZC); 'bounce' into the private TX buffer, then
   * bounced by dma_sync_single_for_device as any payload. Other DMA
   * backends do not bounce: both seal into the TX buffer.
   */
  placement?: 'zero-copy' | 'bounce';
  /** Prefix of the layer's stats block (`<name>.protect`). Default "net". */
  name?: string;
}

/** What a ProtectedNet did. */
export interface ProtectedNetCounters {
  /** Records sealed and sent. */
  sealed: number;
  /** Of those, records sealed straight into their bounce slot. */
  sealedInPlace: number;
  /** Records opened (authentic and in order). */
  opened: number;
  /** Payload bytes sealed, and opened. */
  sealedBytes: number;
  openedBytes: number;
}

/**
 * The record layer over a virtio-net driver: the guest's senders hand it
 * payloads, it seals each into a record in a TX buffer and posts them; on
 * receive it opens every frame. Loopback: the guest is both ends, A (sends,
 * with the a-to-b keys) and B (receives, with the a-to-b keys), so the frames
 * the device loops back are checked as a peer would check them.
 */
export class ProtectedNet {
  readonly sealers: RecordSealer[];
  readonly openers: RecordOpener[];
  /** Records are sealed into bounce slots (the DMA API bounces through swiotlb and placement is zero-copy). */
  readonly zeroCopy: boolean;
  readonly counters: ProtectedNetCounters = { sealed: 0, sealedInPlace: 0, opened: 0, sealedBytes: 0, openedBytes: 0 };

  constructor(
    readonly driver: VirtioNetDriver,
    dma: DmaApi,
    options: ProtectedNetOptions = {},
  ) {
    const placement = options.placement ?? 'zero-copy';
    if (placement !== 'zero-copy' && placement !== 'bounce') {
      throw new ConfigError(`protect placement ${String(placement)}: must be zero-copy or bounce`);
    }
    const master = options.master ?? masterFromSeed(options.seed ?? 1);
    const keys = recordKeys(master, 'a-to-b');
    this.sealers = driver.pairs.map(() => new RecordSealer(keys));
    this.openers = driver.pairs.map(() => new RecordOpener(keys));
    // Only swiotlb hands out DMA addresses that are guest physical addresses
    // of shared bounce slots the CPU may write (an IOMMU's are IOVAs).
    this.zeroCopy = placement === 'zero-copy' && dma.backend.name === 'swiotlb';
    this.stats = CounterBlock.alloc(dma.mem, 'protect', `${options.name ?? 'net'}.protect`);
  }

  /** The layer's block in the stats registry (what the cost model charges as encryption). */
  private readonly stats: CounterBlock<'protect'>;

  /** The largest payload one frame carries on pair `pair`. */
  maxPayload(pair = 0): number {
    const p = this.driver.pairs[pair];
    if (!p) throw new ConfigError(`net pair ${pair}: must be from 0 to ${this.driver.pairs.length - 1}`);
    return p.txSlots.bufBytes - VIRTIO_NET_HDR_LEN - RECORD_OVERHEAD;
  }

  /** Seals and sends `payloads` on pair `pair` (runs of equal length go in one burst); returns how many were queued. */
  send(pair: number, payloads: readonly Uint8Array[]): number {
    let sent = 0;
    while (sent < payloads.length) {
      const len = payloads[sent]!.length;
      let end = sent + 1;
      while (end < payloads.length && payloads[end]!.length === len) end++;
      const base = sent;
      const k = this.burst(pair, end - base, len, (i) => payloads[base + i]!);
      sent += k;
      if (k < end - base) break;
    }
    return sent;
  }

  /** Sends up to `n` records of `payload` on pair `pair` (the benchmark's path); returns how many. */
  sendBurst(pair: number, n: number, payload: Uint8Array): number {
    return this.burst(pair, n, payload.length, () => payload);
  }

  private burst(pair: number, n: number, len: number, payload: (i: number) => Uint8Array): number {
    const max = this.maxPayload(pair);
    if (len < 1 || len > max) {
      throw new ConfigError(
        `protected net send: a payload of ${len} bytes, must be from 1 to ${max} on this queue pair`,
      );
    }
    const d = this.driver;
    const p = d.pairs[pair]!;
    const mem = d.mem;
    const v = mem.view;
    const bytes = mem.bytes;
    // The slots net_drv_tx_build takes, in its order: the top of the free stack down.
    const free = v.getUint32(p.txState + N.DT_FREE, true);
    const nfree = v.getUint32(p.txState + N.DT_NFREE, true);
    const count = Math.min(n, nfree);
    const frame = VIRTIO_NET_HDR_LEN + len + RECORD_OVERHEAD;
    const sealer = this.sealers[pair]!;
    for (let k = 0; k < count; k++) {
      const slot = v.getUint32(free + 4 * (nfree - 1 - k), true);
      const at = this.zeroCopy
        ? mem.linear(p.txSlots.dma[slot]!, frame)
        : v.getUint32(p.txSlots.table + slot * N.SLOT_SIZE + N.SLOT_CPU, true);
      bytes.fill(0, at, at + VIRTIO_NET_HDR_LEN);
      sealer.sealInto(payload(k), bytes, at + VIRTIO_NET_HDR_LEN);
    }
    if (count === 0) return 0;
    const sent = d.sendBurst(pair, count, len + RECORD_OVERHEAD, this.zeroCopy);
    this.counters.sealed += sent;
    if (this.zeroCopy) this.counters.sealedInPlace += sent;
    this.counters.sealedBytes += sent * len;
    this.stats.f.recordsSealed.add(sent);
    this.stats.f.bytesSealed.add(sent * len);
    return sent;
  }

  /**
   * Receives on pair `pair` and opens every frame; returns the payloads.
   * Throws the ProtectError of the first frame that fails (the driver has
   * already reposted its buffers); the pair's receiver is closed after it.
   */
  receive(pair: number): Uint8Array[] {
    const opener = this.openers[pair];
    if (!opener) throw new ConfigError(`net pair ${pair}: must be from 0 to ${this.driver.pairs.length - 1}`);
    const out: Uint8Array[] = [];
    for (const pkt of this.driver.receive(pair)) {
      const plain = opener.open(pkt.data);
      this.counters.opened++;
      this.counters.openedBytes += plain.length;
      this.stats.f.recordsOpened.add();
      this.stats.f.bytesOpened.add(plain.length);
      out.push(plain);
    }
    return out;
  }
}

// A virtio-net guest driver after Linux's drivers/net/virtio_net.c: probe
// (virtnet_validate, virtnet_probe), queue pairs and the control queue, RX
// buffers posted mergeable or big, TX of header + frame, and the checks Linux
// makes on what the device says. Buffers are mapped through the DMA API once
// at setup (premapped pools, like virtio_net's premapped RX mode and
// AF_XDP/page_pool); a sync is made per buffer only when the backend needs it
// (dma_need_sync). Per-packet work runs in Wasm (assembly/net/driver.ts).
import * as L from '../../../assembly/layout.js';
import * as N from '../../../assembly/net/layout.js';
import { DmaApi } from '../../dma/api.js';
import { DmaDirection } from '../../dma/types.js';
import { ConfigError } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { Status } from '../../spec/config.js';
import { capQueues, probeDevice, readConfigStable } from '../probe.js';
import type { TransportAccess } from '../transport-access.js';
import type { EngineName } from '../../virtqueue/engine.js';
import { Feature } from '../../spec/features.js';
import { hasFeature } from '../../virtqueue/features.js';
import type { RingKind, Virtqueue } from '../../virtqueue/queue.js';
import { RequestBatch } from '../../virtqueue/split/request-batch.js';
import {
  ETH_DATA_LEN,
  ETH_FRAME_OVERHEAD,
  ETH_MAX_MTU,
  ETH_MIN_MTU,
  NetConfig,
  NetFeature,
  VIRTIO_ID_NET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_LINK_UP,
} from '../../spec/net.js';
import { NetDriverError } from './errors.js';

export interface NetDriverOptions {
  /** Ask for VIRTIO_NET_F_MRG_RXBUF. Default true. */
  mergeable?: boolean;
  /** Ask for VIRTIO_NET_F_MQ and VIRTIO_NET_F_CTRL_VQ. Default true. */
  multiqueue?: boolean;
  /** Ring layout: 'packed' asks for VIRTIO_F_RING_PACKED. Default 'split'. */
  ring?: RingKind;
  /** Ask for VIRTIO_F_EVENT_IDX. Default true. */
  eventIdx?: boolean;
  /** Queue size wanted. Default 256. */
  queueSize?: number;
  /** Queue pairs to use (VQ_PAIRS_SET when more than 1). Default: all the device has. */
  queuePairs?: number;
  /** Apply Linux's checks on what the device says (default true); false trusts the device. */
  hardened?: boolean;
  /** On a failed RX check: 'drop' the packet and keep the error (Linux; default) or 'throw' it. */
  onError?: 'drop' | 'throw';
  /** Bytes of each RX buffer. Default 1536 with mergeable buffers, else header + MTU + 18. */
  rxBufBytes?: number;
  /** Bytes of each TX buffer (header + frame). Default header + MTU + 18. */
  txBufBytes?: number;
  engine?: EngineName;
}

/** What the driver counted. */
export interface NetDriverCounters {
  txPackets: number;
  txBytes: number;
  txCompleted: number;
  rxPackets: number;
  rxBytes: number;
  /** RX packets dropped by a check (Linux's rx_length_errors). */
  rxLengthErrors: number;
  rxLenExceeds: number;
  rxBuffersMissing: number;
  rxShort: number;
  /** MTU below 68 at validate: VIRTIO_NET_F_MTU dropped (virtnet_validate). */
  mtuInvalid: number;
  /** max_virtqueue_pairs outside [1, 0x8000]: clamped to 1 (virtnet_probe). */
  maxPairsInvalid: number;
  configInterrupts: number;
  queueInterrupts: number;
  kicks: number;
  /** recover() calls that led to this driver (resets after NEEDS_RESET). */
  resets: number;
}

/** A received frame: the virtio_net_hdr_v1 and the frame after it. */
export interface NetPacket {
  header: Uint8Array;
  data: Uint8Array;
  /** RX buffers it spanned. */
  buffers: number;
}

interface Slots {
  /** Linear address of the SLOT_* table. */
  table: number;
  count: number;
  bufBytes: number;
  /** Guest physical address of buffer 0 (buffers are contiguous) and the DMA address of each. */
  gpa: number;
  dma: number[];
}

/** One RX/TX queue pair of the driver (receiveq i = queue 2i, transmitq i = queue 2i+1). */
export class NetQueuePair {
  rxPosted = 0;
  constructor(
    readonly index: number,
    readonly rx: Virtqueue,
    readonly tx: Virtqueue,
    readonly rxSlots: Slots,
    readonly txSlots: Slots,
    /** Linear addresses of the RX (DR_*) and TX (DT_*) state blocks. */
    readonly rxState: number,
    readonly txState: number,
    readonly rxBatch: RequestBatch,
    readonly txBatch: RequestBatch,
    /** Linear address of the packet records net_drv_rx writes, and of the TX lengths. */
    readonly pktOut: number,
    readonly txLens: number,
  ) {}
}

const DEFAULT_NET_FEATURES = [
  NetFeature.MAC,
  NetFeature.MTU,
  NetFeature.STATUS,
  NetFeature.CTRL_VQ,
  NetFeature.MQ,
  NetFeature.MRG_RXBUF,
];

export class VirtioNetDriver {
  readonly counters: NetDriverCounters = {
    txPackets: 0,
    txBytes: 0,
    txCompleted: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxLengthErrors: 0,
    rxLenExceeds: 0,
    rxBuffersMissing: 0,
    rxShort: 0,
    mtuInvalid: 0,
    maxPairsInvalid: 0,
    configInterrupts: 0,
    queueInterrupts: 0,
    kicks: 0,
    resets: 0,
  };
  /** RX check failures, oldest first (the last 64). */
  readonly errors: NetDriverError[] = [];
  readonly pairs: NetQueuePair[] = [];
  /** Queue pairs in use (after VQ_PAIRS_SET). */
  activePairs = 1;
  mac: number[] = [];
  mtu: number | undefined;
  linkUp = true;
  /** Called after a config interrupt re-read the link status. */
  onLinkChange: ((up: boolean) => void) | undefined;
  readonly hardened: boolean;
  readonly mergeable: boolean;
  private readonly onError: 'drop' | 'throw';
  private readonly needSync: boolean;
  private ctrlVq: Virtqueue | undefined;
  private ctrlIndex = -1;
  private ctrlBuf = 0;
  private ctrlDma = { out: 0, ack: 0 };
  private readonly queueList: Virtqueue[];
  /** Every buffer premapped (RX, TX, control), given back by remove() or a probe that fails. */
  private readonly mapped: { dma: number; len: number; dir: DmaDirection }[] = [];
  /** Guest memory the driver allocated (buffers, slot tables, state blocks), freed by remove(). */
  private readonly allocated: number[] = [];

  private constructor(
    readonly access: TransportAccess,
    readonly mem: GuestMemory,
    readonly dma: DmaApi,
    readonly features: bigint,
    readonly maxPairs: number,
    /** The pairs set up: at most one per guest CPU (capQueues), whatever the device offers. */
    readonly setUpPairs: number,
    queues: Virtqueue[],
    private readonly options: NetDriverOptions,
  ) {
    this.hardened = options.hardened ?? true;
    this.onError = options.onError ?? 'drop';
    this.mergeable = hasFeature(features, NetFeature.MRG_RXBUF);
    // dma_need_sync(): ask the API once, skip the calls on the hot path when they do nothing.
    this.needSync = dma.needSync;
    this.queueList = queues;
    if (hasFeature(features, NetFeature.CTRL_VQ)) {
      // controlq is queue 2N for N = max_virtqueue_pairs (VIRTIO 1.2 §5.1.2),
      // set up after the pairs in use: the last of the queues set up.
      this.ctrlIndex = 2 * maxPairs;
      this.ctrlVq = queues[2 * setUpPairs];
    }
  }

  /**
   * Probes a virtio-net device: features (wanted ∩ offered, VERSION_1 always),
   * virtnet_validate's MTU check, max_virtqueue_pairs, queue setup for every
   * pair and the control queue, RX buffers posted, then VQ_PAIRS_SET.
   */
  static probe(
    access: TransportAccess,
    mem: GuestMemory,
    dma: DmaApi,
    options: NetDriverOptions = {},
  ): VirtioNetDriver {
    const hardened = options.hardened ?? true;
    const counts = { mtuInvalid: 0, maxPairsInvalid: 0 };
    let bits: number[] = DEFAULT_NET_FEATURES;
    if (options.mergeable === false) bits = bits.filter((b) => b !== NetFeature.MRG_RXBUF);
    if (options.multiqueue === false) bits = bits.filter((b) => b !== NetFeature.MQ && b !== NetFeature.CTRL_VQ);
    const ring: number[] = [];
    if (options.ring === 'packed') ring.push(Feature.RING_PACKED);
    else if (options.ring !== undefined && options.ring !== 'split') {
      throw new ConfigError(`net ring ${String(options.ring)}: must be split or packed`);
    }
    if (options.eventIdx ?? true) ring.push(Feature.EVENT_IDX);
    const wanted = [...bits, ...ring].reduce((f, b) => f | (1n << BigInt(b)), 0n);
    let maxPairs = 1;
    let setUpPairs = 1;
    const probeOptions: Parameters<typeof probeDevice>[2] = {
      features: wanted,
      queueSize: options.queueSize ?? 256,
      engine: options.engine,
      validate: (acc, f) => {
        // virtnet_validate: an MTU below the minimum drops VIRTIO_NET_F_MTU.
        if (hasFeature(f, NetFeature.MTU)) {
          const mtu = readConfigStable(acc, () => acc.readConfig(NetConfig.MTU, 2));
          if (hardened && mtu < ETH_MIN_MTU) {
            counts.mtuInvalid++;
            f &= ~(1n << BigInt(NetFeature.MTU));
          }
        }
        // virtnet_probe: max_virtqueue_pairs outside [1, 0x8000] or no control queue gives 1, silently.
        if (hasFeature(f, NetFeature.MQ)) {
          const n = readConfigStable(acc, () => acc.readConfig(NetConfig.MAX_VIRTQUEUE_PAIRS, 2));
          const bad = n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX;
          if (hardened && bad) counts.maxPairsInvalid++;
          maxPairs = (hardened && bad) || !hasFeature(f, NetFeature.CTRL_VQ) ? 1 : n;
        }
        // The queues to set up depend on what was read: receiveq/transmitq of
        // each pair in use, then controlq. Pairs beyond the guest's CPUs get
        // no rings: a device cannot make the driver spend guest RAM at will.
        setUpPairs = capQueues(acc, maxPairs);
        probeOptions.queueIndices = [
          ...Array.from({ length: 2 * setUpPairs }, (_, k) => k),
          ...(hasFeature(f, NetFeature.CTRL_VQ) ? [2 * maxPairs] : []),
        ];
        return f;
      },
    };
    // Rings come from dma_alloc_coherent (the validate hook above sets the queue count on this object).
    probeOptions.dma = dma.driverDma();
    const dev = probeDevice(access, mem, probeOptions);
    if (dev.deviceId !== VIRTIO_ID_NET) {
      throw new ConfigError(`net driver: device ${dev.deviceId} is not a network device (${VIRTIO_ID_NET})`);
    }
    const drv = new VirtioNetDriver(access, mem, dma, dev.features, maxPairs, setUpPairs, dev.queues, options);
    drv.releaseRings = dev.release;
    drv.counters.mtuInvalid = counts.mtuInvalid;
    drv.counters.maxPairsInvalid = counts.maxPairsInvalid;
    try {
      drv.readConfig();
      drv.setUp(options);
    } catch (e) {
      // A full swiotlb pool (DMA_MAPPING_ERROR) among others: give back every slot taken.
      drv.unmapAll();
      drv.freeAll();
      access.setStatus(access.getStatus() | Status.FAILED);
      throw e;
    }
    return drv;
  }

  private readConfig(): void {
    const a = this.access;
    if (hasFeature(this.features, NetFeature.MTU)) {
      const mtu = readConfigStable(a, () => a.readConfig(NetConfig.MTU, 2));
      if (this.hardened && mtu < ETH_MIN_MTU) {
        throw new NetDriverError('MTU_CHANGED', `device MTU appears to have changed it is now ${mtu} < ${ETH_MIN_MTU}`);
      }
      this.mtu = mtu;
    }
    if (hasFeature(this.features, NetFeature.MAC)) {
      this.mac = readConfigStable(a, () => [0, 1, 2, 3, 4, 5].map((i) => a.readConfig(NetConfig.MAC + i, 1)));
    }
    this.readStatus();
    a.onConfigInterrupt(() => {
      this.counters.configInterrupts++;
      const before = this.linkUp;
      this.readStatus();
      if (before !== this.linkUp) this.onLinkChange?.(this.linkUp);
    });
  }

  private readStatus(): void {
    if (!hasFeature(this.features, NetFeature.STATUS)) {
      this.linkUp = true;
      return;
    }
    const a = this.access;
    this.linkUp = (readConfigStable(a, () => a.readConfig(NetConfig.STATUS, 2)) & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  private slots(count: number, bufBytes: number, dir: DmaDirection): Slots {
    const mem = this.mem;
    // Each buffer starts on a cache line (as a kmalloc'd skb head does): a
    // short frame then spans the fewest lines.
    const stride = (bufBytes + 63) & ~63;
    const gpa = this.alloc(count * stride);
    const table = mem.linear(this.alloc(count * N.SLOT_SIZE), count * N.SLOT_SIZE);
    const dma: number[] = [];
    for (let k = 0; k < count; k++) {
      const d = this.premap(gpa + k * stride, bufBytes, dir);
      dma.push(d);
      const s = table + k * N.SLOT_SIZE;
      mem.view.setUint32(s + N.SLOT_CPU, mem.linear(gpa + k * stride, bufBytes), true);
      mem.view.setUint32(s + N.SLOT_LEN, bufBytes, true);
      mem.view.setBigUint64(s + N.SLOT_DMA, BigInt(d), true);
    }
    return { table, count, bufBytes, gpa, dma };
  }

  private setUp(options: NetDriverOptions): void {
    const queues = 2 * this.setUpPairs;
    const mtu = this.mtu ?? ETH_DATA_LEN;
    const frameMax = VIRTIO_NET_HDR_LEN + Math.max(mtu, ETH_DATA_LEN) + ETH_FRAME_OVERHEAD;
    // Buffers up to header + ETH_MAX_MTU + 18: a device with a 65535-byte
    // MTU (legal: the field is a le16) gets big buffers that take its frames.
    const bufMax = VIRTIO_NET_HDR_LEN + ETH_MAX_MTU + ETH_FRAME_OVERHEAD;
    const rxBytes = options.rxBufBytes ?? (this.mergeable ? 1536 : frameMax);
    const txBytes = options.txBufBytes ?? frameMax;
    for (const [what, b] of [
      ['rxBufBytes', rxBytes],
      ['txBufBytes', txBytes],
    ] as const) {
      if (!Number.isInteger(b) || b < VIRTIO_NET_HDR_LEN || b > bufMax) {
        throw new ConfigError(`net ${what} ${b}: must be a whole number from ${VIRTIO_NET_HDR_LEN} to ${bufMax}`);
      }
    }
    const list = this.queueList;
    for (let i = 0; i < queues / 2; i++) {
      const rx = list[2 * i]!;
      const tx = list[2 * i + 1]!;
      const mem = this.mem;
      const rxSlots = this.slots(rx.size, rxBytes, DmaDirection.FROM_DEVICE);
      const txSlots = this.slots(tx.size, txBytes, DmaDirection.TO_DEVICE);
      const rxState = mem.linear(this.alloc(N.DR_SIZE), N.DR_SIZE);
      const txState = mem.linear(this.alloc(N.DT_SIZE + tx.size * 4), N.DT_SIZE + tx.size * 4);
      const rxBatch = new RequestBatch(mem, rx.size, rx.size);
      const txBatch = new RequestBatch(mem, tx.size, tx.size);
      const pktBytes = rx.size * N.PK_SIZE;
      const pktOut = mem.linear(this.alloc(pktBytes), pktBytes);
      const txLens = mem.linear(this.alloc(tx.size * 4), tx.size * 4);
      const v = mem.view;
      const s = (at: number, off: number, val: number) => v.setUint32(at + off, val, true);
      s(rxState, N.DR_COMPL, rx.driver.completions.byteOffset);
      s(rxState, N.DR_SLOTS, rxSlots.table);
      s(rxState, N.DR_NSLOTS, rxSlots.count);
      s(rxState, N.DR_FLAGS, (this.hardened ? N.DRF_HARDENED : 0) | (this.mergeable ? N.DRF_MRG : 0));
      s(rxState, N.DR_REQ, rxBatch.ptr);
      s(txState, N.DT_FREE, txState + N.DT_SIZE);
      for (let k = 0; k < tx.size; k++) s(txState, N.DT_SIZE + 4 * k, tx.size - 1 - k);
      s(txState, N.DT_NFREE, tx.size);
      s(txState, N.DT_SLOTS, txSlots.table);
      s(txState, N.DT_NSLOTS, txSlots.count);
      s(txState, N.DT_REQ, txBatch.ptr);
      s(txState, N.DT_COMPL, tx.driver.completions.byteOffset);
      const pair = new NetQueuePair(i, rx, tx, rxSlots, txSlots, rxState, txState, rxBatch, txBatch, pktOut, txLens);
      this.pairs.push(pair);
      this.access.onQueueInterrupt(2 * i, () => this.counters.queueInterrupts++);
      this.access.onQueueInterrupt(2 * i + 1, () => this.counters.queueInterrupts++);
    }
    if (this.ctrlVq) {
      this.ctrlBuf = this.alloc(64);
      this.ctrlDma = {
        out: this.premap(this.ctrlBuf, 32, DmaDirection.TO_DEVICE),
        ack: this.premap(this.ctrlBuf + 32, 1, DmaDirection.FROM_DEVICE),
      };
      this.access.onQueueInterrupt(this.ctrlIndex, () => this.counters.queueInterrupts++);
    }
    const want = options.queuePairs ?? this.maxPairs;
    if (!Number.isInteger(want) || want < 1) {
      throw new ConfigError(`net queuePairs ${want}: must be a whole number of at least 1`);
    }
    const use = Math.min(want, this.setUpPairs);
    for (let i = 0; i < use; i++) this.fillRx(i);
    if (use > 1 && hasFeature(this.features, NetFeature.MQ)) this.setQueuePairs(use);
  }

  /** Posts every free RX buffer of pair `i` (try_fill_recv). */
  private fillRx(i: number): void {
    const p = this.pairs[i]!;
    const b = p.rxBatch.clear();
    for (let k = 0; k < p.rxSlots.count; k++) {
      b.add([], [{ addr: p.rxSlots.dma[k]!, len: p.rxSlots.bufBytes }], k);
    }
    p.rx.driver.addBatch(b);
    p.rxPosted = p.rxSlots.count;
    this.kick(p.rx, 2 * i);
  }

  private kick(q: Virtqueue, index: number): void {
    if (q.driver.kick()) {
      this.counters.kicks++;
      this.access.notify(index);
    }
  }

  /**
   * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (virtnet_set_queues). Returns true when the
   * device acked OK; the driver then uses `n` pairs.
   */
  setQueuePairs(n: number): boolean {
    const ok = this.ctrlCommand(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, [n & 0xff, (n >> 8) & 0xff]);
    if (ok) {
      const before = this.activePairs;
      this.activePairs = n;
      for (let i = before; i < Math.min(n, this.pairs.length); i++) if (this.pairs[i]!.rxPosted === 0) this.fillRx(i);
    }
    return ok;
  }

  /** Sends one control command and waits for its ack (virtnet_send_command). */
  ctrlCommand(cls: number, cmd: number, data: readonly number[]): boolean {
    const q = this.ctrlVq;
    if (!q) throw new NetDriverError('CTRL_NO_QUEUE', 'virtio-net: no control queue negotiated', 'user');
    const v = this.mem.view;
    const at = this.mem.linear(this.ctrlBuf, 64);
    v.setUint8(at, cls);
    v.setUint8(at + 1, cmd);
    data.forEach((b, k) => v.setUint8(at + 2 + k, b));
    v.setUint8(at + 32, 0xff);
    const len = 2 + data.length;
    if (this.needSync) {
      this.dma.syncForDevice(this.ctrlDma.out, len, DmaDirection.TO_DEVICE);
      this.dma.syncForDevice(this.ctrlDma.ack, 1, DmaDirection.FROM_DEVICE);
    }
    if (!q.driver.add([{ addr: this.ctrlDma.out, len }], [{ addr: this.ctrlDma.ack, len: 1 }], 0)) {
      throw new NetDriverError('CTRL_NO_ANSWER', 'virtio-net: control queue full');
    }
    this.kick(q, this.ctrlIndex);
    const done = q.driver.getUsed();
    if (done.length === 0) {
      throw new NetDriverError('CTRL_NO_ANSWER', `virtio-net: device did not answer control command ${cls}.${cmd}`);
    }
    if (this.needSync) this.dma.syncForCpu(this.ctrlDma.ack, 1, DmaDirection.FROM_DEVICE);
    return v.getUint8(at + 32) === VIRTIO_NET_OK;
  }

  /**
   * The largest frame send() takes, without its virtio header: the MTU (the
   * device's with VIRTIO_NET_F_MTU, else ETH_DATA_LEN) plus the Ethernet
   * header and a VLAN tag. Linux's stack never hands virtio_net a larger one
   * (dev->mtu, dev->hard_header_len); here it is the caller's error.
   */
  get maxFrameBytes(): number {
    return (this.mtu ?? ETH_DATA_LEN) + ETH_FRAME_OVERHEAD;
  }

  private tooBig(bytes: number): NetDriverError {
    return new NetDriverError(
      'NET_FRAME_TOO_BIG',
      `virtio-net: frame of ${bytes} bytes exceeds MTU ${this.mtu ?? ETH_DATA_LEN} + ${ETH_FRAME_OVERHEAD} bytes of header`,
      'user',
    );
  }

  private pair(i: number): NetQueuePair {
    const p = this.pairs[i];
    if (!p) throw new ConfigError(`net pair ${i}: must be from 0 to ${this.pairs.length - 1}`);
    return p;
  }

  /** Sends frames on pair `i` (header + frame in one buffer); returns how many were queued. */
  send(i: number, frames: readonly Uint8Array[]): number {
    const p = this.pair(i);
    const v = this.mem.view;
    const bytes = this.mem.bytes;
    const free = p.txState + N.DT_SIZE;
    const nfree = v.getUint32(p.txState + N.DT_NFREE, true);
    const n = Math.min(frames.length, nfree);
    for (let k = 0; k < n; k++) {
      const f = frames[k]!;
      if (f.length > this.maxFrameBytes) throw this.tooBig(f.length);
      if (VIRTIO_NET_HDR_LEN + f.length > p.txSlots.bufBytes) {
        throw new ConfigError(
          `net send: frame of ${f.length} bytes does not fit a TX buffer of ${p.txSlots.bufBytes} bytes with its header`,
        );
      }
      const slot = v.getUint32(free + 4 * (nfree - 1 - k), true);
      const cpu = v.getUint32(p.txSlots.table + slot * N.SLOT_SIZE + N.SLOT_CPU, true);
      bytes.fill(0, cpu, cpu + VIRTIO_NET_HDR_LEN);
      bytes.set(f, cpu + VIRTIO_NET_HDR_LEN);
      v.setUint32(p.txLens + 4 * k, VIRTIO_NET_HDR_LEN + f.length, true);
      if (this.needSync)
        this.dma.syncForDevice(p.txSlots.dma[slot]!, VIRTIO_NET_HDR_LEN + f.length, DmaDirection.TO_DEVICE);
    }
    v.setUint32(p.txState + N.DT_LENS, p.txLens, true);
    return this.post(p, n, 0);
  }

  /**
   * Sends up to `n` frames of `frameBytes` on pair `i` from the TX buffers as
   * they are (the bench's path: no per-frame JavaScript). Returns how many.
   * `written`: the caller wrote each frame where the device reads it (at the
   * buffer's DMA address: its swiotlb slot), so no sync copies it there (the
   * record layer's zero-copy TX, src/trust/protect/record.ts).
   */
  sendBurst(i: number, n: number, frameBytes: number, written = false): number {
    const p = this.pair(i);
    if (frameBytes > this.maxFrameBytes) throw this.tooBig(frameBytes);
    if (VIRTIO_NET_HDR_LEN + frameBytes > p.txSlots.bufBytes) {
      throw new ConfigError(
        `net sendBurst: frames of ${frameBytes} bytes do not fit TX buffers of ${p.txSlots.bufBytes} bytes`,
      );
    }
    this.mem.view.setUint32(p.txState + N.DT_LENS, 0, true);
    return this.post(p, n, VIRTIO_NET_HDR_LEN + frameBytes, written);
  }

  private post(p: NetQueuePair, n: number, len: number, written = false): number {
    const built = this.mem.core.net_drv_tx_build(p.txState, Math.min(n, p.tx.size), len);
    if (built === 0) return 0;
    p.txBatch.count = built;
    // A burst hands the device what the buffers hold now: sync each one
    // (dma_sync_single_for_device), unless send() did it frame by frame.
    if (this.needSync && len > 0 && !written) this.syncBatch(p.txBatch, built, DmaDirection.TO_DEVICE);
    const added = p.tx.driver.addBatch(p.txBatch);
    if (added < built) {
      // Return what did not fit (cannot happen with one descriptor per slot and slots = queue size).
      throw new ConfigError(`net send: the TX ring took ${added} of ${built} frames`);
    }
    this.counters.txPackets += added;
    this.kick(p.tx, 2 * p.index + 1);
    return added;
  }

  /** Syncs the one buffer of each of the first n requests of a one-buffer batch for the device. */
  private syncBatch(batch: RequestBatch, n: number, dir: DmaDirection): void {
    const v = this.mem.view;
    for (let k = 0, r = batch.ptr; k < n; k++, r += L.REQ_HDR_SIZE + L.SG_SIZE) {
      const sg = r + L.REQ_HDR_SIZE;
      const addr = v.getUint32(sg + L.SG_ADDR, true) + v.getUint32(sg + L.SG_ADDR + 4, true) * 2 ** 32;
      this.dma.syncForDevice(addr, v.getUint32(sg + L.SG_LEN, true), dir);
    }
  }

  /** Reaps TX completions of pair `i` (free_old_xmit); returns how many. */
  reapTx(i: number): number {
    const p = this.pair(i);
    const n = p.tx.driver.reap();
    if (n > 0) this.mem.core.net_drv_tx_reclaim(p.txState, n);
    this.counters.txCompleted += n;
    return n;
  }

  /** Receives on pair `i`: reaps RX, checks, reposts every buffer; returns the frames (copied out). */
  receive(i: number): NetPacket[] {
    const out: NetPacket[] = [];
    try {
      this.receiveInto(i, out);
    } catch (e) {
      // onError 'throw': the good frames of this reap travel with the error (nothing lost).
      if (e instanceof NetDriverError) e.delivered = out;
      throw e;
    }
    return out;
  }

  private receiveInto(i: number, out: NetPacket[]): void {
    this.rx(i, (p, n) => {
      const v = this.mem.view;
      const compl = p.rx.driver.completions;
      for (let k = 0; k < n; k++) {
        const r = p.pktOut + k * N.PK_SIZE;
        const first = v.getUint32(r + N.PK_FIRST, true);
        const nb = v.getUint32(r + N.PK_NBUFS, true);
        const total = v.getUint32(r + N.PK_LEN, true);
        const buf = new Uint8Array(total);
        let off = 0;
        for (let j = 0; j < nb; j++) {
          const token = compl[2 * (first + j)]!;
          const len = compl[2 * (first + j) + 1]!;
          const cpu = v.getUint32(p.rxSlots.table + token * N.SLOT_SIZE + N.SLOT_CPU, true);
          // (Synced for the CPU in rx(), before anything read the buffer.)
          // The CPU reads the frame: a machine check if the device poisoned its page (TDX).
          this.mem.consume(
            p.rxSlots.gpa + (cpu - v.getUint32(p.rxSlots.table + N.SLOT_CPU, true)),
            Math.min(len, p.rxSlots.bufBytes),
          );
          // A naive driver takes the device's length as it is, even past the end of the buffer.
          const end = Math.min(cpu + len, this.mem.bytes.length);
          buf.set(this.mem.bytes.subarray(cpu, end), off);
          off += len;
        }
        const hdr = Math.min(VIRTIO_NET_HDR_LEN, total);
        out.push({ header: buf.slice(0, hdr), data: buf.slice(hdr), buffers: nb });
      }
    });
  }

  /** Receives on pair `i` without copying frames out (the bench's path); returns the frames. */
  receiveCount(i: number): number {
    return this.rx(i, undefined);
  }

  private rx(i: number, take: ((p: NetQueuePair, n: number) => void) | undefined): number {
    const p = this.pair(i);
    const n = p.rx.driver.reap();
    if (n === 0) return 0;
    // dma_sync_single_for_cpu on every buffer reaped, before the driver reads
    // num_buffers or any byte of it (virtnet_receive → page_pool sync): with a
    // bouncing backend the data reaches the buffer only here. The device's
    // length is clamped to the buffer: the sync must not reach past it.
    if (this.needSync) {
      const compl = p.rx.driver.completions;
      for (let k = 0; k < n; k++) {
        const len = Math.min(compl[2 * k + 1]!, p.rxSlots.bufBytes);
        const d = p.rxSlots.dma[compl[2 * k]!];
        if (len > 0 && d !== undefined) this.dma.syncForCpu(d, len, DmaDirection.FROM_DEVICE);
      }
    }
    const v = this.mem.view;
    const st = p.rxState;
    v.setUint32(st + N.DR_N, n, true);
    v.setUint32(st + N.DR_PKT_OUT, take ? p.pktOut : 0, true);
    const pkts = this.mem.core.net_drv_rx(st);
    const bytes = v.getUint32(st + N.DR_BYTES, true);
    this.counters.rxPackets += pkts;
    this.counters.rxBytes += bytes;
    const errs = v.getUint32(st + N.DR_ERRS, true);
    let error: NetDriverError | undefined;
    if (errs > 0) {
      this.counters.rxLengthErrors += errs;
      this.counters.rxLenExceeds = v.getUint32(st + N.DR_CNT_LEN, true);
      this.counters.rxBuffersMissing = v.getUint32(st + N.DR_CNT_MISSING, true);
      this.counters.rxShort = v.getUint32(st + N.DR_CNT_SHORT, true);
      error = this.rxError(
        i,
        v.getUint32(st + N.DR_ERR_CODE, true),
        v.getUint32(st + N.DR_ERR_A, true),
        v.getUint32(st + N.DR_ERR_B, true),
      );
      this.errors.push(error);
      if (this.errors.length > 64) this.errors.shift();
    }
    take?.(p, pkts);
    // Repost every buffer reaped (try_fill_recv).
    p.rxBatch.count = v.getUint32(st + N.DR_REFILL, true);
    if (p.rxBatch.count > 0) {
      p.rx.driver.addBatch(p.rxBatch);
      this.kick(p.rx, 2 * i);
    }
    if (error && this.onError === 'throw') throw error;
    return pkts;
  }

  private rxError(pair: number, code: number, a: number, b: number): NetDriverError {
    const dev = `eth0.rx${pair}`;
    switch (code) {
      case N.NE_LEN_EXCEEDS:
        return new NetDriverError('RX_LEN_EXCEEDS', `${dev}: rx error: len ${a} exceeds max size ${b}`);
      case N.NE_TRUESIZE:
        return new NetDriverError('RX_LEN_EXCEEDS', `${dev}: rx error: len ${a} exceeds truesize ${b}`);
      case N.NE_BUFS_MISSING:
        return new NetDriverError('RX_BUFFERS_MISSING', `${dev}: rx error: ${a} buffers out of ${b} missing`);
      case N.NE_SHORT:
        return new NetDriverError('RX_SHORT', `${dev}: short packet ${a}`);
      default:
        return new NetDriverError('RX_UNKNOWN', `${dev}: rx check ${code} failed (${a}, ${b})`);
    }
  }

  /** Maps a buffer the driver keeps mapped (premapped, as page_pool does), remembered for unmapAll. */
  private premap(gpa: number, len: number, dir: DmaDirection): number {
    const d = this.dma.map(gpa, len, dir);
    this.mapped.push({ dma: d, len, dir });
    return d;
  }

  private unmapAll(): void {
    for (const m of this.mapped) this.dma.unmap(m.dma, m.len, m.dir);
    this.mapped.length = 0;
  }

  private alloc(bytes: number): number {
    const gpa = this.mem.alloc(bytes);
    this.allocated.push(gpa);
    return gpa;
  }

  private freeAll(): void {
    for (const gpa of this.allocated) this.mem.free(gpa);
    this.allocated.length = 0;
  }

  /** Frees the rings the probe allocated (del_vqs), once the device is reset. */
  releaseRings: () => void = () => {};

  /**
   * Resets the device, unmaps every buffer and frees what the driver
   * allocated, rings too (virtnet_remove). `surprise`: the device already
   * left the bus (it can neither be reset nor reach memory any more): no
   * reset; frames in flight are dropped, as on a link loss.
   */
  remove(options: { surprise?: boolean } = {}): void {
    if (!options.surprise) this.access.reset();
    this.unmapAll();
    this.freeAll();
    this.releaseRings();
    this.pairs.length = 0;
  }

  /** The device set NEEDS_RESET after DRIVER_OK (QEMU's virtio_error): it serves nothing until reset. */
  needsReset(): boolean {
    return (this.access.getStatus() & Status.NEEDS_RESET) !== 0;
  }

  /**
   * Brings a device that needs a reset back (virtnet_freeze / virtnet_restore
   * around a reset): remove() (the reset ends the device's ownership of
   * every buffer, which are then unmapped and freed), then a fresh probe with
   * the same options, which posts every RX buffer again. Frames in flight
   * are lost, as on a link reset. Returns the new driver; this one is done.
   */
  recover(): VirtioNetDriver {
    this.remove();
    const next = VirtioNetDriver.probe(this.access, this.mem, this.dma, this.options);
    next.counters.resets = this.counters.resets + 1;
    return next;
  }
}

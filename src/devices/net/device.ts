// A virtio-net device model (VIRTIO 1.2 §5.1), host side: config space as
// struct virtio_net_config, RX/TX queue pairs (VIRTIO_NET_F_MQ), a control
// queue (VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET), mergeable RX
// buffers and link status, with a loopback, sink or source backend. Guest
// memory is reached only through the device's DMA view; per-packet work (the
// payload copies, num_buffers, the used records) runs in Wasm, one call per
// batch (assembly/net/device.ts).
import * as L from '../../../assembly/layout.js';
import * as N from '../../../assembly/net/layout.js';
import type { DmaView } from '../../dma/view.js';
import { ConfigError, DeviceError, toVqsimError, type VqsimError } from '../../errors.js';
import { CounterBlock, registerStats } from '../../memory/stats-registry.js';
import type { ConfigWidth, QueueConfig, VirtioDeviceContext, VirtioDeviceModel } from '../../transport/device-model.js';
import { Feature } from '../../spec/features.js';
import { hasFeature } from '../../virtqueue/features.js';
import { deviceQueueFromAreas, type QueueDevice } from '../../virtqueue/queue.js';
import {
  ETH_DATA_LEN,
  ETH_FRAME_OVERHEAD,
  NetConfig,
  NetFeature,
  VIRTIO_ID_NET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_ERR,
  VIRTIO_NET_HDR_LEN,
  VIRTIO_NET_OK,
  VIRTIO_NET_S_LINK_UP,
} from '../../spec/net.js';

/** Where TX packets go and where RX packets come from. */
export type NetBackend =
  /** A TX packet comes back on the RX queue of the same pair (waiting in the device until RX buffers are posted). */
  | { kind: 'loopback' }
  /** TX frames are read into a device buffer (as a NIC DMAs them), counted and dropped. */
  | { kind: 'sink' }
  /**
   * The device delivers frames of `packetBytes` (without the 12-byte header)
   * to the RX queues of the active pairs whenever buffers are posted; the
   * first 4 payload bytes carry a per-pair sequence number, the rest is
   * `fill` (default: byte i = i & 0xff). `packets` bounds the frames per pair
   * (default: no bound).
   */
  | { kind: 'source'; packetBytes: number; packets?: number; fill?: (payload: Uint8Array) => void };

export interface NetDeviceOptions {
  /** max_virtqueue_pairs; more than one offers VIRTIO_NET_F_MQ. Default 1. */
  queuePairs?: number;
  /** Offer VIRTIO_NET_F_MQ even with one pair (default: queuePairs > 1). */
  mq?: boolean;
  /** Offer a control queue (VIRTIO_NET_F_CTRL_VQ). Default true. */
  ctrlVq?: boolean;
  /** Offer VIRTIO_NET_F_MRG_RXBUF. Default true. */
  mergeable?: boolean;
  /** MAC address (VIRTIO_NET_F_MAC). Default 52:54:00:12:34:56. */
  mac?: readonly number[];
  /** MTU (VIRTIO_NET_F_MTU); undefined offers no MTU. Default 1500. */
  mtu?: number | null;
  /** Offer VIRTIO_NET_F_STATUS (link up). Default true. */
  status?: boolean;
  /** Largest queue size. Default 256. */
  maxQueueSize?: number;
  /** Ring features offered besides VERSION_1. Default RING_PACKED, EVENT_IDX, INDIRECT_DESC. */
  ringFeatures?: readonly number[];
  backend?: NetBackend;
  /** 'notify' (default): work when a doorbell rings. 'manual': the owner calls poll(pair). */
  serve?: 'notify' | 'manual';
  /**
   * The device's name in the stats registry and in queue errors: its blocks
   * are `<name>` (kind net), `<name>.pair<i>` (net-pair) and its rings
   * `<name>.vq<i>`. Default "net".
   */
  name?: string;
}

/** Per queue pair counters (TX counts what the TX queue carried, RX what the RX queue got). */
export interface NetPairCounters {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** RX buffers used (more than rxPackets with mergeable buffers). */
  rxBuffers: number;
  /** Frames dropped: a big-mode RX buffer too small, or an RX buffer without room for the header. */
  drops: number;
  /** TX chains shorter than the 12-byte header (counted and completed). */
  txErrors: number;
  /** TX frames read, counted and dropped (sink and source backends). */
  sinkPackets: number;
  /** TX chains waiting in the device for RX buffers (loopback). */
  txWaiting: number;
  /** RX buffers the device holds, popped and not yet used. */
  rxHeld: number;
}

interface Pair {
  index: number;
  rx: QueueDevice;
  tx: QueueDevice;
  /** Linear addresses of the pair's state block and pools. */
  st: number;
  rxPool: number;
  txPool: number;
}

/** The device-side buffer a sink reads each TX frame into: 64 KiB of frame and its virtio header. */
const SINK_BUF_BYTES = 65536 + VIRTIO_NET_HDR_LEN;

const COUNTER_FIELDS: [keyof NetPairCounters, number][] = [
  ['txPackets', N.NS_TX_PKTS],
  ['txBytes', N.NS_TX_BYTES],
  ['rxPackets', N.NS_RX_PKTS],
  ['rxBytes', N.NS_RX_BYTES],
  ['rxBuffers', N.NS_RX_BUFS],
  ['drops', N.NS_DROPS],
  ['txErrors', N.NS_TX_ERRORS],
  ['sinkPackets', N.NS_SINK_PKTS],
];

export class VirtioNetDevice implements VirtioDeviceModel {
  readonly deviceId = VIRTIO_ID_NET;
  readonly deviceFeatures: bigint;
  readonly numQueues: number;
  readonly maxQueueSize: number;
  readonly configSize = NetConfig.SIZE;
  /** max_virtqueue_pairs as built (the config field may be changed by a test to lie). */
  readonly maxPairs: number;
  /** The config space the driver reads; a test may change it to make the device lie. */
  readonly config = new DataView(new ArrayBuffer(NetConfig.SIZE));
  readonly backend: NetBackend;
  protected ctx!: VirtioDeviceContext;
  private readonly ready = new Map<number, QueueConfig>();
  private pairs: (Pair | undefined)[] = [];
  private ctrl: QueueDevice | undefined;
  private ctrlIndex = -1;
  private features = 0n;
  private readonly mode: 'notify' | 'manual';
  /** Queue pairs in use (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET; 1 until the driver sets it). */
  curPairs = 1;
  readonly name: string;
  /** Device-wide counters (control commands answered), a `net` block in the stats registry. */
  private readonly stats: CounterBlock<'net'>;
  /** Why the device stopped (it needs a reset), if it did: the error, with its code and the side at fault. */
  fault: VqsimError | undefined;
  /** The fault's message. */
  get failure(): string | undefined {
    return this.fault?.message;
  }
  /** TX chains refused as larger than the device takes (NET_TX_FRAME_TOO_BIG): the driver lied. */
  txOversize = 0;

  constructor(
    readonly view: DmaView,
    options: NetDeviceOptions = {},
  ) {
    const pairs = options.queuePairs ?? 1;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) {
      throw new ConfigError(
        `net queuePairs ${pairs}: must be a whole number from 1 to ${VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX}`,
      );
    }
    this.maxPairs = pairs;
    this.name = options.name ?? 'net';
    this.stats = CounterBlock.alloc(view, 'net', this.name);
    this.backend = options.backend ?? { kind: 'loopback' };
    if (this.backend.kind === 'source') {
      const b = this.backend.packetBytes;
      if (!Number.isInteger(b) || b < 1 || b > 65535) {
        throw new ConfigError(`net source packetBytes ${b}: must be a whole number from 1 to 65535`);
      }
    }
    const ctrlVq = options.ctrlVq ?? true;
    const mq = options.mq ?? pairs > 1;
    this.numQueues = 2 * pairs + (ctrlVq ? 1 : 0);
    this.maxQueueSize = options.maxQueueSize ?? 256;
    this.mode = options.serve ?? 'notify';
    const mtu = options.mtu === undefined ? 1500 : options.mtu;
    const bits: number[] = [
      Feature.VERSION_1,
      ...(options.ringFeatures ?? [Feature.RING_PACKED, Feature.EVENT_IDX, Feature.INDIRECT_DESC]),
      NetFeature.MAC,
    ];
    if (options.mergeable ?? true) bits.push(NetFeature.MRG_RXBUF);
    if (options.status ?? true) bits.push(NetFeature.STATUS);
    if (ctrlVq) bits.push(NetFeature.CTRL_VQ);
    if (ctrlVq && mq) bits.push(NetFeature.MQ);
    if (mtu !== null) bits.push(NetFeature.MTU);
    this.deviceFeatures = bits.reduce((f, b) => f | (1n << BigInt(b)), 0n);
    const c = this.config;
    const mac = options.mac ?? [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    if (mac.length !== 6 || mac.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
      throw new ConfigError(`net mac ${mac.join(':')}: must be 6 bytes`);
    }
    mac.forEach((b, i) => c.setUint8(NetConfig.MAC + i, b));
    c.setUint16(NetConfig.STATUS, VIRTIO_NET_S_LINK_UP, true);
    c.setUint16(NetConfig.MAX_VIRTQUEUE_PAIRS, pairs, true);
    c.setUint16(NetConfig.MTU, mtu ?? 0, true);
    c.setUint32(NetConfig.SPEED, 0xffffffff, true); // SPEED_UNKNOWN
    c.setUint8(NetConfig.DUPLEX, 0xff); // DUPLEX_UNKNOWN
  }

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, width: ConfigWidth): number {
    const c = this.config;
    return width === 1 ? c.getUint8(offset) : width === 2 ? c.getUint16(offset, true) : c.getUint32(offset, true);
  }
  /** The driver may not write virtio_net_config (no field is writable without VIRTIO_NET_F_CTRL_MAC_ADDR's legacy path). */
  writeConfig(_offset: number, _width: ConfigWidth, _value: number): void {}

  /** The link goes up or down: the status field changes and the driver gets a config interrupt. */
  setLink(up: boolean): void {
    const s = this.config.getUint16(NetConfig.STATUS, true);
    const next = up ? s | VIRTIO_NET_S_LINK_UP : s & ~VIRTIO_NET_S_LINK_UP;
    if (next === s) return;
    this.config.setUint16(NetConfig.STATUS, next, true);
    this.ctx.configChanged();
  }

  get linkUp(): boolean {
    return (this.config.getUint16(NetConfig.STATUS, true) & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  onQueueReady(index: number, queue: QueueConfig): void {
    this.ready.set(index, queue);
  }

  /** What a worker needs to run queue `index` itself. */
  queueConfig(index: number): QueueConfig | undefined {
    return this.ready.get(index);
  }

  /** Pairs the negotiated features give (1 without VIRTIO_NET_F_MQ). */
  get negotiatedPairs(): number {
    return hasFeature(this.features, NetFeature.MQ) ? this.maxPairs : 1;
  }

  onDriverOk(features: bigint): void {
    this.features = features;
    this.fault = undefined;
    this.curPairs = 1;
    const n = this.negotiatedPairs;
    const mrg = hasFeature(features, NetFeature.MRG_RXBUF);
    this.pairs = [];
    for (let i = 0; i < n; i++) {
      const rx = this.ready.get(2 * i);
      const tx = this.ready.get(2 * i + 1);
      if (rx && tx) this.pairs[i] = this.buildPair(i, rx, tx, mrg);
    }
    this.ctrlIndex = hasFeature(features, NetFeature.CTRL_VQ) ? 2 * n : -1;
    const c = this.ready.get(this.ctrlIndex);
    this.ctrl = c ? this.face(c, this.ctrlIndex) : undefined;
  }

  private face(q: QueueConfig, index: number): QueueDevice {
    return deviceQueueFromAreas(
      this.view,
      {
        ring: q.ring,
        size: q.size,
        desc: Number(q.desc),
        driver: Number(q.driver),
        device: Number(q.device),
        eventIdx: q.eventIdx,
        indirect: q.indirect,
      },
      { name: `${this.name}.vq${index}` },
    );
  }

  private pool(recCap: number, elemCap: number): number {
    const v = this.view;
    const p = v.hostAlloc(N.POOL_SIZE);
    const hv = v.hostView;
    hv.setUint32(p + N.POOL_REC, v.hostAlloc(recCap * N.PR_SIZE), true);
    hv.setUint32(p + N.POOL_ELEM, v.hostAlloc(elemCap * N.PE_SIZE), true);
    hv.setUint32(p + N.POOL_REC_CAP, recCap, true);
    hv.setUint32(p + N.POOL_ELEM_CAP, elemCap, true);
    return p;
  }

  private buildPair(i: number, rxq: QueueConfig, txq: QueueConfig, mrg: boolean): Pair {
    const rx = this.face(rxq, 2 * i);
    const tx = this.face(txq, 2 * i + 1);
    const v = this.view;
    const hv = v.hostView;
    const st = v.hostAlloc(N.NS_SIZE);
    // The pair's counters are in its Wasm state block, written by net_run: name that block.
    registerStats(v.hostView.buffer, 'net-pair', `${this.name}.pair${i}`, st);
    const rxPool = this.pool(rxq.size, 2 * Math.max(4 * rxq.size, 1024));
    const txPool = this.pool(txq.size, 2 * Math.max(4 * txq.size, 1024));
    const b = this.backend;
    const set = (off: number, val: number) => hv.setUint32(st + off, val, true);
    set(
      N.NS_MODE,
      b.kind === 'sink' ? N.NET_MODE_SINK : b.kind === 'loopback' ? N.NET_MODE_LOOPBACK : N.NET_MODE_SOURCE,
    );
    set(N.NS_FLAGS, mrg ? N.NET_FLAG_MRG : 0);
    set(N.NS_CTX, v.dmaContext);
    if (b.kind !== 'loopback') {
      // A sink (and a source, for what the guest sends it) reads every TX frame
      // into this buffer before dropping it, as a NIC DMAs a frame before its
      // wire: the largest frame without segmentation offloads, and its header.
      set(N.NS_SINK_BUF, v.hostAlloc(SINK_BUF_BYTES));
      set(N.NS_SINK_CAP, SINK_BUF_BYTES);
    }
    set(N.NS_RXPOOL, rxPool);
    set(N.NS_TXPOOL, txPool);
    set(N.NS_TX_USED, tx.popOut);
    set(N.NS_RX_USED, rx.popOut);
    set(N.NS_TX_USED_CAP, txq.size);
    set(N.NS_RX_USED_CAP, rxq.size);
    if (b.kind === 'source') {
      const len = VIRTIO_NET_HDR_LEN + b.packetBytes;
      const tmpl = v.hostAlloc(len);
      const payload = v.bytesAt(tmpl + VIRTIO_NET_HDR_LEN, b.packetBytes);
      if (b.fill) b.fill(payload);
      else for (let k = 0; k < payload.length; k++) payload[k] = k & 0xff;
      // A pool element whose iovec is the host template (it never came from the guest).
      set(N.NS_SRC_ELEM + N.PE_LINEAR, tmpl);
      set(N.NS_SRC_ELEM + N.PE_LEN, len);
      set(N.NS_SRC_LEFT, b.packets === undefined ? 0xffffffff : Math.min(b.packets, 0xfffffffe));
    }
    return { index: i, rx, tx, st, rxPool, txPool };
  }

  onNotify(index: number): void {
    if (this.mode === 'manual' || this.failure !== undefined) return;
    if (index === this.ctrlIndex) this.serveCtrl();
    else this.poll(index >> 1);
  }

  /**
   * Runs queue pair `pair` once: pops what the driver posted on both queues,
   * moves every packet it can, pushes the used buffers and interrupts as the
   * queues ask. Returns the packets handled (TX chains completed, or frames
   * sourced).
   */
  poll(pair: number): number {
    const p = this.pairs[pair];
    if (!p || this.failure !== undefined) return 0;
    const core = this.view.core;
    try {
      const rxN = p.rx.popBatch();
      if (rxN > 0) this.stash(p.rxPool, p.rx, rxN, 1, 2 * pair);
      const txN = p.tx.popBatch();
      if (txN > 0) this.checkTxSizes(p.tx, txN, 2 * pair + 1);
      const hv = this.view.hostView;
      if (hv.getUint32(p.st + N.NS_MODE, true) === N.NET_MODE_SOURCE && pair >= this.curPairs) {
        if (txN > 0) this.stash(p.txPool, p.tx, txN, 0, 2 * pair + 1);
        return 0;
      }
      // TX chains go to net_run straight from the pop output; it stashes what must wait.
      hv.setUint32(p.st + N.NS_TXIN_N, txN, true);
      hv.setUint32(p.st + N.NS_TXIN_CHAINS, p.tx.popChains, true);
      const done = core.net_run(p.st);
      if (done < 0) this.stashFailed(done, 2 * pair + 1);
      const txUsed = hv.getUint32(p.st + N.NS_TX_USED_N, true);
      const rxUsed = hv.getUint32(p.st + N.NS_RX_USED_N, true);
      if (rxUsed > 0) {
        p.rx.pushPopped(rxUsed);
        if (p.rx.shouldNotify()) this.ctx.raiseQueueInterrupt(2 * pair);
      }
      if (txUsed > 0) {
        p.tx.pushPopped(txUsed);
        if (p.tx.shouldNotify()) this.ctx.raiseQueueInterrupt(2 * pair + 1);
      }
      return done;
    } catch (e) {
      this.fail(e);
      return 0;
    }
  }

  /**
   * The largest TX chain the device takes: the virtio header and a frame of
   * the negotiated MTU (ETH_DATA_LEN without VIRTIO_NET_F_MTU) plus the
   * Ethernet header and a VLAN tag. No GSO feature is offered, so a driver
   * may not send more (VIRTIO 1.2 §5.1.6.2: the driver MUST NOT send a
   * packet larger than the MTU unless it negotiated a GSO feature).
   */
  get maxTxChainBytes(): number {
    const mtu = hasFeature(this.features, NetFeature.MTU) ? this.config.getUint16(NetConfig.MTU, true) : ETH_DATA_LEN;
    return VIRTIO_NET_HDR_LEN + mtu + ETH_FRAME_OVERHEAD;
  }

  /**
   * Each popped TX chain against maxTxChainBytes, before any of it is read
   * (tun_get_user's "if (len > ...) return -EINVAL"; Firecracker's
   * FrameTooBig): one larger is the driver's lie, counted (txOversize), and
   * the device stops and asks for a reset, as QEMU's virtio_error does for a
   * TX chain it cannot take.
   */
  private checkTxSizes(q: QueueDevice, n: number, index: number): void {
    const hv = this.view.hostView;
    const max = this.maxTxChainBytes;
    const elems = q.popElementsAt;
    let e = 0;
    for (let k = 0; k < n; k++) {
      const end = hv.getUint32(q.popOut + k * L.POP_SIZE + L.POP_ELEM_END, true);
      let bytes = 0;
      for (; e < end; e++) bytes += hv.getUint32(elems + e * L.ELEM_SIZE + L.ELEM_LEN, true);
      if (bytes > max) {
        this.txOversize++;
        throw new DeviceError(
          'NET_TX_FRAME_TOO_BIG',
          `virtio-net: queue ${index}: TX packet of ${bytes} bytes exceeds ${max} (header + MTU + 18)`,
          'driver',
        );
      }
    }
  }

  private stash(pool: number, q: QueueDevice, n: number, write: number, index: number): void {
    const rc = this.view.core.net_stash(pool, q.popOut, n, q.popChains, write);
    if (rc < 0) this.stashFailed(rc, index);
  }

  private stashFailed(rc: number, index: number): never {
    if (rc === -1) {
      throw new DeviceError(
        'NET_POOL_EXHAUSTED',
        `virtio-net: queue ${index}: more buffers in flight than the device pool holds`,
        'device',
      );
    }
    throw new DeviceError(
      'ADDRESS_OUTSIDE_GUEST_RAM',
      `virtio-net: queue ${index}: a buffer lies outside guest RAM`,
      'driver',
    );
  }

  private fail(e: unknown): void {
    this.fault = toVqsimError(e, 'DEVICE_INTERNAL');
    this.ctx.needsReset(this.fault);
  }

  /** VIRTIO 1.2 §5.1.6.5: class, command, data (device-readable), then the ack byte (device-writable). */
  private serveCtrl(): void {
    const q = this.ctrl;
    if (!q) return;
    const before = this.curPairs;
    try {
      const chains = q.pop();
      if (chains.length === 0) return;
      const used: { id: number; len: number }[] = [];
      for (const c of chains) {
        const ack = c.writable[0];
        if (!ack || c.readBytes < 2) {
          used.push({ id: c.id, len: 0 });
          continue;
        }
        const bytes = new Uint8Array(c.readBytes);
        let off = 0;
        for (const b of c.readable) {
          bytes.set(this.view.read(Number(b.addr), b.len), off);
          off += b.len;
        }
        const status = this.ctrlCommand(bytes[0]!, bytes[1]!, bytes.subarray(2));
        this.stats.add(status === VIRTIO_NET_OK ? 'ctrlOk' : 'ctrlErr');
        this.view.writeU8(Number(ack.addr), status);
        used.push({ id: c.id, len: 1 });
      }
      q.push(used);
      if (q.shouldNotify()) this.ctx.raiseQueueInterrupt(this.ctrlIndex);
    } catch (e) {
      this.fail(e);
    }
    // A NIC starts on a queue pair once it is enabled: the driver posted its
    // RX buffers before MQ_VQ_PAIRS_SET (virtnet_probe, then virtnet_set_queues)
    // and will not kick those queues again until it reaps something, so take
    // the buffers in (and, as a source, fill them) now.
    for (let p = before; p < this.curPairs; p++) this.poll(p);
  }

  /** One control command; returns VIRTIO_NET_OK or VIRTIO_NET_ERR. */
  protected ctrlCommand(cls: number, cmd: number, data: Uint8Array): number {
    if (cls === VIRTIO_NET_CTRL_MQ && cmd === VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
      if (!hasFeature(this.features, NetFeature.MQ) || data.length < 2) return VIRTIO_NET_ERR;
      const n = data[0]! | (data[1]! << 8);
      if (n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > this.maxPairs) return VIRTIO_NET_ERR;
      this.curPairs = n;
      return VIRTIO_NET_OK;
    }
    return VIRTIO_NET_ERR;
  }

  /** Control commands answered, by ack. */
  get ctrlCounters(): { ok: number; err: number } {
    const c = this.stats.read();
    return { ok: c.ctrlOk, err: c.ctrlErr };
  }

  /**
   * A copy of the last TX frame a sink (or source) backend of pair `pair`
   * read, with its virtio header, up to `bytes` bytes; empty for loopback.
   */
  lastSinkFrame(pair: number, bytes: number): Uint8Array {
    const p = this.pairs[pair];
    if (!p) return new Uint8Array(0);
    const hv = this.view.hostView;
    const buf = hv.getUint32(p.st + N.NS_SINK_BUF, true);
    const n = Math.min(bytes, hv.getUint32(p.st + N.NS_SINK_CAP, true));
    return new Uint8Array(hv.buffer, buf, n).slice();
  }

  /** Counters of queue pair `pair` (zeros before DRIVER_OK). */
  counters(pair: number): NetPairCounters {
    const p = this.pairs[pair];
    const out = {} as NetPairCounters;
    const hv = this.view.hostView;
    for (const [k, off] of COUNTER_FIELDS) out[k] = p ? Number(hv.getBigUint64(p.st + off, true)) : 0;
    out.txWaiting = p ? pending(hv, p.txPool) : 0;
    out.rxHeld = p ? pending(hv, p.rxPool) : 0;
    return out;
  }

  /** Counters summed over the pairs. */
  totals(): NetPairCounters {
    const sum = this.counters(-1);
    for (let i = 0; i < this.pairs.length; i++) {
      const c = this.counters(i);
      for (const k of Object.keys(sum) as (keyof NetPairCounters)[]) sum[k] += c[k];
    }
    return sum;
  }

  /** Pairs the device runs (those whose two queues the driver enabled). */
  get pairCount(): number {
    return this.pairs.length;
  }

  onReset(): void {
    this.ready.clear();
    this.pairs = [];
    this.ctrl = undefined;
    this.ctrlIndex = -1;
    this.features = 0n;
    this.curPairs = 1;
  }
}

function pending(hv: DataView, pool: number): number {
  return hv.getUint32(pool + N.POOL_N, true) - hv.getUint32(pool + N.POOL_HEAD, true);
}

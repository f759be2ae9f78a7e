import * as L from '../../assembly/layout.js';
import * as P from '../../assembly/packed/layout.js';
import { VqsimError } from '../errors.js';

/** One end of a virtqueue: the driver or the device. */
export type Side = 'driver' | 'device';

interface ErrorInfo {
  code: string;
  /** The face whose check fails: the driver's (the device lied) or the device's (the driver lied). */
  face: Side;
  /** True when the other side broke the protocol: the queue is then marked broken. */
  violation: boolean;
  /**
   * Who committed it, where that is not the other side: a pop refused because
   * the device's own TDISP interface is in ERROR is the device's doing.
   */
  culprit?: Side;
  /** True for a limit of the simulator itself (side 'host'), not a check of either end. */
  host?: boolean;
  message: (a: number, b: number) => string;
}

// Messages are the ones Linux (virtio_ring.c BAD_RING), QEMU (virtio_error) or
// vhost (vq_err) print for the same condition, so a log reads like the real one.
const table = new Map<number, ErrorInfo>([
  [
    L.E_BROKEN,
    {
      code: 'QUEUE_BROKEN',
      face: 'driver',
      violation: false,
      message: () => 'virtqueue is broken (-EIO): an earlier check failed',
    },
  ],
  [
    L.E_USED_ID_RANGE,
    { code: 'USED_ID_OUT_OF_RANGE', face: 'driver', violation: true, message: (a) => `id ${a} out of range` },
  ],
  [
    L.E_USED_ID_NOT_HEAD,
    { code: 'USED_ID_NOT_A_HEAD', face: 'driver', violation: true, message: (a) => `id ${a} is not a head!` },
  ],
  [
    L.E_USED_IDX_JUMP,
    {
      code: 'USED_IDX_JUMP',
      face: 'driver',
      violation: true,
      // Linux prints nothing for this (it does not check); the message is in
      // the style of its BAD_RING lines.
      message: (a, b) => `used idx moved from ${a} to ${b}: more than the buffers in flight`,
    },
  ],
  [
    L.E_USED_LEN,
    {
      code: 'USED_LEN_EXCEEDS_BUFLEN',
      face: 'driver',
      violation: true,
      message: (a, b) => `used len ${a} is larger than in buflen ${b}`,
    },
  ],
  [
    L.E_REQ_EMPTY,
    {
      code: 'EMPTY_CHAIN',
      face: 'driver',
      violation: false,
      message: (a) => `request ${a}: a chain needs at least one buffer`,
    },
  ],
  [
    L.E_REQ_ZERO_LEN,
    {
      code: 'ZERO_LENGTH_BUFFER',
      face: 'driver',
      violation: false,
      message: (a, b) => `request ${a}, buffer ${b}: zero-length buffers are not allowed`,
    },
  ],
  [
    L.E_REQ_ADDR,
    {
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      face: 'driver',
      violation: false,
      message: (a, b) => `request ${a}, buffer ${b}: address outside guest RAM`,
    },
  ],
  [
    L.E_REQ_TOO_LONG,
    {
      code: 'CHAIN_TOO_LONG',
      face: 'driver',
      violation: false,
      message: (a, b) => `request ${a}: chain of ${b} buffers is longer than the queue`,
    },
  ],
  [
    L.E_AVAIL_IDX_JUMP,
    {
      code: 'AVAIL_IDX_JUMP',
      face: 'device',
      violation: true,
      message: (a, b) => `Guest moved used index from ${a} to ${b}`,
    },
  ],
  [
    L.E_AVAIL_HEAD_RANGE,
    {
      code: 'AVAIL_HEAD_OUT_OF_RANGE',
      face: 'device',
      violation: true,
      message: (a) => `Guest says index ${a} is available`,
    },
  ],
  [
    L.E_DESC_NEXT_RANGE,
    { code: 'DESC_NEXT_OUT_OF_RANGE', face: 'device', violation: true, message: (a) => `Desc next is ${a}` },
  ],
  [
    L.E_DESC_LOOP,
    {
      code: 'DESC_LOOP',
      face: 'device',
      violation: true,
      message: (a) => `Looped descriptor (chain at head ${a} is longer than the queue)`,
    },
  ],
  [
    L.E_ZERO_LEN,
    {
      code: 'ZERO_LENGTH_BUFFER',
      face: 'device',
      violation: true,
      message: () => 'virtio: zero sized buffers are not allowed',
    },
  ],
  [
    L.E_ADDR_RANGE,
    {
      code: 'ADDRESS_OUTSIDE_GUEST_RAM',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `virtio: bogus descriptor or out of resources (address 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)})`,
    },
  ],
  [
    L.E_DMA_UNMAPPED,
    {
      code: 'DMA_UNMAPPED',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `IOTLB miss: no mapping for the descriptor's address 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)} in the device's DMA context`,
    },
  ],
  [
    L.E_DMA_PERM,
    {
      code: 'DMA_PERMISSION',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `IOMMU permission fault: the mapping at 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)} does not allow the descriptor's direction`,
    },
  ],
  [
    L.E_DMA_PRIVATE,
    {
      code: 'DMA_PRIVATE_PAGE',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `descriptor at 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)} points into a private (encrypted) page the device may not touch`,
    },
  ],
  [
    L.E_DMA_RMP,
    {
      code: 'DMA_RMP_VIOLATION',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `RMP violation: SEV-SNP refuses the device write to guest-owned page at 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)}`,
    },
  ],
  [
    L.E_DMA_BLOCKED,
    {
      code: 'DMA_BLOCKED',
      face: 'device',
      violation: true,
      culprit: 'device',
      message: () => "the device's DMA is blocked (its TDISP interface is in ERROR)",
    },
  ],
  [
    L.E_DMA_STAGE,
    {
      code: 'DMA_STAGING_FULL',
      face: 'device',
      violation: true,
      message: () => 'one batch reached more private-page bytes than the ciphertext staging ring holds',
    },
  ],
  [
    L.E_INDIRECT_MAP,
    {
      code: 'INDIRECT_NOT_CONTIGUOUS',
      face: 'device',
      violation: true,
      message: (a, b) =>
        `Cannot map indirect buffer (table at 0x${((BigInt(b) << 32n) | BigInt(a)).toString(16)} is not contiguous in guest memory)`,
    },
  ],
  [
    L.E_INDIRECT_LEN,
    {
      code: 'INDIRECT_BAD_LENGTH',
      face: 'device',
      violation: true,
      message: (a) => `Invalid size for indirect buffer table (${a} bytes, not a non-zero multiple of 16)`,
    },
  ],
  [
    L.E_INDIRECT_NESTED,
    { code: 'INDIRECT_NESTED', face: 'device', violation: true, message: () => 'Nested indirect descriptor' },
  ],
  [
    L.E_INDIRECT_NOT_NEGOTIATED,
    {
      code: 'INDIRECT_NOT_NEGOTIATED',
      face: 'device',
      violation: true,
      message: () => 'indirect descriptor without VIRTIO_F_INDIRECT_DESC',
    },
  ],
  [
    L.E_DESC_ORDER,
    { code: 'DESC_ORDER', face: 'device', violation: true, message: () => 'Incorrect order for descriptors' },
  ],
  [
    L.E_INDIRECT_TOO_BIG,
    {
      code: 'INDIRECT_TOO_BIG',
      face: 'device',
      violation: true,
      message: (a) => `Indirect buffer length too big (${a} bytes, more descriptors than the queue size)`,
    },
  ],
  [
    L.E_CHAIN_LEN_OVERFLOW,
    { code: 'CHAIN_LENGTH_OVERFLOW', face: 'device', violation: true, message: () => 'chain length overflows 32 bits' },
  ],
  [
    L.E_INFLIGHT,
    { code: 'VIRTQUEUE_SIZE_EXCEEDED', face: 'device', violation: true, message: () => 'Virtqueue size exceeded' },
  ],
  [
    L.E_TOO_MANY_WRITE_DESCS,
    {
      code: 'TOO_MANY_DESCRIPTORS',
      face: 'device',
      violation: true,
      message: () => 'virtio: too many write descriptors in indirect table',
    },
  ],
  [
    L.E_NAIVE_BUDGET,
    {
      code: 'NAIVE_WALK_BUDGET',
      face: 'device',
      violation: false,
      host: true,
      message: (a, b) =>
        `unchecked chain at head ${a} still going after ${b} descriptors: the simulator stopped a walk the naive device would never end`,
    },
  ],
  [
    L.E_PUSH_ID_RANGE,
    {
      code: 'PUSH_ID_OUT_OF_RANGE',
      face: 'device',
      violation: false,
      message: (a) => `used id ${a} is not a descriptor of this queue`,
    },
  ],
  [
    L.E_POP_OUTPUT,
    {
      code: 'POP_OUTPUT_TOO_SMALL',
      face: 'device',
      violation: false,
      message: (a) => `pop output holds ${a} buffers, too few for one chain`,
    },
  ],
]);

/**
 * An error from a virtqueue operation, with the name Linux or QEMU would print.
 * `side` is who committed the fault (VqsimError's meaning): for a violation the
 * other end, which broke the protocol; for a broken queue the other end too,
 * whose earlier violation broke it; for a request the queue refuses (an empty
 * chain, a push of an id not held) the end that asked. `detectedBy` is the end
 * whose face raised it.
 */
export class VirtqueueError extends VqsimError {
  declare readonly side: Side | 'host';
  /** The face that raised it: the driver's (add, reap) or the device's (pop, push). */
  readonly detectedBy: Side;
  /** True when the other side broke the protocol and the queue is now broken. */
  readonly violation: boolean;
  /** How many items of the batch were done (and stay done) before the error. */
  readonly done: number;
  /** What the batch delivered before the error (completions for a reap). */
  readonly partial: readonly unknown[];
  /**
   * `side` is the face that raised it; codes both faces can raise (a broken
   * queue) need it, the others know their face.
   */
  constructor(
    queue: string,
    numeric: number,
    a: number,
    b: number,
    done: number,
    partial: readonly unknown[] = [],
    side?: Side,
  ) {
    const info = table.get(numeric);
    const code = info?.code ?? `E${numeric}`;
    const detectedBy = side ?? info?.face ?? 'driver';
    const violation = info?.violation ?? false;
    const other: Side = detectedBy === 'driver' ? 'device' : 'driver';
    super(
      code,
      `${queue}: ${info ? info.message(a, b) : `error ${numeric}`}`,
      info?.host ? 'host' : (info?.culprit ?? (violation || numeric === L.E_BROKEN ? other : detectedBy)),
    );
    this.name = 'VirtqueueError';
    this.detectedBy = detectedBy;
    this.violation = violation;
    this.done = done;
    this.partial = partial;
  }
}

// ---- Packed ring (assembly/packed/layout.ts, codes 60-79) ----
table.set(P.E_USED_WRAP, {
  code: 'USED_WRAP_MISMATCH',
  face: 'driver',
  violation: true,
  message: (a, b) =>
    `used descriptor ${a} has flags 0x${b.toString(16)}: AVAIL/USED do not match the used wrap counter`,
});
table.set(P.E_AVAIL_ID_IN_USE, {
  code: 'AVAIL_ID_IN_USE',
  face: 'device',
  violation: true,
  message: (a) => `Guest says buffer id ${a} is available while it is in use`,
});
table.set(P.E_PUSH_NOT_INFLIGHT, {
  code: 'PUSH_ID_NOT_IN_FLIGHT',
  face: 'device',
  violation: false,
  message: (a) => `used id ${a} is not a buffer the device holds`,
});
table.set(P.E_PUSH_OUT_OF_ORDER, {
  code: 'PUSH_OUT_OF_ORDER',
  face: 'device',
  violation: false,
  message: (a, b) => `VIRTIO_F_IN_ORDER: used id ${a} pushed out of order (buffer id ${b} was popped first)`,
});

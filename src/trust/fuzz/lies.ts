// What a lying device writes, on either ring layout: it lets the honest
// device model write its used elements, then rewrites what it just wrote
// (the id, the len, the packed flags) or scribbles on the areas it owns
// (used idx, event suppression). Everything goes through an accessor, so a
// machine's device lies through its own DMA view (and can be refused there)
// while the ring fuzzer writes guest memory directly.
import * as L from '../../../assembly/layout.js';
import * as P from '../../../assembly/packed/layout.js';
import type { RingKind } from '../../virtqueue/queue.js';
import type { FuzzRandom } from './random.js';

/** Where a ring lies, in the addresses its accessor takes. */
export interface RingWindow {
  readonly ring: RingKind;
  readonly size: number;
  /** Split: descriptor table; packed: descriptor ring. */
  readonly desc: number;
  /** Split: avail ring; packed: driver event suppression area. */
  readonly driver: number;
  /** Split: used ring; packed: device event suppression area. */
  readonly device: number;
  read(addr: number, len: number): Uint8Array;
  write(addr: number, bytes: Uint8Array): void;
}

/** The bytes the device writes its used elements into: the used ring (split, VIRTIO 1.2 §2.7.8) or the descriptor ring (packed, §2.8.21). */
export function usedArea(w: RingWindow): { addr: number; len: number; elem: number } {
  if (w.ring === 'split') {
    return { addr: w.device + L.VRING_USED_RING, len: L.VRING_USED_ELEM_SIZE * w.size, elem: L.VRING_USED_ELEM_SIZE };
  }
  return { addr: w.desc, len: P.PDESC_SIZE * w.size, elem: P.PDESC_SIZE };
}

/** A copy of the used area, to find what the device writes next. */
export function snapshotUsed(w: RingWindow): Uint8Array {
  const a = usedArea(w);
  return w.read(a.addr, a.len);
}

/** Slots of the used area that changed since `before`. */
export function writtenSlots(w: RingWindow, before: Uint8Array): number[] {
  const a = usedArea(w);
  const now = w.read(a.addr, a.len);
  const out: number[] = [];
  for (let k = 0; k < w.size; k++) {
    for (let i = k * a.elem; i < (k + 1) * a.elem; i++) {
      if (now[i] !== before[i]) {
        out.push(k);
        break;
      }
    }
  }
  return out;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v & 0xffff, true);
  return b;
}
function readU32(w: RingWindow, addr: number): number {
  const b = w.read(addr, 4);
  return new DataView(b.buffer, b.byteOffset).getUint32(0, true);
}
function readU16(w: RingWindow, addr: number): number {
  const b = w.read(addr, 2);
  return new DataView(b.buffer, b.byteOffset).getUint16(0, true);
}

/**
 * Rewrites the used element the device just wrote in slot `slot`: with
 * `outOfRange`, its id becomes one past the queue (Linux: "id %u out of
 * range"); otherwise a random field gets a value a liar likes.
 */
export function rewriteUsed(w: RingWindow, slot: number, r: FuzzRandom, outOfRange = false): string {
  const a = usedArea(w);
  const at = a.addr + slot * a.elem;
  if (w.ring === 'split') {
    const id = at; // struct vring_used_elem { le32 id; le32 len; }
    const len = at + 4;
    if (outOfRange || r.chance(0.5)) {
      const v = outOfRange ? w.size + r.int(0, 1000) : r.lie(readU32(w, id) >= w.size ? w.size : readU32(w, id) + 1);
      w.write(id, u32(v));
      return `used[${slot}].id = ${v}`;
    }
    const v = r.lie(readU32(w, len) + 1);
    w.write(len, u32(v));
    return `used[${slot}].len = ${v}`;
  }
  const field = outOfRange ? 0 : r.int(0, 2);
  if (field === 0) {
    const v = outOfRange ? w.size + r.int(0, Math.min(1000, 0xffff - w.size)) : r.lie(w.size, 16);
    w.write(at + P.PDESC_ID, u16(v));
    return `desc[${slot}].id = ${v}`;
  }
  if (field === 1) {
    const v = r.lie(readU32(w, at + P.PDESC_LEN) + 1);
    w.write(at + P.PDESC_LEN, u32(v));
    return `desc[${slot}].len = ${v}`;
  }
  const v =
    readU16(w, at + P.PDESC_FLAGS) ^ r.pick([P.PDESC_F_AVAIL, P.PDESC_F_USED, P.PDESC_F_NEXT, P.PDESC_F_INDIRECT]);
  w.write(at + P.PDESC_FLAGS, u16(v));
  return `desc[${slot}].flags = 0x${v.toString(16)}`;
}

/**
 * A lie of the device that needs no element of its own: the used idx moved
 * (split), a stale or forged used descriptor (packed), or its event
 * suppression area scribbled on.
 */
export function deviceScribble(w: RingWindow, r: FuzzRandom): string {
  if (w.ring === 'split') {
    switch (r.int(0, 3)) {
      case 0: {
        const idx = readU16(w, w.device + L.VRING_USED_IDX);
        const v = (idx + r.int(-2, w.size + 2)) & 0xffff;
        w.write(w.device + L.VRING_USED_IDX, u16(v));
        return `used.idx ${idx} -> ${v}`;
      }
      case 1: {
        const slot = r.int(0, w.size - 1);
        const at = w.device + L.VRING_USED_RING + slot * L.VRING_USED_ELEM_SIZE;
        w.write(at, u32(r.lie(w.size)));
        w.write(at + 4, u32(r.lie(4096)));
        return `used[${slot}] forged`;
      }
      case 2: {
        const v = r.int(0, 0xffff);
        w.write(w.device + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * w.size, u16(v));
        return `avail_event = ${v}`;
      }
      default: {
        const v = r.int(0, 3);
        w.write(w.device + L.VRING_USED_FLAGS, u16(v));
        return `used.flags = ${v}`;
      }
    }
  }
  if (r.chance(0.5)) {
    const slot = r.int(0, w.size - 1);
    const at = w.desc + slot * P.PDESC_SIZE;
    const flags = r.pick([0, P.PDESC_F_AVAIL | P.PDESC_F_USED, P.PDESC_F_AVAIL, P.PDESC_F_USED]);
    w.write(at + P.PDESC_ID, u16(r.lie(w.size, 16)));
    w.write(at + P.PDESC_LEN, u32(r.lie(4096)));
    w.write(at + P.PDESC_FLAGS, u16(flags));
    return `desc[${slot}] forged used (flags 0x${flags.toString(16)})`;
  }
  const v = r.u32();
  w.write(w.device + P.PEVENT_OFF_WRAP, u32(v));
  return `device event area = 0x${v.toString(16)}`;
}

/**
 * A lie of the driver: a descriptor field, the avail idx or a head (split),
 * a descriptor's flags, id, len or address (packed), or the driver's event
 * suppression area. It points descriptors anywhere below `ram`, at the
 * edges of RAM and of the address space, or just around an address in
 * `near` (the ends of what the device was granted).
 */
export function driverScribble(w: RingWindow, r: FuzzRandom, ram: number, near: readonly number[]): string {
  const addr = () => r.pick([r.int(0, ram), ram - 8, 0xffffffff, r.u32(), Math.max(0, r.pick(near) + r.int(-64, 64))]);
  const slot = r.int(0, w.size - 1);
  const at = w.desc + slot * 16;
  if (w.ring === 'split') {
    switch (r.int(0, 5)) {
      case 0: {
        const v = addr();
        w.write(at + L.VRING_DESC_ADDR, u32(v));
        if (r.chance(0.2)) w.write(at + L.VRING_DESC_ADDR + 4, u32(r.int(1, 0xffff)));
        return `desc[${slot}].addr = 0x${v.toString(16)}`;
      }
      case 1: {
        const v = r.lie(16 * (w.size + 1));
        w.write(at + L.VRING_DESC_LEN, u32(v));
        return `desc[${slot}].len = ${v}`;
      }
      case 2: {
        const v = r.int(0, 7);
        w.write(at + L.VRING_DESC_FLAGS, u16(v));
        return `desc[${slot}].flags = ${v}`;
      }
      case 3: {
        const v = r.lie(w.size, 16);
        w.write(at + L.VRING_DESC_NEXT, u16(v));
        return `desc[${slot}].next = ${v}`;
      }
      case 4: {
        const idx = readU16(w, w.driver + L.VRING_AVAIL_IDX);
        const v = (idx + r.int(-3, w.size + 3)) & 0xffff;
        w.write(w.driver + L.VRING_AVAIL_IDX, u16(v));
        return `avail.idx ${idx} -> ${v}`;
      }
      default: {
        const s = r.int(0, w.size - 1);
        const v = r.lie(w.size, 16);
        w.write(w.driver + L.VRING_AVAIL_RING + 2 * s, u16(v));
        return `avail.ring[${s}] = ${v}`;
      }
    }
  }
  switch (r.int(0, 4)) {
    case 0: {
      const v = addr();
      w.write(at + P.PDESC_ADDR, u32(v));
      return `desc[${slot}].addr = 0x${v.toString(16)}`;
    }
    case 1: {
      const v = r.lie(16 * (w.size + 1));
      w.write(at + P.PDESC_LEN, u32(v));
      return `desc[${slot}].len = ${v}`;
    }
    case 2: {
      const v = r.lie(w.size, 16);
      w.write(at + P.PDESC_ID, u16(v));
      return `desc[${slot}].id = ${v}`;
    }
    case 3: {
      const v =
        readU16(w, at + P.PDESC_FLAGS) ^
        r.pick([P.PDESC_F_AVAIL, P.PDESC_F_USED, P.PDESC_F_NEXT, P.PDESC_F_WRITE, P.PDESC_F_INDIRECT]);
      w.write(at + P.PDESC_FLAGS, u16(v));
      return `desc[${slot}].flags = 0x${v.toString(16)}`;
    }
    default: {
      const v = r.u32();
      w.write(w.driver + P.PEVENT_OFF_WRAP, u32(v));
      return `driver event area = 0x${v.toString(16)}`;
    }
  }
}

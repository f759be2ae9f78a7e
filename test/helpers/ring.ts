import {
  ReferencePackedEngine,
  ReferenceSplitEngine,
  deviceQueueFromAreas,
  queueAreas,
  type DeviceHost,
  type GuestMemory,
  type QueueDevice,
  type RingKind,
  type Virtqueue,
} from '../../src/internal.js';

/** VIRTIO 1.2 §2.7.10 / linux/virtio_ring.h vring_need_event(), written from the spec for tests. */
export function needEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** mulberry32: a small seeded generator, so every run of a test is the same. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi] from a generator. */
export function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/**
 * A popped buffer as the device's direct DMA context makes it: the DMA
 * address (= guest physical), the length, and where the context placed it.
 */
export function iov(
  mem: { linear(gpa: number, len?: number): number },
  addr: number,
  len: number,
): { addr: number; len: number; linear: number } {
  return { addr, len, linear: mem.linear(addr, len) };
}

/**
 * The device face of a driver-only queue (createQueue with deviceFace:
 * false), built from its areas through `host`, as a transport's device
 * would, on the Wasm core or on the reference model over the same memory.
 */
export function deviceFaceOf(
  mem: GuestMemory,
  q: Virtqueue,
  host: DeviceHost,
  engine: 'wasm' | 'reference',
  ring: { ring: RingKind; size: number; eventIdx: boolean; indirect: boolean },
  name: string,
): QueueDevice {
  const e =
    engine === 'wasm'
      ? undefined
      : ring.ring === 'split'
        ? new ReferenceSplitEngine(mem.memory)
        : new ReferencePackedEngine(mem.memory);
  return deviceQueueFromAreas(host, { ...ring, ...queueAreas(q) }, { engine: e, name });
}

import * as L from '../../../assembly/layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';

/** A split descriptor as it lies in the ring or an indirect table (VIRTIO 1.2 §2.7.5). */
export interface RawDescriptor {
  addr: number | bigint;
  len: number;
  flags: number;
  next: number;
}

/** What a mock needs to find a split ring: a SplitQueue has all of it. */
export interface SplitRingTarget {
  readonly mem: GuestMemory;
  readonly size: number;
  /** Guest physical addresses of the descriptor table, avail ring and used ring. */
  readonly areas: { desc: number; avail: number; used: number };
}

/**
 * A raw writer over a split ring in guest memory, after rust-vmm's
 * MockSplitQueue: it plays a misbehaving driver (descriptors, avail ring,
 * avail idx and flags, used_event) or a misbehaving device (used ring, used
 * idx and flags, avail_event) and bypasses every check of the queue. Only
 * guest RAM bounds are enforced (by GuestMemory). Field names follow the spec.
 *
 * Nothing here touches the driver's private shadow or the device's state: the
 * next call into the queue sees the ring as written and must defend itself.
 */
export class MockSplitQueue {
  readonly mem: GuestMemory;
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;

  constructor(target: SplitRingTarget) {
    this.mem = target.mem;
    this.size = target.size;
    this.desc = target.areas.desc;
    this.avail = target.areas.avail;
    this.used = target.areas.used;
  }

  // ---- descriptor table (driver-written) ----

  /** Reads descriptor `index` of the ring's table (no range check against the queue size). */
  readDesc(index: number): RawDescriptor & { addr: bigint } {
    return readDescAt(this.mem, this.desc + index * L.VRING_DESC_SIZE);
  }

  /** Writes descriptor `index`; fields left out keep their current value. */
  writeDesc(index: number, d: Partial<RawDescriptor>): void {
    writeDescAt(this.mem, this.desc + index * L.VRING_DESC_SIZE, d);
  }

  /** Writes a descriptor table anywhere in guest RAM (an indirect table), entry k at gpa + 16k. */
  writeTable(gpa: number, descs: readonly RawDescriptor[]): void {
    descs.forEach((d, k) => writeDescAt(this.mem, gpa + k * L.VRING_DESC_SIZE, d));
  }

  // ---- avail ring (driver-written) ----

  get availFlags(): number {
    return this.mem.readU16(this.avail + L.VRING_AVAIL_FLAGS);
  }
  set availFlags(v: number) {
    this.mem.writeU16(this.avail + L.VRING_AVAIL_FLAGS, v & 0xffff);
  }
  get availIdx(): number {
    return this.mem.readU16(this.avail + L.VRING_AVAIL_IDX);
  }
  set availIdx(v: number) {
    this.mem.writeU16(this.avail + L.VRING_AVAIL_IDX, v & 0xffff);
  }
  /** avail->ring[slot], slot in [0, size). */
  availRing(slot: number): number {
    return this.mem.readU16(this.avail + L.VRING_AVAIL_RING + 2 * slot);
  }
  setAvailRing(slot: number, head: number): void {
    this.mem.writeU16(this.avail + L.VRING_AVAIL_RING + 2 * slot, head & 0xffff);
  }
  /** used_event: the u16 after avail->ring[size] (VIRTIO 1.2 §2.7.10). */
  get usedEvent(): number {
    return this.mem.readU16(this.avail + L.VRING_AVAIL_RING + 2 * this.size);
  }
  set usedEvent(v: number) {
    this.mem.writeU16(this.avail + L.VRING_AVAIL_RING + 2 * this.size, v & 0xffff);
  }
  /** Makes `head` available as a driver would: ring[idx % size] = head, then idx + 1. */
  addAvail(head: number): void {
    const idx = this.availIdx;
    this.setAvailRing(idx % this.size, head);
    this.availIdx = idx + 1;
  }

  // ---- used ring (device-written) ----

  get usedFlags(): number {
    return this.mem.readU16(this.used + L.VRING_USED_FLAGS);
  }
  set usedFlags(v: number) {
    this.mem.writeU16(this.used + L.VRING_USED_FLAGS, v & 0xffff);
  }
  get usedIdx(): number {
    return this.mem.readU16(this.used + L.VRING_USED_IDX);
  }
  set usedIdx(v: number) {
    this.mem.writeU16(this.used + L.VRING_USED_IDX, v & 0xffff);
  }
  /** used->ring[slot] as {id, len}, slot in [0, size). */
  usedRing(slot: number): { id: number; len: number } {
    const at = this.used + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * slot;
    return { id: this.mem.readU32(at), len: this.mem.readU32(at + 4) };
  }
  setUsedRing(slot: number, elem: { id: number; len: number }): void {
    const at = this.used + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * slot;
    this.mem.writeU32(at, elem.id >>> 0);
    this.mem.writeU32(at + 4, elem.len >>> 0);
  }
  /** avail_event: the u16 after used->ring[size]. */
  get availEvent(): number {
    return this.mem.readU16(this.used + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * this.size);
  }
  set availEvent(v: number) {
    this.mem.writeU16(this.used + L.VRING_USED_RING + L.VRING_USED_ELEM_SIZE * this.size, v & 0xffff);
  }
  /** Returns a used element as a device would: ring[idx % size] = {id, len}, then idx + 1. */
  addUsed(id: number, len: number): void {
    const idx = this.usedIdx;
    this.setUsedRing(idx % this.size, { id, len });
    this.usedIdx = idx + 1;
  }
}

function readDescAt(mem: GuestMemory, gpa: number): RawDescriptor & { addr: bigint } {
  return {
    addr: mem.readU64(gpa + L.VRING_DESC_ADDR),
    len: mem.readU32(gpa + L.VRING_DESC_LEN),
    flags: mem.readU16(gpa + L.VRING_DESC_FLAGS),
    next: mem.readU16(gpa + L.VRING_DESC_NEXT),
  };
}

function writeDescAt(mem: GuestMemory, gpa: number, d: Partial<RawDescriptor>): void {
  if (d.addr !== undefined) mem.writeU64(gpa + L.VRING_DESC_ADDR, BigInt.asUintN(64, BigInt(d.addr)));
  if (d.len !== undefined) mem.writeU32(gpa + L.VRING_DESC_LEN, d.len >>> 0);
  if (d.flags !== undefined) mem.writeU16(gpa + L.VRING_DESC_FLAGS, d.flags & 0xffff);
  if (d.next !== undefined) mem.writeU16(gpa + L.VRING_DESC_NEXT, d.next & 0xffff);
}

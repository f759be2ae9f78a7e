// The sector crypt layer for virtio-blk (issue #11, end-to-end protection):
// what dm-crypt and dm-integrity do under a guest's file system, so that a
// device that reads the disk sees ciphertext and a device that changes or
// replays a sector makes the read fail with a named error instead of
// returning garbage.
//
// - Encryption: AES-256-XTS per crypt sector (512 or 4096 bytes, cryptsetup's
//   --sector-size), the tweak being dm-crypt's plain64 IV: the 512-byte
//   sector number, little-endian, zero-padded to 16 bytes
//   (crypt_iv_plain64_gen, drivers/md/dm-crypt.c).
// - Integrity: a tag per crypt sector, HMAC-SHA256 over the sector number,
//   the guest's write counter for that sector and the ciphertext, kept on the
//   device beside the data as dm-integrity keeps its metadata: every 4 KiB of
//   data (8 sectors) is followed by one tag sector holding the tags of its
//   crypt sectors (dm-integrity's interleaved metadata sectors), so a request
//   carries its data and its tags in one contiguous transfer.
// - Freshness: a tag alone cannot tell an old write from the current one (the
//   device could serve the old ciphertext with its old tag, both genuine).
//   The guest keeps a 32-bit write counter per crypt sector in its private
//   memory (which the device cannot reach in a confidential VM), bumps it on
//   every write and binds it into the tag. A read verifies the tag against
//   the guest's counter; a tag that verifies only against the older counter
//   the device stored beside it is a replay. The counters are the state a
//   real guest would have to persist (sealed to its measurement, or in a
//   Merkle tree whose root it keeps); vqsim keeps them for the machine's life.
//   A sector never written since the layer was set up reads as zeros whatever
//   the device returns (dm-integrity formats its tags at creation).
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { BlkDriver } from '../../drivers/blk/driver.js';
import { ConfigError } from '../../errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { CounterBlock } from '../../memory/stats-registry.js';
import { BlkStatus, SECTOR_SIZE } from '../../spec/blk.js';
import { ProtectError } from './errors.js';
import { deriveKey, masterFromSeed } from './keys.js';

/** Data bytes of one group: 8 sectors, then their tag sector on the device. */
export const GROUP_BYTES = 4096;
/** Device sectors of one group (8 data, 1 tag). */
export const GROUP_DEVICE_SECTORS = GROUP_BYTES / SECTOR_SIZE + 1;
/** Device bytes of one group. */
export const GROUP_DEVICE_BYTES = GROUP_DEVICE_SECTORS * SECTOR_SIZE;
/** One tag: the write counter the device stores (u32 LE), 4 reserved bytes, the HMAC-SHA256. */
export const TAG_ENTRY_BYTES = 40;
const MAC_BYTES = 32;

export interface SectorCryptOptions {
  /** The volume's master secret (≥ 16 bytes). Default: derived from `seed`. */
  master?: Uint8Array;
  /** Seed of the master secret when none is given (default 1). */
  seed?: number;
  /** Bytes of a crypt sector: 512 or 4096 (default 4096, cryptsetup's --sector-size 4096). */
  sectorBytes?: 512 | 4096;
  /** Prefix of the layer's stats block (`<name>.protect`). Default "blk". */
  name?: string;
}

export interface SectorCryptCounters {
  /** Crypt sectors encrypted and tagged, and checked and decrypted. */
  sealed: number;
  opened: number;
  /** Crypt sectors read that were never written (read as zeros, unchecked). */
  unwritten: number;
}

/** Device bytes of a request of `bytes` data bytes (a multiple of 4096): the data and its tag sectors. */
export function protectedDeviceBytes(bytes: number): number {
  return (bytes / GROUP_BYTES) * GROUP_DEVICE_BYTES;
}

/**
 * dm-crypt + dm-integrity for one virtio-blk disk of `deviceSectors`
 * sectors: the guest sees `sectors` data sectors (whole groups), requests
 * aligned to 4 KiB.
 */
export class SectorCrypt {
  readonly sectorBytes: 512 | 4096;
  /** Groups of 4 KiB that fit the device. */
  readonly groups: number;
  /** Data sectors (512 bytes) the guest sees. */
  readonly sectors: number;
  readonly counters: SectorCryptCounters = { sealed: 0, opened: 0, unwritten: 0 };
  private readonly xtsKey: Uint8Array;
  private readonly macKey: Uint8Array;
  /** The write counter of each crypt sector, in guest-private memory. */
  private readonly writes: Uint32Array;
  private readonly perGroup: number;
  private readonly iv = Buffer.alloc(16);
  private readonly macHead = Buffer.alloc(12);

  constructor(
    readonly mem: GuestMemory,
    deviceSectors: number,
    options: SectorCryptOptions = {},
  ) {
    const sb = options.sectorBytes ?? 4096;
    if (sb !== 512 && sb !== 4096) throw new ConfigError(`protect sectorBytes ${String(sb)}: must be 512 or 4096`);
    this.sectorBytes = sb;
    this.perGroup = GROUP_BYTES / sb;
    this.groups = Math.floor(deviceSectors / GROUP_DEVICE_SECTORS);
    if (this.groups < 1) {
      throw new ConfigError(`protect: a disk of ${deviceSectors} sectors holds no 4 KiB group with its tag sector`);
    }
    this.sectors = this.groups * (GROUP_BYTES / SECTOR_SIZE);
    const master = options.master ?? masterFromSeed(options.seed ?? 1);
    this.xtsKey = deriveKey(master, 'sector xts key', 64);
    this.macKey = deriveKey(master, 'sector integrity key', 32);
    // kmalloc'd guest memory: private in a confidential VM.
    const n = this.groups * this.perGroup;
    const gpa = mem.alloc(n * 4);
    mem.fill(gpa, n * 4, 0);
    this.writes = new Uint32Array(mem.bytes.buffer, mem.linear(gpa, n * 4), n);
    this.stats = CounterBlock.alloc(mem, 'protect', `${options.name ?? 'blk'}.protect`);
  }

  /** The layer's block in the stats registry (what the cost model charges as encryption). */
  private readonly stats: CounterBlock<'protect'>;

  /** The device sector where the group holding data sector `sector` starts. */
  deviceSector(sector: number): number {
    return (sector / (GROUP_BYTES / SECTOR_SIZE)) * GROUP_DEVICE_SECTORS;
  }

  private checkRange(what: string, sector: number, bytes: number): void {
    if (
      !Number.isInteger(sector) ||
      sector < 0 ||
      sector % (GROUP_BYTES / SECTOR_SIZE) !== 0 ||
      !Number.isInteger(bytes) ||
      bytes < GROUP_BYTES ||
      bytes % GROUP_BYTES !== 0 ||
      sector + bytes / SECTOR_SIZE > this.sectors
    ) {
      throw new ConfigError(
        `protected ${what} of ${bytes} bytes at sector ${sector}: must be whole 4 KiB groups within ${this.sectors} sectors`,
      );
    }
  }

  private mac(sector: number, count: number, ct: Uint8Array): Buffer {
    const h = this.macHead;
    h.writeUInt32LE(sector >>> 0, 0);
    h.writeUInt32LE(Math.floor(sector / 2 ** 32), 4);
    h.writeUInt32LE(count, 8);
    return createHmac('sha256', this.macKey).update(h).update(ct).digest();
  }

  private tweak(sector: number): Buffer {
    // plain64: the 512-byte sector number, little-endian, zero-padded.
    this.iv.writeUInt32LE(sector >>> 0, 0);
    this.iv.writeUInt32LE(Math.floor(sector / 2 ** 32), 4);
    return this.iv;
  }

  /**
   * Encrypts and tags `plain` (whole groups) for data sector `sector`,
   * writing the device image (data, then the tag sector, per group) into
   * `out` at `at`; bumps each crypt sector's write counter.
   */
  sealInto(sector: number, plain: Uint8Array, out: Uint8Array, at = 0): void {
    this.checkRange('write', sector, plain.length);
    const sb = this.sectorBytes;
    const groups = plain.length / GROUP_BYTES;
    if (at + groups * GROUP_DEVICE_BYTES > out.length) throw new ConfigError('protected write: output too small');
    for (let g = 0; g < groups; g++) {
      const dst = at + g * GROUP_DEVICE_BYTES;
      const tags = dst + GROUP_BYTES;
      out.fill(0, tags, tags + SECTOR_SIZE);
      for (let k = 0; k < this.perGroup; k++) {
        const off = g * GROUP_BYTES + k * sb;
        const s = sector + off / SECTOR_SIZE;
        const idx = (s * SECTOR_SIZE) / sb;
        const count = this.writes[idx]! + 1;
        if (count > 0xffffffff) throw new ConfigError(`protected write: sector ${s} written 2^32 times: re-key`);
        this.writes[idx] = count;
        const c = createCipheriv('aes-256-xts', this.xtsKey, this.tweak(s));
        const ct = c.update(plain.subarray(off, off + sb));
        c.final();
        out.set(ct, dst + k * sb);
        const e = tags + k * TAG_ENTRY_BYTES;
        new DataView(out.buffer, out.byteOffset + e, 8).setUint32(0, count, true);
        out.set(this.mac(s, count, ct), e + 8);
      }
    }
    this.counters.sealed += groups * this.perGroup;
    this.stats.f.sectorsSealed.add(groups * this.perGroup);
    this.stats.f.bytesSealed.add(groups * GROUP_BYTES);
  }

  /**
   * Takes back the counter bumps of a sealInto whose write never reached the
   * device (the request could not be queued), so that the sectors' current
   * images stay the ones expected.
   */
  revert(sector: number, bytes: number): void {
    this.checkRange('write', sector, bytes);
    const first = (sector * SECTOR_SIZE) / this.sectorBytes;
    for (let i = 0; i < bytes / this.sectorBytes; i++) this.writes[first + i]!--;
    this.counters.sealed -= bytes / this.sectorBytes;
  }

  /**
   * Checks and decrypts the device image `dev` (whole groups, as sealInto
   * lays them out) read for data sector `sector` into `out` at `at`. Throws
   * PROTECT_SECTOR_INTEGRITY or PROTECT_SECTOR_REPLAY at the first crypt
   * sector that fails; `out` then holds nothing of it or after it.
   */
  openInto(sector: number, dev: Uint8Array, out: Uint8Array, at = 0): void {
    const groups = dev.length / GROUP_DEVICE_BYTES;
    // (A device image that is not whole groups gives a fractional size: refused here.)
    this.checkRange('read', sector, groups * GROUP_BYTES);
    const sb = this.sectorBytes;
    for (let g = 0; g < groups; g++) {
      const src = g * GROUP_DEVICE_BYTES;
      const tags = src + GROUP_BYTES;
      for (let k = 0; k < this.perGroup; k++) {
        const off = g * GROUP_BYTES + k * sb;
        const s = sector + off / SECTOR_SIZE;
        const want = this.writes[(s * SECTOR_SIZE) / sb]!;
        if (want === 0) {
          out.fill(0, at + off, at + off + sb);
          this.counters.unwritten++;
          continue;
        }
        const ct = dev.subarray(src + k * sb, src + (k + 1) * sb);
        const e = tags + k * TAG_ENTRY_BYTES;
        const stored = new DataView(dev.buffer, dev.byteOffset + e, 8).getUint32(0, true);
        const tag = dev.subarray(e + 8, e + 8 + MAC_BYTES);
        if (!timingSafeEqual(this.mac(s, want, ct), tag)) {
          if (stored < want && stored > 0 && timingSafeEqual(this.mac(s, stored, ct), tag)) {
            throw new ProtectError(
              'PROTECT_SECTOR_REPLAY',
              `integrity: sector ${s}: stale data (write ${stored} served, write ${want} expected)`,
            );
          }
          throw new ProtectError(
            'PROTECT_SECTOR_INTEGRITY',
            `device-mapper: integrity: Checksum failed at sector 0x${s.toString(16)}`,
          );
        }
        const d = createDecipheriv('aes-256-xts', this.xtsKey, this.tweak(s));
        out.set(d.update(ct), at + off);
        d.final();
      }
    }
    this.counters.opened += groups * this.perGroup;
    this.stats.f.sectorsOpened.add(groups * this.perGroup);
    this.stats.f.bytesOpened.add(groups * GROUP_BYTES);
  }

  /** The largest data request one driver request carries (data and tags within maxIoBytes). */
  maxRequestBytes(driver: BlkDriver): number {
    return Math.floor(driver.maxIoBytes / GROUP_DEVICE_BYTES) * GROUP_BYTES;
  }

  /** Writes `data` (whole groups) at data sector `sector` through `driver`, a request at a time; returns the status. */
  write(driver: BlkDriver, sector: number, data: Uint8Array, q = 0): number {
    this.checkRange('write', sector, data.length);
    const step = this.maxRequestBytes(driver);
    for (let off = 0; off < data.length; off += step) {
      const part = data.subarray(off, Math.min(data.length, off + step));
      const img = new Uint8Array(protectedDeviceBytes(part.length));
      const s = sector + off / SECTOR_SIZE;
      this.sealInto(s, part, img);
      const status = driver.write(this.deviceSector(s), img, q);
      if (status !== BlkStatus.OK) {
        // The device refused the write: the guest expects the images it had.
        this.revert(s, part.length);
        return status;
      }
    }
    return BlkStatus.OK;
  }

  /** Reads `bytes` (whole groups) at data sector `sector` through `driver`; checks and decrypts them. */
  read(driver: BlkDriver, sector: number, bytes: number, q = 0): { status: number; data: Uint8Array } {
    this.checkRange('read', sector, bytes);
    const data = new Uint8Array(bytes);
    const step = this.maxRequestBytes(driver);
    for (let off = 0; off < bytes; off += step) {
      const len = Math.min(bytes - off, step);
      const s = sector + off / SECTOR_SIZE;
      const r = driver.read(this.deviceSector(s), protectedDeviceBytes(len), q);
      if (r.status !== BlkStatus.OK) return { status: r.status, data: new Uint8Array(0) };
      this.openInto(s, r.data, data, off);
    }
    return { status: BlkStatus.OK, data };
  }
}

// Backing stores of a virtio-blk device. Both keep their bytes outside the
// device model, so a device (or the worker thread it runs on) can die and a
// new one open the same store:
//
// - memory: a region of the machine's shared WebAssembly.Memory (its buffer is
//   a SharedArrayBuffer) in the host area, outside guest RAM. Payload copies to
//   and from it are Wasm copies (dma_copy_batch), batched per popped chain set.
// - file: a real file, positional reads and writes straight between guest
//   buffers and the file (no bounce), fsync on FLUSH.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import type { DeviceHost } from '../../virtqueue/device-host.js';
import { SECTOR_SIZE } from '../../spec/blk.js';

/** What it takes to open the same store again (on another thread, after a crash). */
export type BlkBackendDesc =
  { kind: 'memory'; at: number; bytes: number } | { kind: 'file'; path: string; bytes: number };

export interface BlkBackend {
  readonly kind: 'memory' | 'file';
  /** Size of the store in bytes (capacity × 512). */
  readonly bytes: number;
  /** Memory backend: linear address of byte 0 of the store, for batched Wasm copies. */
  readonly linearBase?: number;
  /** Copies `len` bytes at store offset `pos` to linear address `dst`. */
  read(pos: number, dst: number, len: number): void;
  /** Copies `len` bytes from linear address `src` to store offset `pos`; in the store when it returns. */
  write(pos: number, src: number, len: number): void;
  /** Zeroes [pos, pos + len). */
  zero(pos: number, len: number): void;
  /** Makes every completed write durable (file: fsync). */
  flush(): void;
  /**
   * Optional observer: the server calls it once bytes [pos, pos + len) are
   * in the store after a batched Wasm copy (the memory backend's writes do
   * not go through write()). For tools and tests that watch the order of
   * completion; nothing calls it when it is absent.
   */
  stored?(pos: number, len: number): void;
  describe(): BlkBackendDesc;
  close(): void;
}

function checkBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < SECTOR_SIZE || bytes % SECTOR_SIZE !== 0) {
    throw new ConfigError(
      `blk backing store of ${bytes} bytes: must be a whole number of 512-byte sectors, at least one`,
    );
  }
}

/** A store in the shared memory's host area. */
export class MemoryBackend implements BlkBackend {
  readonly kind = 'memory' as const;
  private readonly bytesView: Uint8Array;

  private constructor(
    private readonly host: Pick<DeviceHost, 'core' | 'bytesAt'>,
    readonly linearBase: number,
    readonly bytes: number,
  ) {
    this.bytesView = host.bytesAt(linearBase, bytes);
  }

  /** Reserves a zeroed store of `bytes` in the host area (GuestMemory.hostAlloc / DmaView.hostAlloc). */
  static create(host: Pick<DeviceHost, 'core' | 'bytesAt' | 'hostAlloc'>, bytes: number): MemoryBackend {
    checkBytes(bytes);
    return new MemoryBackend(host, host.hostAlloc(bytes, 4096), bytes);
  }

  /** Opens a store made earlier (same memory, possibly another thread). */
  static open(host: Pick<DeviceHost, 'core' | 'bytesAt'>, desc: { at: number; bytes: number }): MemoryBackend {
    checkBytes(desc.bytes);
    return new MemoryBackend(host, desc.at, desc.bytes);
  }

  read(pos: number, dst: number, len: number): void {
    this.host.core.dma_copy(dst, this.linearBase + pos, len);
  }
  write(pos: number, src: number, len: number): void {
    this.host.core.dma_copy(this.linearBase + pos, src, len);
  }
  zero(pos: number, len: number): void {
    this.bytesView.fill(0, pos, pos + len);
  }
  flush(): void {}
  /** The store's bytes (a view over the shared memory), for tests and tools. */
  contents(): Uint8Array {
    return this.bytesView;
  }
  describe(): BlkBackendDesc {
    return { kind: 'memory', at: this.linearBase, bytes: this.bytes };
  }
  close(): void {}
}

/** A store in a real file, read and written at positions; FLUSH is fsync. */
export class FileBackend implements BlkBackend {
  readonly kind = 'file' as const;
  private fd: number | undefined;
  readonly bytes: number;
  /** fsync calls made (FLUSH requests). */
  fsyncs = 0;

  /**
   * Opens (creating when missing) `path`. With `bytes` the file is grown to
   * that size (never shrunk); without it, the file's size is the capacity.
   */
  constructor(
    /** The bytes of an iovec or host block (DeviceHost.bytesAt): where reads land and writes come from. */
    private readonly bytesAt: (at: number, len: number) => Uint8Array,
    readonly path: string,
    bytes?: number,
  ) {
    const fd = openSync(path, 'a+');
    closeSync(fd);
    this.fd = openSync(path, 'r+');
    const size = fstatSync(this.fd).size;
    const want = bytes ?? size;
    checkBytes(want);
    if (size < want) ftruncateSync(this.fd, want);
    this.bytes = want;
  }

  private handle(): number {
    if (this.fd === undefined) throw new ConfigError(`blk file backend ${this.path}: closed`);
    return this.fd;
  }

  read(pos: number, dst: number, len: number): void {
    const fd = this.handle();
    const view = this.bytesAt(dst, len);
    let done = 0;
    while (done < len) {
      const n = readSync(fd, view, done, len - done, pos + done);
      if (n === 0) {
        view.fill(0, done);
        break;
      }
      done += n;
    }
  }
  write(pos: number, src: number, len: number): void {
    const fd = this.handle();
    const view = this.bytesAt(src, len);
    let done = 0;
    while (done < len) done += writeSync(fd, view, done, len - done, pos + done);
  }
  zero(pos: number, len: number): void {
    const fd = this.handle();
    const zeros = new Uint8Array(Math.min(len, 1 << 20));
    for (let done = 0; done < len;) {
      const n = Math.min(zeros.length, len - done);
      writeSync(fd, zeros, 0, n, pos + done);
      done += n;
    }
  }
  flush(): void {
    fsyncSync(this.handle());
    this.fsyncs++;
  }
  describe(): BlkBackendDesc {
    return { kind: 'file', path: this.path, bytes: this.bytes };
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Opens the store a description names, over `host`'s memory. */
export function openBackend(host: Pick<DeviceHost, 'core' | 'bytesAt'>, desc: BlkBackendDesc): BlkBackend {
  return desc.kind === 'memory'
    ? MemoryBackend.open(host, desc)
    : new FileBackend((at, len) => host.bytesAt(at, len), desc.path, desc.bytes);
}

// A device host whose own memory comes from an arena reserved up front: a
// worker thread attached to the machine's memory has no host allocator of its
// own (a second bump allocator would hand out the same addresses), so the
// thread that starts it reserves the arena and the worker allocates in it.
import { GuestMemoryError } from '../../errors.js';
import type { DeviceCore, DeviceHost } from '../../virtqueue/device-host.js';

export class ArenaHost implements DeviceHost {
  private next: number;
  readonly hostView: DataView;
  readonly core: DeviceCore;
  readonly dmaContext: number;

  constructor(
    private readonly inner: DeviceHost,
    readonly at: number,
    readonly bytes: number,
  ) {
    this.next = at;
    this.hostView = inner.hostView;
    this.core = inner.core;
    this.dmaContext = inner.dmaContext;
  }

  bytesAt(at: number, len: number): Uint8Array {
    return this.inner.bytesAt(at, len);
  }

  linear(dma: number, len: number, write: boolean): number {
    return this.inner.linear(dma, len, write);
  }

  hostAlloc(bytes: number, align = 128): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + bytes > this.at + this.bytes) {
      throw new GuestMemoryError(
        'OUT_OF_HOST_MEMORY',
        `device arena exhausted: ${bytes} bytes asked, ${this.at + this.bytes - at} left of ${this.bytes}`,
        'host',
      );
    }
    this.next = at + bytes;
    this.inner.bytesAt(at, bytes).fill(0);
    return at;
  }
}

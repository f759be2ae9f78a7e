// A device host whose own memory comes from an arena reserved up front by the
// thread that starts a device worker: the arena bounds what the worker's
// device may take, and its blocks sit together. (Any thread may also take
// host blocks straight from GuestMemory.hostAlloc: the bump pointer is shared
// through the machine's config block.)
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

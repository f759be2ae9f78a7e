// A device host whose own memory comes from an arena reserved up front by the
// thread that starts a device worker: the arena bounds what the worker's
// device may take, and its blocks sit together. (Any thread may also take
// host blocks straight from GuestMemory.hostAlloc: the bump pointer is shared
// through the machine's config block.)
import type { DeviceHost } from '../../virtqueue/device-host.js';
import type { WasmCore } from '../../memory/wasm-core.js';

export class ArenaHost implements DeviceHost {
  private next: number;
  readonly hostView: DataView;
  readonly core: WasmCore;
  readonly memory: WebAssembly.Memory;

  constructor(
    private readonly inner: Pick<DeviceHost, 'linear' | 'hostView' | 'core' | 'memory'>,
    readonly at: number,
    readonly bytes: number,
  ) {
    this.next = at;
    this.hostView = inner.hostView;
    this.core = inner.core;
    this.memory = inner.memory;
  }

  linear(dma: number, len: number, write: boolean): number {
    return this.inner.linear(dma, len, write);
  }

  hostAlloc(bytes: number, align = 128): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + bytes > this.at + this.bytes) {
      throw new RangeError(
        `device arena exhausted: ${bytes} bytes asked, ${this.at + this.bytes - at} left of ${this.bytes}`,
      );
    }
    this.next = at + bytes;
    new Uint8Array(this.memory.buffer, at, bytes).fill(0);
    return at;
  }
}

import type { WasmCore } from '../memory/wasm-core.js';
import type { EngineName } from './engine.js';
import { ReferenceSplitEngine } from './reference/split.js';

/**
 * What a device needs to run its side of a queue: the checked translation of
 * its DMA accesses (the DMA view implements it), and host memory of its own
 * for state, stats and pop output. A device never gets GuestMemory.
 */
export interface DeviceHost {
  /** Linear address of a device access of `len` bytes at DMA address `dma`, or a thrown DMA fault. */
  linear(dma: number, len: number, write: boolean): number;
  /** Reserves zeroed host memory (outside guest RAM); returns its linear address. */
  hostAlloc(bytes: number, align?: number): number;
  /** A view of the linear memory, for the device's own host-side blocks. */
  readonly hostView: DataView;
  readonly core: WasmCore;
  readonly memory: WebAssembly.Memory;
}

/** What a device face of a ring needs from its owner, whoever built it. */
export interface DeviceFaceOwner<E> {
  readonly mem: { readonly view: DataView };
  readonly engine: E;
  readonly name: string;
  readonly size: number;
}

/** The areas a driver programmed through the transport, in DMA addresses. */
export interface ProgrammedRing {
  size: number;
  /** Descriptor area. */
  desc: number;
  /** Driver area: the avail ring (split) or the driver event suppression area (packed). */
  driver: number;
  /** Device area: the used ring (split) or the device event suppression area (packed). */
  device: number;
  eventIdx: boolean;
  indirect: boolean;
  /** VIRTIO_F_IN_ORDER (packed rings only: vqsim's split ring has no in-order mode). */
  inOrder?: boolean;
}

export interface DeviceRingOptions {
  name?: string;
  engine?: EngineName;
  /** Buffers the pop output holds per call. Default max(4 × size, 1024). */
  popElements?: number;
}

/** The engine a device face runs on: the Wasm core, or the reference model over the same memory. */
export function splitEngineFor(host: DeviceHost, engine: EngineName): WasmCore | ReferenceSplitEngine {
  return engine === 'reference' ? new ReferenceSplitEngine(host.memory) : host.core;
}

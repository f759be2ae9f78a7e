import { ConfigError } from '../errors.js';
import type { PackedEngine, SplitEngine } from './engine.js';
import { modeFlags } from './modes.js';

import type { DeviceHost } from '../memory/dma-view.js';

export type { DeviceHost, DeviceCore } from '../memory/dma-view.js';

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
  /** Name used in error messages. Default "vq0". */
  name?: string;
  /** Name of the device side's ring block in the stats registry. Default: `name`. */
  statsName?: string;
  /**
   * The engine the device face runs on: the Wasm core (default), or an
   * engine object such as the reference model (ReferenceSplitEngine /
   * ReferencePackedEngine over the machine's memory), for differential tests
   * and the plain-TypeScript baseline.
   */
  engine?: 'wasm' | SplitEngine | PackedEngine;
  /** Buffers the pop output holds per call. Default max(4 × size, 1024). */
  popElements?: number;
  /**
   * False: the device face pops without the protocol checks (QEMU's, vhost's,
   * rust-vmm's), as an unchecked device model does; see TrustModeOptions.
   * Default true.
   */
  hardened?: boolean;
  /** Mask the avail heads, buffer ids and desc next the driver supplies after their check. Default false. */
  nospec?: boolean;
}

/** The QF_* mode bits of a device face (an engine object other than the host's Wasm core is the hardened oracle). */
export function deviceModeFlags(host: Pick<DeviceHost, 'core'>, options: DeviceRingOptions): number {
  return modeFlags(
    { hardened: options.hardened, nospec: options.nospec },
    typeof options.engine === 'object' && (options.engine as unknown) !== host.core,
    `${options.name ?? 'vq0'} device face`,
  );
}

/** The engine a device face runs on: the host's Wasm core unless the options give an engine object. */
export function engineOf<E>(host: Pick<DeviceHost, 'core'>, engine: DeviceRingOptions['engine']): E {
  if (engine === undefined || engine === 'wasm') return host.core as unknown as E;
  if (typeof engine === 'object' && engine !== null) return engine as unknown as E;
  throw new ConfigError(
    `engine ${String(engine)}: must be 'wasm' or an engine object (e.g. new ReferenceSplitEngine(memory))`,
  );
}

/** The pop output's element count: max(4 × size, 1024) unless given; at least the queue size. */
export function checkPopElements(popElements: number | undefined, size: number): number {
  const n = popElements ?? Math.max(4 * size, 1024);
  if (!Number.isInteger(n) || n < size) {
    throw new ConfigError(`popElements ${n}: must be at least the queue size (${size})`);
  }
  return n;
}

/** The owner a device face runs with: its host's view, its engine, its name and size. */
export function faceOwner<E>(
  host: Pick<DeviceHost, 'hostView' | 'core'>,
  size: number,
  options: DeviceRingOptions,
): DeviceFaceOwner<E> {
  return { mem: { view: host.hostView }, engine: engineOf<E>(host, options.engine), name: options.name ?? 'vq0', size };
}

// `vqsim/testing`: what a test of a driver or device needs beside the real
// thing. MockSplitQueue writes raw descriptors and ring indices as a buggy or
// malicious peer would (rust-vmm's MockSplitQueue); the reference engines are
// the plain-TypeScript rings the differential tests compare the Wasm core
// with; the layout namespaces give every ring and request offset the core uses.
export { MockSplitQueue, type RawDescriptor, type SplitRingTarget } from '../virtqueue/split/mock.js';
export { ReferenceSplitEngine } from '../virtqueue/reference/split.js';
export { ReferencePackedEngine } from '../virtqueue/reference/packed.js';
export type { SplitEngine, PackedEngine } from '../virtqueue/engine.js';
export { SplitDriver, type SplitDriverAddrs } from '../virtqueue/split/driver.js';
export { SplitDevice, type SplitDeviceAddrs } from '../virtqueue/split/device.js';
export { PackedDriver, type PackedDriverAddrs } from '../virtqueue/packed/driver.js';
export { PackedDevice, type PackedDeviceAddrs } from '../virtqueue/packed/device.js';
export * as layout from '../../assembly/layout.js';
export * as packedLayout from '../../assembly/packed/layout.js';

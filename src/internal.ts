// vqsim: a VIRTIO virtqueue simulator. The in-repository barrel of everything the
// tests and the CLI reach: the package's public entries (src/entry/*.ts, its
// package.json "exports": vqsim, vqsim/devices, vqsim/transport, vqsim/threads,
// vqsim/testing), then what only the tests and the CLI use.
export * from './entry/index.js';
export * from './entry/devices.js';
export * from './entry/transport.js';
export * from './entry/threads.js';
export * from './entry/testing.js';

// Beyond the public entries: internals the tests and the CLI reach.
export {
  CounterBlock,
  STATS_REGISTRY_CAPACITY,
  STATS_NAME_BYTES,
  registerStats,
  statsBlockBytes,
  type StatsKindSchema,
  type StatsField,
  type CountersOf,
  type HostBlocks,
} from './memory/stats-registry.js';
export { instantiateCore, type WasmCore } from './memory/wasm-core.js';
export type { TrustModeOptions, UsedLenCheck } from './virtqueue/modes.js';
export { type Fault } from './sim/workers.js';
export { VirtioPciTransport, type VirtioPciCap, type VirtioPciOptions } from './transport/pci.js';
export { VirtioMmioTransport } from './transport/mmio.js';
export {
  type AccessCounters,
  IRQ_STORM_WINDOW,
  IRQ_STORM_UNHANDLED,
  CONFIG_WORK_BUDGET,
  RESET_POLL_BUDGET,
  DEFAULT_GUEST_CPUS,
} from './drivers/transport-access.js';
export { capQueues, CONFIG_GENERATION_RETRIES, MAX_QUEUE_SIZE } from './drivers/probe.js';
export { EchoDevice, LyingPci, LyingMmio, randomLie, type Lie, type LieSpace } from './trust/attack/lying-device.js';
export {
  dmaFaultMessage,
  type DmaFaultRecord,
  type PagedContextOptions,
  type DriverDma,
} from './memory/dma-context.js';
export { directDeviceView, type DeviceHost as DmaDeviceHost, type DeviceCore } from './memory/dma-view.js';
export { OffsetDmaBackend, DMA_OFFSET } from './dma/offset.js';
export { IOMMU_DEFAULT_BASE, IOMMU_DEFAULT_BYTES, iommuProt, type DmaSegment } from './dma/iommu.js';
export { IovaDomain, type IovaRange } from './dma/iova.js';
export { VDUSE_BOUNCE_SIZE, VDUSE_MIN_BOUNCE_SIZE, VDUSE_MAX_BOUNCE_SIZE, VDUSE_IOVA_SIZE } from './dma/vduse.js';
export {
  swiotlbFullMessage,
  type SwiotlbMapOptions,
  type SwiotlbUnmapOptions,
  type SwiotlbSlot,
  type SwiotlbState,
} from './dma/swiotlb.js';
export * from './spec/blk.js';
export * from './spec/console.js';
export * from './spec/net.js';
export * from './devices/blk/index.js';
export * from './drivers/blk/index.js';
export * from './devices/console/index.js';
export * from './drivers/console/index.js';
export * from './devices/net/index.js';
export * from './drivers/net/index.js';
export type { RingMemory } from './virtqueue/ring-memory.js';
export { type MachineDeviceBase, PolicyPanic, type RefusedDevice, type ReactionResult } from './sim/machine.js';
export { type DeviceConfigBase } from './sim/machine-config.js';
export { runProtectedNetPackets, checkNetDevice } from './sim/net.js';
export { ThreadWorker, type WorkerEntry } from './sim/thread-worker.js';
export {
  policySchema,
  presetText,
  type PolicyAction,
  type PolicyOptions,
  type MachineFacts,
} from './trust/policy/policy.js';
export { featureName, type DecisionEvent, type AttachMode } from './trust/policy/gate.js';
export * from './trust/protect/index.js';

// vqsim: a VIRTIO virtqueue simulator. The in-repository barrel of everything the
// tests and the CLI reach; the package's public entries are src/entry/*.ts
// (package.json "exports": vqsim, vqsim/devices, vqsim/transport, vqsim/threads,
// vqsim/testing), which re-export a documented subset of it.
export {
  VqsimError,
  GuestMemoryError,
  ConfigError,
  DeviceError,
  TransportError,
  toVqsimError,
  type FaultSide,
} from './errors.js';
export {
  GuestMemory,
  DEFAULT_GUEST_RAM,
  ENCRYPTION_MODELS,
  MachineCheckError,
  type EncryptionModel,
  type GuestMemoryOptions,
  type AllocOptions,
} from './memory/guest-memory.js';
export { GuestPageAllocator } from './memory/page-allocator.js';
export {
  StatsRegistry,
  CounterBlock,
  STATS_KINDS,
  STATS_REGISTRY_CAPACITY,
  STATS_NAME_BYTES,
  registerStats,
  readStatsRegistry,
  statsBlockBytes,
  type StatsKind,
  type StatsKindSchema,
  type StatsField,
  type CountersOf,
  type StatsEntry,
  type StatsRecord,
  type HostBlocks,
} from './memory/stats-registry.js';
export { wasmModule, instantiateCore, type WasmCore } from './memory/wasm-core.js';
export { SplitQueue, type SplitQueueOptions, type SplitQueueHandle } from './virtqueue/split/queue.js';
export { SplitDriver, type Completion, type SplitDriverAddrs } from './virtqueue/split/driver.js';
export { SplitDevice, type Chain, type UsedElem, type SplitDeviceAddrs } from './virtqueue/split/device.js';
export { RequestBatch } from './virtqueue/split/request-batch.js';
export { MockSplitQueue, type RawDescriptor, type SplitRingTarget } from './virtqueue/split/mock.js';
export { splitRingLayout, checkQueueSize, type SplitRingLayout } from './virtqueue/split/layout.js';
export { ReferenceSplitEngine } from './virtqueue/reference/split.js';
export { VirtqueueError, type Side } from './virtqueue/errors.js';
export { readStats, type QueueStats } from './virtqueue/stats.js';
export { Feature } from './spec/features.js';
export { features, hasFeature } from './virtqueue/features.js';
export type { GuestBuffer } from './virtqueue/buffers.js';
export type { SplitEngine, EngineName } from './virtqueue/engine.js';
export * as layout from '../assembly/layout.js';
export {
  createQueue,
  type Virtqueue,
  type QueueDriver,
  type QueueDevice,
  type QueueOptions,
  type RingKind,
} from './virtqueue/queue.js';
export { DeviceWorker } from './sim/device-worker.js';
export { PackedQueue, type PackedQueueOptions, type PackedQueueHandle } from './virtqueue/packed/queue.js';
export type { TrustModeOptions, UsedLenCheck } from './virtqueue/modes.js';
export { PackedDriver, type PackedDriverAddrs } from './virtqueue/packed/driver.js';
export { PackedDevice, type PackedDeviceAddrs } from './virtqueue/packed/device.js';
export { packedRingLayout, checkPackedQueueSize, type PackedRingLayout } from './virtqueue/packed/layout.js';
export { ReferencePackedEngine } from './virtqueue/reference/packed.js';
export type { PackedEngine } from './virtqueue/engine.js';
export * as packedLayout from '../assembly/packed/layout.js';
export {
  ColocatedWorker,
  runColocated,
  SplitPair,
  type ColocatedOptions,
  type ColocatedResult,
  type ColocatedReport,
  type SplitPairOptions,
  type SplitPairStats,
  type ThreadCounters,
  type RunLimits,
  type DevicePublish,
  type Fault,
} from './sim/workers.js';
export { queueHandle, attachQueue, type QueueHandle } from './sim/attach.js';
export { Status as VirtioStatus, Isr as VirtioIsr } from './spec/config.js';
export { PciCommon, PCI_COMMON_WIDTH, PciCapType, VIRTIO_MSI_NO_VECTOR } from './spec/pci.js';
export { Mmio as MmioReg, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION } from './spec/mmio.js';
export type { VirtioDeviceModel, VirtioDeviceContext, QueueConfig, ConfigWidth } from './transport/device-model.js';
export {
  TransportCore,
  type TransportCounters,
  type TransportStatsOptions,
  type InterruptEvent,
} from './transport/core.js';
export { VirtioPciTransport, PciBarLayout, type VirtioPciCap, type VirtioPciOptions } from './transport/pci.js';
export { VirtioMmioTransport, DEFAULT_MMIO_VENDOR_ID } from './transport/mmio.js';
export {
  PciDriverAccess,
  MmioDriverAccess,
  queueAreas,
  type TransportAccess,
  type PciAccessOptions,
  type PciFunction,
  type MmioWindow,
  type QueueAreas,
  type AccessCounters,
  IRQ_STORM_WINDOW,
  IRQ_STORM_UNHANDLED,
  CONFIG_WORK_BUDGET,
  RESET_POLL_BUDGET,
  DEFAULT_GUEST_CPUS,
} from './drivers/transport-access.js';
export {
  probeDevice,
  readConfigStable,
  readConfig64,
  capQueues,
  CONFIG_GENERATION_RETRIES,
  MAX_QUEUE_SIZE,
  type ProbeOptions,
  type ProbedDevice,
} from './drivers/probe.js';
export { EchoDevice, LyingPci, LyingMmio, randomLie, type Lie, type LieSpace } from './trust/attack/lying-device.js';
export { DmaApi, type DmaApiOptions } from './dma/api.js';
export { DmaView } from './dma/view.js';
export {
  DmaContext,
  dmaFaultMessage,
  type DmaContextCounters,
  type DmaContextMode,
  type DmaFaultRecord,
  type PagedContextOptions,
  type DriverDma,
} from './memory/dma-context.js';
export { directDeviceView, type DeviceHost as DmaDeviceHost, type DeviceCore } from './memory/dma-view.js';
export { OffsetDmaBackend, DMA_OFFSET } from './dma/offset.js';
export { DirectDmaBackend } from './dma/direct.js';
export {
  IommuDmaBackend,
  IOMMU_DEFAULT_BASE,
  IOMMU_DEFAULT_BYTES,
  iommuProt,
  type IommuOptions,
  type DmaSegment,
} from './dma/iommu.js';
export { IovaDomain, type IovaRange } from './dma/iova.js';
export {
  VduseDmaBackend,
  VDUSE_BOUNCE_SIZE,
  VDUSE_MIN_BOUNCE_SIZE,
  VDUSE_MAX_BOUNCE_SIZE,
  VDUSE_IOVA_SIZE,
  type VduseOptions,
} from './dma/vduse.js';
export {
  Swiotlb,
  SwiotlbFullError,
  swiotlbGeometry,
  swiotlbFullMessage,
  parseSwiotlbParam,
  SWIOTLB_DEFAULT_BYTES,
  SWIOTLB_SLOT_BYTES,
  SWIOTLB_SEGMENT_SLOTS,
  SWIOTLB_MAX_MAPPING,
  type SwiotlbOptions,
  type SwiotlbMapOptions,
  type SwiotlbUnmapOptions,
  type SwiotlbGeometry,
  type SwiotlbSlot,
  type SwiotlbState,
  type SwiotlbCounters,
} from './dma/swiotlb.js';
export { SwiotlbDmaBackend, type SwiotlbBackendOptions } from './dma/swiotlb-backend.js';
export {
  DMA_BACKENDS,
  DMA_BACKEND_NAMES,
  createDmaBackend,
  isDmaBackendName,
  type DmaBackendName,
} from './dma/backends.js';
export { DmaError } from './dma/errors.js';
export {
  DmaDirection,
  DmaAttr,
  type DmaBackend,
  type DmaCoherent,
  type DmaCounters,
  type DmaViewCounters,
} from './dma/types.js';
export { deviceQueueFromAreas } from './virtqueue/queue.js';
export type { DeviceHost, ProgrammedRing, DeviceRingOptions } from './virtqueue/device-host.js';
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
export {
  createMachine,
  type Machine,
  type MachineDevice,
  type MachineDeviceBase,
  type NetMachineDevice,
  type BlkMachineDevice,
  type ConsoleMachineDevice,
  type CreateMachineOptions,
  PolicyPanic,
  type RefusedDevice,
  type ReactionResult,
} from './sim/machine.js';
export {
  resolveMachineConfig,
  DEVICE_KINDS,
  TRANSPORT_KINDS,
  RING_KINDS,
  NET_BACKENDS,
  BLK_BACKENDS,
  CONSOLE_BACKENDS,
  type MachineConfig,
  type DeviceConfig,
  type DeviceConfigBase,
  type NetDeviceConfig,
  type BlkDeviceConfig,
  type ConsoleDeviceConfig,
  type ResolvedMachineConfig,
  type DeviceKind,
  type TransportKind,
  type NetBackendName,
  type BlkBackendName,
  type ConsoleBackendName,
} from './sim/machine-config.js';
export {
  runNetPackets,
  runProtectedNetPackets,
  checkNetDevice,
  NetWorker,
  runNetColocated,
  type NetRunCounts,
  type NetWorkerMachine,
  type NetWorkerOptions,
  type NetLoopResult,
  type NetColocatedOptions,
  type NetColocatedReport,
} from './sim/net.js';
export { ThreadWorker, type WorkerEntry } from './sim/thread-worker.js';
export { TdispInterface, TdispError, type TdispState, type TdispReport, type TdispAcceptor } from './trust/tdisp.js';
export {
  TrustPolicy,
  PolicyError,
  checkPolicy,
  policySchema,
  presetText,
  POLICY_PRESETS,
  REACTIONS,
  type PolicyPreset,
  type PolicyAction,
  type PolicyAnswer,
  type PolicyDiagnostic,
  type PolicyOptions,
  type DeviceFacts,
  type MachineFacts,
  type Reaction,
} from './trust/policy/policy.js';
export {
  featureName,
  type Decision,
  type DecisionEvent,
  type AttachDecision,
  type AttachMode,
} from './trust/policy/gate.js';
export { DEPLOYMENTS, DEPLOYMENT_NAMES, type Deployment, type DeploymentName } from './sim/deployments.js';
export * from './trust/protect/index.js';

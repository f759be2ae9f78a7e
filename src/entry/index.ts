// `vqsim`: the package's main entry. Guest memory, the rings, the guest DMA
// API and its backends, createMachine and the deployments, the stats registry
// and the errors. Device models and drivers are in `vqsim/devices`, the
// transports in `vqsim/transport`, worker threads in `vqsim/threads`, mocks
// and reference engines in `vqsim/testing` (src/entry/*.ts; package.json
// "exports"). Everything is re-exported from its source file: one copy of
// each class, whichever entry a program imports it through.

// Errors: every error vqsim throws is a VqsimError with a `code` and a `side`.
export {
  VqsimError,
  GuestMemoryError,
  ConfigError,
  DeviceError,
  TransportError,
  toVqsimError,
  type FaultSide,
} from '../errors.js';
export { VirtqueueError, type Side } from '../virtqueue/errors.js';
export { DmaError } from '../dma/errors.js';

// Guest memory: one shared WebAssembly.Memory, pages private or shared.
export {
  GuestMemory,
  DEFAULT_GUEST_RAM,
  ENCRYPTION_MODELS,
  MachineCheckError,
  type EncryptionModel,
  type GuestMemoryOptions,
  type AllocOptions,
} from '../memory/guest-memory.js';
export { GuestPageAllocator } from '../memory/page-allocator.js';
export {
  StatsRegistry,
  STATS_KINDS,
  readStatsRegistry,
  type StatsKind,
  type StatsEntry,
  type StatsRecord,
} from '../memory/stats-registry.js';

// Virtqueues: split (VIRTIO 1.2 §2.7) and packed (§2.8) rings in guest memory.
export {
  createQueue,
  type Virtqueue,
  type QueueDriver,
  type QueueDevice,
  type QueueOptions,
  type RingKind,
} from '../virtqueue/queue.js';
export { SplitQueue, type SplitQueueOptions } from '../virtqueue/split/queue.js';
export { PackedQueue, type PackedQueueOptions } from '../virtqueue/packed/queue.js';
export type { Completion } from '../virtqueue/split/driver.js';
export type { Chain, UsedElem } from '../virtqueue/split/device.js';
export type { GuestBuffer } from '../virtqueue/buffers.js';
export type { EngineName } from '../virtqueue/engine.js';
export { RequestBatch } from '../virtqueue/split/request-batch.js';
export { splitRingLayout, checkQueueSize, type SplitRingLayout } from '../virtqueue/split/layout.js';
export { packedRingLayout, checkPackedQueueSize, type PackedRingLayout } from '../virtqueue/packed/layout.js';
export { readStats, type QueueStats } from '../virtqueue/stats.js';
export { Feature } from '../spec/features.js';
export { features, hasFeature } from '../virtqueue/features.js';

// The guest DMA API (Linux's dma_map_*) and its backends.
export { DmaApi, type DmaApiOptions } from '../dma/api.js';
export {
  DmaDirection,
  DmaAttr,
  type DmaBackend,
  type DmaCoherent,
  type DmaCounters,
  type DmaViewCounters,
} from '../dma/types.js';
export {
  DMA_BACKENDS,
  DMA_BACKEND_NAMES,
  createDmaBackend,
  isDmaBackendName,
  type DmaBackendName,
} from '../dma/backends.js';
export { DirectDmaBackend } from '../dma/direct.js';
export { IommuDmaBackend, type IommuOptions } from '../dma/iommu.js';
export { VduseDmaBackend, type VduseOptions } from '../dma/vduse.js';
export { SwiotlbDmaBackend, type SwiotlbBackendOptions } from '../dma/swiotlb-backend.js';
export {
  Swiotlb,
  SwiotlbFullError,
  swiotlbGeometry,
  parseSwiotlbParam,
  SWIOTLB_DEFAULT_BYTES,
  SWIOTLB_SLOT_BYTES,
  SWIOTLB_SEGMENT_SLOTS,
  SWIOTLB_MAX_MAPPING,
  type SwiotlbOptions,
  type SwiotlbGeometry,
  type SwiotlbCounters,
} from '../dma/swiotlb.js';
export { DmaView } from '../memory/dma-view.js';
export { DmaContext, type DmaContextCounters, type DmaContextMode } from '../memory/dma-context.js';

// A whole machine from a plain config, in one of the deployments.
export {
  createMachine,
  type Machine,
  type MachineDevice,
  type NetMachineDevice,
  type BlkMachineDevice,
  type ConsoleMachineDevice,
  type CreateMachineOptions,
} from '../sim/machine.js';
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
  type NetDeviceConfig,
  type BlkDeviceConfig,
  type ConsoleDeviceConfig,
  type ResolvedMachineConfig,
  type DeviceKind,
  type TransportKind,
  type NetBackendName,
  type BlkBackendName,
  type ConsoleBackendName,
} from '../sim/machine-config.js';
export { DEPLOYMENTS, DEPLOYMENT_NAMES, type Deployment, type DeploymentName } from '../sim/deployments.js';
export { runNetPackets, type NetRunCounts } from '../sim/net.js';
export { TdispInterface, TdispError, type TdispState, type TdispReport, type TdispAcceptor } from '../trust/tdisp.js';
export { eventTotals, perOp, type EventTotals, type PerOp } from '../sim/per-op.js';

// The modeled cost: counted events → cycles per category (src/sim/cost.ts).
export {
  modelCycles,
  parseCostModel,
  loadCostModel,
  profileFor,
  COST_PROFILES,
  COST_PROFILE_NAMES,
  COST_CATEGORIES,
  COST_FIELDS,
  COST_SOURCES,
  type CostModel,
  type CostCategory,
  type CostField,
  type CostProfileName,
  type ModeledCycles,
} from '../sim/cost.js';

// Trust: the user's policy (Cedar), the catalogue of violations, and the attack runner.
export {
  TrustPolicy,
  PolicyError,
  checkPolicy,
  POLICY_PRESETS,
  REACTIONS,
  type PolicyPreset,
  type Reaction,
  type DeviceFacts,
  type PolicyAnswer,
  type PolicyDiagnostic,
} from '../trust/policy/policy.js';
export type { Decision, AttachDecision } from '../trust/policy/gate.js';
export { catalogue, violation, violationOf, type Violation } from '../trust/catalogue/index.js';
export {
  runAttacks,
  attacksPassed,
  type AttackRow,
  type AttackOptions,
  type AttackVerdict,
} from '../trust/attack/run.js';
export type { Scenario, AttackContext, AttackOutcome } from '../trust/attack/types.js';
export { scenarios } from '../trust/scenarios/index.js';

// End-to-end protection over untrusted devices: AES-GCM records for net, AES-XTS sectors with integrity tags for blk.
export * from '../trust/protect/index.js';

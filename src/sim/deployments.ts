// The deployments of VIRTIO the trust talk walks through
// (shared/background/virtio-trust-talk.txt): where the device runs decides
// what it can reach of guest memory and how the guest's DMA API must hand
// memory to it. A machine config names one; it picks each device's DMA
// backend and the memory-encryption model, and for cvm-tdisp it runs the
// TDISP handshake before the driver binds.
import type { DmaBackendName } from '../dma/backends.js';
import type { EncryptionModel } from '../memory/guest-memory.js';

export interface Deployment {
  /** What the device reaches, in words (for --help and reports). */
  reaches: string;
  /** The guest DMA backends this deployment allows; the first is the default. */
  dma: readonly DmaBackendName[];
  /** The memory-encryption models it allows; the first is the default. */
  encryption: readonly EncryptionModel[];
  /** Devices present a TDISP interface; accepted ones DMA directly into private memory. */
  tdisp?: boolean;
}

export const DEPLOYMENTS = {
  /** The device is built into the hypervisor and reaches all guest RAM. */
  traditional: { reaches: 'all guest RAM', dma: ['direct'], encryption: ['none'] },
  /**
   * A vhost-user backend process maps all guest memory, whatever a vIOMMU
   * says. (A vIOMMU the backend ignores changes what addresses the driver
   * hands out, not what the device can reach: not modelled separately.)
   */
  'vhost-user': { reaches: 'all guest RAM (the backend maps it all)', dma: ['direct'], encryption: ['none'] },
  /**
   * A VDUSE userspace device reaches only its bounce domain (or, with an
   * IOMMU, what the IOTLB gives it).
   */
  vduse: { reaches: "the kernel's bounce domain or IOTLB", dma: ['vduse', 'iommu'], encryption: ['none'] },
  /** A hardware device behind the IOMMU reaches what the IOMMU maps. */
  hardware: { reaches: 'what the IOMMU maps', dma: ['iommu'], encryption: ['none'] },
  /**
   * A confidential VM: every streaming DMA bounces through the shared
   * swiotlb pool; the device meets private pages through the encryption model.
   */
  cvm: {
    reaches: 'shared pages; private pages per the encryption model',
    dma: ['swiotlb'],
    encryption: ['sev-snp', 'sev', 'tdx'],
  },
  /**
   * A confidential VM with TDISP devices: an attested, accepted device DMAs
   * straight into private memory; the others bounce as in cvm.
   */
  'cvm-tdisp': {
    reaches: 'private memory once attested and accepted; else as cvm',
    dma: ['swiotlb'],
    encryption: ['sev-snp', 'sev', 'tdx'],
    tdisp: true,
  },
} as const satisfies Record<string, Deployment>;

export type DeploymentName = keyof typeof DEPLOYMENTS;
export const DEPLOYMENT_NAMES = Object.keys(DEPLOYMENTS) as DeploymentName[];

export function deployment(name: DeploymentName): Deployment {
  return DEPLOYMENTS[name];
}

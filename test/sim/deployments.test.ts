// The deployments (issue 9): the same workload runs in each, and what the
// device can reach of guest memory follows the deployment, checked where
// every device access is checked (its DMA context).
import { describe, expect, it } from 'vitest';
import {
  BlkStatus,
  ConfigError,
  DEPLOYMENT_NAMES,
  DmaError,
  createMachine,
  runNetPackets,
  type DeploymentName,
  type Machine,
} from '../../src/internal.js';

const text = new TextEncoder();
const devices = [
  { kind: 'net', queueSize: 64, packetBytes: 256 },
  { kind: 'blk', capacityBytes: 1 << 20 },
  { kind: 'console', ring: 'packed' },
] as const;

/** What the blk device sees when it reads a private guest page the driver never handed it. */
function probePrivate(m: Machine): string {
  const secret = m.mem.alloc(4096);
  m.mem.write(secret, text.encode('guest secret'));
  const view = m.blk().dma.deviceView();
  try {
    const seen = new TextDecoder().decode(view.read(secret, 12));
    return seen === 'guest secret' ? 'plaintext' : 'ciphertext';
  } catch (e) {
    return (e as DmaError).code;
  }
}

describe('deployments', () => {
  it('are the six of the talk', () => {
    expect(DEPLOYMENT_NAMES).toEqual(['traditional', 'vhost-user', 'vduse', 'hardware', 'cvm', 'cvm-tdisp']);
  });

  const want: Record<DeploymentName, { dma: string; encryption: string; reach: string }> = {
    traditional: { dma: 'direct', encryption: 'none', reach: 'plaintext' },
    'vhost-user': { dma: 'direct', encryption: 'none', reach: 'plaintext' },
    // Outside its bounce domain or IOTLB, nothing: an unmapped address faults.
    vduse: { dma: 'vduse', encryption: 'none', reach: 'DMA_FAULT' },
    hardware: { dma: 'iommu', encryption: 'none', reach: 'DMA_FAULT' },
    cvm: { dma: 'swiotlb', encryption: 'sev-snp', reach: 'ciphertext' },
    // Every device attested and accepted (the default acceptor): private memory, directly.
    'cvm-tdisp': { dma: 'swiotlb', encryption: 'sev-snp', reach: 'plaintext' },
  };
  for (const deployment of DEPLOYMENT_NAMES) {
    it(`${deployment}: net, blk and console run end to end; the device reaches ${want[deployment].reach === 'DMA_FAULT' ? 'nothing it was not given' : `private memory as ${want[deployment].reach}`}`, () => {
      const m = createMachine({ deployment, devices: devices.map((d) => ({ ...d })) });
      expect([m.deployment, m.dmaBackend, m.mem.encryption]).toEqual([
        deployment,
        want[deployment].dma,
        want[deployment].encryption,
      ]);
      expect(runNetPackets(m.net(), 0, 200).packets).toBeGreaterThanOrEqual(200);
      const data = new Uint8Array(4096).map((_, i) => i & 0xff);
      expect(m.blk().driver.write(16, data)).toBe(BlkStatus.OK);
      expect(m.blk().driver.read(16, 4096)).toEqual({ status: BlkStatus.OK, data });
      m.console().driver.write(text.encode(deployment));
      expect(new TextDecoder().decode(m.console().driver.read())).toBe(deployment);
      const s = m.stats();
      for (const d of ['net0', 'blk0', 'console0']) expect(s[`${d}.dma-context`]!.counters.faults).toBe(0);
      expect(probePrivate(m)).toBe(want[deployment].reach);
      m.close();
    });
  }

  it('cvm-tdisp: accepted devices DMA directly, refused ones bounce; a config change after lock → ERROR → no DMA', () => {
    const m = createMachine(
      { deployment: 'cvm-tdisp', devices: devices.map((d) => ({ ...d })) },
      {
        acceptDevice: (r) => r.device === 0x1042, // the guest trusts only the blk device
      },
    );
    expect(m.devices.map((d) => [d.name, d.tdisp!.state, d.dma.backend.name])).toEqual([
      ['net0', 'CONFIG_LOCKED', 'swiotlb'],
      ['blk0', 'RUN', 'direct'],
      ['console0', 'CONFIG_LOCKED', 'swiotlb'],
    ]);
    expect(probePrivate(m)).toBe('plaintext');
    expect(m.blk().driver.write(0, new Uint8Array(512).fill(9))).toBe(BlkStatus.OK);
    // The host moves a BAR of the running device: its interface goes to ERROR
    // and its DMA is blocked; the next request fails instead of reaching memory.
    m.blk().tdisp!.configChange('BAR0 reprogrammed by the host');
    expect(m.blk().tdisp!.state).toBe('ERROR');
    expect(probePrivate(m)).toBe('DMA_FAULT');
    expect(() => m.blk().driver.write(0, new Uint8Array(512))).toThrow();
    expect(m.stats()['blk0.dma-context']!.counters.faults).toBeGreaterThan(0);
    m.close();
  });

  it('cvm-tdisp: acceptMeasurements lists what the guest trusts', () => {
    const m = createMachine({
      deployment: 'cvm-tdisp',
      acceptMeasurements: ['ab'.repeat(48)],
      devices: [
        { kind: 'blk', capacityBytes: 1 << 20, measurement: 'ab'.repeat(48) },
        { kind: 'blk', capacityBytes: 1 << 20 },
      ],
    });
    expect(m.devices.map((d) => d.tdisp!.state)).toEqual(['RUN', 'CONFIG_LOCKED']);
    m.close();
  });

  it.each([
    [{ deployment: 'cvm', dma: 'direct' }, 'dma: "direct" is not one of swiotlb (deployment cvm)'],
    [{ deployment: 'cvm', encryption: 'none' }, 'encryption: "none" is not one of sev-snp, sev, tdx (deployment cvm)'],
    [{ deployment: 'hardware', dma: 'swiotlb' }, 'dma: "swiotlb" is not one of iommu (deployment hardware)'],
    [
      { deployment: 'cloud' },
      'deployment: "cloud" is not one of traditional, vhost-user, vduse, hardware, cvm, cvm-tdisp',
    ],
    [
      { deployment: 'cvm', acceptMeasurements: [] },
      'acceptMeasurements: only the cvm-tdisp deployment accepts devices',
    ],
  ])('config %j: %s', (cfg, message) => {
    expect(() => createMachine({ ...cfg, devices: [{ kind: 'blk' }] } as never)).toThrow(new ConfigError(message));
  });
});

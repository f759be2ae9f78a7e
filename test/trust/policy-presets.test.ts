// The trust policy's presets attach a set of devices; each decision is checked
// (attach mode, DMA backend, features negotiated, the policies behind it).
import { afterEach, describe, expect, it } from 'vitest';
import { createMachine, tdispIdentity, type Machine } from '../../src/sim/machine.js';
import { resolveMachineConfig, type MachineConfig } from '../../src/sim/machine-config.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { Feature } from '../../src/spec/features.js';
import { runNetPackets } from '../../src/sim/net.js';

const open: Machine[] = [];
function build(config: MachineConfig, options = {}): Machine {
  const m = createMachine(config, options);
  open.push(m);
  return m;
}
afterEach(() => {
  for (const m of open.splice(0)) m.close();
});

/** Each device's attach outcome: name -> the outcome of its last attach decision. */
function attachOutcomes(m: Machine): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of m.decisions()) if (d.event === 'attach' && d.outcome !== 'asked') out[d.device] = d.outcome;
  return out;
}

const small = { queueSize: 64 } as const;

describe('preset traditional', () => {
  it('attaches every device trusted with direct DMA, every transport and feature', () => {
    const m = build({
      deployment: 'traditional',
      policy: 'traditional',
      devices: [
        { kind: 'net', ...small, ring: 'packed' },
        { kind: 'blk', ...small, capacityBytes: 1 << 20 },
        { kind: 'console', ...small, transport: 'mmio' },
      ],
    });
    expect(m.refused).toEqual([]);
    expect(m.devices.map((d) => [d.name, d.dma.backend.name, d.ring])).toEqual([
      ['net0', 'direct', 'packed'],
      ['blk0', 'direct', 'split'],
      ['console0', 'direct', 'split'],
    ]);
    expect(attachOutcomes(m)).toEqual({ net0: 'trusted', blk0: 'trusted', console0: 'trusted' });
    const attach = m.decisions().filter((d) => d.event === 'attach');
    expect(attach.map((d) => [d.device, d.action, d.policies])).toEqual([
      ['net0', 'use_transport', ['traditional.transports']],
      ['net0', 'attach_trusted', ['traditional.trust-all']],
      ['blk0', 'use_transport', ['traditional.transports']],
      ['blk0', 'attach_trusted', ['traditional.trust-all']],
      ['console0', 'use_transport', ['traditional.transports']],
      ['console0', 'attach_trusted', ['traditional.trust-all']],
    ]);
    const features = m.decisions().filter((d) => d.event === 'feature');
    expect(features.every((d) => d.allowed && d.outcome === 'negotiated')).toBe(true);
    expect(features.filter((d) => d.device === 'net0').map((d) => d.subject)).toContain('VIRTIO_F_RING_PACKED');
    expect(m.stats()['net0.driver.vq0']).toBeDefined();
  });

  it('in a CVM without TDISP nothing can be trusted: devices fall back to swiotlb', () => {
    const m = build({
      deployment: 'cvm',
      encryption: 'tdx',
      policy: 'traditional',
      devices: [{ kind: 'net', ...small }],
    });
    expect(m.net().dma.backend.name).toBe('swiotlb');
    const d = m.decisions().filter((x) => x.event === 'attach');
    expect(d.map((x) => [x.action, x.allowed, x.outcome])).toEqual([
      ['use_transport', true, 'allowed'],
      ['attach_trusted', true, 'no TDISP'],
      ['attach_untrusted', true, 'untrusted'],
    ]);
  });
});

describe('preset tdx-default', () => {
  const devices: MachineConfig['devices'] = [
    { kind: 'net', ...small, ring: 'packed' },
    { kind: 'blk', ...small, capacityBytes: 1 << 20 },
    { kind: 'console', ...small },
    { kind: 'console', ...small, transport: 'mmio', name: 'hvc1' },
  ];

  it('net, blk and console over virtio-pci attach untrusted through swiotlb; mmio is refused', () => {
    const m = build({ deployment: 'cvm', encryption: 'tdx', policy: 'tdx-default', devices });
    expect(m.devices.map((d) => [d.name, d.dma.backend.name])).toEqual([
      ['net0', 'swiotlb'],
      ['blk0', 'swiotlb'],
      ['console0', 'swiotlb'],
    ]);
    expect(m.refused).toEqual([{ name: 'hvc1', kind: 'console', reason: 'transport mmio not allowed', policies: [] }]);
    expect(attachOutcomes(m)).toEqual({ net0: 'untrusted', blk0: 'untrusted', console0: 'untrusted', hvc1: 'refused' });
    expect(
      m
        .decisions()
        .filter((d) => d.action === 'attach_untrusted')
        .map((d) => d.policies),
    ).toEqual([['tdx-default.authorized-kinds'], ['tdx-default.authorized-kinds'], ['tdx-default.authorized-kinds']]);
    expect(m.stats()['hvc1.transport']).toBeUndefined();
  });

  it('masks the packed ring and indirect descriptors before FEATURES_OK: the split ring runs', () => {
    const m = build({ deployment: 'cvm', encryption: 'tdx', policy: 'tdx-default', devices });
    const masked = m.decisions().filter((d) => d.event === 'feature' && !d.allowed);
    expect(masked.map((d) => [d.device, d.subject, d.outcome, d.policies])).toEqual([
      ['net0', 'VIRTIO_F_RING_PACKED', 'masked', ['tdx-default.split-ring-only']],
      ['blk0', 'VIRTIO_F_INDIRECT_DESC', 'masked', ['tdx-default.no-indirect']],
      ['console0', 'VIRTIO_F_INDIRECT_DESC', 'masked', ['tdx-default.no-indirect']],
    ]);
    expect(m.net().ring).toBe('split');
    expect(hasFeature(m.net().driver.features, Feature.RING_PACKED)).toBe(false);
    expect(m.blk().driver.indirect).toBe(false);
    // Everything else the drivers asked for was negotiated, by the one permit.
    const allowed = m.decisions().filter((d) => d.event === 'feature' && d.allowed);
    expect(allowed.length).toBeGreaterThan(5);
    expect(new Set(allowed.map((d) => d.policies.join()))).toEqual(new Set(['tdx-default.features']));
  });

  it('authorizes by kind whatever the vendor; hotplug over virtio-pci is allowed, over mmio refused', () => {
    const m = build({
      deployment: 'cvm',
      encryption: 'tdx',
      policy: 'tdx-default',
      devices: [{ kind: 'net', ...small, vendor: 0x8086 }],
    });
    expect(m.net().dma.backend.name).toBe('swiotlb');
    const hp = m.hotplugDecision({ kind: 'blk', queueSize: 64 });
    expect(hp).toEqual({
      mode: 'untrusted',
      reason: 'attach_untrusted permitted',
      policies: ['tdx-default.authorized-kinds'],
    });
    const hpMmio = m.hotplugDecision({ kind: 'console', transport: 'mmio' });
    expect(hpMmio.mode).toBe('refused');
    expect(
      m
        .decisions()
        .filter((d) => d.event === 'hotplug')
        .map((d) => [d.device, d.action, d.outcome]),
    ).toEqual([
      ['blk-hp0', 'use_transport', 'allowed'],
      ['blk-hp0', 'hotplug', 'allowed'],
      ['blk-hp0', 'attach_trusted', 'asked'],
      ['blk-hp0', 'attach_untrusted', 'untrusted'],
      ['console-hp1', 'use_transport', 'refused'],
    ]);
  });
});

describe('the data path', () => {
  it('asks the policy nothing per packet: traffic leaves its Cedar calls and decisions as they were', () => {
    const m = build({
      deployment: 'cvm',
      encryption: 'tdx',
      policy: 'tdx-default',
      devices: [{ kind: 'net', ...small }],
    });
    const evaluations = m.policy!.evaluations;
    const decisions = m.decisions().length;
    const r = runNetPackets(m.net(), 0, 4096);
    expect(r.packets).toBeGreaterThanOrEqual(4096);
    expect(m.policy!.evaluations).toBe(evaluations);
    expect(m.decisions().length).toBe(decisions);
  });
});

describe('preset tdisp-strict', () => {
  const net = resolveMachineConfig({ devices: [{ kind: 'net' }] }).devices[0]!;
  const listed = tdispIdentity(net).measurement;

  it('trusts only attested devices whose measurement is listed; the rest are refused', () => {
    const m = build({
      deployment: 'cvm-tdisp',
      encryption: 'tdx',
      policy: 'tdisp-strict',
      acceptMeasurements: [listed],
      devices: [
        { kind: 'net', ...small },
        { kind: 'blk', ...small, capacityBytes: 1 << 20 },
      ],
    });
    expect(m.devices.map((d) => [d.name, d.dma.backend.name, d.tdisp?.state])).toEqual([['net0', 'direct', 'RUN']]);
    expect(m.refused).toEqual([
      { name: 'blk0', kind: 'blk', reason: 'neither attach_trusted nor attach_untrusted permitted', policies: [] },
    ]);
    const trusted = m.decisions().find((d) => d.device === 'net0' && d.action === 'attach_trusted')!;
    expect(trusted.policies).toEqual([`tdisp-strict.listed-measurement[${listed.slice(0, 12)}]`]);
    expect(m.policy!.ids).toContain(`tdisp-strict.listed-measurement[${listed.slice(0, 12)}]`);
  });

  it('a listed device the TDISP handshake does not accept is not trusted, and so refused', () => {
    const m = build(
      {
        deployment: 'cvm-tdisp',
        encryption: 'tdx',
        policy: 'tdisp-strict',
        acceptMeasurements: [listed],
        devices: [{ kind: 'net', ...small }],
      },
      { acceptDevice: () => false },
    );
    expect(m.devices).toEqual([]);
    const d = m.decisions().filter((x) => x.event === 'attach');
    expect(d.map((x) => [x.action, x.allowed, x.outcome])).toEqual([
      ['use_transport', true, 'allowed'],
      ['attach_trusted', true, 'not accepted'],
      ['attach_untrusted', false, 'refused'],
    ]);
  });

  it('in a plain CVM (no TDISP) every device is refused', () => {
    const m = build({
      deployment: 'cvm',
      encryption: 'tdx',
      policy: 'tdisp-strict',
      devices: [{ kind: 'net', ...small }],
    });
    expect(m.devices).toEqual([]);
    expect(m.refused.map((r) => r.name)).toEqual(['net0']);
  });
});

describe('no policy', () => {
  it('records no decisions and attaches as the deployment says', () => {
    const m = build({ deployment: 'cvm', encryption: 'tdx', devices: [{ kind: 'net', ...small }] });
    expect(m.policy).toBeUndefined();
    expect(m.decisions()).toEqual([]);
    expect(m.net().dma.backend.name).toBe('swiotlb');
  });

  it('a bad policy value is one ConfigError naming the field', () => {
    expect(() => createMachine({ policy: 3 as never, devices: [] })).toThrow(
      'policy: 3 is not a preset name (traditional, tdx-default, tdisp-strict), a policy file or a TrustPolicy',
    );
    expect(() => createMachine({ policy: 'tdx-defualt', devices: [] })).toThrow(
      'tdx-defualt:0:0: not a preset (traditional, tdx-default, tdisp-strict) nor a readable policy file',
    );
  });
});

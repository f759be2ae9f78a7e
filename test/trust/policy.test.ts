// Policy files: the README's example, extending a preset, every message of an
// invalid policy, the per-request cache, and the reactions to a violation.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DmaDirection } from '../../src/dma/types.js';
import { VqsimError } from '../../src/errors.js';
import { createMachine, type Machine } from '../../src/sim/machine.js';
import { catalogue, violationOf } from '../../src/trust/catalogue/index.js';
import { MockSplitQueue } from '../../src/virtqueue/split/mock.js';
import type { SplitQueue } from '../../src/virtqueue/split/queue.js';
import { checkPolicy, PolicyError, TrustPolicy, type DeviceFacts } from '../../src/trust/policy/policy.js';

const dir = mkdtempSync(join(tmpdir(), 'vqsim-policy-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const open: Machine[] = [];
afterEach(() => {
  for (const m of open.splice(0)) m.close();
});

// The README's example: trust vendor A's virtio-net revision 2; swiotlb for other virtio-net; refuse everything else.
const EXAMPLE = `@id("vendor-a-net-rev2")
permit (principal is Vqsim::Device, action == Vqsim::Action::"attach_trusted", resource)
when { principal.kind == "net" && principal.vendor == 4660 && principal.revision == 2 };

@id("other-net-bounced")
permit (principal is Vqsim::Device, action == Vqsim::Action::"attach_untrusted", resource)
when { principal.kind == "net" };

@id("pci")
permit (principal, action == Vqsim::Action::"use_transport", resource)
when { principal.transport == "pci" };

@id("features")
permit (principal, action == Vqsim::Action::"negotiate_feature", resource);
`;

const net = (over: Partial<DeviceFacts> = {}): DeviceFacts => ({
  name: 'net0',
  kind: 'net',
  vendor: 0x1af4,
  deviceId: 0x1041,
  revision: 1,
  transport: 'pci',
  bus: '0000:00:03.0',
  tdisp: 'none',
  measurement: '',
  attested: false,
  hotplugged: false,
  ...over,
});
const plain = { deployment: 'traditional', encryption: 'none' };

describe('a policy file', () => {
  it("trusts vendor A's virtio-net revision 2, bounces other virtio-net, refuses everything else", () => {
    const path = file('example.cedar', EXAMPLE);
    expect(checkPolicy(EXAMPLE, path)).toEqual([]);
    const m = createMachine({
      deployment: 'traditional',
      policy: path,
      devices: [
        { kind: 'net', queueSize: 64, vendor: 0x1234, revision: 2, name: 'a' },
        { kind: 'net', queueSize: 64, vendor: 0x1234, revision: 1, name: 'b' },
        { kind: 'net', queueSize: 64, name: 'c' },
        { kind: 'blk', queueSize: 64, capacityBytes: 1 << 20 },
      ],
    });
    open.push(m);
    expect(m.devices.map((d) => [d.name, d.dma.backend.name])).toEqual([
      ['a', 'direct'],
      ['b', 'swiotlb'],
      ['c', 'swiotlb'],
    ]);
    expect(m.refused.map((r) => r.name)).toEqual(['blk0']);
    const final = m.decisions().filter((d) => d.event === 'attach' && d.outcome !== 'asked' && d.outcome !== 'allowed');
    expect(final.map((d) => [d.device, d.outcome, d.policies])).toEqual([
      ['a', 'trusted', ['vendor-a-net-rev2']],
      ['b', 'untrusted', ['other-net-bounced']],
      ['c', 'untrusted', ['other-net-bounced']],
      ['blk0', 'refused', []],
    ]);
  });

  it('extends a preset with // @extends: its forbid wins over the preset permit', () => {
    const text = `// Our TDX guest: no block devices.
// @extends tdx-default
@id("no-blk")
forbid (principal, action == Vqsim::Action::"attach_untrusted", resource)
when { principal.kind == "blk" };
`;
    const p = TrustPolicy.fromText({ name: 'ours.cedar', text });
    expect(p.preset).toBe('tdx-default');
    expect(p.ids).toContain('tdx-default.authorized-kinds');
    expect(p.ids.at(-1)).toBe('no-blk');
    expect(p.decide('attach_untrusted', net({ kind: 'blk' }), plain)).toEqual({ allowed: false, policies: ['no-blk'] });
    expect(p.decide('attach_untrusted', net(), plain)).toEqual({
      allowed: true,
      policies: ['tdx-default.authorized-kinds'],
    });
    // tdx-default refuses what it does not list (a GPU), and anything on a transitional device id.
    expect(p.decide('attach_untrusted', net({ kind: 'gpu' }), plain).allowed).toBe(false);
    expect(p.decide('use_transport', net({ deviceId: 0x1000 }), plain).allowed).toBe(false);
    expect(p.decide('use_transport', net(), plain).policies).toEqual(['tdx-default.pci-modern-only']);
  });

  it('names a policy without @id by file and position, and refuses an id used twice', () => {
    const p = TrustPolicy.fromText({
      name: 'f.cedar',
      text: 'permit (principal, action == Vqsim::Action::"use_transport", resource);',
    });
    expect(p.ids).toEqual(['f.cedar#0']);
    const twice = '@id("x")\npermit (principal, action == Vqsim::Action::"hotplug", resource);\n'.repeat(2);
    expect(() => TrustPolicy.fromText({ name: 't.cedar', text: twice })).toThrow(
      't.cedar:3:1: policy id x is used twice (ids must be unique)',
    );
  });

  it('caches each answer: the same device and feature asks Cedar once', () => {
    const p = TrustPolicy.preset('tdx-default');
    const a = p.decide('negotiate_feature', net(), plain, { feature: 'VIRTIO_F_RING_PACKED' });
    const b = p.decide('negotiate_feature', net(), plain, { feature: 'VIRTIO_F_RING_PACKED' });
    expect(b).toBe(a);
    expect(p.evaluations).toBe(1);
    p.decide('negotiate_feature', net(), plain, { feature: 'VIRTIO_F_EVENT_IDX' });
    p.decide('negotiate_feature', net({ name: 'net1' }), plain, { feature: 'VIRTIO_F_RING_PACKED' });
    expect(p.evaluations).toBe(3);
  });
});

describe('an invalid policy', () => {
  const check = (text: string) =>
    checkPolicy(text, 'bad.cedar').map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`);

  it('a misspelt attribute: where, and what is allowed', () => {
    expect(
      check(
        '\n@id("a")\npermit (principal is Vqsim::Device, action == Vqsim::Action::"attach_trusted", resource)\nwhen { principal.vendr == 1 };\n',
      ),
    ).toEqual(['bad.cedar:4:8: attribute `vendr` on entity type `Vqsim::Device` not found (did you mean `vendor`?)']);
  });

  it('an unknown action and a type mismatch', () => {
    const msgs = check(
      'permit (principal, action == Vqsim::Action::"attach", resource);\npermit (principal, action == Vqsim::Action::"hotplug", resource) when { principal.revision == "2" };\n',
    );
    expect(msgs[0]).toBe('bad.cedar:1:1: unable to find an applicable action given the policy scope constraints');
    expect(msgs).toContain(
      'bad.cedar:1:30: unrecognized action `Vqsim::Action::"attach"` (did you mean `Vqsim::Action::"panic"`?)',
    );
    expect(
      msgs.some((m) => m.startsWith('bad.cedar:2:') && m.includes('the types Long and String are not compatible')),
    ).toBe(true);
  });

  it('a syntax error, and an @extends naming no preset', () => {
    expect(check('// @extends tdx\npermit (principal, action, resource) when {')).toEqual([
      'bad.cedar:1:13: @extends tdx: not a preset (presets: traditional, tdx-default, tdisp-strict)',
      'bad.cedar:2:44: unexpected end of input: expected `!`, `(`, `-`, `[`, `{`, `}`, `false`, identifier, `if`, number, `?principal`, `?resource`, string literal, or `true`',
    ]);
  });

  it('is a PolicyError with every problem, one line each', () => {
    let caught: unknown;
    try {
      TrustPolicy.fromText({
        name: 'x.cedar',
        text: 'permit (principal, action == Vqsim::Action::"hotplug", resource) when { context.feature == "a" };',
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    const e = caught as PolicyError;
    expect([e.code, e.side]).toEqual(['POLICY_INVALID', 'user']);
    expect(e.message.split('\n').length).toBe(e.diagnostics.length);
    expect(e.message).toMatch(/^x\.cedar:1:\d+: .*feature/);
  });
});

describe('machine.react', () => {
  const high = catalogue.find((v) => v.side === 'device' && v.severity === 'high')!;
  const critical = catalogue.find((v) => v.side === 'device' && v.severity === 'critical')!;
  const low = catalogue.find((v) => v.side === 'device' && v.severity === 'low')!;
  const lie = (id: string) => new VqsimError(id, `the device lied: ${id}`, 'device');

  function machine(policy: string): Machine {
    const m = createMachine({
      deployment: 'cvm',
      encryption: 'tdx',
      policy,
      devices: [
        { kind: 'console', queueSize: 64 },
        { kind: 'net', queueSize: 64 },
      ],
    });
    open.push(m);
    return m;
  }

  it('tdx-default: continue on a low one, reset_device on a high one (the driver probes again), detach on a critical one', () => {
    const m = machine('tdx-default');
    const driver = m.net().driver;
    expect(m.react(lie(low.id), 'net0')).toEqual({
      reaction: 'continue',
      policies: ['tdx-default.continue'],
      violation: low.id,
    });
    expect(m.net().driver).toBe(driver);
    const evaluations = m.policy!.evaluations;
    expect(m.react(lie(high.id), 'net0')).toEqual({
      reaction: 'reset_device',
      policies: ['tdx-default.reset-on-high'],
      violation: high.id,
    });
    expect(m.net().driver).not.toBe(driver);
    expect(m.net().driver.linkUp).toBe(true);
    // The new probe asked the same feature questions: answered from the cache.
    expect(m.policy!.evaluations).toBe(evaluations + 4);
    expect(m.react(lie(critical.id), 'net0').reaction).toBe('detach_device');
    expect(m.devices.map((d) => d.name)).toEqual(['console0']);
    expect(() => m.device('net0')).toThrow('machine: no device net0 (devices: console0)');
    const v = m.decisions().filter((d) => d.event === 'violation');
    expect(v.map((d) => [d.subject, d.action])).toEqual([
      [low.id, 'continue'],
      [high.id, 'reset_device'],
      [critical.id, 'detach_device'],
    ]);
  });

  it('a real lie: a used id out of range on the console transmit queue, caught by the driver, detaches the device', () => {
    const m = machine('tdx-default');
    const txq = m.console().driver.txq as SplitQueue;
    // One chain in flight (so the used index may move by one), then the
    // device writes a used element naming descriptor size + 3.
    const buf = m.console().dma.map(m.mem.alloc(4096), 64, DmaDirection.TO_DEVICE);
    txq.driver.add([{ addr: buf, len: 64 }], [], 1);
    new MockSplitQueue(txq).addUsed(txq.size + 3, 0);
    let caught: unknown;
    try {
      txq.driver.getUsed();
    } catch (e) {
      caught = e;
    }
    expect(violationOf(caught)).toMatchObject({ id: 'USED_ID_OUT_OF_RANGE', side: 'device', severity: 'critical' });
    expect(m.react(caught, 'console0')).toEqual({
      reaction: 'detach_device',
      policies: ['tdx-default.detach-on-critical'],
      violation: 'USED_ID_OUT_OF_RANGE',
    });
    expect(m.devices.map((d) => d.name)).toEqual(['net0']);
    expect(m.decisions().at(-1)).toEqual({
      event: 'violation',
      device: 'console0',
      action: 'detach_device',
      subject: 'USED_ID_OUT_OF_RANGE',
      allowed: true,
      outcome: 'detach_device',
      policies: ['tdx-default.detach-on-critical'],
    });
  });

  it('panic ends the machine with a named error that keeps the violation', () => {
    const p = TrustPolicy.fromText({
      name: 'panic.cedar',
      text: '// @extends tdx-default\n@id("panic-critical")\npermit (principal, action == Vqsim::Action::"panic", resource) when { context.violation.severity == "critical" };\n',
    });
    const m = createMachine({
      deployment: 'cvm',
      encryption: 'tdx',
      policy: p,
      devices: [{ kind: 'console', queueSize: 64 }],
    });
    const err = lie(critical.id);
    let caught: unknown;
    try {
      m.react(err, 'console0');
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: 'POLICY_PANIC', side: 'device', cause: err });
    expect((caught as Error).message).toBe(
      `policy panic (panic-critical): ${critical.id} from console0: the device lied: ${critical.id}`,
    );
    // Closed: the driver let go of the device.
    expect(m.console().access.getStatus()).toBe(0);
  });

  it('without a policy the reaction is continue; an error that is no violation is thrown back', () => {
    const m = createMachine({ devices: [{ kind: 'console', queueSize: 64 }] });
    open.push(m);
    expect(m.react(lie(high.id), 'console0')).toEqual({ reaction: 'continue', policies: [], violation: high.id });
    const user = new VqsimError('CONFIG', 'a bad option', 'user');
    expect(() => m.react(user, 'console0')).toThrow(user);
  });
});

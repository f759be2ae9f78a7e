// `vqsim policy check` and `vqsim policy explain`, in process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vqsim-cli-policy-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `// @extends tdx-default
@id("no-console")
forbid (principal, action == Vqsim::Action::"attach_untrusted", resource)
when { principal.kind == "console" };
`;
const BAD = `@id("a")
permit (principal, action == Vqsim::Action::"attach_trusted", resource)
when { principal.vendr == 4660 };

@id("b")
permit (principal, action == Vqsim::Action::"negotiate_feature", resource)
when { context.feature == 34 };
`;

describe('vqsim policy check', () => {
  it('a valid file: one line on stdout, exit 0', async () => {
    const p = file('good.cedar', GOOD);
    expect(await run('policy', 'check', p)).toEqual({ code: 0, out: `${p}: valid\n`, err: '' });
  });

  it('an invalid file: FILE:LINE:COL: message, one line per error, exit 2', async () => {
    const p = file('bad.cedar', BAD);
    const r = await run('policy', 'check', p);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.trimEnd().split('\n')).toEqual([
      `${p}:3:8: attribute \`vendr\` on entity type \`Vqsim::Device\` not found (did you mean \`vendor\`?)`,
      `${p}:7:8: the types Long and String are not compatible (both operands to a \`==\` expression must have compatible types. Types must be exactly equal to be compatible)`,
    ]);
  });

  it('checks every file named; a missing one is an error line too', async () => {
    const good = file('good2.cedar', GOOD);
    const missing = join(dir, 'none.cedar');
    const r = await run('policy', 'check', good, missing);
    expect(r.code).toBe(2);
    expect(r.out).toBe(`${good}: valid\n`);
    expect(r.err).toBe(`${missing}:0:0: cannot read: ENOENT\n`);
  });

  it('no file, or an unknown subcommand: one line, exit 2', async () => {
    for (const [argv, msg] of [
      [['policy', 'check'], 'vqsim: policy check: name at least one policy file\n'],
      [['policy', 'lint'], 'vqsim: policy lint: must be check or explain (see vqsim policy --help)\n'],
    ] as const) {
      const r = await run(...argv);
      expect([r.code, r.out, r.err]).toEqual([2, '', msg]);
    }
  });
});

describe('vqsim policy explain', () => {
  it('prints each action, its decision and the policies behind it', async () => {
    const r = await run(
      'policy',
      'explain',
      '--policy',
      'tdx-default',
      '--device',
      'kind=net,vendor=0x1af4,revision=2',
      '--feature',
      'VIRTIO_F_RING_PACKED,VIRTIO_F_EVENT_IDX',
      '--violation',
      'USED_ID_OUT_OF_RANGE',
      '--deployment',
      'cvm',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
    expect(lines[0]).toBe(
      'policy tdx-default; device net vendor 0x1af4 device 0x1041 rev 2 over pci; deployment cvm (sev-snp)',
    );
    expect(lines.slice(2, 13)).toEqual([
      'action subject decision policies',
      'use_transport allow tdx-default.pci-modern-only',
      'hotplug allow tdx-default.authorized-hotplug',
      'attach_trusted deny (none: default deny)',
      'attach_untrusted allow tdx-default.authorized-kinds',
      'negotiate_feature VIRTIO_F_RING_PACKED deny tdx-default.split-ring-only',
      'negotiate_feature VIRTIO_F_EVENT_IDX allow tdx-default.features',
      'continue USED_ID_OUT_OF_RANGE allow tdx-default.continue',
      'reset_device USED_ID_OUT_OF_RANGE deny (none: default deny)',
      'detach_device USED_ID_OUT_OF_RANGE allow tdx-default.detach-on-critical',
      'panic USED_ID_OUT_OF_RANGE deny (none: default deny)',
    ]);
    expect(lines.slice(14, 16)).toEqual([
      'attach: untrusted (bounced through swiotlb, or the deployment’s IOMMU)',
      'reaction to USED_ID_OUT_OF_RANGE (critical): detach_device',
    ]);
  });

  it('tdisp-strict trusts an attested device whose measurement is listed', async () => {
    const m = 'ab'.repeat(48);
    const args = [
      'policy',
      'explain',
      '--policy',
      'tdisp-strict',
      '--deployment',
      'cvm-tdisp',
      '--feature',
      'VIRTIO_F_VERSION_1',
    ];
    const listed = await run(...args, '--device', `kind=blk,measurement=${m}`, '--measurements', m);
    expect(listed.out).toMatch(/attach_trusted +allow +tdisp-strict\.listed-measurement\[abababababab\]/);
    expect(listed.out).toMatch(/attach: trusted \(direct DMA into private memory\) once the TDISP report is accepted/);
    const other = await run(...args, '--device', `kind=blk,measurement=${'cd'.repeat(48)}`, '--measurements', m);
    expect(other.out).toMatch(/attach: refused \(neither attach_trusted nor attach_untrusted permitted\)/);
  });

  it('a policy file that extends a preset', async () => {
    const p = file('ext.cedar', GOOD);
    const r = await run(
      'policy',
      'explain',
      '--policy',
      p,
      '--device',
      'kind=console',
      '--feature',
      'VIRTIO_F_EVENT_IDX',
    );
    expect(r.out).toMatch(/attach_untrusted +deny +no-console/);
    expect(r.out).toMatch(/attach: refused/);
  });

  it('bad values: one line naming the flag, exit 2', async () => {
    const base = ['policy', 'explain', '--policy', 'tdx-default'];
    for (const [argv, msg] of [
      [[...base], 'vqsim: policy explain: --device SPEC is required'],
      [['policy', 'explain', '--device', 'kind=net'], 'vqsim: policy explain: --policy FILE|PRESET is required'],
      [
        [...base, '--device', 'vendor=1'],
        'vqsim: --device vendor=1: needs kind=KIND (net, blk, console, 9p, vsock, ...)',
      ],
      [
        [...base, '--device', 'kind=net,colour=red'],
        'vqsim: --device colour=red: unknown key colour (keys: kind, vendor, deviceid, revision, transport, bus, tdisp, attested, measurement, hotplugged, name)',
      ],
      [
        [...base, '--device', 'kind=net,vendor=0x10000'],
        'vqsim: --device vendor=0x10000: must be a number from 0 to 65535 (decimal or 0x hex)',
      ],
      [
        [...base, '--device', 'kind=net,measurement=12'],
        'vqsim: --device measurement=12: must be 96 hex digits (a 48-byte digest)',
      ],
      [
        [...base, '--device', 'kind=net', '--deployment', 'cloud'],
        'vqsim: --deployment cloud: must be one of traditional, vhost-user, vduse, hardware, cvm, cvm-tdisp',
      ],
      [
        [...base, '--device', 'kind=net', '--violation', 'NOPE'],
        "vqsim: --violation NOPE: not a catalogue id (vqsim's catalogue: src/trust/catalogue)",
      ],
      [
        ['policy', 'explain', '--policy', 'tdx-defualt', '--device', 'kind=net'],
        'vqsim: --policy tdx-defualt:0:0: not a preset (traditional, tdx-default, tdisp-strict) nor a readable policy file',
      ],
      [[...base, '--device', 'kind=net', '--colour'], 'vqsim: unknown flag --colour: see --help for the flags allowed'],
    ] as const) {
      const r = await run(...argv);
      expect([r.code, r.out, r.err.trimEnd().split('\n')[0]]).toEqual([2, '', msg]);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});

describe('--policy on the device benchmarks', () => {
  it('each placement carries the policy; the baseline runs without it', async () => {
    const { parsePlacements, withBaseline, placementName } = await import('../../src/cli/bench/placement.js');
    const ps = withBaseline(parsePlacements({ deployment: 'cvm', policy: 'tdx-default' }));
    expect(ps).toEqual([
      { deployment: undefined, dma: 'direct', encryption: 'none' },
      { deployment: 'cvm', dma: 'swiotlb', encryption: 'sev-snp', policy: 'tdx-default' },
    ]);
    expect(placementName(ps[1]!)).toBe('cvm+swiotlb+sev-snp+tdx-default');
    const { consoleBenchMachine } = await import('../../src/cli/bench/console.js');
    const m = consoleBenchMachine({ ring: 'packed', queueSize: 64, placement: ps[1]! });
    try {
      expect(m.policy?.name).toBe('tdx-default');
      expect(m.console().ring).toBe('split');
      expect(
        m
          .decisions()
          .filter((d) => d.outcome === 'masked')
          .map((d) => d.subject),
      ).toEqual(['VIRTIO_F_INDIRECT_DESC', 'VIRTIO_F_RING_PACKED']);
    } finally {
      m.close();
    }
  });

  it('a bad --policy is one line, exit 2, before anything runs', async () => {
    for (const bench of ['net', 'blk', 'console']) {
      const r = await run('bench', bench, '--policy', 'strict');
      expect([r.code, r.out, r.err]).toEqual([
        2,
        '',
        'vqsim: --policy strict:0:0: not a preset (traditional, tdx-default, tdisp-strict) nor a readable policy file\n',
      ]);
    }
  });
});

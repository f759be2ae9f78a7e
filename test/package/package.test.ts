// The package as users meet it: `npm pack`, the tarball installed into an
// empty folder, then used from a plain ES module, from CommonJS require(),
// from TypeScript (module nodenext, ESM and CJS, type-checked and run), the
// `vqsim` command (a benchmark with its native C loop and worker threads), and
// the examples/ programs. A file missing from the tarball, an exports path that
// does not resolve, or a type that does not check fails here. The dependencies
// (comlink, tinybench) come from npm's cache when `npm ci` put them there,
// else from the registry; without either the install fails with npm's reason.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = join(ROOT, 'test/package/fixtures');
const ENTRIES = ['index', 'devices', 'transport', 'threads', 'testing'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Each test runs node, npm or tsc as a child, beside the rest of the suite on
// a machine that may have two cores: bounds of minutes, not vitest's 30 s.
const SLOW = 120_000;

let work: string; // temp folder: the tarball and the app that installs it
let app: string;
let files: string[]; // paths in the tarball, relative to the package root
let tgz: string;

/** Runs a command; a failure throws with its output, so the reason is in the test report. */
function run(cmd: string, args: string[], cwd: string, timeout = 60_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${why}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(() => {
  // The global setup bundled dist/; the declarations are built here when older than src/.
  const types = join(ROOT, 'dist/types/src/entry/index.d.ts');
  if (
    !existsSync(types) ||
    statSync(types).mtimeMs < Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'assembly')))
  ) {
    run(process.execPath, ['scripts/types.mjs'], ROOT, 120_000);
  }
  work = mkdtempSync(join(tmpdir(), 'vqsim-package-'));
  // The package is packed from a staging copy: its own bundle of the sources
  // (scripts/bundle.mjs with VQSIM_DIST), the declarations, and the files
  // package.json names. dist/ itself is not packed here: other test files
  // rebundle workers into it while this one runs.
  const stage = join(work, 'stage');
  const bundled = spawnSync(process.execPath, ['scripts/bundle.mjs'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, VQSIM_DIST: join(stage, 'dist') },
  });
  if (bundled.status !== 0) throw new Error(`scripts/bundle.mjs failed: ${bundled.stderr}`);
  cpSync(join(ROOT, 'dist/types'), join(stage, 'dist/types'), { recursive: true });
  for (const e of ENTRIES) cpSync(join(ROOT, `dist/${e}.d.cts`), join(stage, `dist/${e}.d.cts`));
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin',
    'bench/native/roundtrip.c',
    'docs/model.svg',
    'schema',
  ]) {
    cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  }
  // --ignore-scripts: the stage is built already (and has no sources for prepare to build).
  const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], stage)) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = packed[0]!.files.map((f) => f.path).sort();
  app = join(work, 'app');
  cpSync(FIXTURES, app, { recursive: true });
  cpSync(join(ROOT, 'examples'), join(app, 'examples'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'commonjs' }));
  tgz = join(work, packed[0]!.filename);
  try {
    run(
      npm,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--no-package-lock', tgz],
      app,
      120_000,
    );
  } catch (e) {
    throw new Error(
      `installing the packed tarball failed: its dependencies (comlink, tinybench) come from npm's cache ` +
        `(\`npm ci\` fills it) or the registry, and neither had them\n${(e as Error).message}`,
    );
  }
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds the bundle, the declarations the entries reach, the Wasm core, the native bench source, LICENSE', () => {
    for (const e of ENTRIES) {
      for (const f of [`dist/${e}.js`, `dist/${e}.cjs`, `dist/${e}.d.cts`, `dist/types/src/entry/${e}.d.ts`]) {
        expect(files, f).toContain(f);
      }
    }
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/vqsim.js',
      'dist/cli.js',
      'dist/vqsim.wasm',
      'dist/report.js',
      'docs/model.svg',
      'schema/result.schema.json',
      'dist/policy/vqsim.cedarschema',
      'dist/policy/tdx-default.cedar',
      'bench/native/roundtrip.c',
    ]) {
      expect(files, f).toContain(f);
    }
    for (const w of ['queue-worker', 'net-worker', 'blk-device']) expect(files).toContain(`dist/workers/${w}.js`);
  });

  it('holds no sources, source maps, results, test bundles or declarations of internals', () => {
    const extra = files.filter(
      (f) =>
        /\.map$|\.tmp\.js$|\.mjs$/.test(f) ||
        (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) ||
        /^(src|assembly|test|workers|scripts|examples)\//.test(f) ||
        /^bench\/(?!native\/roundtrip\.c$)/.test(f) ||
        /^dist\/types\/(workers|src\/cli)\//.test(f),
    );
    expect(extra).toEqual([]);
  });

  it('has one copy of the library: the entries are thin and import shared chunks', () => {
    const bytes = (f: string) => statSync(join(app, 'node_modules/vqsim', f)).size;
    const chunks = files.filter((f) => /^dist\/chunk-[A-Z0-9]+\.js$/.test(f));
    expect(chunks.length).toBeGreaterThan(0);
    const chunkBytes = chunks.reduce((n, f) => n + bytes(f), 0);
    // Each entry re-exports from the chunks; none holds a copy of what they hold.
    for (const e of ENTRIES) expect(bytes(`dist/${e}.js`)).toBeLessThan(8192);
    for (const w of ['queue-worker', 'net-worker', 'blk-device'])
      expect(bytes(`dist/workers/${w}.js`)).toBeLessThan(8192);
    expect(bytes('dist/cli.js')).toBeLessThan(chunkBytes);
    // GuestMemory is defined once, in one chunk.
    const defining = chunks.filter((f) =>
      readFileSync(join(app, 'node_modules/vqsim', f), 'utf8').match(/\bGuestMemory = class\b|\bclass GuestMemory\b/),
    );
    expect(defining).toHaveLength(1);
  });
});

describe('the ecosystem linters', { timeout: SLOW }, () => {
  const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);

  it('publint --strict finds nothing', () => {
    expect(run(bin('publint'), ['run', tgz, '--strict'], ROOT)).toContain('All good!');
  });

  it('arethetypeswrong (strict profile: node10, node16 from CJS and ESM, bundler) finds nothing', () => {
    const r = spawnSync(bin('attw'), [tgz, '--format', 'json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const report = JSON.parse(r.stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(report.analysis.problems).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual([
      '.',
      './devices',
      './package.json',
      './testing',
      './threads',
      './transport',
    ]);
    expect(r.status).toBe(0);
  });
});

describe('the installed package', { timeout: SLOW }, () => {
  it('imports from a plain ES module script and runs a virtio-blk machine', () => {
    const out = JSON.parse(run(process.execPath, ['esm.mjs'], app));
    expect(out).toMatchObject({
      wrote: 0,
      status: 0,
      same: true,
      reads: 1,
      writes: 1,
      bytesRead: 4096,
      blkDevice: 'function',
      netDevice: 'function',
      pciTransport: 'function',
      splitPair: 'function',
      mock: 'function',
    });
    expect(out.entries.every((n: number) => n > 0)).toBe(true);
  });

  it('requires from CommonJS, one copy of the library shared with import()', () => {
    const out = JSON.parse(run(process.execPath, ['cjs.cjs'], app));
    expect(out).toEqual({
      entries: expect.any(Array),
      sameClass: true,
      echoed: 4,
      used: [{ token: 7, len: 4 }],
      reply: 'ping',
      chains: 1,
    });
  });

  it('keeps internals behind the exports map', () => {
    const r = spawnSync(process.execPath, ['-e', "require('vqsim/dist/cli.js')"], { cwd: app, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks TypeScript (nodenext, ESM and CommonJS) against its declarations and runs it', () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          // The declarations name WebAssembly.Memory and .Module, which TypeScript
          // declares in its dom lib (@types/node 20 does not): README "Use it as a dependency".
          lib: ['es2022', 'dom'],
          strict: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          outDir: 'out',
        },
        files: ['typed.mts', 'typed.cts'],
      }),
    );
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, 120_000);
    const esm = JSON.parse(run(process.execPath, ['out/typed.mjs'], app));
    expect(esm).toMatchObject({
      sent: 8,
      received: 8,
      status: 0,
      device: true,
      access: true,
      opts: 128,
      err: 'VqsimError',
    });
    expect(esm.kinds).toEqual(['function', 'function', 'function', 'function']);
    expect(JSON.parse(run(process.execPath, ['out/typed.cjs'], app))).toEqual({ driver: true, blkOk: 0 });
  });

  it('exports every name the README imports from it', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const script = [...readme.matchAll(/import \{([^}]+)\} from '(vqsim(?:\/[a-z]+)?)'/g)]
      .map(([, names, spec], i) => {
        const list = names!
          .split(',')
          .map((n) => n.trim().replace(/^type\s+/, ''))
          .filter(Boolean);
        return `const m${i} = require('${spec}'); for (const n of ${JSON.stringify(list)}) if (!(n in m${i})) missing.push('${spec}: ' + n);`;
      })
      .join('\n');
    expect(script).not.toBe('');
    const missing = JSON.parse(
      run(process.execPath, ['-e', `const missing = [];\n${script}\nconsole.log(JSON.stringify(missing))`], app),
    );
    expect(missing).toEqual([]);
  });
});

describe('the vqsim command from the installed package', { timeout: SLOW }, () => {
  const vqsim = () => join(app, 'node_modules/.bin/vqsim');

  it('runs the ring benchmark, with the native C loop when a compiler exists', () => {
    const out = JSON.parse(
      run(
        vqsim(),
        [
          'bench',
          '--chain-lengths',
          '1',
          '--indirect',
          'off',
          '--event-idx',
          'on',
          '--engine',
          'wasm',
          '--time',
          '20',
          '--rounds',
          '1',
          '--json',
        ],
        app,
      ),
    );
    const rows = out.rows as { engine: string; chainsPerSec: number }[];
    const wasm = rows.filter((r) => r.engine === 'wasm');
    expect(wasm).toHaveLength(1);
    expect(wasm[0]!.chainsPerSec).toBeGreaterThan(0);
    const cc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;
    // Without a compiler the command says why it skipped the native loop; with one it ran it from the shipped source.
    if (cc) expect(rows.filter((r) => r.engine === 'native')).toHaveLength(1);
  });

  it('runs a benchmark on worker threads', () => {
    const out = JSON.parse(
      run(
        vqsim(),
        [
          'bench',
          'colocated',
          '--ring',
          'split',
          '--workers',
          '1',
          '--rounds',
          '1',
          '--time',
          '50',
          '--warmup',
          '0',
          '--no-native',
          '--json',
        ],
        app,
      ),
    );
    expect(JSON.stringify(out)).toContain('"workers":1');
  });
});

describe('examples/, run against the installed package', { timeout: SLOW }, () => {
  const example = (name: string, ...args: string[]) => run(process.execPath, [join('examples', name), ...args], app);

  it('throughput-sweep.mjs: every ring kind and queue size', () => {
    const out = example('throughput-sweep.mjs', '2000');
    for (const size of [64, 256, 1024]) expect(out).toMatch(new RegExp(`'split'\\s+│ ${size} `));
    for (const size of [64, 256, 1024]) expect(out).toMatch(new RegExp(`'packed'\\s+│ ${size} `));
  });

  it('swiotlb-deployments.mjs: bounces under cvm and vduse, not under traditional or an accepted TDISP device', () => {
    const out = example('swiotlb-deployments.mjs', '2000');
    const row = (d: string) =>
      out
        .split('\n')
        .find((l) => l.includes(`'${d}'`))!
        .split('│')
        .map((c) => c.trim());
    // cells: '', index, deployment, dma, encryption, kpps, vsTraditional, bounceBytesPerOp, ...
    expect(row('traditional')[3]).toBe("'direct'");
    expect(Number(row('traditional')[7])).toBe(0);
    expect(row('cvm')[3]).toBe("'swiotlb'");
    expect(Number(row('cvm')[7])).toBeGreaterThan(1500);
    expect(row('vduse')[3]).toBe("'vduse'");
    expect(Number(row('vduse')[7])).toBeGreaterThan(1500);
    expect(row('cvm-tdisp')[3]).toBe("'direct'");
    expect(Number(row('cvm-tdisp')[7])).toBe(0);
  });

  it('malicious-device.mjs: the driver names the out-of-range used id', () => {
    expect(example('malicious-device.mjs')).toBe(
      'detected: USED_ID_OUT_OF_RANGE (side: device)\nmessage: vq0: id 13 out of range\ndriver checks failed: 1\n',
    );
  });

  it('policy-decision.mjs: a Cedar policy trusts vendor A, bounces other net, refuses the rest', () => {
    expect(example('policy-decision.mjs')).toBe(
      [
        'net0: attached, dma direct',
        'net1: attached, dma swiotlb',
        'blk0: refused (neither attach_trusted nor attach_untrusted permitted)',
        'net0 use_transport: pci',
        'net0 attach_trusted: vendor-a-net-rev2',
        'net1 use_transport: pci',
        'net1 attach_untrusted: other-net-bounced',
        'blk0 use_transport: pci',
        '',
      ].join('\n'),
    );
  });

  it('blk-machine.mjs: writes and reads back through swiotlb in a CVM', () => {
    const out = example('blk-machine.mjs');
    expect(out).toContain('deployment cvm, dma swiotlb, encryption sev-snp');
    expect(out).toContain('write status 0, read status 0: 8192 bytes read back, match');
    expect(out).toMatch(/bounced [1-9]\d* bytes/);
  });
});

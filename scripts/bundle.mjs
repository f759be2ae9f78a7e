// Bundles the package with esbuild: the public entries (src/entry/*.ts, one
// per subpath of package.json "exports"), the CLI and the worker scripts in
// one build with code splitting, so the library is in shared chunks that
// every entry imports instead of being bundled into each of them. Ships the
// Wasm core beside them and a CommonJS face per entry for `require`.
//
// Paths that code finds at run time are relative to the module that holds it
// (import.meta.url): vqsim.wasm (src/memory/wasm-core.ts) and workers/
// (src/sim/thread-worker.ts) beside the chunk, bench/native/roundtrip.c one
// folder up (src/cli/bench/native.ts). So the chunks stay in dist/ itself.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENTRIES } from './entries.mjs';

// VQSIM_DIST: where to write instead of dist/ (test/package bundles a copy of
// its own to pack, away from the dist/ that other tests rewrite workers in).
const dist = process.env.VQSIM_DIST ?? 'dist';

mkdirSync(join(dist, 'workers'), { recursive: true });
// Chunk names carry a content hash: remove the last build's so that no stale
// chunk (or source map of an earlier build) is left to be packed.
for (const dir of [dist, join(dist, 'workers')]) {
  for (const f of readdirSync(dir)) {
    if (/^chunk-.*\.js$|\.map$/.test(f)) rmSync(join(dir, f));
  }
}
copyFileSync('build/vqsim.wasm', join(dist, 'vqsim.wasm'));
// The trust policy's Cedar schema and presets, read at run time beside the chunks.
mkdirSync(join(dist, 'policy'), { recursive: true });
for (const f of readdirSync('src/trust/policy/presets')) {
  copyFileSync(join('src/trust/policy/presets', f), join(dist, 'policy', f));
}

await build({
  bundle: true,
  platform: 'node',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunk-[hash]',
  target: 'node20',
  // No source maps: the package does not ship the TypeScript they would point into.
  sourcemap: false,
  logLevel: 'warning',
  // Keep runtime dependencies as imports: they are installed beside us.
  packages: 'external',
  entryPoints: {
    ...Object.fromEntries(ENTRIES.map((e) => [e, `src/entry/${e}.ts`])),
    cli: 'src/cli/main.ts',
    'workers/queue-worker': 'workers/queue-worker.ts',
    'workers/blk-device': 'workers/blk-device.ts',
    'workers/net-worker': 'workers/net-worker.ts',
  },
  outdir: dist,
});

// The HTML report's script (src/report/browser.ts with Chart.js), for the
// browser: every report inlines it, so a report opens without a network.
await build({
  entryPoints: ['src/report/browser.ts'],
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2020',
  minify: true,
  legalComments: 'inline',
  logLevel: 'warning',
  outfile: join(dist, 'report.js'),
});

// require('vqsim') and its subpaths: Node ≥ 20.19 loads an ES module from
// require() when its graph has no top-level await (ours has none; a test
// requires every entry), so each CommonJS face is the same module, not a
// second copy of the library with its own state.
for (const e of ENTRIES) {
  writeFileSync(join(dist, `${e}.cjs`), `'use strict';\nmodule.exports = require('./${e}.js');\n`);
}

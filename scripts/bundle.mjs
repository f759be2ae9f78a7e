// Bundles the library and the CLI with esbuild and ships the Wasm core beside them.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
copyFileSync('build/vqsim.wasm', 'dist/vqsim.wasm');
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // Keep runtime dependencies as imports: they are installed beside us.
  packages: 'external',
};
await build({
  ...common,
  entryPoints: {
    index: 'src/index.ts',
    cli: 'src/cli/main.ts',
    'workers/queue-worker': 'workers/queue-worker.ts',
    'workers/blk-device': 'workers/blk-device.ts',
    'workers/net-worker': 'workers/net-worker.ts',
  },
  outdir: 'dist',
});

import { build } from 'esbuild';
import { renameSync } from 'node:fs';
import type { WorkerEntry } from '../../src/sim/thread-worker.js';

/**
 * Bundles a worker entry from the sources under test into dist/workers, where
 * the threads load it from, so a test never runs a stale build. Atomically:
 * other test files may start workers meanwhile.
 */
export async function bundleWorker(entry: WorkerEntry): Promise<void> {
  const tmp = `dist/workers/${entry}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp.js`;
  await build({
    entryPoints: [`workers/${entry}.ts`],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  renameSync(tmp, `dist/workers/${entry}.js`);
}

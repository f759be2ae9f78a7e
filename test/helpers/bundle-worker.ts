import { build } from 'esbuild';
import { renameSync } from 'node:fs';
import type { WorkerEntry } from '../../src/sim/thread-worker.js';

/**
 * Bundles a worker entry from the sources under test into dist/workers, where
 * the threads load it from, so a test never runs a stale build. Atomically:
 * other test files may start workers meanwhile.
 */
export async function bundleWorker(entry: WorkerEntry): Promise<void> {
  const tmp = `dist/workers/${entry}.${unique()}.tmp.js`;
  await bundle(`workers/${entry}.ts`, tmp);
  renameSync(tmp, `dist/workers/${entry}.js`);
}

/**
 * Bundles a worker of the tests' own (test/helpers/<name>.ts) to a file of
 * its own under dist/, for one test to start and then remove.
 */
export async function bundleTestWorker(name: string): Promise<string> {
  const out = `./dist/${name}.${unique()}.mjs`;
  await bundle(`test/helpers/${name}.ts`, out);
  return out;
}

const unique = () => `${process.pid}.${Math.random().toString(36).slice(2)}`;

async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}

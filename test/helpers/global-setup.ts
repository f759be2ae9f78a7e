import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// `npx vitest run` right after a checkout builds what the tests need, so no
// test skips (or tests a stale build) for want of a build output: the Wasm
// core when any assembly/ source is newer than build/vqsim.wasm, and always
// the bundle (dist/: the library, the CLI and the worker entries the threads
// load; esbuild takes about a second). Tests skip only for a missing system
// tool (a C compiler), and say so.
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const wasm = 'build/vqsim.wasm';
  if (!existsSync(wasm) || statSync(wasm).mtimeMs < newest('assembly')) {
    execFileSync('npx', ['asc', 'assembly/index.ts', '--target', 'release'], { stdio: 'inherit' });
  }
  execFileSync(process.execPath, ['scripts/bundle.mjs'], { stdio: 'inherit' });
}

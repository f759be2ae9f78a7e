import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// `npx vitest run` right after a checkout should not test a stale core: rebuild
// the Wasm when any assembly/ source is newer than build/vqsim.wasm.
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
}

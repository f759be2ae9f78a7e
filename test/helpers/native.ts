import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Compiles test/native/vring.c against the system's <linux/virtio_ring.h>
 * into a temp dir. Returns the binary's path, or a reason why there is none
 * (no `cc`, or no header), so tests can say why they were skipped.
 */
export function buildVringHelper(): { bin?: string; reason: string } {
  const src = fileURLToPath(new URL('../native/vring.c', import.meta.url));
  const bin = join(mkdtempSync(join(tmpdir(), 'vqsim-vring-')), 'vring');
  const r = spawnSync('cc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
  if (r.error) return { reason: 'no C compiler (cc) found' };
  if (r.status !== 0) return { reason: `cc failed: ${(r.stderr || '').split('\n')[0]}` };
  return { bin, reason: '' };
}

export function runHelper(bin: string, mode: string, input = ''): string {
  return execFileSync(bin, [mode], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
}

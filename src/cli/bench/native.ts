import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The C port of the Wasm round trip: bench/native/roundtrip.c, beside dist/ or src/. */
const SOURCES = ['../bench/native/roundtrip.c', '../../../bench/native/roundtrip.c'];
export const CFLAGS = ['-O2', '-std=c11'];

export interface NativeBuild {
  compiler: string;
  flags: string[];
  binary: string;
}

export interface NativeRun {
  chainsPerSec: number;
  nsPerChain: number;
}

export function nativeSource(): string | undefined {
  for (const rel of SOURCES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

function findCompiler(): string | undefined {
  const env = process.env.CC;
  for (const cc of [...(env ? [env] : []), 'gcc', 'cc']) {
    const r = spawnSync(cc, ['--version'], { stdio: 'ignore' });
    if (r.status === 0) return cc;
  }
  return undefined;
}

/**
 * Compiles the native loop once into a cache directory keyed by the source
 * and the flags. Returns a reason string when it cannot (no compiler, no source).
 */
export function buildNative(): NativeBuild | string {
  const src = nativeSource();
  if (!src) return 'native loop skipped: bench/native/roundtrip.c not found';
  const compiler = findCompiler();
  if (!compiler) return 'native loop skipped: no C compiler found (gcc or cc)';
  const text = readFileSync(src);
  const key = createHash('sha256').update(text).update(compiler).update(CFLAGS.join(' ')).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'vqsim-native');
  const binary = join(dir, `roundtrip-${key}`);
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const partial = `${binary}.${process.pid}.tmp`;
    try {
      execFileSync(compiler, [...CFLAGS, '-o', partial, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr ?? '').split('\n')[0];
      return `native loop skipped: ${compiler} failed to build bench/native/roundtrip.c: ${stderr}`;
    }
    renameSync(partial, binary);
  }
  return { compiler, flags: CFLAGS, binary };
}

export interface NativeCase {
  queueSize: number;
  batchChains: number;
  chainLength: number;
  eventIdx: boolean;
  indirect: boolean;
  bufferBytes: number;
}

/** Runs the native loop for one case for about timeMs; throws if it fails its own checks. */
export function runNative(build: NativeBuild, c: NativeCase, timeMs: number): NativeRun {
  const args = [
    c.queueSize,
    c.batchChains,
    c.chainLength,
    c.eventIdx ? 1 : 0,
    c.indirect ? 1 : 0,
    c.bufferBytes,
    timeMs,
  ];
  const r = spawnSync(build.binary, args.map(String), { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`native loop failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
  }
  const parsed = JSON.parse(r.stdout) as { chainsPerSec: number; nsPerChain: number };
  if (!(parsed.chainsPerSec > 0)) throw new Error(`native loop printed no rate: ${r.stdout.trim()}`);
  return { chainsPerSec: parsed.chainsPerSec, nsPerChain: parsed.nsPerChain };
}

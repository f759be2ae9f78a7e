import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VqsimError } from '../../errors.js';

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
  // A prebuilt binary (for a machine without a compiler): VQSIM_NATIVE_BIN.
  const prebuilt = process.env.VQSIM_NATIVE_BIN;
  if (prebuilt) {
    if (!existsSync(prebuilt)) return `native loop skipped: VQSIM_NATIVE_BIN ${prebuilt} does not exist`;
    return { compiler: 'prebuilt', flags: CFLAGS, binary: prebuilt };
  }
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

function nativeArgs(c: NativeCase, timeMs: number): string[] {
  return [c.queueSize, c.batchChains, c.chainLength, c.eventIdx ? 1 : 0, c.indirect ? 1 : 0, c.bufferBytes, timeMs].map(
    String,
  );
}

function parseNative(status: number | null, stdout: string, stderr: string): NativeRun {
  if (status !== 0) throw new VqsimError('NATIVE_LOOP_FAILED', `native loop failed (exit ${status}): ${stderr.trim()}`);
  const parsed = JSON.parse(stdout) as { chainsPerSec: number; nsPerChain: number };
  if (!(parsed.chainsPerSec > 0))
    throw new VqsimError('NATIVE_LOOP_FAILED', `native loop printed no rate: ${stdout.trim()}`);
  return { chainsPerSec: parsed.chainsPerSec, nsPerChain: parsed.nsPerChain };
}

/** Runs the native loop for one case for about timeMs; throws if it fails its own checks. */
export function runNative(build: NativeBuild, c: NativeCase, timeMs: number): NativeRun {
  const r = spawnSync(build.binary, nativeArgs(c, timeMs), { encoding: 'utf8' });
  return parseNative(r.status, r.stdout, r.stderr || r.error?.message || '');
}

/**
 * Runs `n` copies of the native loop at once, each its own process with its
 * own memory (as co-located workers each have their own queue): the
 * machine's own scaling for this work, the yardstick for the workers'.
 */
export function runNativeParallel(build: NativeBuild, c: NativeCase, timeMs: number, n: number): Promise<NativeRun[]> {
  const one = () =>
    new Promise<NativeRun>((resolve, reject) => {
      const child = spawn(build.binary, nativeArgs(c, timeMs));
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (status) => {
        try {
          resolve(parseNative(status, out, err));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  return Promise.all(Array.from({ length: n }, one));
}

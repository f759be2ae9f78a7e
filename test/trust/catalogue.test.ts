import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VqsimError } from '../../src/errors.js';
import { catalogue, violation, violationOf } from '../../src/trust/catalogue/index.js';

// Codes the sources raise that are nobody's protocol violation: the user's
// (a bad option, a call out of order) or the host's (a worker died, a
// build output is missing), and requests a face refuses to its own caller.
const notViolations = new Set([
  'BAD_ALLOC',
  'BAD_FREE',
  'BAD_OPTION',
  'BAD_STATS_BLOCK',
  'BLK_DRIVER_BROKEN',
  'BLK_DEVICE_REMOVED',
  'BLK_NOT_BLOCK',
  'BLK_QUEUE_FULL',
  'BLK_TOO_MANY_SEGMENTS',
  'CHAIN_MISMATCH',
  'CHAIN_TOO_LONG',
  'CONSOLE_NOT_CONSOLE',
  'CTRL_NO_QUEUE',
  'DEVICE_NEEDS_RESET',
  'DMA_BAD_BACKEND',
  'DMA_BAD_DIRECTION',
  'DMA_BAD_LENGTH',
  'DMA_MAPPING_ERROR',
  'DMA_NOT_COHERENT',
  'DMA_NOT_MAPPED',
  'DMA_OUTSIDE_RAM',
  'DMA_WINDOW',
  'EMPTY_CHAIN',
  'INJECTED_FAULT',
  'NAIVE_WALK_BUDGET',
  'NATIVE_LOOP_FAILED',
  'NET_COUNT_MISMATCH',
  'NET_FRAME_TOO_BIG',
  'NET_POOL_EXHAUSTED',
  'NO_SUCH_DEVICE',
  'OUT_OF_GUEST_MEMORY',
  'OUT_OF_HOST_MEMORY',
  'POP_OUTPUT_TOO_SMALL',
  'POLICY_EVALUATION',
  'POLICY_INVALID',
  'POLICY_NO_VIOLATION',
  'POLICY_NOT_FOUND',
  'POLICY_PANIC',
  'POLICY_REQUEST',
  'POLICY_SCHEMA',
  'POLICY_SCHEMA_NOT_FOUND',
  'PUSH_ID_NOT_IN_FLIGHT',
  'PUSH_ID_OUT_OF_RANGE',
  'PUSH_OUT_OF_ORDER',
  'QUEUE_BROKEN',
  'REPORT_SCRIPT_MISSING',
  'RX_UNKNOWN',
  'SCENARIO_SETUP',
  'STATS_REGISTRY_FULL',
  'TDISP_BAD_MEASUREMENT',
  'TDISP_BAD_STATE',
  'TDISP_ERROR',
  'WASM_NOT_FOUND',
  'WORKER_DIED',
  'WORKER_FAILED',
  'WORKER_HUNG',
  'WORKER_STOPPED',
]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every code a source raises: `new XError('CODE'` and the ring error table's `code: 'CODE'`. */
function raisedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  for (const p of sources('src')) {
    if (p.startsWith(join('src', 'trust', 'catalogue'))) continue;
    const s = readFileSync(p, 'utf8');
    for (const m of s.matchAll(/new (\w*Error)\(\s*'([A-Z][A-Z0-9_]+)'|code: '([A-Z][A-Z0-9_]+)'/g)) {
      found.set(m[2] ?? m[3] ?? '', p);
    }
  }
  return found;
}

describe('the violation catalogue', () => {
  it('has an entry for every code the sources raise that is not a user or host error', () => {
    const ids = new Set(catalogue.map((v) => v.id));
    const missing = [...raisedCodes()].filter(([c]) => !ids.has(c) && !notViolations.has(c));
    expect(missing.map(([c, p]) => `${c} (${p})`)).toEqual([]);
  });

  it('lists no code twice for a side, and fills every field', () => {
    for (const v of catalogue) {
      expect(v.id).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(v.message.length, v.id).toBeGreaterThan(0);
      expect(v.source.length, v.id).toBeGreaterThan(0);
      expect(v.summary.length, v.id).toBeGreaterThan(0);
      expect(violation(v.id, v.side)).toBe(v);
    }
    expect(new Set(catalogue.map((v) => `${v.side}:${v.id}`)).size).toBe(catalogue.length);
  });

  it('names the entry an error raised only for the side that committed it', () => {
    expect(violationOf(new VqsimError('USED_ID_OUT_OF_RANGE', 'id 9 out of range', 'device'))?.layer).toBe('ring');
    // The driver face refuses a zero-length buffer its caller asked for: the user's error, no violation.
    expect(violationOf(new VqsimError('ZERO_LENGTH_BUFFER', 'zero', 'user'))).toBeUndefined();
    expect(violationOf(new VqsimError('ZERO_LENGTH_BUFFER', 'zero', 'driver'))?.side).toBe('driver');
    expect(violationOf(new Error('plain'))).toBeUndefined();
  });
});

describe('the README', () => {
  it('carries the catalogue table as `vqsim attack --list --markdown` prints it', async () => {
    const { catalogueMarkdown } = await import('../../src/cli/attack.js');
    const readme = readFileSync('README.md', 'utf8');
    const a = readme.indexOf('<!-- catalogue:begin -->\n');
    const b = readme.indexOf('<!-- catalogue:end -->');
    expect(a, 'README has the catalogue markers').toBeGreaterThan(0);
    // Cell by cell: prettier pads the README's table columns.
    const cells = (md: string) =>
      md
        .trim()
        .split('\n')
        .map((line) =>
          line
            .split(/(?<!\\)\|/)
            .map((c) => c.trim().replace(/^-{3,}$/, '---'))
            .join('|'),
        );
    expect(cells(readme.slice(a + '<!-- catalogue:begin -->\n'.length, b))).toEqual(cells(catalogueMarkdown()));
  });
});

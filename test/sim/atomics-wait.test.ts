// design.md, pitfalls: Node 20's baseline Wasm compiler (Liftoff) miscompiles
// memory.atomic.wait32 (locals live across the wait come back wrong). vqsim's
// choice is to wait from JavaScript (Atomics.wait on an Int32Array over the
// same buffer, src/sim/loops.ts), so the Wasm core must never contain a wait.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('the Wasm core has no atomic wait: threads sleep in JavaScript', () => {
  const wat = readFileSync(new URL('../../build/vqsim.wat', import.meta.url), 'utf8');
  expect(wat).toMatch(/\(func /); // the text really is the module
  expect(wat).not.toMatch(/atomic\.wait/);
  const loops = readFileSync(new URL('../../src/sim/loops.ts', import.meta.url), 'utf8');
  expect(loops).toMatch(/Atomics\.wait\(/);
});

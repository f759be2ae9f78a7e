// The one catalogue of violations (issue: trust). Every check that a side
// across the trust boundary can fail raises a VqsimError whose code is an
// entry's id and whose side is the entry's side; test/trust/catalogue.test.ts
// holds every code the sources raise against this list.
import { VqsimError } from '../../errors.js';
import { deviceViolations } from './device.js';
import { dmaViolations } from './dma.js';
import { interruptViolations } from './interrupt.js';
import { protectViolations } from './protect.js';
import { ringViolations } from './ring.js';
import { transportViolations } from './transport.js';
import type { Violation, ViolationSide } from './types.js';

export type * from './types.js';

/** Every entry, ring first, in a stable order. */
export const catalogue: readonly Violation[] = [
  ...ringViolations,
  ...transportViolations,
  ...deviceViolations,
  ...dmaViolations,
  ...interruptViolations,
  ...protectViolations,
];

const byKey = new Map<string, Violation>();
for (const v of catalogue) {
  const key = `${v.side}:${v.id}`;
  if (byKey.has(key)) throw new Error(`violation catalogue: ${key} is listed twice`);
  byKey.set(key, v);
}

/** The entry for a code committed by `side`, if the catalogue has one. */
export function violation(id: string, side: ViolationSide): Violation | undefined {
  return byKey.get(`${side}:${id}`);
}

/**
 * The catalogue entry an error raised, or undefined when it is not a
 * violation (a user's or the host's error, or a code of neither side).
 */
export function violationOf(e: unknown): Violation | undefined {
  if (!(e instanceof VqsimError) || (e.side !== 'driver' && e.side !== 'device')) return undefined;
  return violation(e.code, e.side);
}

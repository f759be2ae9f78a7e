// The invariants every fuzz target checks after every step, in one place:
// an operation either completes or ends with a catalogue violation (never a
// RangeError, a Wasm trap or a user/host error), an honest run raises no
// violation, a token comes back only if it was added and only once.
import { VqsimError } from '../../errors.js';
import { violationOf } from '../catalogue/index.js';
import type { Violation } from '../catalogue/types.js';
import type { FuzzFailureCause, FuzzFailureKind, IterationResult } from './types.js';

/** Codes that follow from an earlier violation in the same iteration, not failures of their own. */
const CONSEQUENCES = new Set(['QUEUE_BROKEN', 'DEVICE_NEEDS_RESET']);

export function describeError(e: unknown): string {
  if (e instanceof VqsimError) return `${e.code} (side ${e.side}): ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** One iteration's bookkeeping: operations, violations by id, the first failure. */
export class Checker {
  operations = 0;
  readonly violations: Record<string, number> = {};
  failure: FuzzFailureCause | undefined;
  /** The last violation of this iteration (a later QUEUE_BROKEN follows from it). */
  lastViolation: Violation | undefined;

  constructor(
    readonly honest: boolean,
    /** Operations this iteration may run. */
    readonly budget: number,
  ) {}

  /** The iteration stops: a failure was found or the budget is spent. */
  get done(): boolean {
    return this.failure !== undefined || this.operations >= this.budget;
  }

  /** The last lies told in this iteration, for the failure message. */
  private readonly lies: string[] = [];

  /** Records a lie the malicious side told (the last three go into a failure's message). */
  lied(what: string): void {
    this.lies.push(what);
    if (this.lies.length > 3) this.lies.shift();
  }

  fail(kind: FuzzFailureKind, message: string): void {
    const after = this.lies.length > 0 ? ` (after the lies: ${this.lies.join('; ')})` : '';
    this.failure ??= { kind, message: message + after };
  }

  /** Runs one operation: its value, or undefined when it threw (recorded and classified). */
  op<T>(what: string, fn: () => T): T | undefined {
    this.operations++;
    try {
      return fn();
    } catch (e) {
      this.caught(what, e);
      return undefined;
    }
  }

  /**
   * Classifies what an operation threw: a catalogue violation is counted (a
   * false positive in an honest run); a consequence of an earlier violation
   * passes; anything else is a failure.
   */
  caught(what: string, e: unknown): Violation | undefined {
    const v = violationOf(e);
    if (v) {
      this.violations[v.id] = (this.violations[v.id] ?? 0) + 1;
      this.lastViolation = v;
      if (this.honest) this.fail('false-positive', `${what}: an honest run raised ${describeError(e)}`);
      return v;
    }
    if (e instanceof VqsimError && CONSEQUENCES.has(e.code) && this.lastViolation) return undefined;
    // A simulator budget or deadline that ended a wait (WORKER_HUNG, a *_TIMEOUT no catalogue entry names).
    const hung = e instanceof VqsimError && /HUNG|TIMEOUT/.test(e.code);
    this.fail(hung ? 'hang' : 'error', `${what}: ${describeError(e)}`);
    return undefined;
  }

  result(variant: string): IterationResult {
    return { variant, operations: this.operations, violations: this.violations, failure: this.failure };
  }
}

/** Tokens the driver added and not yet got back: each comes back once, and only if added. */
export class Tokens {
  private readonly out = new Set<number>();
  add(token: number): void {
    this.out.add(token);
  }
  has(token: number): boolean {
    return this.out.has(token);
  }
  get outstanding(): number {
    return this.out.size;
  }
  /** Takes a returned token; a failure message when it was never added or came back already. */
  complete(token: number): string | undefined {
    if (this.out.delete(token)) return undefined;
    return `token ${token} returned that is not outstanding (never added, or returned twice)`;
  }
  list(): number[] {
    return [...this.out];
  }
}

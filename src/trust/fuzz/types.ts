// What one fuzz target is and what one iteration of it reports (issue #10,
// "Trust": fast-check properties in CI and `vqsim fuzz`). A target builds a
// fresh victim per iteration, drives it with a seeded mix of honest
// operations and (unless honest) malicious mutations of what the other side
// writes, and checks the invariants after every step (check.ts).

export const FUZZ_TARGETS = ['ring', 'net', 'blk', 'console', 'transport'] as const;
export type FuzzTargetName = (typeof FUZZ_TARGETS)[number];

/**
 * Which invariant broke:
 * - 'false-positive': an honest run raised a catalogue violation.
 * - 'error': an operation threw something that is not a catalogue violation
 *   (a RangeError, a TypeError, a Wasm trap, a user or host error).
 * - 'not-broken': a violation whose handling is 'break' left the queue usable.
 * - 'token': the driver returned a token it never added, or one twice.
 * - 'lost': an honest run ended with a token, frame, byte or request missing.
 * - 'canary': guest memory outside the device's buffers changed in an honest
 *   run, or under a device whose access was refused.
 * - 'dma': the device's DMA context faulted in an honest run.
 * - 'hang': a loop waiting for the other side made no progress within its budget.
 */
export type FuzzFailureKind = 'false-positive' | 'error' | 'not-broken' | 'token' | 'lost' | 'canary' | 'dma' | 'hang';

export interface FuzzFailureCause {
  kind: FuzzFailureKind;
  message: string;
}

export interface IterationOptions {
  readonly seed: number;
  readonly iteration: number;
  /** Honest operations only: any violation is a false positive. */
  readonly honest: boolean;
  /**
   * Testing the fuzzer itself: the honest device lies once (returns a used
   * id out of range) after this many operations of the iteration.
   */
  readonly injectLieAt?: number | undefined;
}

export interface IterationResult {
  /** What the iteration ran on: 'split', 'packed', 'pci/split', ... */
  variant: string;
  operations: number;
  /** Catalogue violations the victim raised, by id. */
  violations: Record<string, number>;
  failure?: FuzzFailureCause | undefined;
}

export interface FuzzTarget {
  readonly name: FuzzTargetName;
  /** One line for --help and reports. */
  readonly title: string;
  run(options: IterationOptions): IterationResult;
}

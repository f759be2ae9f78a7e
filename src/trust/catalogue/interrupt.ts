// Interrupt-layer violations: interrupts a device raises when it must not
// (before DRIVER_OK, after a reset), storms, and config-change interrupts.
import type { Violation } from './types.js';

export const interruptViolations: readonly Violation[] = [];

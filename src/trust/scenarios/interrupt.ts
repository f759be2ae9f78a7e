// Attack scenarios for the interrupt-layer entries of the violation catalogue.
import type { Scenario } from '../attack/types.js';

export const interruptScenarios: readonly Scenario[] = [];

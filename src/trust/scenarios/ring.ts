// Attack scenarios for the ring-layer entries of the violation catalogue.
import type { Scenario } from '../attack/types.js';

export const ringScenarios: readonly Scenario[] = [];

// Attack scenarios for the transport-layer entries of the violation catalogue.
import type { Scenario } from '../attack/types.js';

export const transportScenarios: readonly Scenario[] = [];

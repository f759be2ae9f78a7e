// Attack scenarios for the device-layer entries of the violation catalogue.
import type { Scenario } from '../attack/types.js';

export const deviceScenarios: readonly Scenario[] = [];

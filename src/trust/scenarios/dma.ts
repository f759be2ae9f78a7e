// Attack scenarios for the dma-layer entries of the violation catalogue.
import type { Scenario } from '../attack/types.js';

export const dmaScenarios: readonly Scenario[] = [];

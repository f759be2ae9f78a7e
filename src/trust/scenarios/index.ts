// Every attack scenario, one or more per catalogue entry (`vqsim attack`).
import type { Scenario } from '../attack/types.js';
import { deviceScenarios } from './device.js';
import { dmaScenarios } from './dma.js';
import { interruptScenarios } from './interrupt.js';
import { protectScenarios } from './protect.js';
import { ringScenarios } from './ring.js';
import { transportScenarios } from './transport.js';

export const scenarios: readonly Scenario[] = [
  ...ringScenarios,
  ...transportScenarios,
  ...deviceScenarios,
  ...dmaScenarios,
  ...interruptScenarios,
  ...protectScenarios,
];

// Where a benchmark's device runs: the deployment, the guest's DMA backend
// and the memory-encryption model (`--deployment`, `--dma`, `--encryption`,
// lists measured in the same rounds), and the traditional/direct baseline
// each row is compared with (`vsDirect`).
import { DMA_BACKEND_NAMES, type DmaBackendName } from '../../dma/backends.js';
import { ENCRYPTION_MODELS, type EncryptionModel } from '../../memory/guest-memory.js';
import { DEPLOYMENT_NAMES, DEPLOYMENTS, type DeploymentName } from '../../sim/deployments.js';
import { UsageError } from '../usage.js';
import { policyFlag } from '../policy.js';
import { Option, type Command } from 'commander';
import { list } from './options.js';

export interface Placement {
  /** The deployment, or undefined: any backend, no encryption unless asked. */
  deployment: DeploymentName | undefined;
  dma: DmaBackendName;
  encryption: EncryptionModel;
  /** The machine's trust policy (`--policy FILE|PRESET`), if any. */
  policy?: string | undefined;
}

/** The placement flags of the device benchmarks: --deployment, --dma, --encryption (lists) and --policy. */
export function placementFlags(c: Command): Command {
  return c
    .addOption(
      new Option(
        '--deployment <list>',
        `${DEPLOYMENT_NAMES.join(',')}; each picks its DMA backend and encryption model (default: none)`,
      ),
    )
    .addOption(
      new Option(
        '--dma <list>',
        `${DMA_BACKEND_NAMES.filter((n) => n !== 'offset').join(',')} (default: the deployment's, or direct)`,
      ),
    )
    .addOption(new Option('--encryption <list>', `${ENCRYPTION_MODELS.join(',')} (default: the deployment's, or none)`))
    .addOption(
      new Option(
        '--policy <file|preset>',
        "the machines' trust policy: traditional, tdx-default, tdisp-strict or a Cedar file (default: none); " +
          "rows are compared with the same placement's baseline without it",
      ),
    );
}

/** The values placementFlags gives. */
export type PlacementFlags = {
  deployment?: string;
  dma?: string;
  encryption?: string;
  policy?: string;
};

function choose<T extends string>(flag: string, value: string | undefined, all: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const items = list(flag, value, `must be one or more of ${all.join(', ')}`);
  for (const s of items) {
    if (!(all as readonly string[]).includes(s))
      throw new UsageError(`--${flag} ${value}: ${s} is not one of ${all.join(', ')}`);
  }
  return items as T[];
}

/** The placements the flags ask for, each combination a deployment allows; a combination none allows is a UsageError. */
export function parsePlacements(values: PlacementFlags): Placement[] {
  // Loaded once here so a bad policy is one clear line before anything runs.
  if (values.policy !== undefined) policyFlag(values.policy);
  const policy = values.policy === undefined ? {} : { policy: values.policy };
  const deployments = choose('deployment', values.deployment, DEPLOYMENT_NAMES);
  const dmas = choose('dma', values.dma, DMA_BACKEND_NAMES);
  const encs = choose('encryption', values.encryption, ENCRYPTION_MODELS);
  const out: Placement[] = [];
  for (const deployment of deployments ?? [undefined]) {
    const dep = deployment === undefined ? undefined : DEPLOYMENTS[deployment];
    const dmaOk: readonly DmaBackendName[] = dep?.dma ?? DMA_BACKEND_NAMES;
    const encOk: readonly EncryptionModel[] = dep?.encryption ?? ENCRYPTION_MODELS;
    const d = dmas ? dmas.filter((x) => dmaOk.includes(x)) : [dep ? dmaOk[0]! : 'direct'];
    const e = encs ? encs.filter((x) => encOk.includes(x)) : [dep ? encOk[0]! : 'none'];
    if (d.length === 0) {
      throw new UsageError(
        `--deployment ${deployment} and --dma ${values.dma} do not fit together: ${deployment} uses dma ${dmaOk.join(' or ')}`,
      );
    }
    if (e.length === 0) {
      throw new UsageError(
        `--deployment ${deployment} and --encryption ${values.encryption} do not fit together: ${deployment} runs encryption ${encOk.join(', ')}`,
      );
    }
    for (const dma of d) for (const encryption of e) out.push({ deployment, dma, encryption, ...policy });
  }
  return out;
}

/** The baseline: a traditional machine's direct DMA without encryption. */
export function isBaseline(p: Placement): boolean {
  return (
    (p.deployment === undefined || p.deployment === 'traditional') &&
    p.dma === 'direct' &&
    p.encryption === 'none' &&
    p.policy === undefined
  );
}

/** The placements to measure: those asked, and the baseline first when any differs from it (for vsDirect). */
export function withBaseline(ps: Placement[]): Placement[] {
  if (ps.every(isBaseline)) return ps;
  if (ps.some(isBaseline)) return ps;
  return [{ deployment: undefined, dma: 'direct', encryption: 'none' }, ...ps];
}

export function placementName(p: Placement): string {
  return [p.deployment ?? 'any', p.dma, p.encryption, ...(p.policy === undefined ? [] : [p.policy])].join('+');
}

/** The baseline placement: a traditional machine, direct DMA, no encryption. */
export const BASELINE: Placement = { deployment: undefined, dma: 'direct', encryption: 'none', policy: undefined };

/**
 * Sets each row's vsDirect: its rate over the rate of the same case in the
 * baseline placement (`key` names a case with the placement replaced by the
 * baseline's), when more than one placement ran.
 */
export function setVsDirect<R extends Placement & { vsDirect?: number }>(
  rows: R[],
  placements: number,
  key: (r: R) => string,
  rate: (r: R) => number,
): void {
  if (placements < 2) return;
  const base = new Map(rows.filter(isBaseline).map((r) => [key(r), rate(r)]));
  for (const r of rows) {
    const b = base.get(key(r));
    if (b !== undefined && b > 0) r.vsDirect = rate(r) / b;
  }
}

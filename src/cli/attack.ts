// `vqsim attack`: every scenario of the violation catalogue against the
// hardened and the naive side, deployment by deployment (src/trust/attack).
import { DEPLOYMENT_NAMES, type DeploymentName } from '../sim/deployments.js';
import { catalogue } from '../trust/catalogue/index.js';
import { attacksPassed, runAttacks, type AttackRow, type AttackSide } from '../trust/attack/run.js';
import { scenarios } from '../trust/scenarios/index.js';
import { Option, type Command } from 'commander';
import { choices, list, seedFlag } from './bench/options.js';
import { exportFlags } from './export.js';
import { valueFlag } from './parser.js';
import { resultDocument } from './result.js';
import { textTable } from './bench/report.js';
import type { Io } from './io.js';
import { UsageError } from './usage.js';
import { PolicyError, TrustPolicy } from '../trust/policy/policy.js';

const ATTACK_HELP = `Runs each attack scenario (one or more per entry of the violation catalogue)
against the hardened victim and the naive one (hardened: false), in every
deployment the scenario applies to, and reports what the victim detected and
what the attacker got: bytes of planted secrets it read, bytes of guest
memory outside its own buffers it changed, and whether the victim hung.

Verdicts: detected (the victim named the violation), contained (not named,
but nothing leaked, changed or hung: e.g. a CVM device reads ciphertext),
trusted (the deployment lets this device do it by design: a traditional VM's
device reads all RAM), damage (naive: the lie did harm), missed (hardened:
the lie went through), crashed (the simulator threw something that is not a
catalogue violation: a bug). Exit status 1 when any hardened row is missed
or any row crashed, else 0.`;

const ATTACK_AFTER = `
Examples:
  vqsim attack
  vqsim attack --scenario dma-read-private --deployment traditional,cvm
  vqsim attack --list --markdown
`;

/** `vqsim attack`: its help and flags. */
export function defineAttack(c: Command): Command {
  const ids = scenarios.map((s) => s.id);
  return exportFlags(
    c
      .description(ATTACK_HELP)
      .addOption(new Option('--list', 'print the catalogue (id, side, layer, severity, handling, message, source)')),
    "with --list: the catalogue as a Markdown table (the README's); without: the rows as a Markdown table",
  )
    .addOption(
      valueFlag('--scenario <id,...>', 'scenarios to run (default: all; --list shows them)', (f, v) =>
        list(f, v, `must be scenario ids: ${ids.join(', ')}`).map((id) => {
          if (!ids.includes(id))
            throw new UsageError(`--scenario ${id}: not a scenario (vqsim attack --list shows them)`);
          return id;
        }),
      ),
    )
    .addOption(
      valueFlag('--deployment <d,...>', `${DEPLOYMENT_NAMES.join(', ')} (default: all)`, (f, v) =>
        choices(f, v, DEPLOYMENT_NAMES),
      ),
    )
    .addOption(
      valueFlag(
        '--side <s,...>',
        'hardened, naive',
        (f, v) => choices(f, v, ['hardened', 'naive'] as const),
        'hardened,naive',
      ),
    )
    .addOption(seedFlag('seed of secrets, canaries and scripted lies'))
    .addOption(
      new Option(
        '--policy <file|preset>',
        'a trust policy (traditional, tdx-default, tdisp-strict, or a Cedar file): each violation named gets the ' +
          'reaction it chooses (continue, reset_device, detach_device, panic) and the policies behind it',
      ),
    )
    .addOption(new Option('--json', 'print the rows as JSON'))
    .addHelpText('after', ATTACK_AFTER);
}

/** The values defineAttack's flags give. */
export type AttackFlags = {
  list?: boolean;
  markdown?: boolean;
  csv?: boolean;
  scenario?: string[];
  deployment?: DeploymentName[];
  side: AttackSide[];
  seed: number;
  policy?: string;
  json?: boolean;
};

/** The catalogue as a Markdown table, with the scenarios that commit each entry. */
export function catalogueMarkdown(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '| id | committed by | layer | severity | handling | message | follows | scenarios |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const v of catalogue) {
    const by = scenarios.filter((s) => s.violation === v.id && s.attacker === v.side).map((s) => `\`${s.id}\``);
    lines.push(
      `| \`${v.id}\` | ${v.side} | ${v.layer} | ${v.severity} | ${v.handling} | ${esc(v.message)} | ${esc(v.source)} | ${by.join(', ') || '—'} |`,
    );
  }
  return lines.join('\n') + '\n';
}

function catalogueTable(): string {
  const head = ['id', 'side', 'layer', 'severity', 'handling', 'scenarios', 'message'];
  const rows = catalogue.map((v) => [
    v.id,
    v.side,
    v.layer,
    v.severity,
    v.handling,
    String(scenarios.filter((s) => s.violation === v.id && s.attacker === v.side).length),
    v.message,
  ]);
  return textTable(`vqsim attack --list: ${catalogue.length} violations`, head, rows, 7);
}

function attackTable(rows: readonly AttackRow[], seed: number): string {
  const head = [
    'scenario',
    'deployment',
    'side',
    'verdict',
    'violation',
    'reaction',
    'leaked B',
    'corrupted B',
    'hung',
  ];
  const withPolicy = rows.some((r) => r.policyReaction !== undefined);
  if (withPolicy) head.push('policy reaction', 'policies');
  const cells = rows.map((r) => [
    r.scenario,
    r.deployment,
    r.side,
    r.verdict === 'missed' || r.verdict === 'crashed' ? r.verdict.toUpperCase() : r.verdict,
    r.violation ?? '-',
    r.reaction,
    String(r.bytesLeaked),
    String(r.bytesCorrupted),
    r.hung ? 'yes' : 'no',
    ...(withPolicy ? [r.policyReaction ?? '-', r.policyIds?.join(' ') || '-'] : []),
  ]);
  const count = (side: AttackSide, v: AttackRow['verdict']) =>
    rows.filter((r) => r.side === side && r.verdict === v).length;
  const hardened = rows.filter((r) => r.side === 'hardened').length;
  const naive = rows.length - hardened;
  const summary =
    `\nhardened: ${hardened} rows, ${count('hardened', 'detected')} detected, ${count('hardened', 'contained')} contained, ` +
    `${count('hardened', 'trusted')} trusted, ${count('hardened', 'missed')} missed; ` +
    `naive: ${naive} rows, ${count('naive', 'damage')} with damage` +
    (rows.some((r) => r.verdict === 'crashed')
      ? `; ${rows.filter((r) => r.verdict === 'crashed').length} CRASHED`
      : '') +
    '\n';
  const notes = rows
    .filter((r) => r.verdict === 'crashed' || r.verdict === 'missed')
    .map((r) => `${r.scenario} ${r.deployment} ${r.side}: ${r.note ?? r.verdict}\n`)
    .join('');
  return textTable(`vqsim attack: seed ${seed}`, head, cells, 6) + summary + notes;
}

/** `vqsim attack [options]`. Returns the exit code. */
export async function attackCommand(values: AttackFlags, io: Io): Promise<number> {
  if (values.list) {
    if (values.csv || values.json) {
      throw new UsageError(`--${values.csv ? 'csv' : 'json'} with --list: the catalogue is a table, or --markdown`);
    }
    io.out(values.markdown ? catalogueMarkdown() : catalogueTable());
    return 0;
  }
  const wanted = values.scenario;
  const deployments = values.deployment ?? DEPLOYMENT_NAMES;
  const { side: sides, seed } = values;
  let policy: TrustPolicy | undefined;
  if (values.policy !== undefined) {
    try {
      policy = TrustPolicy.load(values.policy);
    } catch (e) {
      if (e instanceof PolicyError) throw new UsageError(`--policy ${values.policy}: ${e.message.split('\n')[0]}`);
      throw e;
    }
  }
  const rows = await runAttacks({
    scenarios: wanted,
    deployments,
    sides,
    seed,
    policy,
    onRow: (i, n, what) => io.progress(`[${i + 1}/${n}] ${what}`),
  });
  io.progress('');
  if (rows.length === 0) {
    throw new UsageError('no scenario applies to the deployments and sides asked for (vqsim attack --list shows them)');
  }
  io.out(
    values.json
      ? resultDocument(
          'attack',
          { scenarios: wanted ?? 'all', deployments, sides, seed },
          rows.map((r) => ({ bench: 'attack', name: `${r.scenario}/${r.deployment}/${r.side}`, ...r })),
          [],
          { seed },
        )
      : attackTable(rows, seed),
  );
  return attacksPassed(rows) ? 0 : 1;
}

// The flags every study takes (--full, --json/--csv/--markdown, --html,
// --shard) and what they make of the output.
import { Option, type Command } from 'commander';
import { valueFlag } from './parser.js';
import { oneFormat } from './export.js';
import { parseShard, type Shard } from './shard.js';
import { UsageError } from './usage.js';

export type ExportFormat = 'table' | 'json' | 'csv' | 'markdown';

/** The flags every study takes: --full, the export formats, --html and --shard (after the study's own). */
export function studyFlags(c: Command, full: string): Command {
  return c
    .addOption(new Option('--full', full))
    .addOption(new Option('--json', 'print the result document (JSON) instead of the table'))
    .addOption(new Option('--csv', 'print the rows as CSV instead of the table'))
    .addOption(new Option('--markdown', 'print the rows as a Markdown table instead of the table'))
    .addOption(new Option('--html <file>', 'also write the rows as a self-contained HTML report (charts)'))
    .addOption(
      valueFlag(
        '--shard <i/n>',
        "run the i-th of n slices of the grid (with --json; vqsim merge puts the slices' documents together)",
        (_f, v) => parseShard(v),
      ),
    );
}

/** The values studyFlags gives. */
export type StudyFlags = {
  full?: boolean;
  json?: boolean;
  csv?: boolean;
  markdown?: boolean;
  html?: string;
  shard?: Shard;
};

/** What every study makes of studyFlags: the output format, the slice, the report file. */
export function studyOutputOptions(v: StudyFlags): {
  format: ExportFormat;
  shard: Shard | undefined;
  html: string | undefined;
} {
  const format = oneFormat(v) ?? 'table';
  const { shard } = v;
  if (shard && format !== 'json') {
    throw new UsageError(
      `--shard ${shard.index}/${shard.count}: needs --json (vqsim merge puts the slices' documents together)`,
    );
  }
  return { format, shard, html: v.html };
}

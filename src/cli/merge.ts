// `vqsim merge FILES...`: the JSON documents of every slice of a sharded
// study (`--shard i/n --json`) put back together, in grid order, as one
// document; `--html FILE` also writes the merged report.
import { Option, type Command } from 'commander';
import type { Io } from './io.js';
import { mergeDocuments, readDocuments } from './shard.js';
import { writeStudyReport } from './study-report.js';
import { UsageError } from './usage.js';

const MERGE_HELP = `Puts the JSON documents of every slice of one sharded study back together
(run each slice with --shard i/n --json) and prints one document, its rows in
the order of the whole grid. A slice missing, repeated or of another run is
refused by name.`;

const MERGE_AFTER = `
Example:
  for i in 1 2 3 4; do vqsim study pool --shard $i/4 --json > pool-$i.json & done; wait
  vqsim merge pool-*.json --html pool.html > pool.json
`;

/** `vqsim merge`: its help, arguments and flags. */
export function defineMerge(c: Command): Command {
  return c
    .description(MERGE_HELP)
    .argument('[file...]', "the slices' JSON documents")
    .addOption(new Option('--html <file>', 'also write the merged rows as an HTML report'))
    .addHelpText('after', MERGE_AFTER);
}

export async function mergeCommand(files: string[], values: { html?: string }, io: Io): Promise<number> {
  const merged = mergeDocuments(readDocuments(files));
  const command = (merged.meta as { command?: string } | undefined)?.command ?? '';
  if (values.html !== undefined) {
    if (command !== 'study swiotlb' && command !== 'study pool') {
      throw new UsageError(
        `--html: the documents are of ${command || 'no study'}; reports draw study swiotlb and study pool`,
      );
    }
    writeStudyReport(values.html, command, merged.rows as object[]);
    io.err(`vqsim: wrote ${values.html}\n`);
  }
  io.out(JSON.stringify(merged, null, 2) + '\n');
  return 0;
}

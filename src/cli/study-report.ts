// `--html FILE` of the studies and of `vqsim merge`: the rows as one
// self-contained HTML report (src/report), with the run's command line and
// machine above the charts.
import { writeFileSync } from 'node:fs';
import { renderHtmlReport } from '../report/html.js';
import {
  breakdownCharts,
  overheadCharts,
  poolCharts,
  type PoolStudyRowLike,
  type SwiotlbStudyRowLike,
} from '../report/spec.js';
import { cpuName } from './bench/report.js';
import { vqsimVersion } from './result.js';
import { UsageError } from './usage.js';

/** Writes the report of a study's rows to `file`; a file that cannot be written is a UsageError naming it. */
export function writeStudyReport(
  file: string,
  command: string,
  rows: readonly object[],
  argv?: readonly string[],
): void {
  const charts =
    command === 'study pool'
      ? poolCharts(rows as readonly PoolStudyRowLike[])
      : [
          ...overheadCharts(rows as readonly SwiotlbStudyRowLike[]),
          ...breakdownCharts(rows as readonly SwiotlbStudyRowLike[]),
        ];
  const html = renderHtmlReport({
    title: `vqsim ${command}`,
    about: [
      `vqsim ${vqsimVersion()}, ${new Date().toISOString()}`,
      `command: vqsim ${(argv ?? process.argv.slice(2)).join(' ')}`,
      `machine: ${cpuName()}, node ${process.version}`,
      'measured rates (ops/s against traditional) and modeled cycles are drawn apart, never mixed',
    ],
    charts,
  });
  try {
    writeFileSync(file, html);
  } catch (e) {
    throw new UsageError(`--html ${file}: cannot write it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

// One self-contained HTML report: the chart specs as data, the Chart.js
// bundle inlined (dist/report.js, built by scripts/bundle.mjs), no
// network at view time. Rows of a study become charts through spec.ts.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VqsimError } from '../errors.js';
import type { ChartSpec } from './spec.js';

/** The bundled chart script: beside the bundle that runs (dist/), or dist/ from the sources. */
function chartScript(): string {
  const candidates = [new URL('./report.js', import.meta.url), new URL('../../dist/report.js', import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new VqsimError(
    'REPORT_SCRIPT_MISSING',
    `the report's chart script (dist/report.js) is missing: run npm run build`,
  );
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

export interface HtmlReport {
  title: string;
  /** Lines about the run (command, machine, date), shown above the charts. */
  about: readonly string[];
  charts: readonly ChartSpec[];
}

export function renderHtmlReport(r: HtmlReport): string {
  const charts = r.charts
    .map((c) => `<figure><canvas id="${esc(c.id)}" width="900" height="420"></canvas></figure>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(r.title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
figure { margin: 1.5em 0; }
ul.about { color: #555; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<ul class="about">
${r.about.map((a) => `<li>${esc(a)}</li>`).join('\n')}
</ul>
${charts}
<script>globalThis.VQSIM_CHARTS = ${scriptJson(r.charts)};</script>
<script>${chartScript().replace(/<\/script/gi, '<\\/script')}</script>
</body>
</html>
`;
}

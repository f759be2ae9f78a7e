// Bundles the HTML report's script (src/report/browser.ts with Chart.js) for
// the browser: every report inlines it, so a report opens without a network.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/report/browser.ts'],
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2020',
  minify: true,
  legalComments: 'inline',
  logLevel: 'warning',
  outfile: 'dist/report.js',
});

// The HTML report: study rows → chart specs (pure), → one self-contained page
// that headless Chromium opens and draws, every chart with its data points.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPoolStudy } from '../../src/cli/study-pool.js';
import { runSwiotlbStudy } from '../../src/cli/study.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { breakdownCharts, overheadCharts, poolCharts, type SwiotlbStudyRowLike } from '../../src/report/spec.js';

const row = (deployment: string, size: number, vs: number): SwiotlbStudyRowLike => ({
  device: 'net',
  ring: 'split',
  deployment,
  size,
  vsTraditional: vs,
  cycles: 30,
  cyclesBy: { exits: 10, bounceCopy: 20 },
});

describe('report charts from study rows', () => {
  it('overhead: a line per deployment over the sizes; breakdown: stacked bars at the largest size', () => {
    const rows = [row('traditional', 64, 1), row('cvm', 64, 0.5), row('traditional', 4096, 1), row('cvm', 4096, 0.25)];
    const [o] = overheadCharts(rows);
    expect(o).toMatchObject({ id: 'overhead-net-split', kind: 'line', labels: [64, 4096] });
    expect(o!.datasets).toEqual([
      { label: 'traditional', data: [1, 1] },
      { label: 'cvm', data: [0.5, 0.25] },
    ]);
    const [b] = breakdownCharts(rows);
    expect(b).toMatchObject({ kind: 'bar', stacked: true, labels: ['traditional', 'cvm'] });
    expect(b!.datasets).toEqual([
      { label: 'exits', data: [10, 10] },
      { label: 'bounceCopy', data: [20, 20] },
    ]);
  });

  it('escapes what it prints and what it embeds', () => {
    const html = renderHtmlReport({ title: 'a <b> & "c"', about: ['</script><x>'], charts: [] });
    expect(html).toContain('<title>a &lt;b&gt; &amp; &quot;c&quot;</title>');
    expect(html).toContain('<li>&lt;/script&gt;&lt;x&gt;</li>');
    expect(html.match(/<script>/g)).toHaveLength(2);
  });
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const why = chromium
  ? ''
  : ' (SKIPPED: no Chromium at /usr/bin/chromium; apt-get install -y chromium, as .ci/run does)';

describe('the report in a browser', () => {
  it.skipIf(!chromium)(
    `headless Chromium draws every chart with its data points and saves a screenshot${why}`,
    async () => {
      const swiotlb = await runSwiotlbStudy({
        sizes: [512, 4096],
        deployments: ['traditional', 'cvm'],
        devices: ['net', 'blk'],
        rings: ['split'],
        timeMs: 5,
        rounds: 1,
        cost: undefined,
        format: 'table',
      });
      const pool = runPoolStudy({ slots: [512], areas: [1], queues: [1, 2, 4], sizes: [65536], depth: 4, steps: 4 });
      const charts = [...overheadCharts(swiotlb), ...breakdownCharts(swiotlb), ...poolCharts(pool)];
      const dir = mkdtempSync(join(tmpdir(), 'vqsim-report-'));
      const file = join(dir, 'report.html');
      writeFileSync(file, renderHtmlReport({ title: 'vqsim test report', about: ['test'], charts }));
      const args = ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=10000'];
      const dom = execFileSync(chromium!, [...args, '--dump-dom', `file://${file}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 60000,
      });
      const attr = /data-drawn="([^"]*)"/.exec(dom)?.[1];
      expect(attr, 'the page script recorded what it drew').toBeDefined();
      const drawn = JSON.parse(attr!.replace(/&quot;/g, '"')) as Record<string, number>;
      // overhead: 2 deployments × 2 sizes per device; breakdown: 9 categories × 2 deployments; pool: 3 queue counts.
      expect(drawn).toEqual({
        'overhead-net-split': 4,
        'overhead-blk-split': 4,
        'breakdown-net': 18,
        'breakdown-blk': 18,
        'pool-full': 3,
      });
      mkdirSync('test-results', { recursive: true });
      const shot = join(process.cwd(), 'test-results', 'report.png');
      execFileSync(chromium!, [...args, '--window-size=1000,2600', `--screenshot=${shot}`, `file://${file}`], {
        stdio: 'ignore',
        timeout: 60000,
      });
      expect(statSync(shot).size).toBeGreaterThan(10000);
    },
    120000,
  );
});

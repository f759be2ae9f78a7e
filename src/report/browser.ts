/// <reference lib="dom" />
// The script of an HTML report (bundled by scripts/bundle.mjs into
// dist/report.js, and inlined into every report, so a report needs no
// network): draws each chart spec with Chart.js and records, on <body>, how
// many data points each chart drew (the report test reads it).
import { Chart, registerables } from 'chart.js';
import type { ChartSpec } from './spec.js';

Chart.register(...registerables);

// Ten distinct colours (Tableau 10): Chart.js's default palette repeats after seven.
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const specs = (globalThis as unknown as { VQSIM_CHARTS: ChartSpec[] }).VQSIM_CHARTS;
const drawn: Record<string, number> = {};
for (const s of specs) {
  const canvas = document.getElementById(s.id) as HTMLCanvasElement | null;
  if (!canvas) continue;
  const chart = new Chart(canvas, {
    type: s.kind,
    data: {
      labels: s.labels,
      datasets: s.datasets.map((d, i) => ({
        ...d,
        spanGaps: true,
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
      })),
    },
    options: {
      animation: false,
      responsive: false,
      plugins: { title: { display: true, text: s.title } },
      scales: {
        x: { stacked: s.stacked, title: { display: true, text: s.xLabel } },
        y: { stacked: s.stacked, title: { display: true, text: s.yLabel }, beginAtZero: true },
      },
    },
  });
  drawn[s.id] = chart.data.datasets.reduce(
    (n, _d, i) => n + chart.getDatasetMeta(i).data.filter((e) => Number.isFinite(e.x) && Number.isFinite(e.y)).length,
    0,
  );
}
document.body.dataset.drawn = JSON.stringify(drawn);

// What an HTML report draws, as plain data: the study rows become chart
// specifications here (pure, tested without a browser), and the page's
// script (browser.ts) hands them to Chart.js.

export interface ChartDataset {
  label: string;
  data: number[];
}

export interface ChartSpec {
  id: string;
  title: string;
  kind: 'line' | 'bar';
  /** Bars stacked (the cycle breakdown). */
  stacked: boolean;
  xLabel: string;
  yLabel: string;
  labels: (string | number)[];
  datasets: ChartDataset[];
}

/** The fields of a `vqsim study swiotlb` row the report reads. */
export interface SwiotlbStudyRowLike {
  device: string;
  ring: string;
  deployment: string;
  size: number;
  vsTraditional: number;
  cycles: number;
  cyclesBy: Record<string, number>;
}

/** The fields of a `vqsim study pool` row the report reads. */
export interface PoolStudyRowLike {
  poolBytes: number;
  areas: number;
  queues: number;
  size: number;
  fullShare: number;
  hiwaterShare: number;
}

const uniq = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').toLowerCase();

/** One chart per (device, ring): throughput against traditional by size, a line per deployment. */
export function overheadCharts(rows: readonly SwiotlbStudyRowLike[]): ChartSpec[] {
  const out: ChartSpec[] = [];
  for (const device of uniq(rows.map((r) => r.device))) {
    for (const ring of uniq(rows.filter((r) => r.device === device).map((r) => r.ring))) {
      const mine = rows.filter((r) => r.device === device && r.ring === ring);
      const sizes = uniq(mine.map((r) => r.size)).sort((a, b) => a - b);
      out.push({
        id: slug(`overhead ${device} ${ring}`),
        title: `${device}, ${ring} ring: throughput against traditional, by size (measured)`,
        kind: 'line',
        stacked: false,
        xLabel: 'bytes per operation',
        yLabel: 'ops/s ÷ traditional',
        labels: sizes,
        datasets: uniq(mine.map((r) => r.deployment)).map((d) => ({
          label: d,
          data: sizes.map((s) => mine.find((r) => r.deployment === d && r.size === s)?.vsTraditional ?? NaN),
        })),
      });
    }
  }
  return out;
}

/** One chart per device: modeled cycles per operation by category, a stacked bar per deployment, at the largest size. */
export function breakdownCharts(rows: readonly SwiotlbStudyRowLike[]): ChartSpec[] {
  const out: ChartSpec[] = [];
  for (const device of uniq(rows.map((r) => r.device))) {
    const ring = rows.find((r) => r.device === device)!.ring;
    const mine = rows.filter((r) => r.device === device && r.ring === ring);
    const size = Math.max(...mine.map((r) => r.size));
    const at = mine.filter((r) => r.size === size);
    const categories = Object.keys(at[0]?.cyclesBy ?? {});
    out.push({
      id: slug(`breakdown ${device}`),
      title: `${device}, ${ring} ring, ${size} B: modeled cycles per operation by category`,
      kind: 'bar',
      stacked: true,
      xLabel: 'deployment',
      yLabel: 'cycles per operation (modeled)',
      labels: at.map((r) => r.deployment),
      datasets: categories.map((c) => ({ label: c, data: at.map((r) => r.cyclesBy[c] ?? 0) })),
    });
  }
  return out;
}

/** Pool-full share against queue count, a line per (pool size, areas, buffer size). */
export function poolCharts(rows: readonly PoolStudyRowLike[]): ChartSpec[] {
  if (rows.length === 0) return [];
  const queues = uniq(rows.map((r) => r.queues)).sort((a, b) => a - b);
  const keys = uniq(
    rows.map((r) => `${r.poolBytes / (1 << 20)} MiB, ${r.areas} area${r.areas === 1 ? '' : 's'}, ${r.size} B`),
  );
  const keyOf = (r: PoolStudyRowLike) =>
    `${r.poolBytes / (1 << 20)} MiB, ${r.areas} area${r.areas === 1 ? '' : 's'}, ${r.size} B`;
  return [
    {
      id: 'pool-full',
      title: 'swiotlb: maps that found no room, by queues mapping at once (counted)',
      kind: 'line',
      stacked: false,
      xLabel: 'queues',
      yLabel: 'maps refused (%)',
      labels: queues,
      datasets: keys.map((k) => ({
        label: k,
        data: queues.map((q) => {
          const r = rows.find((x) => keyOf(x) === k && x.queues === q);
          return r ? 100 * r.fullShare : NaN;
        }),
      })),
    },
  ];
}

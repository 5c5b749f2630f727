/** Inline SVG charts for the report: per-run dot plots and trend lines. No script, no external resource. */

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 1; hi += Math.abs(hi) * 0.05 || 1; }
  const pad = (hi - lo) * 0.08;
  // Latencies, times and sizes are never negative: do not draw an axis that suggests they could be.
  return [lo >= 0 ? Math.max(0, lo - pad) : lo - pad, hi + pad];
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Base and head runs as two columns of dots with their medians, in run order within each column. */
export function dotPlot(base: number[], head: number[], unit: string, title: string): string {
  const w = 260;
  const h = 150;
  const [lo, hi] = extent([...base, ...head]);
  const y = (v: number) => 12 + (h - 30) * (1 - (v - lo) / (hi - lo));
  const col = (xs: number[], x0: number, cls: string) => xs.map((v, i) => `<circle class="${cls}" cx="${(x0 + (i - (xs.length - 1) / 2) * 6).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3"><title>${fmt(v)} ${esc(unit)}</title></circle>`).join('');
  const med = (xs: number[], x0: number) => {
    if (!xs.length) return '';
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    return `<line class="median" x1="${x0 - 40}" x2="${x0 + 40}" y1="${y(m).toFixed(1)}" y2="${y(m).toFixed(1)}"/>`;
  };
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">`
    + `<text x="4" y="10" class="axis">${fmt(hi)} ${esc(unit)}</text><text x="4" y="${h - 20}" class="axis">${fmt(lo)}</text>`
    + med(base, 90) + med(head, 190) + col(base, 90, 'base') + col(head, 190, 'head')
    + `<text x="90" y="${h - 4}" class="label" text-anchor="middle">base (${base.length})</text><text x="190" y="${h - 4}" class="label" text-anchor="middle">head (${head.length})</text></svg>`;
}

export interface TrendPoint { label: string; value: number }

/** Nightly medians over recent nights with change points drawn as vertical lines. */
export function trendChart(points: TrendPoint[], changeAt: number[], unit: string, title: string): string {
  const w = 420;
  const h = 150;
  if (points.length === 0) return '';
  const [lo, hi] = extent(points.map((p) => p.value));
  const x = (i: number) => 40 + (points.length === 1 ? (w - 60) / 2 : (i * (w - 60)) / (points.length - 1));
  const y = (v: number) => 12 + (h - 36) * (1 - (v - lo) / (hi - lo));
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join('');
  const dots = points.map((p, i) => `<circle class="head" cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="2.5"><title>${esc(p.label)}: ${fmt(p.value)} ${esc(unit)}</title></circle>`).join('');
  const cps = changeAt.map((i) => `<line class="change" x1="${(x(i) - (x(1) - x(0)) / 2).toFixed(1)}" x2="${(x(i) - (x(1) - x(0)) / 2).toFixed(1)}" y1="8" y2="${h - 22}"/>`
    + `<text class="label" x="${x(i).toFixed(1)}" y="${h - 10}" text-anchor="middle">${esc(points[i]!.label)}</text>`).join('');
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">`
    + `<text x="2" y="12" class="axis">${fmt(hi)}</text><text x="2" y="${h - 24}" class="axis">${fmt(lo)}</text>`
    + `<path class="trend" d="${path}"/>${dots}${cps}</svg>`;
}

export { esc };

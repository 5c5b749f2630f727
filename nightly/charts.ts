/**
 * Inline SVG charts for the report and the index: per-run dot plots, trend lines, latency
 * percentile spectra and time series within runs, with axis ticks and labels. No script, no
 * external resource: the report stays one file that works as an email attachment.
 */

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

/** A tick value as short as it can be: 0, 2.5, 120 (ticks are round already). */
const tickLabel = (v: number) => String(Number(v.toPrecision(4)));

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(12)));
  return out;
}

export interface Line {
  /** 'base' or 'head': the colour. */
  cls: 'base' | 'head';
  /** [x, y] pairs; a non-finite y breaks the line there. */
  points: [number, number][];
  /** Shown on hover. */
  title: string;
  /** Mark each point (spectra: few points, each a percentile). */
  dots?: boolean;
}

export interface Tick { at: number; label: string }

export interface LineChartOptions {
  lines: Line[];
  title: string;
  /** Unit of the y axis, printed at its top. */
  unit: string;
  xLabel: string;
  /** Fixed x ticks (a spectrum's percentiles); computed round ticks otherwise. */
  xTicks?: Tick[];
  width?: number;
  height?: number;
}

/** Lines on labelled axes with grid lines at the y ticks. */
export function lineChart(o: LineChartOptions): string {
  const w = o.width ?? 320;
  const h = o.height ?? 170;
  const left = 40;
  const right = 18;
  const top = 14;
  const bottom = 32;
  const xs = o.lines.flatMap((l) => l.points.map((p) => p[0])).filter(Number.isFinite);
  const ys = o.lines.flatMap((l) => l.points.map((p) => p[1])).filter(Number.isFinite);
  if (!xs.length || !ys.length) return '';
  const xLo = o.xTicks ? Math.min(...o.xTicks.map((t) => t.at)) : Math.min(...xs);
  const xHi = o.xTicks ? Math.max(...o.xTicks.map((t) => t.at)) : Math.max(...xs);
  const [yLo, yHi] = extent(ys);
  const x = (v: number) => left + (w - left - right) * (xHi === xLo ? 0.5 : (v - xLo) / (xHi - xLo));
  const y = (v: number) => top + (h - top - bottom) * (1 - (v - yLo) / (yHi - yLo));
  const yTicks = niceTicks(yLo, yHi).filter((v) => v >= yLo && v <= yHi);
  const xTicks = o.xTicks ?? niceTicks(xLo, xHi, 5).map((at) => ({ at, label: tickLabel(at) }));
  const grid = yTicks.map((v) => `<line class="grid" x1="${left}" x2="${w - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="axis" x="${left - 3}" y="${(y(v) + 3).toFixed(1)}" text-anchor="end">${tickLabel(v)}</text>`).join('');
  const ticks = xTicks.map((t) => `<line class="grid" x1="${x(t.at).toFixed(1)}" x2="${x(t.at).toFixed(1)}" y1="${h - bottom}" y2="${h - bottom + 3}"/><text class="axis" x="${x(t.at).toFixed(1)}" y="${h - bottom + 12}" text-anchor="middle">${esc(t.label)}</text>`).join('');
  const lines = o.lines.map((l) => {
    let d = '';
    let pen = false;
    for (const [px, py] of l.points) {
      if (!Number.isFinite(px) || !Number.isFinite(py)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(px).toFixed(1)},${y(py).toFixed(1)}`;
      pen = true;
    }
    const dots = l.dots ? l.points.filter(([, py]) => Number.isFinite(py)).map(([px, py]) => `<circle class="${l.cls}" cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2"/>`).join('') : '';
    return `<g><title>${esc(l.title)}</title><path class="line-${l.cls}" d="${d}"/>${dots}</g>`;
  }).join('');
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(o.title)}">`
    + `${grid}<line class="axisline" x1="${left}" x2="${w - right}" y1="${h - bottom}" y2="${h - bottom}"/><line class="axisline" x1="${left}" x2="${left}" y1="${top}" y2="${h - bottom}"/>`
    + `<text class="axis" x="${left}" y="9">${esc(o.unit)}</text>${ticks}<text class="label" x="${((left + w - right) / 2).toFixed(1)}" y="${h - 4}" text-anchor="middle">${esc(o.xLabel)}</text>${lines}</svg>`;
}

/** Where a percentile sits on a spectrum's x axis: the count of nines, so the tail gets room (max drawn at 99.999). */
export function spectrumX(percentile: number): number {
  return -Math.log10(1 - Math.min(percentile, 99.999) / 100);
}

export const SPECTRUM_TICKS: readonly Tick[] = Object.freeze([
  { at: spectrumX(0), label: 'min' }, { at: spectrumX(90), label: '90' }, { at: spectrumX(99), label: '99' },
  { at: spectrumX(99.9), label: '99.9' }, { at: spectrumX(99.99), label: '99.99' }, { at: spectrumX(100), label: 'max' },
]);

export { esc };

/**
 * Change points in the series of nightly medians, to catch slow creep that no single night's A/B
 * shows. E-divisive means (Matteson & James, as in MongoDB's and Otava's detectors): the split that
 * maximises the energy statistic, kept only if an exact Mann-Whitney test between the two sides
 * is significant and the change is larger than the metric's threshold; then recurse into both.
 */
import { median } from './stats/describe.ts';
import { mannWhitneyExact } from './stats/mannwhitney.ts';

export interface ChangePoint {
  /** Index of the first point after the change. */
  index: number;
  before: number;
  after: number;
  /** after / before. */
  ratio: number;
  p: number;
}

export interface ChangePointOptions {
  /** Significance level of each split (default 0.01). */
  pValue?: number;
  /** Smallest relative change of the medians worth reporting (default 0.03). */
  minMagnitude?: number;
  /** Fewest points on either side of a change (default 4). */
  minSegment?: number;
}

/** Energy statistic of splitting xs at tau (both sides non-empty). */
function energy(xs: readonly number[], tau: number): number {
  const n = tau;
  const m = xs.length - tau;
  let between = 0;
  let within1 = 0;
  let within2 = 0;
  for (let i = 0; i < tau; i++) for (let j = tau; j < xs.length; j++) between += Math.abs(xs[i]! - xs[j]!);
  for (let i = 0; i < tau; i++) for (let j = i + 1; j < tau; j++) within1 += Math.abs(xs[i]! - xs[j]!);
  for (let i = tau; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) within2 += Math.abs(xs[i]! - xs[j]!);
  const e = (2 * between) / (n * m) - (n > 1 ? within1 / ((n * (n - 1)) / 2) : 0) - (m > 1 ? within2 / ((m * (m - 1)) / 2) : 0);
  return ((n * m) / (n + m)) * e;
}

/** Change points of a series, ordered by index. */
export function changePoints(xs: readonly number[], opts: ChangePointOptions = {}): ChangePoint[] {
  const pValue = opts.pValue ?? 0.01;
  const minMagnitude = opts.minMagnitude ?? 0.03;
  const minSegment = opts.minSegment ?? 4;
  const found: ChangePoint[] = [];
  const segment = (start: number, end: number) => {
    if (end - start < 2 * minSegment) return;
    const part = xs.slice(start, end);
    let best = -Infinity;
    let tau = -1;
    for (let t = minSegment; t <= part.length - minSegment; t++) {
      const q = energy(part, t);
      if (q > best) { best = q; tau = t; }
    }
    if (tau < 0) return;
    const left = part.slice(0, tau);
    const right = part.slice(tau);
    const before = median(left);
    const after = median(right);
    const p = mannWhitneyExact(right, left).pTwoSided;
    const ratio = before === 0 ? Infinity : after / before;
    if (p > pValue || Math.abs(ratio - 1) < minMagnitude) return;
    found.push({ index: start + tau, before, after, ratio, p });
    segment(start, start + tau);
    segment(start + tau, end);
  };
  segment(0, xs.length);
  return found.sort((a, b) => a.index - b.index);
}

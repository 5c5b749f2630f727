/**
 * The canary's judgement: snapshots of the nodes' counters become one sample per non-overlapping
 * interval and side (variant, control), measured at the same time so load swings hit both; the
 * nightly gate's statistics compare them. Consecutive intervals of one canary are autocorrelated
 * (a slow node stays slow), which would make the rank test overconfident: intervals are merged into
 * batch means until the lag-1 autocorrelation of each side is small (and at most MAX_SAMPLES per
 * side remain, which also bounds the exact test's cost).
 */
import { bootstrapRatioOfMedians, type Interval } from '../../nightly/stats/bootstrap.ts';
import { mean, median } from '../../nightly/stats/describe.ts';
import { mannWhitneyExact } from '../../nightly/stats/mannwhitney.ts';
import { benjaminiHochberg } from '../../nightly/stats/multiple.ts';
import { seedFrom } from '../../nightly/stats/prng.ts';
import type { Guard, GuardMetric } from './guards.ts';
import type { NodeCounters, Snapshot } from './source.ts';

export type Outcome = 'widen' | 'hold' | 'rollback';

export interface JudgeOptions {
  /** Samples per side before any verdict (after batching). */
  minSamples: number;
  /** Events (deliveries) per side and interval for the interval to count. */
  minEvents: number;
  /** FDR level over the guard's metrics. */
  alpha: number;
}

export const DEFAULT_JUDGE: JudgeOptions = { minSamples: 6, minEvents: 20, alpha: 0.05 };
const MAX_SAMPLES = 30;
const MAX_LAG1 = 0.3;

export interface MetricEvidence {
  metric: string;
  control: number;
  variant: number;
  /** median(variant) / median(control) with its 95% bootstrap interval. */
  ratio: number;
  interval: Interval;
  /** One-sided exact Mann-Whitney p (variant worse), and after Benjamini-Hochberg. */
  p: number;
  q: number;
  samples: { control: number; variant: number };
  /** Intervals merged into one sample against autocorrelation. */
  batch: number;
  verdict: 'pass' | 'fail' | 'inconclusive' | 'too few samples';
}

export interface Judgement {
  outcome: Outcome;
  reason: string;
  metrics: MetricEvidence[];
  intervals: { total: number; control: number; variant: number };
}

interface Side { count: number; sum: number; buckets: Map<number, number>; volume: number; errors: number; framesIn: number }

function emptySide(): Side { return { count: 0, sum: 0, buckets: new Map(), volume: 0, errors: 0, framesIn: 0 }; }

/** The differences of one interval, summed over nodes, per side; counter resets drop that node. */
export function intervalSides(a: Snapshot, b: Snapshot, guard: Guard): { control: Side; variant: Side } {
  const sides = { control: emptySide(), variant: emptySide() };
  for (const [node, after] of b.nodes) {
    const before: NodeCounters | undefined = a.nodes.get(node);
    if (!before) continue;
    const dErr = after.errors - before.errors;
    const dFrames = after.framesIn - before.framesIn;
    if (dErr < 0 || dFrames < 0) continue;
    const served: ('control' | 'variant')[] = [];
    for (const side of ['control', 'variant'] as const) {
      const label = side === 'control' ? guard.control : guard.variant;
      const x = after.variants[label];
      const y = before.variants[label] ?? { count: 0, sum: 0, buckets: [], volume: 0 };
      if (!x || x.count < y.count || x.volume < y.volume) continue;
      const s = sides[side];
      s.count += x.count - y.count;
      s.sum += x.sum - y.sum;
      s.volume += x.volume - y.volume;
      const prev = new Map(y.buckets);
      for (const [le, c] of x.buckets) s.buckets.set(le, (s.buckets.get(le) ?? 0) + c - (prev.get(le) ?? 0));
      if (x.volume > y.volume) served.push(side);
    }
    // Error frames carry no variant: a node that served one side only (a node canary) lends them to it.
    if (served.length === 1) {
      sides[served[0]!].errors += dErr;
      sides[served[0]!].framesIn += dFrames;
    }
  }
  return sides;
}

/** histogram_quantile over cumulative bucket counts, linear inside the bucket. */
export function bucketQuantile(buckets: Map<number, number>, q: number): number {
  const list = [...buckets].sort((x, y) => x[0] - y[0]);
  const total = list.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of list) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-12, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

function value(m: GuardMetric, s: Side): number {
  switch (m.kind) {
    case 'latency-mean': return s.count ? (s.sum / s.count) * 1000 : NaN;
    case 'latency-p95': return bucketQuantile(s.buckets, 0.95) * 1000;
    case 'errors-per-1k': return s.framesIn ? (s.errors / s.framesIn) * 1000 : NaN;
  }
}

function lag1(xs: readonly number[]): number {
  if (xs.length < 3) return 0;
  const m = mean(xs);
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    den += (xs[i]! - m) ** 2;
    if (i > 0) num += (xs[i]! - m) * (xs[i - 1]! - m);
  }
  return den ? num / den : 0;
}

function batched(xs: readonly number[], b: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + b <= xs.length; i += b) out.push(mean(xs.slice(i, i + b)));
  return out;
}

/** Batch size for both sides: doubled while either side is autocorrelated or over MAX_SAMPLES. */
export function batchSize(a: readonly number[], b: readonly number[], minSamples: number): number {
  let size = 1;
  const n = Math.min(a.length, b.length);
  while (n / size > MAX_SAMPLES || (Math.max(lag1(batched(a, size)), lag1(batched(b, size))) > MAX_LAG1 && n / (size * 2) >= minSamples)) size *= 2;
  return size;
}

/** Judges the variant against control over the snapshots of one rollout step. */
export function judge(snapshots: readonly Snapshot[], guard: Guard, opts: JudgeOptions = DEFAULT_JUDGE, seedText = ''): Judgement {
  const perMetric = guard.metrics.map(() => ({ control: [] as number[], variant: [] as number[] }));
  let cOk = 0;
  let vOk = 0;
  for (let i = 1; i < snapshots.length; i++) {
    const { control, variant } = intervalSides(snapshots[i - 1]!, snapshots[i]!, guard);
    const cIn = control.volume >= opts.minEvents;
    const vIn = variant.volume >= opts.minEvents;
    cOk += cIn ? 1 : 0;
    vOk += vIn ? 1 : 0;
    guard.metrics.forEach((m, k) => {
      const c = value(m, control);
      const v = value(m, variant);
      if (cIn && Number.isFinite(c)) perMetric[k]!.control.push(c);
      if (vIn && Number.isFinite(v)) perMetric[k]!.variant.push(v);
    });
  }
  const intervals = { total: Math.max(0, snapshots.length - 1), control: cOk, variant: vOk };
  const evidence: MetricEvidence[] = guard.metrics.map((m, k) => {
    const raw = perMetric[k]!;
    const b = batchSize(raw.control, raw.variant, opts.minSamples);
    const c = batched(raw.control, b);
    const v = batched(raw.variant, b);
    const mc = median(c);
    const mv = median(v);
    const enough = c.length >= opts.minSamples && v.length >= opts.minSamples;
    const interval = enough ? bootstrapRatioOfMedians(c, v, { seed: seedFrom(`${guard.flag}:${m.name}:${seedText}`), resamples: 4000 }) : { lo: NaN, hi: NaN };
    const p = enough ? mannWhitneyExact(v, c).pGreater : 1;
    const ratio = mc === 0 ? (mv === 0 ? 1 : Infinity) : mv / mc;
    return { metric: m.name, control: mc, variant: mv, ratio, interval, p, q: 1, samples: { control: c.length, variant: v.length }, batch: b, verdict: enough ? 'inconclusive' : 'too few samples' };
  });
  const tested = evidence.filter((e) => e.verdict !== 'too few samples');
  const q = benjaminiHochberg(tested.map((e) => e.p));
  tested.forEach((e, i) => {
    e.q = q[i]!;
    const m = guard.metrics[evidence.indexOf(e)]!;
    const worse = e.variant - e.control;
    if (e.q <= opts.alpha && e.ratio > 1 + m.threshold && worse > m.floor) e.verdict = 'fail';
    // Pass: with 95% confidence the variant is at most `threshold` worse, or at most `floor` in absolute terms.
    else if (e.interval.hi <= 1 + m.threshold || (e.interval.hi - 1) * e.control <= m.floor) e.verdict = 'pass';
  });
  const failed = evidence.filter((e) => e.verdict === 'fail');
  if (failed.length) return { outcome: 'rollback', reason: `the variant is worse: ${failed.map((e) => `${e.metric} ×${fmt(e.ratio)} (q=${fmt(e.q)})`).join(', ')}`, metrics: evidence, intervals };
  if (vOk < opts.minSamples || cOk < opts.minSamples) {
    const side = vOk < opts.minSamples ? 'variant' : 'control';
    const had = side === 'variant' ? vOk : cOk;
    const idle = had === 0 ? `no traffic on the ${side}` : `too little traffic on the ${side}`;
    return { outcome: 'hold', reason: `${idle}: ${had} of ${intervals.total} intervals had ≥ ${opts.minEvents} deliveries; ${opts.minSamples} are needed before any verdict`, metrics: evidence, intervals };
  }
  const open = evidence.filter((e) => e.verdict !== 'pass');
  if (open.length) return { outcome: 'hold', reason: `not enough evidence yet: ${open.map((e) => `${e.metric} ${e.verdict}${Number.isFinite(e.interval.hi) ? ` (ratio up to ×${fmt(e.interval.hi)})` : ''}`).join(', ')}`, metrics: evidence, intervals };
  return { outcome: 'widen', reason: 'every guarded metric is within its threshold', metrics: evidence, intervals };
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** The evidence as a table: per metric control, variant, ratio with interval, verdict. */
export function evidenceTable(j: Judgement): string {
  const rows = [['metric', 'control', 'variant', 'ratio [95% CI]', 'samples c/v (batch)', 'q', 'verdict']];
  for (const e of j.metrics) {
    rows.push([e.metric, fmt(e.control), fmt(e.variant), `×${fmt(e.ratio)} [${fmt(e.interval.lo)}, ${fmt(e.interval.hi)}]`, `${e.samples.control}/${e.samples.variant} (${e.batch})`, e.samples.control && e.samples.variant ? fmt(e.q) : '-', e.verdict]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

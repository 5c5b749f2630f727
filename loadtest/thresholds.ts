/**
 * Thresholds as data (k6 syntax): `'deliver_ms': ['p(99)<50']`, `'lost': ['count==0']`,
 * `'errors': ['rate<0.001']`. Parsed once into an AST, evaluated on merged histograms and counters,
 * over the whole run or over sliding windows of time slices.
 */
import { UsageError } from '../core/args.ts';
import { createHistogram, decode, percentileMs, type Histogram } from './histogram.ts';
import { COUNTERS, METRICS, type LoadResult, type ThresholdResult } from './result.ts';
import { parseDuration } from './duration.ts';

export type Stat = { kind: 'p'; p: number } | { kind: 'avg' | 'min' | 'max' | 'med' | 'count' | 'rate' };
export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  metric: string;
  expression: string;
  stat: Stat;
  op: Op;
  value: number;
  /** Sliding window in ms; undefined = whole run. */
  windowMs: number | undefined;
  abortOnFail: boolean;
  /** No abort before this offset from the run start (ms). */
  delayAbortEvalMs: number;
}

/** A threshold as written in a scenario: an expression, or an object with options. */
export type ThresholdSpec = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string; window?: string };

/**
 * The denominator of `rate` for each counter: rate = counter / sum of these counters.
 * Counters not listed here have no rate.
 */
export const RATE_BASES: Record<string, readonly string[]> = {
  lost: ['expected'],
  delivered: ['expected'],
  duplicated: ['delivered'],
  reordered: ['delivered'],
  late_sends: ['scheduled'],
  missed_sends: ['scheduled'],
  unacked: ['sent'],
  acked: ['sent'],
  errors: ['sent', 'connects', 'connect_failures', 'requests', 'signals'],
  connect_failures: ['connects', 'connect_failures'],
  reconnects: ['connects'],
  signals_received: ['signals'],
};

const EXPR_RE = /^\s*(p\(\s*(\d+(?:\.\d+)?)\s*\)|avg|mean|min|max|med|count|rate)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

const isLatency = (metric: string): boolean => Object.hasOwn(METRICS, metric);
const isCounter = (metric: string): boolean => Object.hasOwn(COUNTERS, metric) || metric.startsWith('errors.');

/** Parses a scenario's thresholds; throws UsageError listing every bad entry. */
export function parseThresholds(spec: Record<string, ThresholdSpec[]>): Threshold[] {
  const out: Threshold[] = [];
  const problems: string[] = [];
  for (const [metric, list] of Object.entries(spec)) {
    if (!isLatency(metric) && !isCounter(metric)) {
      problems.push(`threshold metric "${metric}" is unknown; expected a metric (${Object.keys(METRICS).join(', ')}), a counter (${Object.keys(COUNTERS).join(', ')}) or errors.<code>`);
      continue;
    }
    if (!Array.isArray(list)) { problems.push(`thresholds["${metric}"] must be an array of expressions`); continue; }
    for (const item of list) {
      const o = typeof item === 'string' ? { threshold: item } : item;
      const m = typeof o?.threshold === 'string' ? EXPR_RE.exec(o.threshold) : null;
      if (!m) {
        problems.push(`threshold "${metric}: ${JSON.stringify(item)}" must look like p(99)<50, avg<10, max<=100, count==0 or rate<0.01`);
        continue;
      }
      const head = m[1]!;
      const stat: Stat = head.startsWith('p(') ? { kind: 'p', p: Number(m[2]) } : { kind: head === 'mean' ? 'avg' : head as Exclude<Stat['kind'], 'p'> };
      if (stat.kind === 'p' && (stat.p < 0 || stat.p > 100)) problems.push(`threshold "${metric}: ${o.threshold}": percentile must be in [0, 100]`);
      if (isCounter(metric) && stat.kind !== 'count' && stat.kind !== 'rate') problems.push(`threshold "${metric}: ${o.threshold}": counters support count and rate, not ${head}`);
      if (isLatency(metric) && stat.kind === 'rate') problems.push(`threshold "${metric}: ${o.threshold}": rate applies to counters, not latency metrics`);
      if (stat.kind === 'rate' && !RATE_BASES[metric] && !metric.startsWith('errors.')) problems.push(`threshold "${metric}: ${o.threshold}": "${metric}" has no rate base; use count`);
      let windowMs: number | undefined;
      let delayAbortEvalMs = 0;
      try {
        if (o.window !== undefined) windowMs = parseDuration(o.window, `thresholds["${metric}"].window`);
        if (o.delayAbortEval !== undefined) delayAbortEvalMs = parseDuration(o.delayAbortEval, `thresholds["${metric}"].delayAbortEval`);
      } catch (err) {
        problems.push((err as Error).message);
      }
      out.push({ metric, expression: o.threshold.trim(), stat, op: m[3] as Op, value: Number(m[4]), windowMs, abortOnFail: o.abortOnFail === true, delayAbortEvalMs });
    }
  }
  if (problems.length) throw new UsageError(problems);
  return out;
}

function compare(a: number, op: Op, b: number): boolean {
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    case '==': return a === b;
    case '!=': return a !== b;
  }
}

/** The data one evaluation looks at: merged histograms and summed counters. */
export interface Sample {
  histogram(metric: string): Histogram | undefined;
  counter(name: string): number;
}

/** The observed value of a threshold's statistic, or null when there is nothing to judge. */
export function observe(t: Threshold, s: Sample): number | null {
  if (isCounter(t.metric)) {
    const n = s.counter(t.metric);
    if (t.stat.kind === 'count') return n;
    const bases = RATE_BASES[t.metric] ?? RATE_BASES.errors!;
    const base = bases.reduce((sum, b) => sum + s.counter(b), 0);
    return base === 0 ? null : n / base;
  }
  const h = s.histogram(t.metric);
  if (t.stat.kind === 'count') return h?.totalCount ?? 0;
  if (!h || h.totalCount === 0) return null;
  switch (t.stat.kind) {
    case 'p': return percentileMs(h, t.stat.p);
    case 'med': return percentileMs(h, 50);
    case 'avg': return Math.round(h.mean) / 1000;
    case 'min': return Math.round(h.minNonZeroValue) / 1000;
    case 'max': return Math.round(h.maxValue) / 1000;
    default: return null;
  }
}

/** Whether the observed value passes (no data passes: nothing was measured to fail). */
export function passes(t: Threshold, observed: number | null): boolean {
  return observed === null || compare(observed, t.op, t.value);
}

/** A sample over whole-run metrics and counters of a result. */
export function wholeRunSample(r: Pick<LoadResult, 'metrics' | 'counters' | 'errorsByCode'>): Sample {
  const cache = new Map<string, Histogram>();
  return {
    histogram(metric) {
      const m = r.metrics[metric];
      if (!m) return undefined;
      let h = cache.get(metric);
      if (!h) cache.set(metric, (h = decode(m.hdr)));
      return h;
    },
    counter: (name) => (name.startsWith('errors.') ? r.errorsByCode[name.slice(7)] ?? 0 : r.counters[name] ?? 0),
  };
}

/** A sample over slices [from, to) of a result: histograms added, counters summed (slices key codes as errors.<code>). */
export function windowSample(slices: LoadResult['slices']['items'], from: number, to: number): Sample {
  const hs = new Map<string, Histogram>();
  const counters = new Map<string, number>();
  for (const s of slices.slice(from, to)) {
    for (const [name, m] of Object.entries(s.metrics)) {
      let h = hs.get(name);
      if (!h) hs.set(name, (h = createHistogram()));
      h.add(decode(m.hdr));
    }
    for (const [k, v] of Object.entries(s.counters)) counters.set(k, (counters.get(k) ?? 0) + v);
  }
  return { histogram: (m) => hs.get(m), counter: (n) => counters.get(n) ?? 0 };
}

/** Evaluates every threshold over the whole run and, for windowed ones, every sliding window. */
export function evaluate(thresholds: readonly Threshold[], r: Pick<LoadResult, 'metrics' | 'counters' | 'errorsByCode' | 'slices'>): ThresholdResult[] {
  const whole = wholeRunSample(r);
  const items = r.slices.items;
  return thresholds.map((t) => {
    const base = { metric: t.metric, expression: t.expression, abortOnFail: t.abortOnFail };
    if (t.windowMs === undefined) {
      const observed = observe(t, whole);
      return { ...base, windowMs: null, passed: passes(t, observed), observed, windows: 0, failedWindows: 0, firstFailureMs: null };
    }
    const span = Math.max(1, Math.ceil(t.windowMs / r.slices.sliceMs));
    let windows = 0;
    let failed = 0;
    let first: number | null = null;
    let worst: number | null = null;
    const last = Math.max(1, items.length - span + 1);
    for (let i = 0; i < last; i++) {
      const observed = observe(t, windowSample(items, i, i + span));
      windows++;
      if (observed !== null) worst = worst === null ? observed : pickWorse(t.op, worst, observed);
      if (!passes(t, observed)) { failed++; first ??= items[i]?.startMs ?? 0; }
    }
    return { ...base, windowMs: t.windowMs, passed: failed === 0, observed: worst, windows, failedWindows: failed, firstFailureMs: first };
  });
}

/** The value further on the failing side: the largest for < and <=, the smallest for > and >=. */
function pickWorse(op: Op, a: number, b: number): number {
  if (op === '<' || op === '<=') return Math.max(a, b);
  if (op === '>' || op === '>=') return Math.min(a, b);
  return a;
}

/**
 * Alert expressions two ways: evaluated over a window of scraped samples (the embedded evaluator),
 * and rendered as PromQL (the Prometheus rules file). Both follow Prometheus semantics: rate over
 * the samples inside [t - window, t], histogram_quantile's bucket interpolation, and no value
 * (never firing) where PromQL would return an empty vector or NaN.
 */
import type { Sample } from '../registry.ts';
import { ALERT_GROUP_BY, durationMs, type AlertExpr, type AlertRule, type Match, type Selector } from './rules.ts';

/** One scrape: when it was taken and every sample of the metrics the rules read. */
export interface Snapshot {
  readonly t: number;
  readonly byName: ReadonlyMap<string, readonly Sample[]>;
}

const matches = (labels: Readonly<Record<string, string>>, where: Selector['where']): boolean => {
  if (!where) return true;
  for (const [k, m] of Object.entries(where) as [string, Match][]) {
    const v = labels[k] ?? '';
    if (typeof m === 'string' ? v !== m : m.not.includes(v)) return false;
  }
  return true;
};

const seriesKey = (labels: Readonly<Record<string, string>>): string =>
  Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');

/** Per series of `name` matching `where`: increase per second over the snapshots in the window (counter resets handled). */
function rates(history: readonly Snapshot[], name: string, where: Selector['where'], windowMs: number): Map<string, { labels: Record<string, string>; rate: number }> {
  const now = history[history.length - 1]!;
  const inWindow = history.filter((s) => s.t >= now.t - windowMs);
  const series = new Map<string, { labels: Record<string, string>; points: [number, number][] }>();
  for (const snap of inWindow) {
    for (const s of snap.byName.get(name) ?? []) {
      if (!matches(s.labels, where)) continue;
      const key = seriesKey(s.labels);
      let e = series.get(key);
      if (!e) series.set(key, (e = { labels: { ...s.labels }, points: [] }));
      e.points.push([snap.t, s.value]);
    }
  }
  const out = new Map<string, { labels: Record<string, string>; rate: number }>();
  for (const [key, { labels, points }] of series) {
    if (points.length < 2) continue;
    let increase = 0;
    for (let i = 1; i < points.length; i++) {
      const d = points[i]![1] - points[i - 1]![1];
      increase += d >= 0 ? d : points[i]![1];
    }
    const span = (points[points.length - 1]![0] - points[0]![0]) / 1000;
    out.set(key, { labels, rate: increase / span });
  }
  return out;
}

/** The alert's group of a series (its job and instance labels), as PromQL `sum by (job, instance)` forms it. */
const groupOf = (labels: Readonly<Record<string, string>>): string => ALERT_GROUP_BY.map((k) => labels[k] ?? '').join('\u0000');

/** Per group: the summed rates of the matching series; empty where PromQL's sum would be. */
function sumRate(history: readonly Snapshot[], sel: Selector, windowMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const { labels, rate } of rates(history, sel.metric, sel.where, windowMs).values()) {
    const g = groupOf(labels);
    out.set(g, (out.get(g) ?? 0) + rate);
  }
  return out;
}

/** `a + b + ...` of grouped vectors: only groups present in every term, as PromQL's one-to-one matching. */
function sumRates(history: readonly Snapshot[], sels: readonly Selector[], windowMs: number): Map<string, number> {
  let total: Map<string, number> | undefined;
  for (const sel of sels) {
    const v = sumRate(history, sel, windowMs);
    if (!total) { total = v; continue; }
    const next = new Map<string, number>();
    for (const [g, x] of total) { const y = v.get(g); if (y !== undefined) next.set(g, x + y); }
    total = next;
  }
  return total ?? new Map();
}

/** histogram_quantile as Prometheus computes it from cumulative bucket rates. */
export function bucketQuantile(q: number, buckets: readonly { le: number; count: number }[]): number {
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const b = [...buckets].sort((x, y) => x.le - y.le);
  if (b.length < 2 || b[b.length - 1]!.le !== Infinity) return NaN;
  for (let i = 1; i < b.length; i++) if (b[i]!.count < b[i - 1]!.count) b[i] = { le: b[i]!.le, count: b[i - 1]!.count };
  const total = b[b.length - 1]!.count;
  if (total === 0) return NaN;
  let rank = q * total;
  let i = 0;
  while (i < b.length - 1 && b[i]!.count < rank) i++;
  if (i === b.length - 1) return b[b.length - 2]!.le;
  if (i === 0 && b[0]!.le <= 0) return b[0]!.le;
  let start = 0;
  let count = b[i]!.count;
  if (i > 0) { start = b[i - 1]!.le; count -= b[i - 1]!.count; rank -= b[i - 1]!.count; }
  return start + (b[i]!.le - start) * (rank / count);
}

/** The expression's value per group (job, instance) at the newest snapshot; a group PromQL would drop is absent. */
export function evaluateGroups(expr: AlertExpr, history: readonly Snapshot[]): Map<string, number> {
  const out = new Map<string, number>();
  if (history.length === 0) return out;
  switch (expr.kind) {
    case 'rate':
      return sumRate(history, expr.of, durationMs(expr.window));
    case 'ratio': {
      const w = durationMs(expr.window);
      const num = sumRates(history, expr.num, w);
      const den = sumRates(history, expr.den, w);
      for (const [g, n] of num) {
        const d = den.get(g);
        if (d === undefined) continue;
        if (expr.minDenominator !== undefined && !(d > expr.minDenominator)) continue;
        const v = n / d;
        if (!Number.isNaN(v)) out.set(g, v);
      }
      return out;
    }
    case 'quantile': {
      const byGroup = new Map<string, Map<number, number>>();
      for (const { labels, rate } of rates(history, `${expr.of.metric}_bucket`, expr.of.where, durationMs(expr.window)).values()) {
        const g = groupOf(labels);
        let byLe = byGroup.get(g);
        if (!byLe) byGroup.set(g, (byLe = new Map()));
        const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
        byLe.set(le, (byLe.get(le) ?? 0) + rate);
      }
      for (const [g, byLe] of byGroup) {
        const v = bucketQuantile(expr.q, [...byLe].map(([le, count]) => ({ le, count })));
        if (!Number.isNaN(v)) out.set(g, v);
      }
      return out;
    }
    case 'gauge': {
      const now = history[history.length - 1]!;
      for (const s of now.byName.get(expr.of.metric) ?? []) {
        if (!matches(s.labels, expr.of.where)) continue;
        const g = groupOf(s.labels);
        const prev = out.get(g);
        out.set(g, prev === undefined ? s.value : expr.agg === 'max' ? Math.max(prev, s.value) : prev + s.value);
      }
      return out;
    }
  }
}

/**
 * The expression's value at the newest snapshot: the worst group's, or null where PromQL would
 * yield no sample. A rule holds when any group is over its threshold, which is when the worst is.
 */
export function evaluate(expr: AlertExpr, history: readonly Snapshot[]): number | null {
  const groups = evaluateGroups(expr, history);
  return groups.size === 0 ? null : Math.max(...groups.values());
}

/** Metric families an expression reads (histograms as their _bucket series). */
export function metricsOf(expr: AlertExpr): string[] {
  switch (expr.kind) {
    case 'ratio': return [...expr.num, ...expr.den].map((s) => s.metric);
    case 'quantile': return [`${expr.of.metric}_bucket`];
    default: return [expr.of.metric];
  }
}

// ── PromQL ──────────────────────────────────────────────────────────────────────────────────────

const quote = (v: string) => JSON.stringify(v);
const escapeRe = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');

export function selectorQL(sel: Selector, suffix = ''): string {
  const parts = Object.entries(sel.where ?? {}).map(([k, m]: [string, Match]) =>
    typeof m === 'string' ? `${k}=${quote(m)}` : `${k}!~"${m.not.map(escapeRe).join('|')}"`);
  return `${sel.metric}${suffix}${parts.length ? `{${parts.join(',')}}` : ''}`;
}

const BY = ALERT_GROUP_BY.join(', ');
const sumRateQL = (sel: Selector, w: string) => `sum by (${BY}) (rate(${selectorQL(sel)}[${w}]))`;
const sumRatesQL = (sels: readonly Selector[], w: string) => {
  const terms = sels.map((s) => sumRateQL(s, w));
  return terms.length === 1 ? terms[0]! : `(${terms.join(' + ')})`;
};

/** The expression as PromQL, without the threshold comparison. */
export function exprQL(expr: AlertExpr): string {
  switch (expr.kind) {
    case 'rate': return sumRateQL(expr.of, expr.window);
    case 'ratio': return `${sumRatesQL(expr.num, expr.window)} / ${sumRatesQL(expr.den, expr.window)}`;
    case 'quantile': return `histogram_quantile(${expr.q}, sum by (${BY}, le) (rate(${selectorQL(expr.of, '_bucket')}[${expr.window}])))`;
    case 'gauge': return `${expr.agg} by (${BY}) (${selectorQL(expr.of)})`;
  }
}

/** The full alerting condition as PromQL. */
export function conditionQL(rule: AlertRule): string {
  const cond = `${exprQL(rule.expr)} > ${rule.threshold}`;
  if (rule.expr.kind === 'ratio' && rule.expr.minDenominator !== undefined) {
    return `${cond} and ${sumRatesQL(rule.expr.den, rule.expr.window)} > ${rule.expr.minDenominator}`;
  }
  return cond;
}

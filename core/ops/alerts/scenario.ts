/**
 * A synthetic hour of scrapes for each alert, derived from its expression: quiet, then a phase
 * well past the threshold, then quiet again. The same series feed `promtool test rules` and the
 * embedded evaluator, which is how the two are shown to agree.
 */
import { METRICS, type MetricDef } from '../../metrics.ts';
import type { Sample } from '../registry.ts';
import type { AlertRule, Match, Selector } from './rules.ts';

/** Minutes 0..minutes, one scrape a minute; the bad phase is (badFrom-1, badUntil]. */
export const SCENARIO = { minutes: 60, badFrom: 11, badUntil: 30 } as const;
/** The scrape target every synthetic series comes from: the alert must keep these labels so the page names the node. */
export const SCENARIO_TARGET = { job: 'parley', instance: '127.0.0.1:9464' } as const;

export interface SyntheticSeries {
  /** PromQL series literal, e.g. parley_errors_total{code="bad_json"}. */
  readonly series: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** One value per minute, minute 0 first. */
  readonly values: readonly number[];
}

export interface Scenario {
  readonly series: readonly SyntheticSeries[];
  /** Labels the firing alert carries besides severity (its job and instance). */
  readonly group: Readonly<Record<string, string>>;
}

const defOf = (metric: string): MetricDef | undefined => (METRICS as Record<string, MetricDef>)[metric.replace(/_bucket$/, '')];

/** Concrete labels satisfying a selector's matchers, taking excluded labels' first allowed catalog value. */
function labelsFor(sel: Selector): Record<string, string> {
  const out: Record<string, string> = { ...SCENARIO_TARGET };
  for (const [k, m] of Object.entries(sel.where ?? {}) as [string, Match][]) {
    if (typeof m === 'string') { out[k] = m; continue; }
    const allowed = defOf(sel.metric)?.labels?.[k]?.find((v) => !m.not.includes(v));
    if (!allowed) throw new Error(`no catalog value of ${sel.metric}{${k}} passes the matcher`);
    out[k] = allowed;
  }
  return out;
}

const literal = (name: string, labels: Record<string, string>) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
};

const isBad = (minute: number) => minute >= SCENARIO.badFrom && minute <= SCENARIO.badUntil;
const minutes = () => Array.from({ length: SCENARIO.minutes + 1 }, (_, i) => i);

/** A counter growing by `perSecBad` per second during the bad phase and `perSecGood` otherwise. */
function counter(sel: Selector, perSecBad: number, perSecGood = 0): SyntheticSeries {
  const labels = labelsFor(sel);
  let v = 0;
  const values = minutes().map((m) => (m === 0 ? 0 : (v += Math.round((isBad(m) ? perSecBad : perSecGood) * 60))));
  return { series: literal(sel.metric, labels), name: sel.metric, labels, values };
}

export function scenarioFor(rule: AlertRule): Scenario {
  const e = rule.expr;
  const over = rule.threshold * 4;
  switch (e.kind) {
    case 'rate':
      return { series: [counter(e.of, over)], group: SCENARIO_TARGET };
    case 'ratio': {
      const den = Math.max(10, (e.minDenominator ?? 0) * 10);
      const perDen = den / e.den.length;
      return { series: [...e.num.map((s) => counter(s, (over * den) / e.num.length)), ...e.den.map((s) => counter(s, perDen, perDen))], group: SCENARIO_TARGET };
    }
    case 'quantile': {
      const buckets = defOf(e.of.metric)?.buckets;
      if (!buckets) throw new Error(`${e.of.metric} is not a histogram of the catalog`);
      const bad = buckets.findIndex((b, i) => i > 0 && buckets[i - 1]! >= rule.threshold);
      const labels = labelsFor(e.of);
      const les = [...buckets.map(String), '+Inf'];
      const series = les.map((le, i) => {
        let v = 0;
        // 100 observations a minute: in the first bucket when quiet, in a bucket above the threshold when bad.
        const values = minutes().map((m) => (m === 0 ? 0 : (v += (isBad(m) ? i >= bad || i === les.length - 1 : true) ? 100 : 0)));
        const l = { ...labels, le };
        return { series: literal(`${e.of.metric}_bucket`, l), name: `${e.of.metric}_bucket`, labels: l, values };
      });
      return { series, group: SCENARIO_TARGET };
    }
    case 'gauge': {
      const labels = labelsFor(e.of);
      return { series: [{ series: literal(e.of.metric, labels), name: e.of.metric, labels, values: minutes().map((m) => (isBad(m) ? over : 0)) }], group: SCENARIO_TARGET };
    }
  }
}

/** The scenario's scrape at `minute`, as the evaluator's source would return it. */
export function samplesAt(s: Scenario, minute: number): Sample[] {
  return s.series.map((x) => ({ name: x.name, labels: x.labels, value: x.values[minute]! }));
}

/**
 * Where the canary reads the nodes' counters: each node's /metrics scraped directly, or one
 * Prometheus that scrapes them (instant queries of the raw cumulative series). Both give the same
 * snapshot: per node, per variant, the delivery histogram and volume, and the node's error and
 * frame counters; the sampler takes differences between snapshots.
 */
import { parsePrometheus } from '../../nightly/scrape.ts';
import type { Guard } from './guards.ts';

export interface Series { name: string; labels: Record<string, string>; value: number }

/** What one node had counted at one moment. */
export interface NodeCounters {
  /** Per variant label value: histogram count, sum (seconds), cumulative buckets, volume counter. */
  variants: Record<string, { count: number; sum: number; buckets: [number, number][]; volume: number }>;
  errors: number;
  framesIn: number;
}

export interface Snapshot { at: number; nodes: Map<string, NodeCounters>; unreachable: string[] }

export interface MetricsSource {
  readonly describe: string;
  snapshot(guard: Guard): Promise<Snapshot>;
}

function parseKey(key: string, value: number): Series {
  const i = key.indexOf('{');
  if (i < 0) return { name: key, labels: {}, value };
  const labels: Record<string, string> = {};
  for (const m of key.slice(i + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
  return { name: key.slice(0, i), labels, value };
}

/** Folds one node's series into its counters for the guard. */
export function countersOf(series: readonly Series[], guard: Guard): NodeCounters {
  const out: NodeCounters = { variants: {}, errors: 0, framesIn: 0 };
  const hist = guard.metrics.find((m) => m.histogram)?.histogram ?? 'parley_delivery_latency_seconds';
  const slot = (v: string) => (out.variants[v] ??= { count: 0, sum: 0, buckets: [], volume: 0 });
  for (const s of series) {
    const v = s.labels[guard.label];
    if (s.name === `${hist}_count` && v) slot(v).count += s.value;
    else if (s.name === `${hist}_sum` && v) slot(v).sum += s.value;
    else if (s.name === `${hist}_bucket` && v) slot(v).buckets.push([s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]);
    else if (s.name === guard.volume && v) slot(v).volume += s.value;
    else if (s.name === 'parley_errors_total') out.errors += s.value;
    else if (s.name === 'parley_frames_in_total') out.framesIn += s.value;
  }
  for (const v of Object.values(out.variants)) v.buckets.sort((a, b) => a[0] - b[0]);
  return out;
}

/** Scrapes each node's ops port /metrics. */
export class ScrapeSource implements MetricsSource {
  constructor(readonly nodes: readonly string[]) {}
  get describe(): string { return `scraping ${this.nodes.join(', ')}`; }

  async snapshot(guard: Guard): Promise<Snapshot> {
    const at = Date.now();
    const nodes = new Map<string, NodeCounters>();
    const unreachable: string[] = [];
    await Promise.all(this.nodes.map(async (url) => {
      try {
        const res = await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(3000) });
        if (!res.ok) throw new Error(String(res.status));
        const series = [...parsePrometheus(await res.text())].map(([k, v]) => parseKey(k, v));
        nodes.set(url, countersOf(series, guard));
      } catch {
        unreachable.push(url);
      }
    }));
    return { at, nodes, unreachable };
  }
}

/** Instant queries against Prometheus's HTTP API; nodes are told apart by the instance label. */
export class PrometheusSource implements MetricsSource {
  constructor(readonly url: string) {}
  get describe(): string { return `Prometheus ${this.url}`; }

  async snapshot(guard: Guard): Promise<Snapshot> {
    const hist = guard.metrics.find((m) => m.histogram)?.histogram ?? 'parley_delivery_latency_seconds';
    const names = [`${hist}_bucket`, `${hist}_sum`, `${hist}_count`, guard.volume, 'parley_errors_total', 'parley_frames_in_total'];
    const query = `{__name__=~"${names.join('|')}"}`;
    const at = Date.now();
    const res = await fetch(new URL(`/api/v1/query?query=${encodeURIComponent(query)}&time=${at / 1000}`, this.url), { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`Prometheus ${this.url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = await res.json() as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    const byInstance = new Map<string, Series[]>();
    for (const r of body.data.result) {
      const { __name__: name, instance = 'unknown', ...labels } = r.metric;
      let list = byInstance.get(instance);
      if (!list) byInstance.set(instance, (list = []));
      list.push({ name: name!, labels, value: Number(r.value[1]) });
    }
    const nodes = new Map<string, NodeCounters>();
    for (const [instance, series] of byInstance) nodes.set(instance, countersOf(series, guard));
    return { at, nodes, unreachable: [] };
  }
}

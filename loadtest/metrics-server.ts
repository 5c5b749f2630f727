/**
 * `parley load --metrics-port N`: the parent serves the run's live figures in Prometheus text
 * format on 127.0.0.1, so an ops stack can scrape the generator next to the node it loads. Names
 * come from LOAD_METRICS (core/metrics.ts); figures are read at scrape time from what the parent
 * already merges: the workers' running totals and the merged HDR histograms (no parallel copy).
 */
import http from 'node:http';
import { LOAD_ERROR_CODES, LOAD_METRICS, LOAD_PHASES, type LoadMetricName, type MetricDef } from '../core/metrics.ts';
import type { Aggregate } from './aggregate.ts';
import { now } from './clock.ts';
import type { Histogram } from './histogram.ts';
import { COUNTERS, METRICS } from './result.ts';

export type LoadPhase = (typeof LOAD_PHASES)[number];

/** What the runner shares while it runs; the server only reads it. */
export interface LiveRun {
  scenario: string;
  phase: LoadPhase;
  workers: number;
  users: number;
  /** clock.ts time of the workers' common start; 0 before it. */
  startAt: number;
  aggregate?: Aggregate;
  /** Running totals per worker (monotonic: each slice message replaces the worker's entry). */
  totals?: ReadonlyMap<number, Record<string, number>>;
}

/** Result counter → Prometheus name (users and errors are served as a gauge and a labelled counter). */
export const COUNTER_METRICS = Object.fromEntries(Object.keys(COUNTERS).filter((c) => c !== 'users' && c !== 'errors').map((c) => [c, `parley_load_${c}_total`])) as Record<string, LoadMetricName>;
/** Result latency metric (ms) → Prometheus histogram name (seconds). */
export const HISTOGRAM_METRICS = Object.fromEntries(Object.keys(METRICS).map((m) => [m, `parley_load_${m.replace(/_ms(?=_|$)/, '')}_seconds`])) as Record<string, LoadMetricName>;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const CODES = new Set<string>(LOAD_ERROR_CODES);

/** Bucket counts (cumulative, at LOAD_METRICS' bounds in seconds), sum in seconds and count of one HDR histogram. */
function buckets(h: Histogram | undefined, bounds: readonly number[]): { counts: number[]; sum: number; count: number } {
  const counts = bounds.map(() => 0);
  if (!h || h.totalCount === 0) return { counts, sum: 0, count: 0 };
  // Each recorded value is placed by the top of its HDR equivalence range (3 significant digits).
  const it = (h as unknown as { recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAtValueIteratedTo: number } } }).recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    const s = v.valueIteratedTo / 1e6;
    for (let i = bounds.findIndex((b) => s <= b); i >= 0 && i < bounds.length; i++) counts[i]! += v.countAtValueIteratedTo;
  }
  return { counts, sum: (h.mean * h.totalCount) / 1e6, count: h.totalCount };
}

/** The Prometheus text exposition of a live run. */
export function renderLoadMetrics(live: LiveRun): string {
  const sc = `scenario="${esc(live.scenario)}"`;
  const sum: Record<string, number> = {};
  for (const t of live.totals?.values() ?? []) for (const [k, v] of Object.entries(t)) sum[k] = (sum[k] ?? 0) + v;
  const errors = new Map<string, number>(LOAD_ERROR_CODES.map((c) => [c, 0]));
  for (const [k, v] of Object.entries(sum)) if (k.startsWith('errors.')) { const c = CODES.has(k.slice(7)) ? k.slice(7) : 'other'; errors.set(c, errors.get(c)! + v); }
  const counterOf = Object.fromEntries(Object.entries(COUNTER_METRICS).map(([c, n]) => [n, sum[c] ?? 0]));
  const histOf = Object.fromEntries(Object.entries(HISTOGRAM_METRICS).map(([m, n]) => [n, m]));
  const gauges: Partial<Record<LoadMetricName, number>> = {
    parley_load_info: 1, parley_load_workers: live.workers, parley_load_users: live.users,
    parley_load_elapsed_seconds: live.startAt ? Math.max(0, now() - live.startAt) / 1000 : 0,
  };
  const out: string[] = [];
  for (const [name, def] of Object.entries(LOAD_METRICS) as [LoadMetricName, MetricDef][]) {
    out.push(`# HELP ${name} ${def.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${def.type}`);
    if (name === 'parley_load_phase') for (const p of LOAD_PHASES) out.push(`${name}{${sc},phase="${p}"} ${p === live.phase ? 1 : 0}`);
    else if (name === 'parley_load_errors_total') for (const [c, v] of errors) out.push(`${name}{${sc},code="${c}"} ${v}`);
    else if (def.type === 'histogram') {
      const b = buckets(live.aggregate?.whole(histOf[name]!), def.buckets!);
      def.buckets!.forEach((le, i) => out.push(`${name}_bucket{${sc},le="${le}"} ${b.counts[i]}`));
      out.push(`${name}_bucket{${sc},le="+Inf"} ${b.count}`, `${name}_sum{${sc}} ${b.sum}`, `${name}_count{${sc}} ${b.count}`);
    } else out.push(`${name}{${sc}} ${def.type === 'counter' ? counterOf[name] ?? 0 : gauges[name] ?? 0}`);
  }
  return `${out.join('\n')}\n`;
}

/** A running metrics endpoint; `close` is idempotent. */
export interface LoadMetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics for `live` on 127.0.0.1:`port` (0: a free port). */
export async function serveLoadMetrics(live: LiveRun, port: number): Promise<LoadMetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') { res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n'); return; }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderLoadMetrics(live));
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as { port: number }).port,
    close: () => (closed ??= new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); })),
  };
}

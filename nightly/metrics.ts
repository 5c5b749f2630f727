/**
 * The metrics a battery compares: one catalog with direction, default practical threshold and how
 * each is derived from a run. Client-side figures come from `parley load` result files; server-side
 * ones from the deployed process (/proc, nanosecond CPU from schedstat) and its /metrics endpoint.
 * Which metrics a scenario compares, and which of them are primary (decided, one Benjamini-Hochberg
 * family) or secondary (reported, their own family), is said by each battery scenario.
 */
import type { LoadResult } from '../loadtest/result.ts';

export type Better = 'lower' | 'higher';

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  /** Smallest relative change that matters (0.05 = 5%); a battery or A/A calibration can raise it. */
  readonly threshold: number;
  /**
   * Primary: must come out unchanged or improved (an inconclusive primary adds blocks, then exits
   * 3); one BH family. Secondary: its own BH family; fails the gate only on a regression.
   */
  readonly gate: boolean;
}

const lat = (key: string, label: string, threshold: number): MetricSpec => ({ key, label, unit: 'ms', better: 'lower', threshold, gate: false });

/** Every metric a battery may compare, by key. `gate` here is the default for batteries that do not say. */
export const METRIC_SPECS: readonly MetricSpec[] = Object.freeze([
  { ...lat('deliver_ms.p50', 'delivery latency p50', 0.10), gate: true },
  lat('deliver_ms.p99', 'delivery latency p99', 0.20),
  { ...lat('ack_ms.p50', 'ack latency p50', 0.10), gate: true },
  lat('ack_ms.p99', 'ack latency p99', 0.20),
  lat('connect_ms.p50', 'connect latency p50', 0.15),
  lat('connect_ms.p99', 'connect latency p99', 0.20),
  lat('sync_ms.p50', 'sync latency p50', 0.15),
  lat('presence_ms.p50', 'presence latency p50', 0.15),
  lat('presence_ms.p99', 'presence latency p99', 0.20),
  lat('typing_ms.p50', 'typing latency p50', 0.15),
  lat('typing_ms.p99', 'typing latency p99', 0.20),
  lat('catchup_ms.p50', 'offline catch-up time p50', 0.15),
  lat('catchup_ms.p99', 'offline catch-up time p99', 0.20),
  lat('reconnect_ms.p50', 'reconnect time under churn p50', 0.15),
  lat('reconnect_ms.p99', 'reconnect time under churn p99', 0.20),
  lat('http_ms.p50', 'REST latency p50', 0.10),
  lat('http_ms.p99', 'REST latency p99', 0.20),
  { key: 'acked_per_s', label: 'sustained acknowledged sends per second (closed loop)', unit: '1/s', better: 'higher', threshold: 0.05, gate: false },
  { key: 'http_per_s', label: 'REST requests per second (closed loop)', unit: '1/s', better: 'higher', threshold: 0.05, gate: false },
  { key: 'logins_per_s', label: 'logins per second (crowd arriving at once)', unit: '1/s', better: 'higher', threshold: 0.10, gate: false },
  { key: 'signal_frames_per_user', label: 'presence/typing frames per watcher', unit: 'frames', better: 'lower', threshold: 0.10, gate: false },
  { key: 'signal_bytes_per_user', label: 'presence/typing bytes per watcher', unit: 'B', better: 'lower', threshold: 0.10, gate: false },
  { key: 'server.cpu_ms_per_1k', label: 'server CPU per 1k units of work', unit: 'ms', better: 'lower', threshold: 0.10, gate: true },
  { key: 'server.cpu_percent', label: 'server CPU during the run', unit: '%', better: 'lower', threshold: 0.10, gate: false },
  { key: 'server.gc_ms_per_1k', label: 'server GC time per 1k units of work', unit: 'ms', better: 'lower', threshold: 0.30, gate: false },
  { key: 'server.rss_peak_mb', label: 'server peak RSS', unit: 'MiB', better: 'lower', threshold: 0.10, gate: false },
  { key: 'server.eventloop_lag_p99_ms', label: 'server event-loop lag p99', unit: 'ms', better: 'lower', threshold: 0.30, gate: false },
  { key: 'server.gc_ms', label: 'server GC time', unit: 'ms', better: 'lower', threshold: 0.30, gate: false },
]);

/** The catalog entry of a key; throws on a key the catalog does not have (a battery typo). */
export function specOf(key: string): MetricSpec {
  const s = METRIC_SPECS.find((m) => m.key === key);
  if (!s) throw new Error(`unknown nightly metric "${key}"; expected one of ${METRIC_SPECS.map((m) => m.key).join(', ')}`);
  return s;
}

/** What a scenario's CPU and GC figures are per: the counter that measures its work. */
export type WorkUnit = 'acked' | 'signals' | 'connects' | 'requests';

/** A run's amount of work in `unit` (acknowledged sends, signals sent, connections, requests). */
export function workOf(r: LoadResult, unit: WorkUnit): number {
  return r.counters[unit] ?? 0;
}

/** The run's client-side figures, keyed like METRIC_SPECS (latency percentiles, rates, chatter). */
export function clientMetrics(r: LoadResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of METRIC_SPECS) {
    const [metric, stat] = spec.key.split('.') as [string, string | undefined];
    const m = r.metrics[metric];
    if (m && stat && stat in m.summary && m.summary.count > 0) out[spec.key] = m.summary[stat as 'p50'];
  }
  const seconds = Number(r.options.durationMs ?? r.durationMs) / 1000;
  // Only a closed loop measures throughput: in an open model acked/s is the offered rate.
  if (seconds > 0 && r.options.mode === 'closed') out.acked_per_s = (r.counters.acked ?? 0) / seconds;
  if (seconds > 0 && r.metrics.http_ms) out.http_per_s = r.metrics.http_ms.summary.count / seconds;
  const connect = r.metrics.connect_ms?.summary;
  // A crowd that arrives at once: the last welcome says how long the whole crowd took to get in.
  if (connect && connect.count > 0 && Number(r.options.arrivalRate) === 0 && connect.max > 0) out.logins_per_s = connect.count / (connect.max / 1000);
  const users = r.counters.users ?? 0;
  if (users > 0 && (r.counters.signal_frames ?? 0) > 0) {
    out.signal_frames_per_user = r.counters.signal_frames! / users;
    out.signal_bytes_per_user = (r.counters.signal_bytes ?? 0) / users;
  }
  return out;
}

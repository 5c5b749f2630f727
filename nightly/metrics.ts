/**
 * The metrics a battery compares: one table with direction, practical threshold and whether the
 * metric gates the release. Client-side figures come from `parley load` result files; server-side
 * ones from the deployed process (/proc) and its /metrics endpoint.
 */

export type Better = 'lower' | 'higher';

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  /** Smallest relative change that matters (0.05 = 5%); A/A calibration can raise it. */
  readonly threshold: number;
  /** Gating metrics must come out unchanged (or improved); the others only fail on a regression. */
  readonly gate: boolean;
}

export const METRIC_SPECS: readonly MetricSpec[] = Object.freeze([
  { key: 'deliver_ms.p50', label: 'delivery latency p50', unit: 'ms', better: 'lower', threshold: 0.10, gate: true },
  { key: 'deliver_ms.p99', label: 'delivery latency p99', unit: 'ms', better: 'lower', threshold: 0.20, gate: false },
  { key: 'ack_ms.p50', label: 'ack latency p50', unit: 'ms', better: 'lower', threshold: 0.10, gate: true },
  { key: 'ack_ms.p99', label: 'ack latency p99', unit: 'ms', better: 'lower', threshold: 0.20, gate: false },
  { key: 'connect_ms.p50', label: 'connect latency p50', unit: 'ms', better: 'lower', threshold: 0.15, gate: false },
  { key: 'acked_per_s', label: 'acknowledged sends per second', unit: '1/s', better: 'higher', threshold: 0.05, gate: false },
  { key: 'server.cpu_ms_per_1k', label: 'server CPU per 1k messages', unit: 'ms', better: 'lower', threshold: 0.10, gate: true },
  { key: 'server.rss_peak_mb', label: 'server peak RSS', unit: 'MiB', better: 'lower', threshold: 0.10, gate: false },
  { key: 'server.eventloop_lag_p99_ms', label: 'server event-loop lag p99', unit: 'ms', better: 'lower', threshold: 0.30, gate: false },
  { key: 'server.gc_ms', label: 'server GC time', unit: 'ms', better: 'lower', threshold: 0.30, gate: false },
]);

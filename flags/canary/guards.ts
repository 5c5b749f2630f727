/**
 * What each canaried flag guards: the label that tells its variant from control in the metrics the
 * nodes export, and the metrics compared. One table, so adding a canary is a row, not code.
 */

/** One compared metric; every one of them is "higher is worse". */
export interface GuardMetric {
  /** Printed name, with its unit. */
  name: string;
  kind: 'latency-mean' | 'latency-p95' | 'errors-per-1k';
  /** The histogram (latency kinds). */
  histogram?: string;
  /** Relative change called practical: 0.10 = 10% worse. */
  threshold: number;
  /** Absolute change below which nothing counts, in the metric's unit (sub-millisecond noise). */
  floor: number;
}

export interface Guard {
  flag: string;
  /** The label carrying the variant, its control value and its variant value. */
  label: string;
  control: string;
  variant: string;
  /** A counter of the guarded work per variant: intervals with fewer events than minEvents are idle. */
  volume: string;
  metrics: GuardMetric[];
}

export const GUARDS: Record<string, Guard> = {
  'fanout-batched': {
    flag: 'fanout-batched', label: 'variant', control: 'control', variant: 'batched', volume: 'parley_messages_delivered_total',
    metrics: [
      { name: 'delivery latency mean (ms)', kind: 'latency-mean', histogram: 'parley_delivery_latency_seconds', threshold: 0.1, floor: 1 },
      { name: 'delivery latency p95 (ms)', kind: 'latency-p95', histogram: 'parley_delivery_latency_seconds', threshold: 0.1, floor: 2 },
      { name: 'error frames per 1k frames in', kind: 'errors-per-1k', threshold: 0.1, floor: 1 },
    ],
  },
};

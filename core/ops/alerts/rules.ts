/**
 * Alert definitions as data, in one place. The embedded evaluator checks them inside the server;
 * `parley alerts render` turns the same records into a Prometheus rules file. Metric names come
 * from the metrics catalog (or prom-client's runtime collectors for event-loop lag).
 */

/** A label matcher: a value means `label="value"`; `{ not: [...] }` means the label is none of them. */
export type Match = string | { readonly not: readonly string[] };

/** One counter or histogram family with label matchers. */
export interface Selector {
  readonly metric: string;
  readonly where?: Readonly<Record<string, Match>>;
}

/** What an alert measures. Windows and durations are Prometheus durations ("30s", "5m", "1h"). */
export type AlertExpr =
  /** Per-second rate of a counter, summed over its series. */
  | { readonly kind: 'rate'; readonly of: Selector; readonly window: string }
  /** Sum of the numerator rates over sum of the denominator rates; no value while the denominator is at or below `minDenominator`. */
  | { readonly kind: 'ratio'; readonly num: readonly Selector[]; readonly den: readonly Selector[]; readonly window: string; readonly minDenominator?: number }
  /** Quantile `q` of a histogram over the window (histogram_quantile of the summed bucket rates). */
  | { readonly kind: 'quantile'; readonly of: Selector; readonly q: number; readonly window: string }
  /** The current value of a gauge, aggregated over its series. */
  | { readonly kind: 'gauge'; readonly of: Selector; readonly agg: 'max' | 'sum' };

export interface AlertRule {
  readonly name: string;
  readonly severity: 'page' | 'ticket';
  readonly expr: AlertExpr;
  /** Fires when the value is above this. */
  readonly threshold: number;
  /** How long the condition must hold before pending becomes firing. */
  readonly for: string;
  /** Hysteresis: a firing alert keeps firing this long after the condition clears (Prometheus keep_firing_for). */
  readonly keepFiringFor: string;
  readonly summary: string;
  readonly runbook: string;
}

const RUNBOOK = 'https://github.com/parley-chat/parley/blob/main/docs/operations.md';

/**
 * Labels every alert expression keeps (PromQL `sum by (job, instance)`): with several nodes the
 * page names the node. The embedded evaluator sees one node's samples, which form one group.
 */
export const ALERT_GROUP_BY = ['job', 'instance'] as const;

/** Close reasons that are not a drop: a clean close, a page unload, a drain, an expired token. */
export const NOT_A_DROP = ['normal', 'going_away', 'shutdown', 'token_expired'] as const;

/** Login outcomes that are not a failed token check: success, and refusals of the node itself. */
export const NOT_A_TOKEN_FAILURE = ['ok', 'unsupported_protocol', 'wrong_path', 'draining', 'overloaded'] as const;

export const ALERTS = [
  {
    name: 'ParleyErrorFrameRatioHigh', severity: 'ticket',
    expr: { kind: 'ratio', num: [{ metric: 'parley_errors_total', where: { code: { not: ['rate_limited'] } } }], den: [{ metric: 'parley_frames_in_total' }], window: '5m', minDenominator: 1 },
    threshold: 0.05, for: '5m', keepFiringFor: '2m',
    summary: 'More than 5% of client frames are answered with an error frame.',
    runbook: `${RUNBOOK}#parleyerrorframeratiohigh`,
  },
  {
    name: 'ParleyInternalErrors', severity: 'page',
    expr: { kind: 'rate', of: { metric: 'parley_errors_total', where: { code: 'internal' } }, window: '5m' },
    threshold: 0.1, for: '2m', keepFiringFor: '2m',
    summary: 'The server answers requests with internal errors (more than 0.1/s).',
    runbook: `${RUNBOOK}#parleyinternalerrors`,
  },
  {
    name: 'ParleyDeliveryLatencyHigh', severity: 'page',
    expr: { kind: 'quantile', of: { metric: 'parley_delivery_latency_seconds' }, q: 0.99, window: '5m' },
    threshold: 0.5, for: '5m', keepFiringFor: '2m',
    summary: 'p99 server-side delivery latency (receive to socket write) is above 500 ms.',
    runbook: `${RUNBOOK}#parleydeliverylatencyhigh`,
  },
  {
    name: 'ParleyStoreCommitSlow', severity: 'page',
    expr: { kind: 'quantile', of: { metric: 'parley_store_commit_seconds' }, q: 0.99, window: '5m' },
    threshold: 0.25, for: '5m', keepFiringFor: '2m',
    summary: 'p99 store transaction time is above 250 ms; sends wait for their commit.',
    runbook: `${RUNBOOK}#parleystorecommitslow`,
  },
  {
    name: 'ParleyStoreUnavailable', severity: 'page',
    expr: { kind: 'gauge', of: { metric: 'parley_store_unavailable' }, agg: 'max' },
    threshold: 0.5, for: '1m', keepFiringFor: '2m',
    summary: 'The store refuses writes (disk full, I/O error or a failed WAL flush): sends and other writes fail with store_unavailable.',
    runbook: `${RUNBOOK}#parleystoreunavailable`,
  },
  {
    name: 'ParleySqliteWalLarge', severity: 'page',
    expr: { kind: 'gauge', of: { metric: 'parley_sqlite_wal_bytes' }, agg: 'max' },
    threshold: 1_073_741_824, for: '2m', keepFiringFor: '5m',
    summary: 'The SQLite write-ahead log is over 1 GiB: checkpoints are not keeping up with writes (or a reader holds them back), and the disk fills next.',
    runbook: `${RUNBOOK}#parleysqlitewallarge`,
  },
  {
    name: 'ParleyOverloaded', severity: 'page',
    expr: { kind: 'gauge', of: { metric: 'parley_overloaded' }, agg: 'max' },
    threshold: 0.5, for: '2m', keepFiringFor: '2m',
    summary: 'The node is over its work budget (requests in flight, queued bytes or heap): new work is refused with overloaded and /readyz fails.',
    runbook: `${RUNBOOK}#parleyoverloaded`,
  },
  {
    name: 'ParleyBusDown', severity: 'page',
    expr: { kind: 'gauge', of: { metric: 'parley_bus_down_seconds' }, agg: 'max' },
    threshold: 10, for: '30s', keepFiringFor: '1m',
    summary: 'Redis has been unreachable for more than 10 s: the node serves only its local users, cross-node messages wait for the store repair, /readyz answers bus_down.',
    runbook: `${RUNBOOK}#parleybusdown`,
  },
  {
    name: 'ParleyGapRepairsHigh', severity: 'ticket',
    expr: { kind: 'rate', of: { metric: 'parley_gap_repairs_total' }, window: '10m' },
    threshold: 1, for: '10m', keepFiringFor: '5m',
    summary: 'Sessions repair more than 1 gap/s from the store: pub/sub is dropping messages (a slow subscriber, publish errors); they arrive late, not lost.',
    runbook: `${RUNBOOK}#parleygaprepairshigh`,
  },
  {
    name: 'ParleyEventLoopLagHigh', severity: 'page',
    expr: { kind: 'gauge', of: { metric: 'nodejs_eventloop_lag_p99_seconds' }, agg: 'max' },
    threshold: 0.2, for: '2m', keepFiringFor: '1m',
    summary: 'p99 event-loop lag is above 200 ms; every session on the node is delayed.',
    runbook: `${RUNBOOK}#parleyeventlooplaghigh`,
  },
  {
    name: 'ParleySlowConsumerCloses', severity: 'ticket',
    expr: { kind: 'rate', of: { metric: 'parley_slow_consumer_closes_total' }, window: '5m' },
    threshold: 0.2, for: '5m', keepFiringFor: '2m',
    summary: 'Connections are closed as slow consumers (4008) at more than 0.2/s.',
    runbook: `${RUNBOOK}#parleyslowconsumercloses`,
  },
  {
    name: 'ParleyConnectionDropRateHigh', severity: 'page',
    expr: { kind: 'rate', of: { metric: 'parley_closes_total', where: { reason: { not: NOT_A_DROP } } }, window: '5m' },
    threshold: 5, for: '5m', keepFiringFor: '2m',
    summary: 'Connections drop (slow, stale, rate_abuse, kicked, policy, device_limit, abnormal, too_large, other) at more than 5/s.',
    runbook: `${RUNBOOK}#parleyconnectiondropratehigh`,
  },
  {
    name: 'ParleyChatterToMessageRatioHigh', severity: 'ticket',
    expr: {
      kind: 'ratio', window: '10m', minDenominator: 0.1,
      num: [{ metric: 'parley_frames_in_total', where: { op: 'typing' } }, { metric: 'parley_frames_in_total', where: { op: 'presence' } }],
      den: [{ metric: 'parley_messages_stored_total' }],
    },
    threshold: 50, for: '10m', keepFiringFor: '5m',
    summary: 'Typing and presence traffic is more than 50 times the message traffic; check coalescing and client throttles.',
    runbook: `${RUNBOOK}#parleychattertomessageratiohigh`,
  },
  {
    name: 'ParleyRateLimitHitsHigh', severity: 'ticket',
    expr: { kind: 'rate', of: { metric: 'parley_rate_limited_total' }, window: '5m' },
    threshold: 10, for: '5m', keepFiringFor: '2m',
    summary: 'Rate limits refuse more than 10 requests/s: a misbehaving client or a limit set too low.',
    runbook: `${RUNBOOK}#parleyratelimithitshigh`,
  },
  {
    name: 'ParleyLoginFailuresHigh', severity: 'ticket',
    expr: { kind: 'rate', of: { metric: 'parley_logins_total', where: { reason: { not: NOT_A_TOKEN_FAILURE } } }, window: '5m' },
    threshold: 1, for: '5m', keepFiringFor: '2m',
    summary: 'More than 1 login/s fails the token check (missing, malformed, bad_signature, invalid_claims, expired, other): expired tokens in a client release, or a credential attack.',
    runbook: `${RUNBOOK}#parleyloginfailureshigh`,
  },
] as const satisfies readonly AlertRule[];

export const ALERT_NAMES: readonly string[] = ALERTS.map((a) => a.name);

/** A Prometheus duration ("90s", "5m", "1h", "1h30m") in milliseconds; throws on anything else. */
export function durationMs(text: string): number {
  const re = /(\d+)(ms|s|m|h|d)/gy;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) { total += Number(m[1]) * unit[m[2]!]!; end = re.lastIndex; }
  if (end !== text.length || text.length === 0) throw new Error(`expected a duration like "5m" or "90s", got "${text}"`);
  return total;
}

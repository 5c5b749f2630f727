/**
 * The result file of `parley load`: the contract with the nightly pipeline and `parley load merge`.
 * Every latency metric carries its summary and its encoded HDR histogram (hdr-histogram-js
 * compressed base64, microsecond values), for the whole run and per time slice, so consumers merge
 * exactly and never average percentiles. Bump RESULT_SCHEMA_VERSION on any incompatible change.
 */

export const RESULT_SCHEMA_VERSION = 1;

/** Exit codes of `parley load` (and `parley load merge`), documented in docs/loadtest.md. */
export const EXIT_CODES = Object.freeze({
  /** Valid run, every threshold passed. */
  pass: 0,
  /** Bad command line or scenario options. */
  usage: 2,
  /** The generator fell behind (or a worker died): the numbers do not describe the target. */
  invalid: 97,
  /** The target or the generator's infrastructure failed: nothing connected, workers crashed, files unreadable. */
  infrastructure: 98,
  /** Valid run, at least one threshold failed (k6 uses 99 too). */
  thresholds: 99,
});

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** Latency metrics by name (all in milliseconds, recorded in microseconds). */
export const METRICS = Object.freeze({
  connect_ms: 'intended arrival → welcome frame (TCP + TLS + upgrade + auth)',
  sync_ms: 'sync sent → synced received (session handshake after welcome)',
  first_msg_ms: 'intended arrival (or reconnect) → first msg frame received',
  ack_ms: 'intended send time → ack (response time, no coordinated omission)',
  ack_ms_actual: 'actual send time → ack (service time)',
  deliver_ms: 'intended send time → msg frame at each recipient',
  deliver_ms_actual: 'actual send time → msg frame at each recipient',
  catchup_ms: 'reconnect → every missed message received (offline catch-up)',
  reconnect_ms: 'connection dropped → welcome on the new connection',
  presence_ms: 'intended presence update → event at each watcher',
  typing_ms: 'intended typing signal → event at the peer',
  http_ms: 'REST request → response (autocannon)',
  schedule_lag_ms: 'how late the generator ran each scheduled action (generator health)',
} as const);

export type MetricName = keyof typeof METRICS;

/** Plain counters by name; `errors_by_code` holds the per-code split of `errors`. */
export const COUNTERS = Object.freeze({
  users: 'simulated users planned',
  connects: 'successful connections (first connects and reconnects)',
  connect_failures: 'connection attempts that failed (refused, HTTP error, timeout)',
  scheduled: 'sends the schedule asked for',
  sent: 'sends written to a socket',
  acked: 'sends acknowledged by the server',
  unacked: 'sends without an ack at the end of the run (after the sockets closed)',
  refused: 'sends the server answered with an error frame (its code in errors_by_code)',
  expected: 'deliveries expected: acked sends × recipients',
  delivered: 'distinct messages received by their intended recipients',
  delivered_unacked: 'of delivered: messages whose send was never acked (not in expected)',
  lost: 'expected deliveries that never arrived (by the time the sockets closed)',
  duplicated: 'messages a recipient received more than once',
  reordered: 'messages that arrived after a later message of the same sender stream',
  late_sends: 'sends made later than the late tolerance after their intended time',
  missed_sends: 'scheduled sends never made (user disconnected for good, or run ended first)',
  signals: 'presence/typing signals sent',
  signals_received: 'presence/typing signals received by watchers',
  signal_frames: 'presence/typing frames received by watchers (a batched frame carries several signals)',
  signal_bytes: 'bytes of those frames',
  errors: 'error frames and failed operations (see errors_by_code)',
  reconnects: 'reconnections after a dropped connection',
  requests: 'other requests made (room.create, sync, REST calls)',
} as const);

export type CounterName = keyof typeof COUNTERS;

/** Latency summary in milliseconds (three decimals). */
export interface Summary {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

export interface MetricResult {
  summary: Summary;
  /** hdr-histogram-js `encodeIntoCompressedBase64`, values in microseconds. */
  hdr: string;
}

export interface Slice {
  index: number;
  /** Offset of the slice start from the run start, ms. */
  startMs: number;
  metrics: Record<string, MetricResult>;
  counters: Record<string, number>;
}

export interface WorkerHealth {
  /** `<segment>#<worker>`, e.g. `1/2#0`; unique within a merged result. */
  worker: string;
  users: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Mean CPU over the run, percent of one core. */
  cpuPercent: number;
  /** Highest CPU over one slice, percent of one core. */
  cpuMaxPercent: number;
  scheduleLagP99Ms: number;
  scheduleLagMaxMs: number;
  /** Highest per-slice p99 of schedule lag: a stall of the generator shows here, not in the run's p99. Absent in older files. */
  scheduleLagWorstSliceP99Ms?: number;
  rssMaxMb: number;
  heapUsedMaxMb: number;
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  /** Sliding window length in ms, or null for the whole run. */
  windowMs: number | null;
  abortOnFail: boolean;
  passed: boolean;
  /** Observed value (whole run), or the worst window's value. */
  observed: number | null;
  /** Windows evaluated and failed (0/0 for whole-run thresholds). */
  windows: number;
  failedWindows: number;
  /** Start offset (ms) of the first failed window, if any. */
  firstFailureMs: number | null;
}

export interface LoadResult {
  schemaVersion: typeof RESULT_SCHEMA_VERSION;
  tool: 'parley-load';
  scenario: string;
  target: string;
  /** Resolved options (durations in ms), exactly as the run used them. */
  options: Record<string, unknown>;
  /** Segments this result covers, e.g. ['1/2'] or ['1/2', '2/2'] after a merge. */
  segments: string[];
  seed: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  environment: { host: string; node: string; platform: string; cpus: number; gitSha: string | null };
  validity: { valid: boolean; reasons: string[] };
  health: { workers: WorkerHealth[] };
  metrics: Record<string, MetricResult>;
  slices: { sliceMs: number; items: Slice[] };
  counters: Record<string, number>;
  errorsByCode: Record<string, number>;
  thresholds: ThresholdResult[];
  aborted: { reason: string; atMs: number } | null;
  exitCode: ExitCode;
  exitReason: string;
}

// ── validation ───────────────────────────────────────────────────────────────────────────────────

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const SUMMARY_KEYS: (keyof Summary)[] = ['count', 'min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99', 'p999'];
const HEALTH_KEYS: (keyof WorkerHealth)[] = ['users', 'eventLoopDelayP99Ms', 'eventLoopDelayMaxMs', 'cpuPercent', 'cpuMaxPercent', 'scheduleLagP99Ms', 'scheduleLagMaxMs', 'rssMaxMb', 'heapUsedMaxMb'];

function checkMetrics(where: string, v: unknown, errors: string[]): void {
  if (!isObj(v)) return void errors.push(`${where} must be an object of metric → {summary, hdr}`);
  for (const [name, m] of Object.entries(v)) {
    if (!isObj(m) || typeof m.hdr !== 'string' || !isObj(m.summary)) { errors.push(`${where}.${name} must be {summary, hdr}`); continue; }
    for (const k of SUMMARY_KEYS) if (!isNum(m.summary[k])) errors.push(`${where}.${name}.summary.${k} must be a number`);
  }
}

function checkCounters(where: string, v: unknown, errors: string[]): void {
  if (!isObj(v)) return void errors.push(`${where} must be an object of name → count`);
  for (const [k, n] of Object.entries(v)) if (!isNum(n) || n < 0) errors.push(`${where}.${k} must be a non-negative number`);
}

/**
 * Checks a parsed result file. Returns every problem at once (empty when valid), naming the field
 * and what was expected, so a consumer can refuse a file with one clear message.
 */
export function validateResult(v: unknown): string[] {
  const errors: string[] = [];
  if (!isObj(v)) return ['result must be a JSON object'];
  if (v.schemaVersion !== RESULT_SCHEMA_VERSION) errors.push(`schemaVersion must be ${RESULT_SCHEMA_VERSION}, got ${JSON.stringify(v.schemaVersion)}`);
  if (v.tool !== 'parley-load') errors.push('tool must be "parley-load"');
  for (const k of ['scenario', 'target', 'startedAt', 'endedAt', 'exitReason'] as const) if (typeof v[k] !== 'string') errors.push(`${k} must be a string`);
  for (const k of ['seed', 'durationMs', 'exitCode'] as const) if (!isNum(v[k])) errors.push(`${k} must be a number`);
  if (isNum(v.exitCode) && !Object.values(EXIT_CODES).includes(v.exitCode as ExitCode)) errors.push(`exitCode must be one of ${Object.values(EXIT_CODES).join(', ')}`);
  if (!isObj(v.options)) errors.push('options must be an object');
  if (!Array.isArray(v.segments) || !v.segments.every((s) => typeof s === 'string' && /^\d+\/\d+$/.test(s))) errors.push('segments must be an array of "i/n" strings');
  if (!isObj(v.environment)) errors.push('environment must be an object');
  if (!isObj(v.validity) || typeof v.validity.valid !== 'boolean' || !Array.isArray(v.validity.reasons)) errors.push('validity must be {valid: boolean, reasons: string[]}');
  if (!isObj(v.health) || !Array.isArray(v.health.workers)) errors.push('health must be {workers: WorkerHealth[]}');
  else {
    v.health.workers.forEach((w: unknown, i: number) => {
      if (!isObj(w) || typeof w.worker !== 'string') return void errors.push(`health.workers[${i}].worker must be a string`);
      for (const k of HEALTH_KEYS) if (!isNum(w[k])) errors.push(`health.workers[${i}].${k} must be a number`);
      if (w.scheduleLagWorstSliceP99Ms !== undefined && !isNum(w.scheduleLagWorstSliceP99Ms)) errors.push(`health.workers[${i}].scheduleLagWorstSliceP99Ms must be a number`);
    });
  }
  checkMetrics('metrics', v.metrics, errors);
  if (!isObj(v.slices) || !isNum(v.slices.sliceMs) || !Array.isArray(v.slices.items)) errors.push('slices must be {sliceMs, items[]}');
  else {
    v.slices.items.forEach((s: unknown, i: number) => {
      if (!isObj(s) || !isNum(s.index) || !isNum(s.startMs)) return void errors.push(`slices.items[${i}] must have index and startMs`);
      checkMetrics(`slices.items[${i}].metrics`, s.metrics, errors);
      checkCounters(`slices.items[${i}].counters`, s.counters, errors);
    });
  }
  checkCounters('counters', v.counters, errors);
  checkCounters('errorsByCode', v.errorsByCode, errors);
  if (!Array.isArray(v.thresholds)) errors.push('thresholds must be an array');
  else {
    v.thresholds.forEach((t: unknown, i: number) => {
      if (!isObj(t) || typeof t.metric !== 'string' || typeof t.expression !== 'string' || typeof t.passed !== 'boolean') {
        errors.push(`thresholds[${i}] must have metric, expression and passed`);
      }
    });
  }
  if (v.aborted !== null && !(isObj(v.aborted) && typeof v.aborted.reason === 'string')) errors.push('aborted must be null or {reason, atMs}');
  return errors;
}

/** Parses and validates a result file's text; throws an Error listing every problem. */
export function parseResult(text: string, name = 'result'): LoadResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${name}: expected JSON: ${(err as Error).message}`);
  }
  const errors = validateResult(v);
  if (errors.length) throw new Error(`${name}: not a parley load result:\n  ${errors.join('\n  ')}`);
  return v as LoadResult;
}

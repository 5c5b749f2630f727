/**
 * Server-side figures for one run: CPU time (nanoseconds, from schedstat) and peak RSS from /proc
 * when the process is local, event-loop lag and GC time from the server's /metrics (Prometheus text;
 * a 404 from a build that predates /metrics is tolerated and leaves those figures out).
 */
import fs from 'node:fs';

export interface ProcSample {
  cpuSeconds: number;
  /** `schedstat`: nanoseconds on CPU summed over the threads; `ticks`: utime+stime in 10 ms ticks. */
  cpuSource: 'schedstat' | 'ticks';
  /** Peak resident set (VmHWM), MiB. */
  peakRssMb: number;
}

const TICKS_PER_SECOND = 100;

/**
 * Time on CPU of every thread of a process in seconds, from /proc/<pid>/task/<tid>/schedstat (its
 * first field is nanoseconds on CPU), or undefined where the kernel has no schedstat. 10 ms ticks
 * make CPU per message take a few coarse values over a short run; nanoseconds do not.
 */
export function schedCpuSeconds(pid: number): number | undefined {
  let tids: string[];
  try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { return undefined; }
  let ns = 0;
  let seen = 0;
  for (const tid of tids) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      seen++;
    } catch { /* a thread that ended between readdir and read */ }
  }
  return seen && Number.isFinite(ns) ? ns / 1e9 : undefined;
}

/** CPU seconds and peak RSS of a local process, or undefined when /proc has no such pid. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    const peakRssMb = hwm ? Number(hwm[1]) / 1024 : NaN;
    const sched = schedCpuSeconds(pid);
    if (sched !== undefined) return { cpuSeconds: sched, cpuSource: 'schedstat', peakRssMb };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND, cpuSource: 'ticks', peakRssMb };
  } catch {
    return undefined;
  }
}

/** Parses Prometheus text exposition into series name (with labels) → value. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Sum of every series of a metric, whatever its labels (e.g. GC time over all GC kinds), or of
 * those whose labels include `label` (`reason="ok"`).
 */
export function sumOf(m: Map<string, number>, name: string, label?: string): number | undefined {
  let sum: number | undefined;
  for (const [k, v] of m) {
    if (!(k === name || k.startsWith(`${name}{`))) continue;
    if (label !== undefined && !k.includes(label)) continue;
    sum = (sum ?? 0) + v;
  }
  return sum;
}

/** One scrape of /metrics, or undefined when the endpoint is absent (404) or unreachable. */
export async function scrapeMetrics(opsUrl: string): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(new URL('/metrics', opsUrl), { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return parsePrometheus(await res.text());
  } catch {
    return undefined;
  }
}

/** Polls a server during a run and reduces what it saw to the run's server-side metrics. */
export class ServerWatch {
  readonly #opsUrl: string;
  readonly #pid: number | undefined;
  #startProc: ProcSample | undefined;
  #startMetrics: Map<string, number> | undefined;
  #lastMetrics: Map<string, number> | undefined;
  #maxRssMb = 0;
  #maxLagMs = 0;
  #startAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #polls: Promise<void>[] = [];

  constructor(opsUrl: string, pid?: number) {
    this.#opsUrl = opsUrl;
    this.#pid = pid;
  }

  /**
   * Scrapes at the start, then every `intervalMs`. A local process is polled rarely: each scrape
   * costs the server CPU that would land in its CPU per message.
   */
  async start(intervalMs = this.#pid ? 2000 : 500): Promise<void> {
    if (this.#pid) this.#startProc = procSample(this.#pid);
    this.#startAt = performance.now();
    this.#startMetrics = await scrapeMetrics(this.#opsUrl);
    this.#timer = setInterval(() => this.#polls.push(this.#poll()), intervalMs);
  }

  async #poll(): Promise<void> {
    const m = await scrapeMetrics(this.#opsUrl);
    if (!m) return;
    this.#lastMetrics = m;
    this.#maxRssMb = Math.max(this.#maxRssMb, (m.get('process_resident_memory_bytes') ?? 0) / 1048576);
    this.#maxLagMs = Math.max(this.#maxLagMs, (m.get('nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000);
  }

  /**
   * Stops polling; `work` is the run's amount of work (acknowledged sends, signals, connections or
   * requests: the scenario's unit), the denominator of the CPU and GC figures.
   */
  async stop(work: number): Promise<Record<string, number>> {
    return serverFigures(await this.finish(), work);
  }

  /** Stops polling and returns what the server did during the run, not yet divided by the work. */
  async finish(): Promise<ServerSpan> {
    clearInterval(this.#timer);
    const end = this.#pid ? procSample(this.#pid) : undefined;
    const elapsedS = (performance.now() - this.#startAt) / 1000;
    await Promise.all(this.#polls);
    await this.#poll();
    const m0 = this.#startMetrics;
    const m1 = this.#lastMetrics;
    const cpuSeconds = end && this.#startProc ? end.cpuSeconds - this.#startProc.cpuSeconds
      : m0 && m1 && m1.has('process_cpu_seconds_total') ? m1.get('process_cpu_seconds_total')! - m0.get('process_cpu_seconds_total')! : undefined;
    const rss = end?.peakRssMb ?? (this.#maxRssMb || undefined);
    const gc1 = m1 && sumOf(m1, 'nodejs_gc_duration_seconds_sum');
    const counters: Record<string, number> = {};
    if (m1) {
      for (const [key, name, label] of NODE_COUNTERS) {
        const v1 = sumOf(m1, name, label);
        if (v1 !== undefined) counters[key] = v1 - ((m0 && sumOf(m0, name, label)) ?? 0);
      }
    }
    return {
      cpuSeconds, elapsedS, rssPeakMb: rss !== undefined && Number.isFinite(rss) ? rss : undefined,
      lagP99Ms: m1 && m1.has('nodejs_eventloop_lag_p99_seconds') ? this.#maxLagMs : undefined,
      gcMs: gc1 !== undefined ? (gc1 - ((m0 && sumOf(m0, 'nodejs_gc_duration_seconds_sum')) ?? 0)) * 1000 : undefined,
      counters,
    };
  }
}

/** What one server (or a whole cluster) did during a run, before dividing by the run's work. */
export interface ServerSpan {
  cpuSeconds?: number;
  elapsedS: number;
  rssPeakMb?: number;
  lagP99Ms?: number;
  gcMs?: number;
  /** Growth of the node's own counters over the run (NODE_COUNTERS), for per-node figures. */
  counters: Record<string, number>;
}

/** Per-node counters kept for cluster runs: figure → metric and the label its series must carry. */
const NODE_COUNTERS: readonly [string, string, string | undefined][] = [
  ['logins', 'parley_logins_total', 'reason="ok"'],
  ['messages_stored', 'parley_messages_stored_total', undefined],
  ['deliveries', 'parley_messages_delivered_total', undefined],
  ['bus_received', 'parley_bus_received_total', 'result="ok"'],
];

/** A run's server-side metrics (keys of METRIC_SPECS) from a span and the run's work. */
export function serverFigures(span: ServerSpan, work: number): Record<string, number> {
  const out: Record<string, number> = {};
  const cpu = span.cpuSeconds;
  if (cpu !== undefined && work > 0) out['server.cpu_ms_per_1k'] = (cpu * 1000) / (work / 1000);
  if (cpu !== undefined && span.elapsedS > 0) out['server.cpu_percent'] = (100 * cpu) / span.elapsedS;
  if (span.rssPeakMb !== undefined) out['server.rss_peak_mb'] = span.rssPeakMb;
  if (span.lagP99Ms !== undefined) out['server.eventloop_lag_p99_ms'] = span.lagP99Ms;
  if (span.gcMs !== undefined) {
    out['server.gc_ms'] = span.gcMs;
    if (work > 0) out['server.gc_ms_per_1k'] = span.gcMs / (work / 1000);
  }
  return out;
}

/**
 * A cluster as one server: CPU, GC and peak RSS summed over the nodes (the cluster's cost of the
 * run's work), event-loop lag the worst node's. A figure some node lacks is left out, not
 * understated.
 */
export function combineSpans(spans: readonly ServerSpan[]): ServerSpan {
  const sum = (pick: (s: ServerSpan) => number | undefined) => (spans.every((s) => pick(s) !== undefined) ? spans.reduce((a, s) => a + pick(s)!, 0) : undefined);
  const lags = spans.map((s) => s.lagP99Ms).filter((v) => v !== undefined);
  const counters: Record<string, number> = {};
  for (const s of spans) for (const [k, v] of Object.entries(s.counters)) counters[k] = (counters[k] ?? 0) + v;
  return {
    cpuSeconds: sum((s) => s.cpuSeconds), elapsedS: Math.max(0, ...spans.map((s) => s.elapsedS)), rssPeakMb: sum((s) => s.rssPeakMb),
    lagP99Ms: lags.length ? Math.max(...lags) : undefined, gcMs: sum((s) => s.gcMs), counters,
  };
}

/** One node's figures for the report: its CPU time and share, peak RSS, GC and its counters. */
export function nodeFigures(span: ServerSpan): Record<string, number> {
  const out: Record<string, number> = {};
  if (span.cpuSeconds !== undefined) out.cpu_ms = span.cpuSeconds * 1000;
  if (span.cpuSeconds !== undefined && span.elapsedS > 0) out.cpu_percent = (100 * span.cpuSeconds) / span.elapsedS;
  if (span.rssPeakMb !== undefined) out.rss_peak_mb = span.rssPeakMb;
  if (span.gcMs !== undefined) out.gc_ms = span.gcMs;
  return { ...out, ...span.counters };
}

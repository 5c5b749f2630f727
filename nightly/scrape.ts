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

/** Sum of every series of a metric, whatever its labels (e.g. GC time over all GC kinds). */
export function sumOf(m: Map<string, number>, name: string): number | undefined {
  let sum: number | undefined;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) sum = (sum ?? 0) + v;
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
    clearInterval(this.#timer);
    const end = this.#pid ? procSample(this.#pid) : undefined;
    const elapsedS = (performance.now() - this.#startAt) / 1000;
    await Promise.all(this.#polls);
    await this.#poll();
    const out: Record<string, number> = {};
    const m0 = this.#startMetrics;
    const m1 = this.#lastMetrics;
    const cpu = end && this.#startProc ? end.cpuSeconds - this.#startProc.cpuSeconds
      : m0 && m1 && m1.has('process_cpu_seconds_total') ? m1.get('process_cpu_seconds_total')! - m0.get('process_cpu_seconds_total')! : undefined;
    if (cpu !== undefined && work > 0) out['server.cpu_ms_per_1k'] = (cpu * 1000) / (work / 1000);
    if (cpu !== undefined && elapsedS > 0) out['server.cpu_percent'] = (100 * cpu) / elapsedS;
    const rss = end?.peakRssMb ?? (this.#maxRssMb || undefined);
    if (rss !== undefined && Number.isFinite(rss)) out['server.rss_peak_mb'] = rss;
    if (m1 && m1.has('nodejs_eventloop_lag_p99_seconds')) out['server.eventloop_lag_p99_ms'] = this.#maxLagMs;
    const gc1 = m1 && sumOf(m1, 'nodejs_gc_duration_seconds_sum');
    if (gc1 !== undefined) {
      const gcMs = (gc1 - ((m0 && sumOf(m0, 'nodejs_gc_duration_seconds_sum')) ?? 0)) * 1000;
      out['server.gc_ms'] = gcMs;
      if (work > 0) out['server.gc_ms_per_1k'] = gcMs / (work / 1000);
    }
    return out;
  }
}

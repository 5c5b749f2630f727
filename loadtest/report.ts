/**
 * What a person sees: the live progress line (rewritten on a TTY, a plain line every few seconds
 * otherwise) and the end-of-run summary table.
 */
import type { LoadResult } from './result.ts';
import type { Progress } from './runner.ts';

/** A progress sink: on a TTY one line rewritten each second, else one line every `everyMs`. */
export function progressPrinter(stream: NodeJS.WriteStream, everyMs = 5000): { update: (p: Progress) => void; end: () => void } {
  let last = 0;
  let drawn = false;
  const line = (p: Progress): string => {
    const t = p.totals;
    const f = (n: number | null) => (n === null ? '-' : n.toFixed(1));
    return `[${(p.elapsedMs / 1000).toFixed(0).padStart(4)}s] users ${t.connects ?? 0}/${t.users ?? 0}  sent ${t.sent ?? 0}  acked ${t.acked ?? 0}  delivered ${t.delivered ?? 0}  late ${t.late_sends ?? 0}  errors ${t.errors ?? 0}  p99 ack ${f(p.p99AckMs)} ms  deliver ${f(p.p99DeliverMs)} ms`;
  };
  return {
    update(p) {
      if (stream.isTTY) { stream.write(`\r${line(p).slice(0, (stream.columns || 160) - 1)}\x1b[K`); drawn = true; return; }
      if (p.elapsedMs - last >= everyMs) { last = p.elapsedMs; stream.write(`${line(p)}\n`); }
    },
    end() { if (drawn) stream.write('\n'); },
  };
}

const pad = (s: string, n: number) => s.padStart(n);

/** The summary table: latency metrics, counters, errors, thresholds, health and the verdict. */
export function summaryTable(r: LoadResult): string {
  const out: string[] = [];
  out.push(`scenario ${r.scenario}  target ${r.target}  segments ${r.segments.join(',')}  ${(r.durationMs / 1000).toFixed(1)} s`);
  out.push('');
  out.push(`${'metric (ms)'.padEnd(20)}${pad('count', 9)}${pad('p50', 10)}${pad('p90', 10)}${pad('p99', 10)}${pad('p99.9', 10)}${pad('max', 10)}`);
  for (const [name, m] of Object.entries(r.metrics)) {
    const s = m.summary;
    out.push(`${name.padEnd(20)}${pad(String(s.count), 9)}${[s.p50, s.p90, s.p99, s.p999, s.max].map((v) => pad(v.toFixed(2), 10)).join('')}`);
  }
  out.push('');
  out.push(`counters: ${Object.entries(r.counters).map(([k, v]) => `${k}=${v}`).join('  ')}`);
  if (Object.keys(r.errorsByCode).length) out.push(`errors:   ${Object.entries(r.errorsByCode).map(([k, v]) => `${k}=${v}`).join('  ')}`);
  if (r.thresholds.length) {
    out.push('');
    out.push('thresholds:');
    for (const t of r.thresholds) {
      const where = t.windowMs === null ? 'whole run' : `${t.windowMs} ms windows: ${t.failedWindows}/${t.windows} failed`;
      out.push(`  ${t.passed ? 'PASS' : 'FAIL'}  ${t.metric} ${t.expression}  observed ${t.observed ?? 'n/a'}  (${where})`);
    }
  }
  out.push('');
  out.push('generator health:');
  for (const w of r.health.workers) {
    out.push(`  ${w.worker.padEnd(8)} users ${w.users}  cpu ${w.cpuPercent.toFixed(0)}% (max ${w.cpuMaxPercent.toFixed(0)}%)  loop p99 ${w.eventLoopDelayP99Ms.toFixed(1)} ms  schedule lag p99 ${w.scheduleLagP99Ms.toFixed(1)} ms  heap ${w.heapUsedMaxMb.toFixed(0)} MB`);
  }
  if (r.aborted) out.push(`aborted at ${r.aborted.atMs} ms: ${r.aborted.reason}`);
  out.push('');
  out.push(`${r.validity.valid ? 'VALID' : 'INVALID'} run; exit ${r.exitCode}: ${r.exitReason}`);
  return out.join('\n');
}

/**
 * `parley load merge`: results of several agents (segments of one plan) become one result, exactly:
 * histograms are decoded and added per slice and for the whole run, counters summed, health kept per
 * worker, thresholds evaluated again on the merged data.
 */
import { Aggregate, splitCounters } from './aggregate.ts';
import { EXIT_CODES, type LoadResult } from './result.ts';
import { finalize } from './runner.ts';
import { parseThresholds, type ThresholdSpec } from './thresholds.ts';

/** Merges results of one scenario; throws Error when they cannot describe one run. */
export function mergeResults(results: readonly LoadResult[]): LoadResult {
  if (results.length === 0) throw new Error('merge needs at least one result');
  const first = results[0]!;
  const problems: string[] = [];
  for (const r of results) {
    if (r.scenario !== first.scenario) problems.push(`scenario "${r.scenario}" differs from "${first.scenario}"`);
    if (r.seed !== first.seed) problems.push(`seed ${r.seed} differs from ${first.seed}: segments of one plan share a seed`);
    if (r.slices.sliceMs !== first.slices.sliceMs) problems.push(`slice ${r.slices.sliceMs} ms differs from ${first.slices.sliceMs} ms`);
  }
  const segments = results.flatMap((r) => r.segments);
  const dup = segments.find((s, i) => segments.indexOf(s) !== i);
  if (dup) problems.push(`segment ${dup} appears twice`);
  if (problems.length) throw new Error(`cannot merge: ${problems.join('; ')}`);

  const agg = new Aggregate();
  for (const r of results) {
    for (const s of r.slices.items) {
      agg.add(s.index, Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [k, m.hdr])), s.counters);
    }
  }
  // Whole-run counters come from the results (they include end-of-run counts such as lost).
  const all: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.counters)) all[k] = (all[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.errorsByCode)) all[`errors.${k}`] = (all[`errors.${k}`] ?? 0) + v;
  }
  const { counters, errorsByCode } = splitCounters(all);
  const starts = results.map((r) => Date.parse(r.startedAt));
  const ends = results.map((r) => Date.parse(r.endedAt));
  const thresholds = parseThresholds((first.options.thresholds ?? {}) as Record<string, ThresholdSpec[]>);
  const reasons = results.flatMap((r) => r.validity.reasons.map((x) => `${r.segments.join(',')}: ${x}`));
  const infra = results.filter((r) => r.exitCode === EXIT_CODES.infrastructure).map((r) => `${r.segments.join(',')}: ${r.exitReason}`);
  const merged: LoadResult = {
    ...first,
    segments: [...segments].sort(),
    startedAt: new Date(Math.min(...starts)).toISOString(),
    endedAt: new Date(Math.max(...ends)).toISOString(),
    durationMs: Math.max(...ends) - Math.min(...starts),
    validity: { valid: reasons.length === 0, reasons },
    health: { workers: results.flatMap((r) => r.health.workers) },
    metrics: agg.metrics(),
    slices: { sliceMs: first.slices.sliceMs, items: agg.slices(first.slices.sliceMs) },
    counters,
    errorsByCode,
    aborted: results.find((r) => r.aborted)?.aborted ?? null,
  };
  return finalize(merged, thresholds, infra);
}

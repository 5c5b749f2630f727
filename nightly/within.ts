/**
 * What the report shows inside the runs, read back from each kept run's result file: the latency
 * percentile spectrum of every latency metric per scenario (the HDR histograms of all runs of a
 * side merged, never percentiles averaged), and the time series within each run (acknowledged
 * sends per second, p99 per slice, connections so far), base and head side by side.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHistogram, decode, percentileMs, type Histogram } from '../loadtest/histogram.ts';
import { METRICS, validateResult, type LoadResult } from '../loadtest/result.ts';
import type { NightRecord, RunRecord } from './history.ts';

/** Percentiles of the spectrum; 100 is the maximum. */
export const SPECTRUM_PERCENTILES = Object.freeze([0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100]);

export interface Spectrum {
  scenario: string;
  metric: string;
  /** Per side: the merged histogram's value (ms) at each of SPECTRUM_PERCENTILES, and its count. */
  base?: { count: number; ms: number[] };
  head?: { count: number; ms: number[] };
}

export interface RunSeries {
  side: RunRecord['side'];
  index: number;
  /** Slice start in seconds from the run's start. */
  t: number[];
  ackedPerSec: number[];
  /** p99 (ms) of the scenario's main latency per slice; NaN where the slice has none. */
  p99Ms: number[];
  connections: number[];
}

export interface Timeline {
  scenario: string;
  /** The latency metric whose per-slice p99 is drawn (deliver_ms where the scenario delivers, else ack_ms, ...). */
  latency: string;
  runs: RunSeries[];
}

export interface WithinRun {
  spectra: Spectrum[];
  timelines: Timeline[];
  /** Runs whose result file could not be read, with why (the report says so instead of failing). */
  unreadable: string[];
}

/** Latency metrics drawn, in this order; schedule lag is generator health, not the target's. */
const LATENCY = (Object.keys(METRICS) as (keyof typeof METRICS)[]).filter((m) => m !== 'schedule_lag_ms' && !m.endsWith('_actual'));
const MAIN_LATENCY = ['deliver_ms', 'ack_ms', 'presence_ms', 'typing_ms', 'catchup_ms', 'reconnect_ms', 'http_ms', 'connect_ms'];

function readResult(file: string): LoadResult {
  const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const problems = validateResult(v);
  if (problems.length) throw new Error(problems.slice(0, 3).join('; '));
  return v as LoadResult;
}

/** Reads the kept runs of a night (RunRecord.file under `runsDir`) and builds the spectra and timelines. */
export function withinRun(night: Pick<NightRecord, 'runs'>, runsDir: string): WithinRun {
  const unreadable: string[] = [];
  const results: { run: RunRecord; result: LoadResult }[] = [];
  for (const run of night.runs) {
    if (!run.file) continue;
    try {
      results.push({ run, result: readResult(path.join(runsDir, run.file)) });
    } catch (err) {
      unreadable.push(`${run.file}: ${(err as Error).message}`);
    }
  }
  return { ...buildViews(results), unreadable };
}

/** The views from results already read (exported for tests on literal inputs). */
export function buildViews(results: readonly { run: RunRecord; result: LoadResult }[]): Omit<WithinRun, 'unreadable'> {
  const scenarios = [...new Set(results.map((r) => r.run.scenario))];
  const spectra: Spectrum[] = [];
  const timelines: Timeline[] = [];
  for (const scenario of scenarios) {
    const mine = results.filter((r) => r.run.scenario === scenario);
    for (const metric of LATENCY) {
      const side = (s: RunRecord['side']) => {
        const with_ = mine.filter((r) => r.run.side === s && r.result.metrics[metric]);
        if (!with_.length) return undefined;
        const merged: Histogram = createHistogram();
        for (const r of with_) merged.add(decode(r.result.metrics[metric]!.hdr));
        if (merged.totalCount === 0) return undefined;
        return { count: merged.totalCount, ms: SPECTRUM_PERCENTILES.map((p) => (p === 0 ? merged.minNonZeroValue / 1000 : percentileMs(merged, p))) };
      };
      const base = side('base');
      const head = side('head');
      if (base || head) spectra.push({ scenario, metric, base, head });
    }
    const latency = MAIN_LATENCY.find((m) => mine.some((r) => (r.result.metrics[m]?.summary.count ?? 0) > 0)) ?? 'ack_ms';
    const runs = mine.map(({ run, result }): RunSeries => {
      const slices = [...result.slices.items].sort((a, b) => a.startMs - b.startMs);
      const sliceSec = (i: number) => ((slices[i + 1]?.startMs ?? result.durationMs) - slices[i]!.startMs) / 1000;
      let connections = 0;
      return {
        side: run.side, index: run.index,
        t: slices.map((s) => s.startMs / 1000),
        ackedPerSec: slices.map((s, i) => (s.counters.acked ?? 0) / Math.max(1e-3, sliceSec(i))),
        p99Ms: slices.map((s) => ((s.metrics[latency]?.summary.count ?? 0) > 0 ? s.metrics[latency]!.summary.p99 : NaN)),
        connections: slices.map((s) => (connections += s.counters.connects ?? 0)),
      };
    });
    timelines.push({ scenario, latency, runs });
  }
  return { spectra, timelines };
}

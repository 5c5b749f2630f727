/**
 * HDR histograms in microseconds (hdr-histogram-js, pure JS build so forked workers need no WASM).
 * Workers record and encode; the parent decodes and adds: percentiles are only ever read from
 * merged histograms, never averaged.
 */
import * as hdr from 'hdr-histogram-js';
import type { MetricResult, Summary } from './result.ts';

export type Histogram = hdr.Histogram;

/** Highest trackable latency: one hour. Larger values are clamped to it (and still counted). */
const HIGHEST_US = 3_600_000_000;

/** A fresh histogram: 1 µs to 1 h at 3 significant digits. */
export function createHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, bitBucketSize: 32, useWebAssembly: false });
}

/** Records a latency given in milliseconds (fractional) at microsecond resolution. */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(b64: string): Histogram {
  const h = hdr.decodeFromCompressedBase64(b64, 32, false);
  return h;
}

const ms3 = (us: number): number => Math.round(us) / 1000;

/** Count, min, max, mean, stddev and p50/p90/p99/p99.9 in ms (three decimals). */
export function summarize(h: Histogram): Summary {
  const n = h.totalCount;
  if (n === 0) return { count: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p999: 0 };
  return {
    count: n,
    min: ms3(h.minNonZeroValue),
    max: ms3(h.maxValue),
    mean: ms3(h.mean),
    stddev: ms3(h.stdDeviation),
    p50: ms3(h.getValueAtPercentile(50)),
    p90: ms3(h.getValueAtPercentile(90)),
    p99: ms3(h.getValueAtPercentile(99)),
    p999: ms3(h.getValueAtPercentile(99.9)),
  };
}

/** Percentile in ms of a histogram (p in [0, 100]). */
export function percentileMs(h: Histogram, p: number): number {
  return h.totalCount === 0 ? 0 : ms3(h.getValueAtPercentile(p));
}

export function metricResult(h: Histogram): MetricResult {
  return { summary: summarize(h), hdr: encode(h) };
}

/** Number of recorded values at or above `ms` (to the histogram's equivalent-value resolution). */
export function countAtOrAbove(h: Histogram, ms: number): number {
  const js = h as unknown as { lowestEquivalentValue(v: number): number; nextNonEquivalentValue(v: number): number; getCountAtValue(v: number): number };
  let n = 0;
  for (let v = js.lowestEquivalentValue(Math.round(ms * 1000)); v <= h.maxValue; v = js.nextNonEquivalentValue(v)) n += js.getCountAtValue(v);
  return n;
}

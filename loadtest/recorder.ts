/**
 * A worker's measurements for the current time slice: one HDR histogram per metric and plain
 * counters. At each slice boundary the slice is encoded for the parent and the histograms reset.
 */
import { createHistogram, encode, recordMs, type Histogram } from './histogram.ts';
import type { MetricName } from './result.ts';

/** One closed slice as sent to the parent: encoded histograms and counter deltas. */
export interface SliceData {
  index: number;
  hdr: Record<string, string>;
  counters: Record<string, number>;
}

/** The measuring surface handed to the parts of a worker: latency samples, counters, errors. */
export interface Meter {
  record(metric: MetricName, ms: number): void;
  count(name: string, n?: number): void;
  /** Counts an error under `errors` and `errors.<code>`. */
  error(code: string): void;
}

export class Recorder implements Meter {
  readonly #hist = new Map<string, Histogram>();
  #counters: Record<string, number> = {};
  /** Running totals since the start (progress and the end-of-run check). */
  readonly totals: Record<string, number> = {};

  record(metric: MetricName, ms: number): void {
    let h = this.#hist.get(metric);
    if (!h) this.#hist.set(metric, (h = createHistogram()));
    recordMs(h, ms);
  }

  count(name: string, n = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + n;
    this.totals[name] = (this.totals[name] ?? 0) + n;
  }

  /** Counts an error under `errors` and `errors.<code>`. */
  error(code: string): void {
    this.count('errors');
    this.count(`errors.${code}`);
  }

  /** Closes the slice: encodes non-empty histograms, resets them, returns the deltas. */
  cut(index: number): SliceData {
    const hdr: Record<string, string> = {};
    for (const [name, h] of this.#hist) {
      if (h.totalCount === 0) continue;
      hdr[name] = encode(h);
      h.reset();
    }
    const counters = this.#counters;
    this.#counters = {};
    return { index, hdr, counters };
  }
}

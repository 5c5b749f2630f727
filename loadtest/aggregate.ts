/**
 * The parent's merge of worker (or agent) data: per-slice histograms added exactly, counters
 * summed, then rendered into the result's metrics and slices.
 */
import { createHistogram, decode, metricResult, type Histogram } from './histogram.ts';
import type { MetricResult, Slice } from './result.ts';
import type { Sample } from './thresholds.ts';

interface SliceAcc { hist: Map<string, Histogram>; counters: Map<string, number> }

export class Aggregate {
  readonly #slices = new Map<number, SliceAcc>();
  readonly #whole = new Map<string, Histogram>();

  #slice(index: number): SliceAcc {
    let s = this.#slices.get(index);
    if (!s) this.#slices.set(index, (s = { hist: new Map(), counters: new Map() }));
    return s;
  }

  /** Adds one worker's (or one result's) slice. */
  add(index: number, hdr: Record<string, string>, counters: Record<string, number>): void {
    const s = this.#slice(index);
    for (const [name, b64] of Object.entries(hdr)) {
      const h = decode(b64);
      let sh = s.hist.get(name);
      if (!sh) s.hist.set(name, (sh = createHistogram()));
      sh.add(h);
      let wh = this.#whole.get(name);
      if (!wh) this.#whole.set(name, (wh = createHistogram()));
      wh.add(h);
    }
    for (const [k, v] of Object.entries(counters)) s.counters.set(k, (s.counters.get(k) ?? 0) + v);
  }

  whole(metric: string): Histogram | undefined {
    return this.#whole.get(metric);
  }

  /** Slices known so far (the highest index + 1). */
  get length(): number {
    return Math.max(-1, ...this.#slices.keys()) + 1;
  }

  /** A threshold sample over slices [from, to) straight from the live histograms (no encoding). */
  sample(from: number, to: number): Sample {
    const hs = new Map<string, Histogram>();
    const counters = new Map<string, number>();
    for (let i = from; i < to; i++) {
      const s = this.#slices.get(i);
      if (!s) continue;
      for (const [name, h] of s.hist) {
        let acc = hs.get(name);
        if (!acc) hs.set(name, (acc = createHistogram()));
        acc.add(h);
      }
      for (const [k, v] of s.counters) counters.set(k, (counters.get(k) ?? 0) + v);
    }
    return { histogram: (m) => hs.get(m), counter: (n) => counters.get(n) ?? 0 };
  }

  /** Whole-run metrics (non-empty only). */
  metrics(): Record<string, MetricResult> {
    const out: Record<string, MetricResult> = {};
    for (const name of [...this.#whole.keys()].sort()) {
      const h = this.#whole.get(name)!;
      if (h.totalCount > 0) out[name] = metricResult(h);
    }
    return out;
  }

  /** Sums counters over every slice. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.#slices.values()) for (const [k, v] of s.counters) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Slices 0..last, gaps filled with empty slices so windows stay aligned to time. */
  slices(sliceMs: number): Slice[] {
    const last = Math.max(-1, ...this.#slices.keys());
    const items: Slice[] = [];
    for (let i = 0; i <= last; i++) {
      const s = this.#slices.get(i);
      const metrics: Record<string, MetricResult> = {};
      const counters: Record<string, number> = {};
      if (s) {
        for (const [name, h] of [...s.hist].sort(([a], [b]) => a.localeCompare(b))) if (h.totalCount > 0) metrics[name] = metricResult(h);
        for (const [k, v] of s.counters) counters[k] = v;
      }
      items.push({ index: i, startMs: i * sliceMs, metrics, counters });
    }
    return items;
  }
}

/** Splits `errors.<code>` counters into errorsByCode and leaves the plain ones. */
export function splitCounters(all: Record<string, number>): { counters: Record<string, number>; errorsByCode: Record<string, number> } {
  const counters: Record<string, number> = {};
  const errorsByCode: Record<string, number> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith('errors.')) errorsByCode[k.slice(7)] = v;
    else counters[k] = v;
  }
  return { counters, errorsByCode };
}

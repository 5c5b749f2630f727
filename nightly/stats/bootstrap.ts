/**
 * Seeded percentile bootstrap of the ratio of medians head/base: resample each side with
 * replacement, take the ratio of the resampled medians, and read the interval off its quantiles.
 */
import { quantileSorted } from './describe.ts';
import { mulberry32 } from './prng.ts';

export interface BootstrapOptions {
  /** Number of resamples (default 10 000). */
  resamples?: number;
  /** Two-sided confidence level (default 0.95). */
  confidence?: number;
  seed: number;
}

export interface Interval {
  lo: number;
  hi: number;
}

function medianOfResample(xs: readonly number[], rand: () => number, buf: Float64Array): number {
  const n = xs.length;
  for (let i = 0; i < n; i++) buf[i] = xs[Math.floor(rand() * n)]!;
  buf.sort();
  return n % 2 ? buf[(n - 1) / 2]! : (buf[n / 2 - 1]! + buf[n / 2]!) / 2;
}

/** Percentile bootstrap interval of median(head) / median(base). */
export function bootstrapRatioOfMedians(base: readonly number[], head: readonly number[], opts: BootstrapOptions): Interval {
  if (base.length === 0 || head.length === 0) return { lo: NaN, hi: NaN };
  const resamples = opts.resamples ?? 10_000;
  const alpha = 1 - (opts.confidence ?? 0.95);
  const rand = mulberry32(opts.seed);
  const ratios = new Float64Array(resamples);
  const bufA = new Float64Array(base.length);
  const bufB = new Float64Array(head.length);
  for (let r = 0; r < resamples; r++) {
    const a = medianOfResample(base, rand, bufA);
    const b = medianOfResample(head, rand, bufB);
    ratios[r] = a === 0 ? (b === 0 ? 1 : Infinity) : b / a;
  }
  ratios.sort();
  return { lo: quantileSorted(ratios, alpha / 2), hi: quantileSorted(ratios, 1 - alpha / 2) };
}

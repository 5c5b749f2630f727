/** Descriptive statistics on plain number arrays: pure, no allocation beyond one sorted copy. */

/** Sorted ascending copy. */
export function sorted(xs: readonly number[]): number[] {
  return Float64Array.from(xs).sort() as unknown as number[];
}

/** Quantile by linear interpolation between order statistics (Hyndman-Fan type 7, R's and NumPy's default). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  return quantileSorted(s, q);
}

/** As `quantile`, for input already sorted ascending. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  const n = s.length;
  if (n === 0) return NaN;
  const h = (n - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

export function mean(xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) sum += x;
  return xs.length ? sum / xs.length : NaN;
}

/** Median absolute deviation scaled by 1.4826, a robust standard deviation under normality. */
export function madSd(xs: readonly number[]): number {
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

/** Sample standard deviation (n - 1). */
export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) ** 2;
  return Math.sqrt(ss / (xs.length - 1));
}

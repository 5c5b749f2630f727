/**
 * The small statistics the overload and soak benches report: a least-squares line with the
 * standard error of its slope, medians, and when a node recovered after a load drop.
 */

export interface LineFit {
  slope: number;
  intercept: number;
  /** Standard error of the slope (NaN with fewer than 3 points). */
  slopeStdErr: number;
  n: number;
}

/** Ordinary least squares y = intercept + slope·x, with the slope's standard error sqrt(s²/Sxx). */
export function fitLine(xs: readonly number[], ys: readonly number[]): LineFit {
  const n = xs.length;
  if (n !== ys.length) throw new RangeError(`fitLine needs as many x as y, got ${n} and ${ys.length}`);
  if (n < 2) return { slope: NaN, intercept: NaN, slopeStdErr: NaN, n };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let ssr = 0;
  for (let i = 0; i < n; i++) ssr += (ys[i]! - intercept - slope * xs[i]!) ** 2;
  const slopeStdErr = n > 2 ? Math.sqrt(ssr / (n - 2) / sxx) : NaN;
  return { slope, intercept, slopeStdErr, n };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One second of a run as recovery sees it: its sends, how many were acked, and their p99. */
export interface SecondSample {
  p99Ms: number;
  scheduled: number;
  acked: number;
}

/**
 * Seconds from `drop` until the node is back to normal: the first second from which `hold`
 * consecutive seconds each had every send acked (none refused, none unanswered) with a p99 within
 * `p99LimitMs`. Undefined when that never happens before the samples end.
 */
export function recoverySec(samples: readonly SecondSample[], drop: number, p99LimitMs: number, hold = 3): number | undefined {
  let run = 0;
  for (let t = drop; t < samples.length; t++) {
    const s = samples[t]!;
    const normal = s.scheduled > 0 && s.acked === s.scheduled && s.p99Ms <= p99LimitMs;
    run = normal ? run + 1 : 0;
    if (run === hold) return t - hold + 1 - drop;
  }
  return undefined;
}

/**
 * Quantiles from cumulative histogram buckets, the way Prometheus' histogram_quantile computes
 * them (linear interpolation inside the bucket that holds the rank), over the difference of two
 * snapshots so a chart shows the recent window rather than the node's whole life.
 */
export interface Bucket { le: number | '+Inf'; count: number }

/** Bucket counts of `now` minus `before` (same bounds); `now` itself when there is no `before`. */
export function windowOf(now: readonly Bucket[], before?: readonly Bucket[]): Bucket[] {
  if (!before || before.length !== now.length) return [...now];
  return now.map((b, i) => ({ le: b.le, count: Math.max(0, b.count - (before[i]?.count ?? 0)) }));
}

/** The q-quantile (0..1) of cumulative buckets, or undefined with no observations. */
export function quantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      // Past the last finite bound nothing is known: answer that bound, as Prometheus does.
      if (b.le === '+Inf') return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le === '+Inf' ? prevLe : b.le;
    prevCount = b.count;
  }
  return prevLe;
}

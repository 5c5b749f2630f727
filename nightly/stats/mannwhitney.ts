/**
 * Exact Mann-Whitney U test. The null distribution is the permutation distribution of the rank sum
 * given the observed (mid-)ranks, counted exactly by dynamic programming, so ties are handled
 * exactly (conditional on the tie pattern) rather than by a normal approximation. Without ties
 * this is the classic exact distribution (SciPy `mannwhitneyu(method="exact")`); with ties it
 * equals SciPy's exact `permutation_test` on the rank sum.
 */

export interface MannWhitney {
  /** U statistic of `x` (count of pairs x > y, ties counted one half). */
  u: number;
  /** P(U >= observed) under the null: small when x tends to be larger. */
  pGreater: number;
  /** P(U <= observed) under the null: small when x tends to be smaller. */
  pLess: number;
  /** Two-sided p-value: twice the smaller one-sided p, capped at 1. */
  pTwoSided: number;
}

/** Mid-ranks (1-based) of the pooled sample, doubled so that they are integers. */
export function doubledMidRanks(pooled: readonly number[]): number[] {
  const order = pooled.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(pooled.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    // positions i..j (0-based) share the mid-rank (i + j) / 2 + 1; doubled: i + j + 2
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = i + j + 2;
    i = j + 1;
  }
  return ranks;
}

/** Exact test of x against y. Sizes up to a few dozen per side are fast (O(n * m * sum of ranks)). */
export function mannWhitneyExact(x: readonly number[], y: readonly number[]): MannWhitney {
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) return { u: NaN, pGreater: 1, pLess: 1, pTwoSided: 1 };
  const ranks = doubledMidRanks([...x, ...y]);
  const total = ranks.reduce((s, r) => s + r, 0);
  // count[k][s]: number of k-subsets of the items seen so far with doubled rank sum s (0/1 knapsack,
  // k descending so each item is used once).
  const count: Float64Array[] = Array.from({ length: n + 1 }, () => new Float64Array(total + 1));
  count[0]![0] = 1;
  let reach = 0;
  for (const r of ranks) {
    reach += r;
    for (let k = n - 1; k >= 0; k--) {
      const from = count[k]!;
      const to = count[k + 1]!;
      for (let s = Math.min(reach - r, total - r); s >= 0; s--) if (from[s]) to[s + r]! += from[s]!;
    }
  }
  const observed = ranks.slice(0, n).reduce((s, r) => s + r, 0);
  const u = observed / 2 - (n * (n + 1)) / 2;
  return { u, ...tails(count[n]!, observed) };
}

/**
 * One- and two-sided p-values of an observed statistic from its exact null distribution, given as
 * counts by value (`dist[s]`: how many equally likely arrangements give the statistic s).
 */
export function tails(dist: ArrayLike<number>, observed: number): { pGreater: number; pLess: number; pTwoSided: number } {
  let all = 0;
  let ge = 0;
  let le = 0;
  for (let s = 0; s < dist.length; s++) {
    const c = dist[s]!;
    if (!c) continue;
    all += c;
    if (s >= observed) ge += c;
    if (s <= observed) le += c;
  }
  const pGreater = ge / all;
  const pLess = le / all;
  return { pGreater, pLess, pTwoSided: Math.min(1, 2 * Math.min(pGreater, pLess)) };
}

/** The smallest two-sided p-value an exact test with these sizes can reach (no ties). */
export function minAttainableP(n: number, m: number): number {
  let c = 1;
  for (let i = 1; i <= n; i++) c = (c * (m + i)) / i;
  return Math.min(1, 2 / c);
}

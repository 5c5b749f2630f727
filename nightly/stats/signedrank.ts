/**
 * Paired statistics: the exact Wilcoxon signed-rank test and the Hodges-Lehmann estimate of a
 * paired shift, for designs that measure base and head together (the same CPU at the same moment)
 * so that what both share, such as the machine's speed of the moment, cancels in each difference.
 *
 * Zero differences are dropped (Wilcoxon's convention); tied absolute differences get mid-ranks.
 * The null distribution is counted exactly over the 2^n sign assignments of the observed ranks, so
 * ties are exact conditional on the tie pattern, as in the Mann-Whitney test beside it.
 */
import { median } from './describe.ts';
import { doubledMidRanks, tails } from './mannwhitney.ts';

export interface SignedRank {
  /** Sum of the ranks of the positive differences (mid-ranks when absolute values tie). */
  wPlus: number;
  /** Differences that took part (non-zero). */
  n: number;
  /** P(W+ >= observed): small when the differences tend to be positive. */
  pGreater: number;
  /** P(W+ <= observed): small when the differences tend to be negative. */
  pLess: number;
  /** Twice the smaller one-sided p, capped at 1. */
  pTwoSided: number;
}

/** Exact signed-rank test of paired differences `d` (e.g. log(head/base) of each pair). */
export function signedRankExact(d: readonly number[]): SignedRank {
  const nz = d.filter((v) => v !== 0 && Number.isFinite(v));
  const n = nz.length;
  if (n === 0) return { wPlus: 0, n: 0, pGreater: 1, pLess: 1, pTwoSided: 1 };
  const ranks = doubledMidRanks(nz.map(Math.abs));
  const count = subsetSums(ranks);
  const observed = nz.reduce((s, v, i) => (v > 0 ? s + ranks[i]! : s), 0);
  return { wPlus: observed / 2, n, ...tails(count, observed) };
}

/** count[s]: the sign assignments (subsets of `ranks` taken positive) whose ranks sum to s. */
function subsetSums(ranks: readonly number[]): Float64Array {
  const count = new Float64Array(ranks.reduce((s, r) => s + r, 0) + 1);
  count[0] = 1;
  let reach = 0;
  for (const r of ranks) {
    reach += r;
    for (let s = reach; s >= r; s--) count[s]! += count[s - r]!;
  }
  return count;
}

function walshAverages(d: readonly number[]): number[] {
  const walsh: number[] = [];
  for (let i = 0; i < d.length; i++) for (let j = i; j < d.length; j++) walsh.push((d[i]! + d[j]!) / 2);
  return walsh;
}

/** Hodges-Lehmann estimate of a paired shift: the median of the Walsh averages (d_i + d_j) / 2, i <= j. */
export function pairedHodgesLehmann(d: readonly number[]): number {
  return median(walshAverages(d));
}

/**
 * Distribution-free confidence interval of the paired shift that the signed-rank test inverts
 * (Hollander and Wolfe): with M = n(n+1)/2 sorted Walsh averages and c the largest count such that
 * P(W+ < c) <= (1 - confidence) / 2 under the null, the interval runs from the c-th smallest to the
 * c-th largest. Without ties or zero differences the shifts inside are exactly those the two-sided
 * test does not reject, so the interval and the p-value agree. With ties (the test uses mid-ranks)
 * or zero differences (counted here, dropped by the test) they agree only approximately.
 * Unbounded when n is too small to reach the level (n < 6 at 95%).
 */
export function pairedShiftInterval(d: readonly number[], confidence = 0.95): { lo: number; hi: number } {
  const xs = d.filter(Number.isFinite);
  const n = xs.length;
  const m = (n * (n + 1)) / 2;
  // The null distribution of W+ without ties: subsets of the ranks 1..n by their sum.
  const count = subsetSums(Array.from({ length: n }, (_, i) => i + 1));
  const half = (1 - confidence) / 2;
  const total = 2 ** n;
  let c = 0;
  for (let below = 0; c <= m && (below + count[c]!) / total <= half; c++) below += count[c]!;
  if (c === 0) return { lo: -Infinity, hi: Infinity };
  const walsh = walshAverages(xs).sort((a, b) => a - b);
  return { lo: walsh[c - 1]!, hi: walsh[m - c]! };
}

/** The smallest two-sided p-value the exact signed-rank test can reach with `n` pairs (no ties, no zeros). */
export function minAttainablePairedP(n: number): number {
  return Math.min(1, 2 / 2 ** n);
}

/**
 * Minimum detectable effect of the verdict rule in compare.ts: the smallest relative change that
 * is called a regression with the requested power. The rule needs both a significant exact MWU
 * (after Benjamini-Hochberg over `tests` comparisons) and a ratio of medians beyond the practical
 * threshold, so the MDE is the larger of the two requirements, each met with power sqrt(power).
 */
import { sd } from './describe.ts';
import { minAttainableP } from './mannwhitney.ts';
import { normPpf } from './normal.ts';
import { minAttainablePairedP } from './signedrank.ts';

export interface MdeInput {
  /** Runs per side (base, head). */
  nBase: number;
  nHead: number;
  /** Robust standard deviation of log(run value) within one build. */
  sigmaLog: number;
  /** Practical threshold as a relative change (0.05 = 5%). */
  threshold: number;
  /** FDR level of the battery. */
  alpha: number;
  /** Comparisons in the battery (BH with one true effect needs p <= alpha / tests). */
  tests: number;
  /** Required power (default 0.8). */
  power?: number;
}

/**
 * Pooled standard deviation of log values of both sides, the noise the MDE is measured in. The
 * classical (not MAD) spread on purpose: with outliers or two modes a robust spread understates how
 * much the medians of a few runs move, and the printed MDE must not promise more than it delivers.
 */
export function logSpread(base: readonly number[], head: readonly number[]): number {
  const la = base.filter((v) => v > 0).map(Math.log);
  const lb = head.filter((v) => v > 0).map(Math.log);
  if (la.length < 2 || lb.length < 2) return NaN;
  const sa = sd(la);
  const sb = sd(lb);
  return Math.sqrt((sa * sa * (la.length - 1) + sb * sb * (lb.length - 1)) / (la.length + lb.length - 2));
}

/**
 * The MDE as a relative change (0.08 = 8%), or Infinity when the exact test cannot reach the
 * required p-value with these run counts at all.
 */
export function minimumDetectableEffect(input: MdeInput): number {
  const power = input.power ?? 0.8;
  const alphaEach = input.alpha / Math.max(1, input.tests);
  if (minAttainableP(input.nBase, input.nHead) > alphaEach) return Infinity;
  const zPow = normPpf(Math.sqrt(power));
  const scale = Math.sqrt(1 / input.nBase + 1 / input.nHead);
  // Medians of n runs have ~1.2533x the standard error of means; MWU has ~95.5% of the t-test's efficiency.
  const seMedian = 1.2533 * input.sigmaLog * scale;
  const seRank = input.sigmaLog * scale / Math.sqrt(0.955);
  const significance = (normPpf(1 - alphaEach / 2) + zPow) * seRank;
  const practical = Math.log1p(input.threshold) + zPow * seMedian;
  return Math.expm1(Math.max(significance, practical));
}

export interface PairedMdeInput {
  /** Pairs (a base and a head run measured together). */
  pairs: number;
  /** Standard deviation of the per-pair log ratios log(head / base). */
  sigmaLog: number;
  threshold: number;
  alpha: number;
  tests: number;
  power?: number;
}

/**
 * The standard error of the paired estimate of a log ratio from `pairs` pairs of spread
 * `sigmaLog`: the signed-rank test and the Hodges-Lehmann estimate have about 95.5% of the
 * efficiency of a mean of normal differences.
 */
export function pairedStandardError(sigmaLog: number, pairs: number): number {
  return sigmaLog / Math.sqrt(pairs * 0.955);
}

/**
 * The MDE of the paired verdict (signed-rank test and Hodges-Lehmann estimate of the log ratio),
 * or Infinity when so few pairs cannot reach the required p-value. Both the test and the estimate
 * have about 95.5% of the efficiency of a mean of normal differences, hence one standard error.
 */
export function pairedMinimumDetectableEffect(input: PairedMdeInput): number {
  const power = input.power ?? 0.8;
  const alphaEach = input.alpha / Math.max(1, input.tests);
  if (minAttainablePairedP(input.pairs) > alphaEach) return Infinity;
  const zPow = normPpf(Math.sqrt(power));
  const se = pairedStandardError(input.sigmaLog, input.pairs);
  const significance = (normPpf(1 - alphaEach / 2) + zPow) * se;
  const practical = Math.log1p(input.threshold) + zPow * se;
  return Math.expm1(Math.max(significance, practical));
}

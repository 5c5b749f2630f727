/**
 * The decision for every scenario x metric of a battery: ratio of medians head/base with a seeded
 * bootstrap interval, an exact Mann-Whitney U p-value adjusted by Benjamini-Hochberg across the
 * battery, Cliff's delta, and the minimum detectable effect. When base and head were measured in
 * pairs (both at once, on the same CPU), the ratio is the Hodges-Lehmann estimate of the pairs' log
 * ratios with the interval the signed-rank test inverts, and the p-value is that exact test's: what
 * the two runs of a pair share (the machine's speed at that moment) cancels. Verdicts (direction-aware):
 * - regression: q <= alpha and the ratio is worse than the practical threshold;
 * - improvement: q <= alpha and the ratio is better than the threshold (passes the gate);
 * - unchanged: the whole interval lies within +-threshold, and the run counts could have shown a
 *   regression (the exact test can reach significance at all);
 * - inconclusive: anything else (the battery adds rounds, up to its cap).
 */
import { bootstrapRatioOfMedians, type Interval } from './stats/bootstrap.ts';
import { median, sd } from './stats/describe.ts';
import { cliffsDelta } from './stats/effect.ts';
import { mannWhitneyExact } from './stats/mannwhitney.ts';
import { logSpread, minimumDetectableEffect, pairedMinimumDetectableEffect } from './stats/mde.ts';
import { benjaminiHochberg } from './stats/multiple.ts';
import { seedFrom } from './stats/prng.ts';
import { pairedHodgesLehmann, pairedShiftInterval, signedRankExact } from './stats/signedrank.ts';
import type { MetricSpec } from './metrics.ts';

export type Verdict = 'regression' | 'improvement' | 'unchanged' | 'inconclusive' | 'missing';

export interface Sample {
  scenario: string;
  spec: MetricSpec;
  base: number[];
  head: number[];
  /** base[i] and head[i] were measured together (one pair); the arrays have equal lengths. */
  paired?: boolean;
}

export interface CompareOptions {
  /** FDR level across the battery (default 0.05). */
  alpha?: number;
  /** Bootstrap resamples (default 10 000). */
  resamples?: number;
  /** Mixed into every bootstrap seed, e.g. the two commit ids, so verdicts are reproducible. */
  seed?: string;
  /** Per-metric thresholds from A/A calibration, by metric key; the larger of spec and calibration wins. */
  calibrated?: Record<string, number>;
}

export interface Row {
  scenario: string;
  metric: string;
  label: string;
  unit: string;
  better: MetricSpec['better'];
  gate: boolean;
  nBase: number;
  nHead: number;
  baseMedian: number;
  headMedian: number;
  /** head / base. */
  ratio: number;
  ci: Interval;
  p: number;
  q: number;
  cliffsDelta: number;
  threshold: number;
  mde: number;
  /** How base and head were compared: runs in pairs (signed-rank), or two independent samples (Mann-Whitney). */
  design: 'paired' | 'independent';
  verdict: Verdict;
}

/** Ratio expressed as "how much worse": > 1 is worse whatever the metric's direction. */
export function badness(ratio: number, better: MetricSpec['better']): number {
  return better === 'lower' ? ratio : 1 / ratio;
}

/**
 * Compares every sample. The BH adjustment spans two families, each across the whole battery:
 * the primary (gating) metrics, and the secondary ones, so that reporting twenty secondary
 * figures does not dilute the few that decide the release.
 */
export function compareBattery(samples: readonly Sample[], opts: CompareOptions = {}): Row[] {
  const alpha = opts.alpha ?? 0.05;
  const usable = samples.filter((s) => s.base.length >= 2 && s.head.length >= 2);
  const pairs = usable.map(logRatios);
  const pvals = usable.map((s, i) => (pairs[i] ? signedRankExact(pairs[i]).pTwoSided : mannWhitneyExact(s.head, s.base).pTwoSided));
  const qvals = new Array<number>(usable.length);
  const familySize = { primary: 0, secondary: 0 };
  for (const primary of [true, false]) {
    const idx = usable.flatMap((s, i) => (s.spec.gate === primary ? [i] : []));
    const q = benjaminiHochberg(idx.map((i) => pvals[i]!));
    idx.forEach((i, k) => (qvals[i] = q[k]!));
    familySize[primary ? 'primary' : 'secondary'] = idx.length;
  }
  return samples.map((s) => {
    const threshold = Math.max(s.spec.threshold, opts.calibrated?.[s.spec.key] ?? 0);
    const common = {
      scenario: s.scenario, metric: s.spec.key, label: s.spec.label, unit: s.spec.unit, better: s.spec.better, gate: s.spec.gate,
      nBase: s.base.length, nHead: s.head.length, threshold,
    };
    const i = usable.indexOf(s);
    if (i < 0) {
      return { ...common, baseMedian: NaN, headMedian: NaN, ratio: NaN, ci: { lo: NaN, hi: NaN }, p: NaN, q: NaN, cliffsDelta: NaN, mde: Infinity, design: s.paired ? 'paired' as const : 'independent' as const, verdict: 'missing' as const };
    }
    const baseMedian = median(s.base);
    const headMedian = median(s.head);
    const q = qvals[i]!;
    const tests = familySize[s.spec.gate ? 'primary' : 'secondary'];
    const d = pairs[i];
    let ratio: number, ci: Interval, mde: number;
    if (d) {
      ratio = Math.exp(pairedHodgesLehmann(d));
      const shift = pairedShiftInterval(d);
      ci = { lo: Math.exp(shift.lo), hi: Math.exp(shift.hi) };
      // Over every pair: a pair that came out equal is evidence of no change, and the interval above
      // counts it. (The signed-rank test drops such pairs, so a change shown by only a few of many
      // pairs may stay inconclusive; counting only the unequal pairs here instead made a count that
      // reproduces exactly undecidable: inconclusive until the block cap, exit 3.)
      mde = pairedMinimumDetectableEffect({ pairs: d.length, sigmaLog: sd(d), threshold, alpha, tests });
    } else {
      ratio = baseMedian === 0 ? (headMedian === 0 ? 1 : Infinity) : headMedian / baseMedian;
      ci = bootstrapRatioOfMedians(s.base, s.head, { seed: seedFrom(`${opts.seed ?? ''}|${s.scenario}|${s.spec.key}`), resamples: opts.resamples });
      mde = minimumDetectableEffect({ nBase: s.base.length, nHead: s.head.length, sigmaLog: logSpread(s.base, s.head), threshold, alpha, tests });
    }
    return {
      ...common, baseMedian, headMedian, ratio, ci, p: pvals[i]!, q, cliffsDelta: cliffsDelta(s.base, s.head), mde, design: d ? 'paired' as const : 'independent' as const,
      verdict: verdictOf(ratio, ci, q, threshold, s.spec.better, alpha, Number.isFinite(mde)),
    };
  });
}

/**
 * The per-pair log ratios log(head / base) of a paired sample, or undefined when it must be
 * compared as two independent samples: not paired, or a value that is zero or negative (a count
 * of zero has no log ratio; such a metric falls back to the rank test of the two sides).
 */
export function logRatios(s: Pick<Sample, 'base' | 'head' | 'paired'>): number[] | undefined {
  if (!s.paired || s.base.length !== s.head.length) return undefined;
  if (s.base.some((v) => !(v > 0)) || s.head.some((v) => !(v > 0))) return undefined;
  return s.head.map((h, i) => Math.log(h / s.base[i]!));
}

/**
 * The three-way (plus improvement) decision for one metric. `detectable` says whether the exact
 * test could reach significance with these run counts at all (a finite MDE): when it cannot, a
 * regression could never be called, so "unchanged" would be a pass the data cannot support, however
 * narrow the bootstrap interval of a few runs happens to be. Such a metric stays inconclusive.
 */
export function verdictOf(ratio: number, ci: Interval, q: number, threshold: number, better: MetricSpec['better'], alpha: number, detectable = true): Verdict {
  const worse = badness(ratio, better);
  const [lo, hi] = better === 'lower' ? [ci.lo, ci.hi] : [1 / ci.hi, 1 / ci.lo];
  if (q <= alpha && worse >= 1 + threshold) return 'regression';
  if (q <= alpha && worse <= 1 / (1 + threshold)) return 'improvement';
  if (detectable && lo >= 1 / (1 + threshold) && hi <= 1 + threshold) return 'unchanged';
  return 'inconclusive';
}

/** The statistics against golden values computed independently by SciPy/NumPy (reference.py → reference.json). */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bootstrapRatioOfMedians } from './bootstrap.ts';
import { quantile } from './describe.ts';
import { cliffsDelta, hodgesLehmann } from './effect.ts';
import { mannWhitneyExact, minAttainableP } from './mannwhitney.ts';
import { minimumDetectableEffect, pairedMinimumDetectableEffect } from './mde.ts';
import { benjaminiHochberg } from './multiple.ts';
import { normPpf } from './normal.ts';
import { mulberry32, normal, seedFrom } from './prng.ts';
import { minAttainablePairedP, pairedHodgesLehmann, pairedShiftInterval, signedRankExact } from './signedrank.ts';

interface Ref {
  mwu: Record<string, { x: number[]; y: number[]; u: number; 'two-sided': number; greater: number; less: number }>;
  cliffs: Record<string, number>;
  hodges_lehmann: Record<string, number>;
  bh: { p: number[]; q: number[] };
  quantile: { x: number[]; q: number[]; v: number[] };
  norm_ppf: Record<string, number>;
  bootstrap: Record<string, { base: number[]; head: number[]; ci: [number, number] }>;
  signed_rank: Record<string, { d: number[]; w_plus: number; 'two-sided': number; greater: number; less: number; hodges_lehmann: number }>;
}
const ref = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference.json'), 'utf8')) as Ref;

describe('exact Mann-Whitney U', () => {
  for (const [name, c] of Object.entries(ref.mwu)) {
    it(`matches SciPy's exact p-values and U for ${name}`, () => {
      const r = mannWhitneyExact(c.x, c.y);
      expect(r.u).toBe(c.u);
      expect(r.pTwoSided).toBeCloseTo(c['two-sided'], 12);
      expect(r.pGreater).toBeCloseTo(c.greater, 12);
      expect(r.pLess).toBeCloseTo(c.less, 12);
    });
  }
  it('reaches 2 / C(n+m, n) at best: 2/924 for 6 runs a side', () => {
    expect(minAttainableP(6, 6)).toBeCloseTo(2 / 924, 15);
    expect(mannWhitneyExact([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]).pTwoSided).toBeCloseTo(2 / 924, 15);
  });
});

describe('effect sizes', () => {
  for (const name of Object.keys(ref.cliffs)) {
    it(`gives NumPy's Cliff's delta and Hodges-Lehmann shift for ${name}`, () => {
      const c = ref.mwu[name]!;
      expect(cliffsDelta(c.x, c.y)).toBeCloseTo(ref.cliffs[name]!, 12);
      expect(hodgesLehmann(c.x, c.y)).toBeCloseTo(ref.hodges_lehmann[name]!, 9);
    });
  }
});

describe('Benjamini-Hochberg', () => {
  it("gives SciPy's false_discovery_control q-values in input order", () => {
    const q = benjaminiHochberg(ref.bh.p);
    q.forEach((v, i) => expect(v).toBeCloseTo(ref.bh.q[i]!, 12));
  });
});

describe('quantiles and the normal distribution', () => {
  it("interpolates quantiles like NumPy's default (type 7)", () => {
    ref.quantile.q.forEach((q, i) => expect(quantile(ref.quantile.x, q)).toBeCloseTo(ref.quantile.v[i]!, 12));
  });
  it("inverts the normal CDF like scipy.stats.norm.ppf to 1e-8", () => {
    for (const [p, z] of Object.entries(ref.norm_ppf)) expect(normPpf(Number(p))).toBeCloseTo(z, 8);
  });
});

describe('bootstrap interval of the ratio of medians', () => {
  for (const [name, c] of Object.entries(ref.bootstrap)) {
    it(`agrees with SciPy's percentile bootstrap within 1% for ${name}`, () => {
      const ci = bootstrapRatioOfMedians(c.base, c.head, { seed: seedFrom(name), resamples: 20_000 });
      expect(Math.abs(ci.lo / c.ci[0] - 1)).toBeLessThan(0.01);
      expect(Math.abs(ci.hi / c.ci[1] - 1)).toBeLessThan(0.01);
    });
  }
  it('is identical for the same seed and differs for another', () => {
    const c = ref.bootstrap.overlap_8x8!;
    const a = bootstrapRatioOfMedians(c.base, c.head, { seed: 7 });
    expect(bootstrapRatioOfMedians(c.base, c.head, { seed: 7 })).toEqual(a);
    const other = bootstrapRatioOfMedians(c.base, c.head, { seed: 8 });
    expect(other.lo !== a.lo || other.hi !== a.hi).toBe(true);
  });
  it('covers the true ratio in about 95% of lognormal samples', () => {
    const rand = mulberry32(42);
    const draw = () => Math.exp(0.05 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
    let covered = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const a = Array.from({ length: 12 }, draw);
      const b = Array.from({ length: 12 }, () => 1.05 * draw());
      const ci = bootstrapRatioOfMedians(a, b, { seed: t, resamples: 2000 });
      if (ci.lo <= 1.05 && ci.hi >= 1.05) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThan(0.99);
  });
});

describe('minimum detectable effect', () => {
  it('is infinite when the exact test cannot reach the corrected level with so few runs', () => {
    expect(minimumDetectableEffect({ nBase: 3, nHead: 3, sigmaLog: 0.02, threshold: 0.03, alpha: 0.05, tests: 10 })).toBe(Infinity);
  });
  it('shrinks with more runs and grows with noise', () => {
    const base = { nBase: 8, nHead: 8, sigmaLog: 0.05, threshold: 0.03, alpha: 0.05, tests: 10 };
    const m8 = minimumDetectableEffect(base);
    expect(minimumDetectableEffect({ ...base, nBase: 16, nHead: 16 })).toBeLessThan(m8);
    expect(minimumDetectableEffect({ ...base, sigmaLog: 0.1 })).toBeGreaterThan(m8);
    // SciPy: (norm.ppf(1-0.005/2) + norm.ppf(sqrt 0.8)) * 0.05 * sqrt(2/8) / sqrt(0.955)
    expect(m8).toBeCloseTo(Math.expm1((2.807033768 + 1.250421491) * 0.05 * 0.5 / Math.sqrt(0.955)), 5);
  });
});

describe('exact Wilcoxon signed-rank (paired runs)', () => {
  for (const [name, c] of Object.entries(ref.signed_rank)) {
    it(`${name}: W+ and p-values as SciPy (or enumeration of every sign assignment, with ties)`, () => {
      // A zero difference takes no part, so appending one changes nothing.
      for (const d of [c.d, [...c.d, 0]]) {
        const r = signedRankExact(d);
        expect(r.n).toBe(c.d.length);
        expect(r.wPlus).toBeCloseTo(c.w_plus, 12);
        expect(r.pTwoSided).toBeCloseTo(c['two-sided'], 12);
        expect(r.pGreater).toBeCloseTo(c.greater, 12);
        expect(r.pLess).toBeCloseTo(c.less, 12);
      }
      expect(pairedHodgesLehmann(c.d)).toBeCloseTo(c.hodges_lehmann, 12);
    });
  }
  it('the smallest p with n pairs is 2 / 2^n, reached when every pair moves the same way', () => {
    expect(signedRankExact([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]).pTwoSided).toBeCloseTo(minAttainablePairedP(6), 15);
    expect(minAttainablePairedP(6)).toBe(1 / 32);
    expect(signedRankExact([0, 0]).pTwoSided).toBe(1);
  });
  it('the paired interval is the set of shifts the two-sided test does not reject at 5%', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 6 + (trial % 10);
      const d = Array.from({ length: n }, () => 0.02 + 0.03 * (rand() - 0.5) + (rand() < 0.1 ? 0.1 : 0));
      const { lo, hi } = pairedShiftInterval(d);
      const eps = 1e-9;
      // Just inside each end the shifted differences are not significant; just outside they are.
      expect(signedRankExact(d.map((v) => v - (lo + eps))).pTwoSided).toBeGreaterThan(0.05);
      expect(signedRankExact(d.map((v) => v - (hi - eps))).pTwoSided).toBeGreaterThan(0.05);
      expect(signedRankExact(d.map((v) => v - (lo - eps))).pTwoSided).toBeLessThanOrEqual(0.05);
      expect(signedRankExact(d.map((v) => v - (hi + eps))).pTwoSided).toBeLessThanOrEqual(0.05);
      expect(lo).toBeLessThanOrEqual(pairedHodgesLehmann(d));
      expect(hi).toBeGreaterThanOrEqual(pairedHodgesLehmann(d));
    }
  });
  it('the paired interval uses the tabled critical values (n = 10: the 9th Walsh average from each end; n = 6: the extremes; n = 5: none)', () => {
    const d10 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => v / 100);
    const walsh = d10.flatMap((a, i) => d10.slice(i).map((b) => (a + b) / 2)).sort((a, b) => a - b);
    expect(pairedShiftInterval(d10)).toEqual({ lo: walsh[8], hi: walsh[55 - 9] });
    const d6 = [0.05, -0.01, 0.02, 0.03, 0.04, 0.06];
    expect(pairedShiftInterval(d6)).toEqual({ lo: -0.01, hi: 0.06 });
    expect(pairedShiftInterval(d6.slice(0, 5))).toEqual({ lo: -Infinity, hi: Infinity });
  });
  it('a shift of one printed paired MDE is significant and beyond the threshold in at least 80% of sessions', () => {
    const rand = mulberry32(11);
    const pairs = 10;
    const sigma = 0.02;
    const mde = pairedMinimumDetectableEffect({ pairs, sigmaLog: sigma, threshold: 0.03, alpha: 0.05, tests: 2 });
    expect(mde).toBeGreaterThan(0.03);
    let caught = 0;
    const sessions = 400;
    for (let s = 0; s < sessions; s++) {
      const d = Array.from({ length: pairs }, () => Math.log1p(mde) + sigma * normal(rand));
      if (signedRankExact(d).pTwoSided <= 0.05 / 2 && Math.expm1(pairedHodgesLehmann(d)) >= 0.03) caught++;
    }
    expect(caught / sessions).toBeGreaterThanOrEqual(0.8);
    // Fewer pairs than can reach alpha / tests: nothing is detectable.
    expect(pairedMinimumDetectableEffect({ pairs: 5, sigmaLog: sigma, threshold: 0.03, alpha: 0.05, tests: 2 })).toBe(Infinity);
  });
});

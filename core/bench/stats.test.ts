import { describe, expect, it } from 'vitest';
import { fitLine, median, recoverySec } from './stats.ts';

// Golden values from scipy.stats.linregress (slope, intercept, stderr).
describe('fitLine', () => {
  it('matches scipy on a rising series: slope 2.05, intercept 100.0679, stderr 0.09556', () => {
    const f = fitLine([0, 0.5, 1, 1.5, 2, 2.5, 3], [100, 101.2, 101.9, 103.5, 103.9, 105.4, 106.1]);
    expect(f.slope).toBeCloseTo(2.049999999999999, 10);
    expect(f.intercept).toBeCloseTo(100.06785714285714, 10);
    expect(f.slopeStdErr).toBeCloseTo(0.09556491543042663, 10);
    expect(f.n).toBe(7);
  });

  it('matches scipy on an uneven noisy series: slope -2.3179, stderr 3.0408', () => {
    const f = fitLine([0.1, 0.2, 0.35, 0.5, 0.8], [5, 3, 4, 6, 2]);
    expect(f.slope).toBeCloseTo(-2.317880794701987, 10);
    expect(f.intercept).toBeCloseTo(4.903973509933775, 10);
    expect(f.slopeStdErr).toBeCloseTo(3.0408338441403773, 10);
  });

  it('gives no standard error for two points and refuses mismatched lengths', () => {
    expect(fitLine([0, 1], [1, 3]).slope).toBe(2);
    expect(fitLine([0, 1], [1, 3]).slopeStdErr).toBeNaN();
    expect(() => fitLine([0, 1], [1])).toThrow(RangeError);
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('recoverySec', () => {
  const s = (p99Ms: number, notAcked = 0) => ({ p99Ms, scheduled: 10, acked: 10 - notAcked });

  it('counts seconds from the drop to the first of three normal seconds in a row', () => {
    const samples = [s(5), s(900, 4), s(800), s(5), s(400), s(5), s(6), s(5), s(5)];
    expect(recoverySec(samples, 1, 20)).toBe(4);
  });

  it('treats a second with refused or unanswered sends as not recovered even when its p99 is low', () => {
    expect(recoverySec([s(5, 1), s(0, 10), s(5), s(5), s(5)], 0, 20)).toBe(2);
  });

  it('is undefined when the run ends before the node is back to normal', () => {
    expect(recoverySec([s(900), s(5), s(5)], 0, 20)).toBeUndefined();
  });
});

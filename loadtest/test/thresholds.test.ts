/** Thresholds as data: parsing with clear errors, whole-run and sliding-window evaluation. */
import { describe, expect, it } from 'vitest';
import { Aggregate } from '../aggregate.ts';
import { createHistogram, encode, recordMs } from '../histogram.ts';
import { evaluate, parseThresholds } from '../thresholds.ts';

function slices(perSlice: { ms: number[]; lost?: number; expected?: number }[]) {
  const agg = new Aggregate();
  perSlice.forEach((s, i) => {
    const h = createHistogram();
    for (const v of s.ms) recordMs(h, v);
    agg.add(i, s.ms.length ? { deliver_ms: encode(h) } : {}, { lost: s.lost ?? 0, expected: s.expected ?? s.ms.length });
  });
  const { lost = 0, expected = 0 } = agg.counters();
  return { metrics: agg.metrics(), counters: { lost, expected }, errorsByCode: {}, slices: { sliceMs: 1000, items: agg.slices(1000) } };
}

describe('thresholds', () => {
  it('parses k6-style expressions with options', () => {
    const [a, b, c] = parseThresholds({ deliver_ms: ['p(99.9) <= 50', { threshold: 'avg<10', window: '5s', abortOnFail: true, delayAbortEval: '10s' }], lost: ['count==0'] });
    expect(a).toMatchObject({ metric: 'deliver_ms', stat: { kind: 'p', p: 99.9 }, op: '<=', value: 50, windowMs: undefined, abortOnFail: false });
    expect(b).toMatchObject({ stat: { kind: 'avg' }, op: '<', value: 10, windowMs: 5000, abortOnFail: true, delayAbortEvalMs: 10_000 });
    expect(c).toMatchObject({ metric: 'lost', stat: { kind: 'count' }, op: '==', value: 0 });
  });

  it('reports every bad threshold at once, naming what was expected', () => {
    expect(() => parseThresholds({ nope_ms: ['p(99)<1'], deliver_ms: ['p99<1', 'rate<0.1'], lost: ['avg<1', { threshold: 'count==0', window: 'soon' }] })).toThrow(
      /threshold metric "nope_ms" is unknown[\s\S]*must look like p\(99\)<50[\s\S]*rate applies to counters[\s\S]*counters support count and rate, not avg[\s\S]*window must be a duration/,
    );
  });

  it('evaluates on the merged whole run and on sliding windows', () => {
    // Five 1 s slices; slice 3 is slow (HDR reports the highest equivalent value: 5 ms → 5.003). Whole-run p(50) passes, a 2 s window catches the burst.
    const data = slices([{ ms: [5, 5, 5] }, { ms: [5, 5, 5] }, { ms: [5, 5, 5] }, { ms: [300, 300, 300] }, { ms: [5, 5, 5] }]);
    const res = evaluate(parseThresholds({ deliver_ms: ['p(50)<10', { threshold: 'p(90)<100', window: '2s' }, 'max<=300.5'] }), data);
    expect(res[0]).toMatchObject({ passed: true, observed: 5.003, windowMs: null });
    expect(res[1]).toMatchObject({ passed: false, windows: 4, failedWindows: 2, firstFailureMs: 2000, observed: 300.031 });
    expect(res[2]!.passed).toBe(true);
  });

  it('computes rates against their base counter', () => {
    const data = slices([{ ms: [1], lost: 1, expected: 1000 }, { ms: [1], lost: 0, expected: 1000 }]);
    const [r1, r2] = evaluate(parseThresholds({ lost: ['rate<0.001', 'rate<=0.0005'] }), data);
    expect(r1).toMatchObject({ passed: true, observed: 0.0005 });
    expect(r2).toMatchObject({ passed: true });
    const [w] = evaluate(parseThresholds({ lost: [{ threshold: 'rate<0.0005', window: '1s' }] }), data);
    expect(w).toMatchObject({ passed: false, windows: 2, failedWindows: 1, observed: 0.001 });
  });
});

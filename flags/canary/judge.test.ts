import { describe, expect, it } from 'vitest';
import { mulberry32, normal } from '../../nightly/stats/prng.ts';
import { GUARDS } from './guards.ts';
import { batchSize, bucketQuantile, judge } from './judge.ts';
import type { NodeCounters, Snapshot } from './source.ts';

const guard = GUARDS['fanout-batched']!;
const LE = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, Infinity];

/** Two nodes, one per side; each interval adds `n` deliveries of latency drawn around `ms(side, i)`. */
function snapshots(intervals: number, n: (side: string, i: number) => number, ms: (side: string, i: number) => number, seed = 1): Snapshot[] {
  const rand = mulberry32(seed);
  const state: Record<string, NodeCounters> = {};
  const out: Snapshot[] = [];
  for (let i = 0; i <= intervals; i++) {
    for (const [node, label] of [['a', 'batched'], ['b', 'control']] as const) {
      const c = (state[node] ??= { variants: { [label]: { count: 0, sum: 0, buckets: LE.map((le) => [le, 0]), volume: 0 } }, errors: 0, framesIn: 0 });
      const v = c.variants[label]!;
      if (i > 0) {
        for (let k = 0; k < n(label, i); k++) {
          const x = Math.max(0.0001, (ms(label, i) * (1 + 0.2 * normal(rand))) / 1000);
          v.count++; v.sum += x; v.volume++;
          for (const b of v.buckets) if (x <= b[0]) b[1]++;
        }
        c.framesIn += n(label, i);
      }
    }
    out.push({ at: i * 1000, nodes: new Map(Object.entries(structuredClone(state))), unreachable: [] });
  }
  return out;
}

describe('the canary judgement', () => {
  it('rolls back a variant whose deliveries take 40 ms against 2 ms, naming the metric', () => {
    const j = judge(snapshots(10, () => 100, (s) => (s === 'batched' ? 40 : 2)), guard);
    expect(j.outcome).toBe('rollback');
    expect(j.reason).toMatch(/^the variant is worse: delivery latency mean \(ms\) ×(19|20|21)\.\d+/);
    expect(j.metrics.find((m) => m.metric.startsWith('delivery latency mean'))!.verdict).toBe('fail');
  });

  it('widens a variant as fast as control, every metric passing', () => {
    const j = judge(snapshots(12, () => 100, () => 2), guard);
    expect(j.metrics.map((m) => m.verdict)).toEqual(['pass', 'pass', 'pass']);
    expect(j.outcome).toBe('widen');
  });

  it('holds when the variant had no traffic, and says so before any statistics', () => {
    const j = judge(snapshots(10, (s) => (s === 'batched' ? 0 : 100), () => 2), guard);
    expect(j.outcome).toBe('hold');
    expect(j.reason).toBe('no traffic on the variant: 0 of 10 intervals had ≥ 20 deliveries; 6 are needed before any verdict');
  });

  it('holds below the minimum sample size even with a large difference', () => {
    const j = judge(snapshots(4, () => 100, (s) => (s === 'batched' ? 40 : 2)), guard);
    expect(j.outcome).toBe('hold');
    expect(j.metrics.every((m) => m.verdict === 'too few samples')).toBe(true);
  });

  it('merges autocorrelated intervals into batch means, and leaves independent ones alone', () => {
    const rand = mulberry32(7);
    const iid = Array.from({ length: 24 }, () => normal(rand));
    let x = 0;
    const drift = Array.from({ length: 24 }, () => (x = 0.95 * x + normal(rand)));
    expect(batchSize(iid, iid, 6)).toBe(1);
    expect(batchSize(drift, iid, 6)).toBeGreaterThan(1);
    expect(batchSize(Array(200).fill(1), Array(200).fill(1), 6)).toBe(8);
  });

  it('reads a quantile off cumulative buckets like histogram_quantile', () => {
    expect(bucketQuantile(new Map([[0.001, 50], [0.002, 100], [Infinity, 100]]), 0.75)).toBeCloseTo(0.0015, 10);
  });
});

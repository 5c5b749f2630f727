/**
 * Segments and merge: agents split one plan exactly, and merging their results equals one
 * histogram over the same samples (bucket for bucket), never an average of percentiles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_SECRET } from '../../core/test/helpers.ts';
import { Aggregate } from '../aggregate.ts';
import { createHistogram, decode, encode, recordMs, type Histogram } from '../histogram.ts';
import { mergeResults } from '../merge.ts';
import { resolveOptions } from '../options.ts';
import { buildPlan, segmentGroups } from '../plan.ts';
import { deriveSeed, prng } from '../random.ts';
import { RESULT_SCHEMA_VERSION, validateResult, type LoadResult } from '../result.ts';
import { finalize, runLoad } from '../runner.ts';
import { loadScenario, scenarioFile } from '../scenario.ts';
import { parseThresholds } from '../thresholds.ts';
import { fakeServer, type FakeServer } from './fake-server.ts';

/** Every (value, count) a histogram holds, for bucket-exact comparison. */
function buckets(h: Histogram): [number, number][] {
  const out: [number, number][] = [];
  const js = h as unknown as { lowestEquivalentValue(v: number): number; nextNonEquivalentValue(v: number): number; getCountAtValue(v: number): number };
  for (let v = js.lowestEquivalentValue(h.minNonZeroValue); v <= h.maxValue; v = js.nextNonEquivalentValue(v)) {
    const n = js.getCountAtValue(v);
    if (n) out.push([v, n]);
  }
  return out;
}

/** A result as one agent would write it, from samples per slice. */
function resultOf(segment: string, slices: number[][]): LoadResult {
  const agg = new Aggregate();
  slices.forEach((samples, i) => {
    const h = createHistogram();
    for (const s of samples) recordMs(h, s);
    agg.add(i, samples.length ? { deliver_ms: encode(h) } : {}, { delivered: samples.length });
  });
  const r: LoadResult = {
    schemaVersion: RESULT_SCHEMA_VERSION, tool: 'parley-load', scenario: 'dm-steady', target: 'ws://127.0.0.1:1/ws',
    options: { thresholds: { deliver_ms: ['p(99)<1000'] } }, segments: [segment], seed: 7,
    startedAt: new Date(0).toISOString(), endedAt: new Date(1000).toISOString(), durationMs: 1000,
    environment: { host: 'h', node: process.version, platform: 'linux', cpus: 2, gitSha: null },
    validity: { valid: true, reasons: [] }, health: { workers: [] },
    metrics: agg.metrics(), slices: { sliceMs: 1000, items: agg.slices(1000) }, counters: agg.counters(), errorsByCode: {},
    thresholds: [], aborted: null, exitCode: 0, exitReason: '',
  };
  return finalize(r, parseThresholds({ deliver_ms: ['p(99)<1000'] }));
}

describe('merge', () => {
  it('merging two segment results equals one histogram over the same samples, bucket for bucket', () => {
    const rand = prng(42);
    const a = [0, 1, 2].map(() => Array.from({ length: 500 }, () => rand() * 50));
    const b = [0, 1, 2].map(() => Array.from({ length: 300 }, () => 5 + rand() * rand() * 400));
    const merged = mergeResults([resultOf('1/2', a), resultOf('2/2', b)]);
    const one = createHistogram();
    for (const s of [...a.flat(), ...b.flat()]) recordMs(one, s);
    const got = decode(merged.metrics.deliver_ms!.hdr);
    expect(buckets(got)).toEqual(buckets(one));
    for (const p of [50, 90, 99, 99.9]) expect(got.getValueAtPercentile(p)).toBe(one.getValueAtPercentile(p));
    // Per slice too: slice i of the merge is slice i of both segments.
    for (let i = 0; i < 3; i++) {
      const slice = createHistogram();
      for (const s of [...a[i]!, ...b[i]!]) recordMs(slice, s);
      expect(buckets(decode(merged.slices.items[i]!.metrics.deliver_ms!.hdr))).toEqual(buckets(slice));
      expect(merged.slices.items[i]!.counters.delivered).toBe(800);
    }
    expect(merged.counters.delivered).toBe(2400);
    expect(merged.segments).toEqual(['1/2', '2/2']);
    expect(validateResult(merged)).toEqual([]);
  });

  it('refuses to merge results of different seeds or the same segment twice', () => {
    const x = resultOf('1/2', [[1, 2, 3]]);
    const y = { ...resultOf('1/2', [[4]]), seed: 8 };
    expect(() => mergeResults([x, y])).toThrow(/seed 8 differs from 7.*segment 1\/2 appears twice/);
  });

  it('splits the plan into disjoint segments that together are exactly the plan', () => {
    const plan = buildPlan({ users: 101, groupSize: 2, arrivalRate: 50, arrival: 'poisson', seed: deriveSeed(3, 'x') });
    expect(plan.users).toBe(102);
    const parts = [1, 2, 3].map((index) => segmentGroups(plan.groups, { index, count: 3 }).flatMap((g) => g.members));
    expect(parts.map((p) => p.length)).toEqual([34, 34, 34]);
    expect(new Set(parts.flat()).size).toBe(102);
    // Same seed, same plan: pairs and arrivals are reproducible.
    const again = buildPlan({ users: 101, groupSize: 2, arrivalRate: 50, arrival: 'poisson', seed: deriveSeed(3, 'x') });
    expect(again.groups).toEqual(plan.groups);
    expect([...again.arrivalsMs]).toEqual([...plan.arrivalsMs]);
  });
});

describe('segment runs', () => {
  let server: FakeServer | undefined;
  afterEach(async () => { await server?.close(); });

  it('two agents running segments 1/2 and 2/2 merge into one run of the whole plan', async () => {
    server = await fakeServer();
    const file = scenarioFile('dm-steady');
    const scenario = await loadScenario(file);
    const runSeg = (seg: string) => runLoad({
      scenario, scenarioFile: file, tokens: { kind: 'secret', secret: TEST_SECRET },
      options: resolveOptions(scenario.options, new Map(Object.entries({ target: server!.url, users: '20', duration: '2s', rate: '10', segment: seg, seed: '5', workers: '1', 'max-lag': '1000ms', 'max-cpu-percent': '100', 'user-prefix': 'seg-' }))),
    });
    const [r1, r2] = await Promise.all([runSeg('1/2'), runSeg('2/2')]);
    expect(r1.counters.users).toBe(10);
    expect(r2.counters.users).toBe(10);
    const merged = mergeResults([r1, r2]);
    expect(merged.counters.users).toBe(20);
    expect(merged.counters.acked).toBe(r1.counters.acked! + r2.counters.acked!);
    expect(merged.counters.lost).toBe(0);
    const sum = decode(r1.metrics.deliver_ms!.hdr);
    sum.add(decode(r2.metrics.deliver_ms!.hdr));
    expect(buckets(decode(merged.metrics.deliver_ms!.hdr))).toEqual(buckets(sum));
    expect(merged.health.workers.map((w) => w.worker)).toEqual(['1/2#0', '2/2#0']);
    expect(validateResult(merged)).toEqual([]);
  });
});

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LOAD_METRICS } from '../../core/metrics.ts';
import { hasCommand, requires } from '../../core/test/env.ts';
import { Aggregate } from '../aggregate.ts';
import { createHistogram, encode, recordMs } from '../histogram.ts';
import { COUNTER_METRICS, HISTOGRAM_METRICS, renderLoadMetrics, serveLoadMetrics, type LiveRun } from '../metrics-server.ts';

function liveRun(): LiveRun {
  const agg = new Aggregate();
  const ack = createHistogram();
  for (const ms of [0.8, 4, 4, 30, 7000, 20_000]) recordMs(ack, ms);
  agg.add(0, { ack_ms: encode(ack) }, {});
  const totals = new Map<number, Record<string, number>>([[0, { scheduled: 5, acked: 4, 'errors.busy': 1, 'errors.no_such_code': 2 }], [1, { scheduled: 3, acked: 3 }]]);
  return { scenario: 'dm-"steady"', phase: 'running', workers: 2, users: 10, startAt: 0, aggregate: agg, totals };
}

describe('the load generator metrics endpoint', () => {
  it('serves every LOAD_METRICS name, and every result counter and latency metric has one', () => {
    expect(new Set([...Object.values(COUNTER_METRICS), ...Object.values(HISTOGRAM_METRICS)])).toEqual(new Set(Object.keys(LOAD_METRICS).filter((n) => !/_(info|phase|workers|users|elapsed_seconds|errors_total)$/.test(n))));
    const text = renderLoadMetrics(liveRun());
    for (const name of Object.keys(LOAD_METRICS)) expect(text).toContain(`# TYPE ${name} `);
  });

  it('sums worker totals, folds unknown error codes into other, and escapes the scenario label', () => {
    const text = renderLoadMetrics(liveRun());
    expect(text).toContain('parley_load_scheduled_total{scenario="dm-\\"steady\\""} 8\n');
    expect(text).toContain('parley_load_acked_total{scenario="dm-\\"steady\\""} 7\n');
    expect(text).toContain('parley_load_errors_total{scenario="dm-\\"steady\\"",code="busy"} 1\n');
    expect(text).toContain('parley_load_errors_total{scenario="dm-\\"steady\\"",code="other"} 2\n');
    expect(text).toContain('parley_load_phase{scenario="dm-\\"steady\\"",phase="running"} 1\n');
  });

  it('builds cumulative buckets in seconds from the merged HDR histogram', () => {
    const lines = renderLoadMetrics(liveRun()).split('\n').filter((l) => l.startsWith('parley_load_ack_seconds'));
    const at = (le: string) => lines.find((l) => l.includes(`le="${le}"`))!.split(' ')[1];
    expect([at('0.001'), at('0.005'), at('0.025'), at('0.05'), at('5'), at('10'), at('+Inf')]).toEqual(['1', '3', '3', '4', '4', '5', '6']);
    expect(lines.find((l) => l.startsWith('parley_load_ack_seconds_count'))).toMatch(/ 6$/);
    expect(Number(lines.find((l) => l.startsWith('parley_load_ack_seconds_sum'))!.split(' ')[1])).toBeCloseTo(27.0388, 1);
  });

  it('passes promtool check metrics, served over HTTP on 127.0.0.1', async (ctx) => {
    requires(ctx, 'promtool', hasCommand('promtool'));
    const server = await serveLoadMetrics(liveRun(), 0);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const text = await res.text();
      expect(text).toContain('parley_load_acked_total');
      expect(() => execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: 'pipe' })).not.toThrow();
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally { await server.close(); }
  });
});

import { spawnSync } from 'node:child_process';
import { describe, expect, it, type TestContext } from 'vitest';
import { CLOSES, ERRORS } from '../errors.ts';
import { hasCommand, requires } from '../test/env.ts';
import { METRICS, type MetricDef } from '../metrics.ts';
import { Metrics } from './registry.ts';

const promtool = (ctx: TestContext) => requires(ctx, 'promtool (Debian package prometheus)', hasCommand('promtool'));

function lint(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('the metrics catalog and registry', () => {
  it('passes promtool check metrics for the application registry', async (ctx) => {
    promtool(ctx);
    const m = new Metrics();
    m.inc('parley_frames_in_total', { op: 'send' });
    m.observe('parley_delivery_latency_seconds', 0.004, { variant: 'batched' });
    expect(lint(await m.appText())).toEqual({ status: 0, out: '' });
  });

  it('would fail the lint on a badly named metric (the lint can fail)', (ctx) => {
    promtool(ctx);
    const r = lint('# HELP parley_latency_ms bad\n# TYPE parley_latency_ms counter\nparley_latency_ms 1\n');
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('counter metrics should have "_total" suffix');
  });

  it('pre-creates one series per error code and close reason before the first event', async () => {
    const text = await new Metrics({ runtime: false }).appText();
    for (const code of Object.keys(ERRORS)) expect(text).toContain(`parley_errors_total{code="${code}"} 0`);
    for (const reason of Object.keys(CLOSES)) expect(text).toContain(`parley_closes_total{reason="${reason}"} 0`);
    expect(text).toContain('parley_typing_events_total{outcome="dropped_throttled"} 0');
    expect(text).toContain('parley_presence_updates_total{outcome="suppressed"} 0');
    expect(text).toContain('parley_fanout_recipients_bucket{le="1",variant="batched"} 0');
  });

  it('exports every catalog metric with the parley_ prefix and a few hundred series in all', async () => {
    const text = await new Metrics({ runtime: false }).appText();
    const series = text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const name of Object.keys(METRICS)) {
      expect(name.startsWith('parley_')).toBe(true);
      expect(text).toContain(`# TYPE ${name} ${(METRICS as Record<string, MetricDef>)[name]!.type}`);
    }
    expect(series.length).toBeGreaterThan(200);
    // The per-op request histogram is the largest family (29 ops × 11 series); the whole catalog
    // stays under 1,200 (about 960 in 101 families today): a label with unbounded values fails it.
    expect(series.length).toBeLessThan(1200);
  });

  it('counts a label value outside its closed set as "other", so label sets stay bounded', async () => {
    const m = new Metrics({ runtime: false });
    m.inc('parley_frames_in_total', { op: 'made.up.op' });
    m.inc('parley_frames_in_total', { op: 'another' });
    const text = await m.appText();
    expect(text).toContain('parley_frames_in_total{op="other"} 2');
    expect(text).not.toContain('made.up.op');
  });

  it('keeps Node runtime metrics in a separate registry, merged only on output', async () => {
    const m = new Metrics();
    const app = await m.appText();
    const all = await m.exposition();
    expect(app).not.toContain('nodejs_eventloop_lag_p99_seconds');
    expect(all).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(all).toContain('nodejs_gc_duration_seconds');
    expect(all).toContain('nodejs_heap_size_used_bytes');
    expect(all.startsWith(app)).toBe(true);
  });

  it('mirrors counters that another module keeps as plain numbers, at scrape time', async () => {
    const m = new Metrics({ runtime: false });
    const stats = { relayed: 0 };
    m.mirror('parley_typing_events_total', { outcome: 'relayed' }, () => stats.relayed);
    stats.relayed = 4;
    expect(await m.appText()).toContain('parley_typing_events_total{outcome="relayed"} 4');
    stats.relayed = 9;
    expect(await m.appText()).toContain('parley_typing_events_total{outcome="relayed"} 9');
  });

  it('reads gauges with a reader at scrape time', async () => {
    const m = new Metrics({ runtime: false });
    let n = 3;
    m.read('parley_sessions', () => n);
    expect(await m.appText()).toContain('parley_sessions 3');
    n = 7;
    expect(await m.appText()).toContain('parley_sessions 7');
  });
});

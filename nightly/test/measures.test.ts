/** The low-noise measures and the primary/secondary split, on literal and live input. */
import { describe, expect, it } from 'vitest';
import type { LoadResult } from '../../loadtest/result.ts';
import { scenarioSpecs } from '../battery.ts';
import { BATTERIES } from '../batteries.ts';
import { compareBattery, type Sample } from '../compare.ts';
import { decideGate } from '../gate.ts';
import { clientMetrics, METRIC_SPECS, specOf } from '../metrics.ts';
import { procSample, schedCpuSeconds } from '../scrape.ts';

const spin = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* burn CPU */ } };

describe('server CPU', () => {
  it('is read in nanoseconds from schedstat, summed over the threads, not in 10 ms ticks', () => {
    const a = schedCpuSeconds(process.pid)!;
    spin(3);
    const b = schedCpuSeconds(process.pid)!;
    expect(b).toBeGreaterThan(a);
    // A 3 ms spin moves a tick counter by 0 or 10 ms; nanoseconds move by about 3 ms.
    expect((b - a) * 1000).toBeGreaterThan(0.5);
    expect(((b - a) * 1000) % 10).not.toBe(0);
    expect(procSample(process.pid)!.cpuSource).toBe('schedstat');
    expect(schedCpuSeconds(2 ** 30)).toBeUndefined();
  });
});

function result(over: { options?: Record<string, unknown>; counters?: Record<string, number>; metrics?: Record<string, { count: number; max: number; p50: number }> }): LoadResult {
  const metrics = Object.fromEntries(Object.entries(over.metrics ?? {}).map(([k, v]) => [k, { hdr: '', summary: { min: 0, mean: 0, stddev: 0, p90: 0, p99: 0, p999: 0, ...v } }]));
  return { options: { durationMs: 2000, mode: 'open', arrivalRate: 100, ...over.options }, durationMs: 2500, counters: over.counters ?? {}, metrics } as unknown as LoadResult;
}

describe('client figures', () => {
  it('reports acked sends per second only from a closed loop, where it is a measurement, not the offered rate', () => {
    expect(clientMetrics(result({ counters: { acked: 400 } })).acked_per_s).toBeUndefined();
    expect(clientMetrics(result({ options: { mode: 'closed' }, counters: { acked: 400 } })).acked_per_s).toBe(200);
  });
  it('reports logins per second of a crowd arriving at once from its last welcome', () => {
    expect(clientMetrics(result({ options: { arrivalRate: 0 }, metrics: { connect_ms: { count: 300, max: 1500, p50: 700 } } })).logins_per_s).toBe(200);
    expect(clientMetrics(result({ metrics: { connect_ms: { count: 300, max: 1500, p50: 700 } } })).logins_per_s).toBeUndefined();
  });
  it('reports presence frames and bytes per watcher', () => {
    const m = clientMetrics(result({ counters: { users: 200, signal_frames: 1000, signal_bytes: 64_000 } }));
    expect(m.signal_frames_per_user).toBe(5);
    expect(m.signal_bytes_per_user).toBe(320);
  });
});

describe('batteries', () => {
  it('nightly covers every scenario, each with metrics the catalog knows', () => {
    const scenarios = new Set(BATTERIES.nightly!.scenarios.map((s) => s.scenario));
    expect([...scenarios].sort()).toEqual(['dm-steady', 'http-api', 'login-storm', 'offline-catchup', 'presence-storm', 'reconnect-churn', 'room-fanout', 'typing-flood']);
    for (const b of Object.values(BATTERIES)) for (const sc of b.scenarios) expect(scenarioSpecs(sc).length).toBeGreaterThan(0);
  });
  it('takes the battery\'s primary split and thresholds over the catalog\'s', () => {
    const dm = scenarioSpecs(BATTERIES.nightly!.scenarios[0]!);
    expect(dm.filter((s) => s.gate).map((s) => [s.key, s.threshold])).toEqual([['server.cpu_ms_per_1k', 0.03]]);
    expect(dm.find((s) => s.key === 'ack_ms.p50')!.gate).toBe(false);
    expect(() => specOf('nope')).toThrow(/unknown nightly metric "nope"/);
  });
});

describe('primary and secondary metrics', () => {
  const cpu = { ...specOf('server.cpu_ms_per_1k'), gate: true, threshold: 0.03 };
  const p99 = { ...specOf('ack_ms.p99'), gate: false };
  const same = [100, 101, 99, 100.5, 99.5, 100, 100.2, 99.8];
  it('adjusts the primaries as their own family: twenty secondaries do not dilute them', () => {
    const samples: Sample[] = [
      { scenario: 'dm', spec: cpu, base: same, head: same.map((v) => v * 1.06) },
      ...Array.from({ length: 20 }, (_, i): Sample => ({ scenario: `s${i}`, spec: p99, base: same, head: same })),
    ];
    const rows = compareBattery(samples, { resamples: 500, seed: 't' });
    expect(rows[0]!.q).toBe(rows[0]!.p);
    expect(rows[0]!.verdict).toBe('regression');
  });
  it('lets an inconclusive secondary pass, while a secondary regression still fails the gate', () => {
    const noisy = [100, 140, 70, 120, 90, 160, 60, 110];
    const rows = compareBattery([
      { scenario: 'dm', spec: cpu, base: same, head: same },
      { scenario: 'dm', spec: p99, base: noisy, head: noisy.map((v) => v * 1.05) },
    ], { resamples: 500, seed: 't' });
    expect(rows.map((r) => r.verdict)).toEqual(['unchanged', 'inconclusive']);
    expect(decideGate(rows, [], '2026-11-28').exitCode).toBe(0);
    const worse = compareBattery([
      { scenario: 'dm', spec: cpu, base: same, head: same },
      { scenario: 'dm', spec: p99, base: same, head: same.map((v) => v * 1.5) },
    ], { resamples: 500, seed: 't' });
    expect(decideGate(worse, [], '2026-11-28')).toMatchObject({ exitCode: 1, reasons: [expect.stringMatching(/^dm ack_ms\.p99: \+50\.0%/)] });
  });
  it('keeps every catalog key unique', () => {
    expect(new Set(METRIC_SPECS.map((s) => s.key)).size).toBe(METRIC_SPECS.length);
  });
});

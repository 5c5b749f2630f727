/**
 * The report renders in headless Chromium (Debian's chromium via playwright-core) with no console
 * error and no request leaving the page; the screenshot is kept under test-results/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasCommand, requires } from '../../core/test/env.ts';
import { ROOT } from '../../core/test/helpers.ts';
import { compareBattery } from '../compare.ts';
import { decideGate } from '../gate.ts';
import type { NightRecord, RunRecord } from '../history.ts';
import { METRIC_SPECS } from '../metrics.ts';
import { publish, renderIndex, slackPayload } from '../publish.ts';
import { mulberry32, normal } from '../stats/prng.ts';
import { trendsOf } from '../trends.ts';
import { buildViews, SPECTRUM_PERCENTILES, withinRun } from '../within.ts';
import { Aggregate } from '../../loadtest/aggregate.ts';
import { createHistogram, encode, recordMs } from '../../loadtest/histogram.ts';
import { RESULT_SCHEMA_VERSION, type LoadResult } from '../../loadtest/result.ts';

/** A `parley load` result as a run writes it: `slices` of deliver/ack samples (ms) and acked/connect counts. */
function loadResult(slices: { deliver: number[]; acked: number; connects: number }[]): LoadResult {
  const agg = new Aggregate();
  slices.forEach((sl, i) => {
    const d = createHistogram();
    const a = createHistogram();
    for (const v of sl.deliver) { recordMs(d, v); recordMs(a, v / 2); }
    agg.add(i, sl.deliver.length ? { deliver_ms: encode(d), ack_ms: encode(a) } : {}, { acked: sl.acked, connects: sl.connects });
  });
  return {
    schemaVersion: RESULT_SCHEMA_VERSION, tool: 'parley-load', scenario: 'dm', target: 'ws://127.0.0.1:1/ws', options: {}, segments: ['1/1'], seed: 1,
    startedAt: new Date(0).toISOString(), endedAt: new Date(slices.length * 1000).toISOString(), durationMs: slices.length * 1000,
    environment: { host: 'h', node: process.version, platform: 'linux', cpus: 2, gitSha: null }, validity: { valid: true, reasons: [] }, health: { workers: [] },
    metrics: agg.metrics(), slices: { sliceMs: 1000, items: agg.slices(1000) }, counters: agg.counters(), errorsByCode: {}, thresholds: [], aborted: null, exitCode: 0, exitReason: '',
  };
}

/** Writes one result file per run of the night (the head's deliveries 30% slower) and names it on the run. */
function writeRunFiles(night: NightRecord, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const rand = mulberry32(9);
  for (const run of night.runs) {
    const slow = run.side === 'head' ? 1.3 : 1;
    const r = loadResult(Array.from({ length: 5 }, (_, i) => ({ deliver: Array.from({ length: 200 }, () => (2 + 8 * rand() ** 3) * slow), acked: 90 + i, connects: i === 0 ? 20 : 0 })));
    run.file = `${String(run.index).padStart(3, '0')}-${run.side}-${run.scenario}.json`;
    fs.writeFileSync(path.join(dir, run.file), JSON.stringify(r));
  }
}

function syntheticNight(i: number, slowdown: number, seed: number): NightRecord {
  const rand = mulberry32(seed);
  const runs: RunRecord[] = [];
  for (let k = 0; k < 16; k++) {
    const side = [0, 3].includes(k % 4) ? 'base' : 'head';
    const metrics: Record<string, number> = {};
    for (const s of METRIC_SPECS) {
      const shift = side === 'head' && s.key.startsWith('ack_ms') ? 1 + slowdown : 1;
      metrics[s.key] = 10 * Math.exp(0.03 * normal(rand)) * shift * (s.better === 'higher' ? 10 : 1);
    }
    runs.push({ side, scenario: 'dm', block: Math.floor(k / 4), index: k, startedAt: `2026-11-${String(i).padStart(2, '0')}T02:00:${String(k).padStart(2, '0')}Z`, durationMs: 2500, metrics, health: { scheduleLagP99Ms: 3, generatorCpuPercent: 20, loadavg1: 1.2, stealPercent: 0 } });
  }
  const rows = compareBattery(METRIC_SPECS.map((spec) => ({
    scenario: 'dm', spec, base: runs.filter((r) => r.side === 'base').map((r) => r.metrics[spec.key]!), head: runs.filter((r) => r.side === 'head').map((r) => r.metrics[spec.key]!),
  })), { seed: String(seed) });
  const gate = decideGate(rows, [], '2026-11-28');
  return {
    schemaVersion: 1, id: `2026-11-${String(i).padStart(2, '0')}T02-00-00Z`, at: `2026-11-${String(i).padStart(2, '0')}T02:00:00Z`, battery: 'smoke', mode: 'build', aa: false,
    base: { ref: 'main~1', commit: `${i - 1}`.padStart(40, 'a') }, head: { ref: 'main', commit: `${i}`.padStart(40, 'b'), subject: 'a change' }, blocks: 4, runs,
    discarded: [{ side: 'head', scenario: 'dm', reason: 'generator unhealthy: schedule lag p99 31 ms > 25 ms' }], rows, gate: { status: gate.status, exitCode: gate.exitCode, reasons: gate.reasons },
    environment: { node: process.version, cpus: 2, kernel: 'Linux <test> & "quotes"' },
  };
}

describe('trends', () => {
  it('follow one series: nights of another battery, deployed as a cluster or measured in another design are not points of a single-node trend', () => {
    const nights = Array.from({ length: 7 }, (_, i) => syntheticNight(i + 1, 0, i + 1));
    nights[1] = { ...nights[1]!, battery: 'nightly' };
    nights[3] = { ...nights[3]!, environment: { ...nights[3]!.environment, deploy: 'cluster: 2 nodes, a PostgreSQL database and a redis-server per run' } };
    // A paired server shares its CPU with the other side's: its level is not a serial server's.
    nights[6] = { ...nights[6]!, environment: { ...nights[6]!.environment, design: 'paired: base and head at once on the same CPU, compared pair by pair' } };
    const last = nights[5]!;
    const [t] = trendsOf(nights, last.rows.slice(0, 1), last);
    expect(t!.points.map((p) => p.night)).toEqual([nights[0]!.id, nights[2]!.id, nights[4]!.id, nights[5]!.id]);
    expect(trendsOf(nights, nights[6]!.rows.slice(0, 1), nights[6]!)[0]!.points.map((p) => p.night)).toEqual([nights[6]!.id]);
    const cluster = trendsOf(nights, nights[3]!.rows.slice(0, 1), nights[3]!);
    expect(cluster[0]!.points.map((p) => p.night)).toEqual([nights[3]!.id]);
  });
});

describe('the published report', () => {
  it('links the summary to --report-url when the output folder is served', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-report-'));
    const night = syntheticNight(1, 0, 1);
    const gate = decideGate(night.rows, [], '2026-11-28');
    const pub = await publish(out, { night, gate, trends: [], aaAlarms: { alarms: 0, sessions: 0 }, builds: [] }, [night], { reportUrl: 'https://ci.example.invalid/nightly/' });
    expect(fs.readFileSync(pub.summary, 'utf8')).toContain(`Full report: https://ci.example.invalid/nightly/nights/${night.id}/report.html`);
  });

  it('renders in headless Chromium without console errors or outside requests, with every section', async (ctx) => {
    requires(ctx, 'chromium', hasCommand('chromium'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-report-'));
    const nights = Array.from({ length: 12 }, (_, i) => syntheticNight(i + 1, i >= 7 ? 0.25 : 0, i + 1));
    const night = nights.at(-1)!;
    const gate = decideGate(night.rows, [], '2026-11-28');
    expect(gate.status).toBe('regression');
    const runsDir = path.join(out, 'nights', night.id, 'runs');
    writeRunFiles(night, runsDir);
    fs.writeFileSync(path.join(runsDir, 'broken.json'), '{"schemaVersion": 1');
    night.runs[0] = { ...night.runs[0]!, file: 'broken.json' };
    const within = withinRun(night, runsDir);
    expect(within.unreadable).toEqual([expect.stringMatching(/^broken\.json: /)]);
    const pub = await publish(out, { night, gate, trends: trendsOf(nights, night.rows, night), aaAlarms: { alarms: 0, sessions: 3 }, builds: [], within }, nights);
    const html = fs.readFileSync(pub.report, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/|src=/);
    const eml = fs.readFileSync(pub.eml!, 'utf8');
    expect(eml).toMatch(/^Subject: parley nightly .*: regression/m);
    // A readable text part, an HTML part with the verdict and gate table, and the report attached.
    expect(eml).toMatch(/Content-Type: text\/plain/);
    expect(eml).toMatch(/Content-Type: text\/html/);
    expect(html).toContain('MDE above threshold: add blocks</b> means');

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (r) => { if (!r.url().startsWith('file://')) problems.push(`request: ${r.url()}`); });
      await page.goto(`file://${pub.report}`);
      expect(await page.locator('.banner').innerText()).toMatch(/^REGRESSION · exit 1/);
      expect(await page.locator('h2').allInnerTexts()).toEqual(['Builds', 'Gate', 'Secondary metrics', 'Runs', 'Latency spectra', 'Within the runs', 'Trends over recent nights', 'Environment and generator health']);
      // A spectrum per latency metric (deliver, ack), base and head each a line; three series charts per scenario.
      expect(await page.locator('svg[aria-label$="latency by percentile"]').count()).toBe(2);
      expect(await page.locator('svg[aria-label$="latency by percentile"] path.line-base').count()).toBe(2);
      expect(await page.locator('svg[aria-label="dm: acknowledged sends per second"] path.line-head').count()).toBe(8);
      expect(await page.locator('svg[aria-label="dm: acknowledged sends per second"] path.line-base').count()).toBe(7);
      expect(await page.locator('svg[aria-label$="latency by percentile"] text.axis', { hasText: '99.9' }).count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('text=Runs not drawn (result file unreadable)').count()).toBe(1);
      expect(await page.locator('nav a[href="../../index.html"]').count()).toBe(1);
      expect(await page.locator('tr.regression').count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('svg .change').count()).toBeGreaterThanOrEqual(1);
      expect(await page.locator('svg.chart').count()).toBeGreaterThan(10);
      const dir = path.join(ROOT, 'test-results');
      fs.mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: path.join(dir, 'nightly-report.png'), fullPage: true });
      await page.goto(`file://${path.join(out, 'index.html')}`);
      expect(await page.locator('tr').count()).toBe(13);
      // The index: a trend per primary metric, and the ack slowdown from night 8 on marked.
      expect(await page.locator('svg.chart').count()).toBe(night.rows.filter((r) => r.gate).length);
      expect(await page.locator('svg .change').count()).toBeGreaterThanOrEqual(1);
      await page.screenshot({ path: path.join(dir, 'nightly-index.png'), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('merges each side\'s HDR histograms into one spectrum and keeps every run\'s series', () => {
    const night = syntheticNight(3, 0, 3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-within-'));
    writeRunFiles(night, dir);
    const { spectra, timelines, unreadable } = withinRun(night, dir);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(unreadable).toEqual([]);
    expect(spectra.map((s) => s.metric)).toEqual(['ack_ms', 'deliver_ms']);
    const deliver = spectra.find((s) => s.metric === 'deliver_ms')!;
    // 8 runs a side × 5 slices × 200 samples, merged (not averaged); the head 30% slower across the spectrum.
    expect([deliver.base!.count, deliver.head!.count]).toEqual([8000, 8000]);
    expect(deliver.base!.ms).toHaveLength(SPECTRUM_PERCENTILES.length);
    const ratio = deliver.head!.ms[1]! / deliver.base!.ms[1]!;
    expect(ratio).toBeGreaterThan(1.2);
    expect(ratio).toBeLessThan(1.4);
    expect(deliver.base!.ms).toEqual([...deliver.base!.ms].sort((a, b) => a - b));
    expect(timelines).toHaveLength(1);
    expect(timelines[0]!.latency).toBe('deliver_ms');
    const run = timelines[0]!.runs[0]!;
    expect({ runs: timelines[0]!.runs.length, t: run.t, acked: run.ackedPerSec, connections: run.connections })
      .toEqual({ runs: 16, t: [0, 1, 2, 3, 4], acked: [90, 91, 92, 93, 94], connections: [20, 20, 20, 20, 20] });
    // A run without a result file is left out, not an error; an empty night draws nothing.
    expect(buildViews([])).toEqual({ spectra: [], timelines: [] });
  });

  it('escapes text from the environment and builds a Slack-compatible payload', () => {
    const night = syntheticNight(2, 0, 5);
    expect(renderIndex([{ ...night, id: '<x>' }])).toContain('&#60;x&#62;');
    const p = slackPayload('parley nightly x: pass', '## title\n| a | b |');
    expect(p).toEqual({ text: 'parley nightly x: pass', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'parley nightly x: pass' } }, { type: 'section', text: { type: 'mrkdwn', text: '| a | b |' } }] });
  });
});

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
import { trendsOf } from '../cli.ts';

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
    const pub = await publish(out, { night, gate, trends: trendsOf(nights, night.rows), aaAlarms: { alarms: 0, sessions: 3 }, builds: [] }, nights);
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
      expect(await page.locator('h2').allInnerTexts()).toEqual(['Builds', 'Gate', 'Secondary metrics', 'Runs', 'Trends over recent nights', 'Environment and generator health']);
      expect(await page.locator('tr.regression').count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('svg .change').count()).toBeGreaterThanOrEqual(1);
      expect(await page.locator('svg.chart').count()).toBeGreaterThan(10);
      const dir = path.join(ROOT, 'test-results');
      fs.mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: path.join(dir, 'nightly-report.png'), fullPage: true });
      await page.goto(`file://${path.join(out, 'index.html')}`);
      expect(await page.locator('tr').count()).toBe(13);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('escapes text from the environment and builds a Slack-compatible payload', () => {
    const night = syntheticNight(2, 0, 5);
    expect(renderIndex([{ ...night, id: '<x>' }])).toContain('&#60;x&#62;');
    const p = slackPayload('parley nightly x: pass', '## title\n| a | b |');
    expect(p).toEqual({ text: 'parley nightly x: pass', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'parley nightly x: pass' } }, { type: 'section', text: { type: 'mrkdwn', text: '| a | b |' } }] });
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, type TestContext } from 'vitest';
import { Metrics } from '../registry.ts';
import { CLOSE_REASONS, METRICS } from '../../metrics.ts';
import { hasCommand, requires } from '../../test/env.ts';
import { AlertEvaluator } from './evaluator.ts';
import { bucketQuantile, conditionQL } from './expr.ts';
import { renderRules, renderRuleTests, renderTestCase, type Expectation } from './render.ts';
import { ALERTS, durationMs, type AlertRule } from './rules.ts';
import { samplesAt, scenarioFor, SCENARIO, SCENARIO_TARGET } from './scenario.ts';
import { AlertWebhook, type PostableAlert } from './webhook.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
const RULES_FILE = path.join(ROOT, 'core/ops/alerts/rules.yml');
const TESTS_FILE = path.join(ROOT, 'core/ops/alerts/rules.test.yml');
const promtool = (ctx: TestContext) => requires(ctx, 'promtool (Debian package prometheus)', hasCommand('promtool'));

const rule: AlertRule = {
  name: 'TestErrors', severity: 'page', expr: { kind: 'rate', of: { metric: 'parley_errors_total', where: { code: 'internal' } }, window: '1m' },
  threshold: 1, for: '30s', keepFiringFor: '20s', summary: 'errors', runbook: 'https://example.test/runbook',
};
const errors = (v: number) => [{ name: 'parley_errors_total', labels: { code: 'internal' }, value: v }];

describe('the embedded alert evaluator', () => {
  it('moves a rule from inactive to pending to firing after its for duration, holds it through hysteresis, then resolves', () => {
    const ev = new AlertEvaluator({ rules: [rule] });
    const states: string[] = [];
    let total = 0;
    // 10 s scrapes: 0/s for 30 s, 5/s for 60 s, 0/s afterwards.
    for (let t = 0; t <= 240; t += 10) {
      if (t > 30 && t <= 90) total += 50;
      ev.observe(errors(total), t * 1000);
      states.push(`${t}:${ev.status()[0]!.state}`);
    }
    expect(states).toEqual([
      '0:inactive', '10:inactive', '20:inactive', '30:inactive',
      '40:pending', '50:pending', '60:pending', '70:firing', '80:firing', '90:firing',
      // The 1m window sees more than 1/s until 130 s; at 140 s the condition clears,
      // and keep_firing_for 20 s holds the alert until 160 s.
      '100:firing', '110:firing', '120:firing', '130:firing', '140:firing', '150:firing', '160:resolved', '170:resolved',
      '180:resolved', '190:resolved', '200:resolved', '210:resolved', '220:resolved', '230:resolved', '240:resolved',
    ]);
  });

  it('drops a pending rule back to inactive when the condition clears before its for duration', () => {
    const ev = new AlertEvaluator({ rules: [rule] });
    ev.observe(errors(0), 0);
    ev.observe(errors(200), 10_000);
    expect(ev.status()[0]!.state).toBe('pending');
    ev.observe(errors(200), 30_000);
    expect(ev.status()[0]!.state).toBe('pending');
    ev.observe(errors(200), 80_000);
    expect(ev.status()[0]!).toMatchObject({ state: 'inactive', value: 0 });
  });

  it('re-arms a firing rule whose condition returns within keep_firing_for', () => {
    const ev = new AlertEvaluator({ rules: [{ ...rule, for: '0s', keepFiringFor: '30s' }] });
    ev.observe(errors(0), 0);
    ev.observe(errors(600), 60_000);
    expect(ev.isFiring('TestErrors')).toBe(true);
    ev.observe(errors(600), 120_000);
    expect(ev.isFiring('TestErrors')).toBe(true);
    ev.observe(errors(1200), 130_000);
    ev.observe(errors(1200), 190_000);
    ev.observe(errors(1200), 210_000);
    expect(ev.isFiring('TestErrors')).toBe(true);
    ev.observe(errors(1200), 220_000);
    expect(ev.status()[0]!.state).toBe('resolved');
  });

  it('logs each transition and reflects it in parley_alerts_firing on the live registry', async () => {
    const metrics = new Metrics({ runtime: false });
    const lines: Record<string, unknown>[] = [];
    const log = { info: (o: Record<string, unknown>) => lines.push(o), warn: (o: Record<string, unknown>) => lines.push(o), error() {} } as never;
    const ev = new AlertEvaluator({ rules: ALERTS, source: () => metrics.samples(), meter: metrics, log });
    await ev.tick(0);
    metrics.inc('parley_errors_total', { code: 'internal' }, 600);
    await ev.tick(60_000);
    await ev.tick(120_000);
    await ev.tick(180_000);
    expect(ev.isFiring('ParleyInternalErrors')).toBe(true);
    expect(lines.filter((l) => l.alert === 'ParleyInternalErrors').map((l) => `${l.from}->${l.to}`)).toEqual(['inactive->pending', 'pending->firing']);
    const text = await metrics.appText();
    expect(text).toContain('parley_alerts_firing{alertname="ParleyInternalErrors"} 1');
    expect(text).toContain('parley_alerts_firing{alertname="ParleyDeliveryLatencyHigh"} 0');
  });

  it('computes histogram quantiles as Prometheus does, including the +Inf and empty cases', () => {
    const b = (counts: number[], les = [0.1, 0.5, 1, Infinity]) => les.map((le, i) => ({ le, count: counts[i]! }));
    expect(bucketQuantile(0.5, b([50, 100, 100, 100]))).toBe(0.1);
    expect(bucketQuantile(0.75, b([50, 100, 100, 100]))).toBeCloseTo(0.3, 12);
    expect(bucketQuantile(0.99, b([0, 0, 0, 10]))).toBe(1);
    expect(bucketQuantile(0.99, b([0, 0, 0, 0]))).toBeNaN();
  });

  it('names only metrics that the catalog or the Node runtime registry defines', async () => {
    const runtime = new Set((await new Metrics().runtime.getMetricsAsJSON()).map((m) => m.name));
    for (const a of ALERTS) {
      const e = a.expr;
      const names = e.kind === 'ratio' ? [...e.num, ...e.den].map((s) => s.metric) : [e.of.metric];
      for (const n of names) expect(n in METRICS || runtime.has(n), `${a.name} reads ${n}`).toBe(true);
      expect(() => durationMs(a.for)).not.toThrow();
    }
  });

  it('refuses a malformed duration with a message saying what it expected', () => {
    expect(() => durationMs('5 minutes')).toThrow('expected a duration like "5m" or "90s", got "5 minutes"');
  });
});

describe('the Prometheus rules rendered from the same definitions', () => {
  it('match the committed core/ops/alerts/rules.yml and rules.test.yml (regenerate with `parley alerts render`)', () => {
    expect(fs.readFileSync(RULES_FILE, 'utf8')).toBe(renderRules(ALERTS));
    expect(fs.readFileSync(TESTS_FILE, 'utf8')).toBe(renderRuleTests(ALERTS));
  });

  it('pass promtool check rules', (ctx) => {
    promtool(ctx);
    const out = execFileSync('promtool', ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it('pass promtool test rules, with each default alert quiet, then firing, then resolved', (ctx) => {
    promtool(ctx);
    const out = execFileSync('promtool', ['test', 'rules', TESTS_FILE], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    for (const a of ALERTS) expect(fs.readFileSync(TESTS_FILE, 'utf8')).toContain(`alertname: ${a.name}`);
  });

  it('agree with the embedded evaluator at every minute of every alert scenario', (ctx) => {
    promtool(ctx);
    const dir = tempDir('parley-agree-');
    fs.writeFileSync(path.join(dir, 'rules.yml'), renderRules(ALERTS));
    const cases: string[] = [];
    const firingMinutes: Record<string, number> = {};
    for (const a of ALERTS) {
      const scenario = scenarioFor(a);
      const ev = new AlertEvaluator({ rules: [a] });
      const expect_: Expectation[] = [];
      for (let m = 0; m <= SCENARIO.minutes; m++) {
        ev.observe(samplesAt(scenario, m), m * 60_000);
        expect_.push({ minute: m, firing: ev.isFiring(a.name) });
      }
      firingMinutes[a.name] = expect_.filter((e) => e.firing).length;
      cases.push(renderTestCase(a, scenario, expect_));
    }
    // Every alert fired in its scenario (a comparison of two quiet evaluators would prove nothing).
    for (const a of ALERTS) expect(firingMinutes[a.name], a.name).toBeGreaterThan(5);
    const file = path.join(dir, 'agree.test.yml');
    fs.writeFileSync(file, `rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n${cases.join('\n')}\n`);
    const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);

    // The check can fail: one flipped expectation makes promtool disagree.
    const flipped = cases[0]!.replace(/eval_time: 20m\n(\s+)alertname: (\w+)\n\s+exp_alerts:\n(\s+- exp_labels:[\s\S]*?runbook_url: "[^"]*")/, 'eval_time: 20m\n$1alertname: $2\n$1exp_alerts: []');
    expect(flipped).not.toBe(cases[0]);
    fs.writeFileSync(file, `rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n${flipped}\n`);
    expect(spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('are written by `parley alerts render --out --tests`, and the files it writes pass promtool', (ctx) => {
    promtool(ctx);
    const dir = tempDir('parley-render-');
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'alerts', 'render', '--out', path.join(dir, 'r.yml'), '--tests', path.join(dir, 't.yml')], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'r.yml'), 'utf8')).toBe(renderRules(ALERTS));
    expect(fs.readFileSync(path.join(dir, 't.yml'), 'utf8')).toContain('rule_files:\n  - r.yml\n');
    expect(spawnSync('promtool', ['test', 'rules', path.join(dir, 't.yml')], { encoding: 'utf8' }).status).toBe(0);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'alerts', 'draw'], { cwd: ROOT, encoding: 'utf8' });
    expect([bad.status, bad.stderr.trim()]).toEqual([2, 'parley alerts: unknown alerts subcommand "draw"']);
  });

  it('render each condition as PromQL from the definition', () => {
    expect(conditionQL(ALERTS.find((a) => a.name === 'ParleyDeliveryLatencyHigh')!))
      .toBe('histogram_quantile(0.99, sum by (job, instance, le) (rate(parley_delivery_latency_seconds_bucket[5m]))) > 0.5');
    expect(conditionQL(ALERTS.find((a) => a.name === 'ParleyErrorFrameRatioHigh')!))
      .toBe('sum by (job, instance) (rate(parley_errors_total{code!~"rate_limited"}[5m])) / sum by (job, instance) (rate(parley_frames_in_total[5m])) > 0.05 and sum by (job, instance) (rate(parley_frames_in_total[5m])) > 1');
    expect(conditionQL(ALERTS.find((a) => a.name === 'ParleyEventLoopLagHigh')!)).toBe('max by (job, instance) (nodejs_eventloop_lag_p99_seconds) > 0.2');
  });

  it('page the one node that is over the threshold, named by its instance, when two nodes report', (ctx) => {
    promtool(ctx);
    const dir = tempDir('parley-group-');
    fs.writeFileSync(path.join(dir, 'rules.yml'), renderRules(ALERTS));
    const cases = ALERTS.map((a) => {
      const bad = scenarioFor(a);
      const quietNode = { instance: 'node-b:9464' };
      // Node b reports the same series, flat at zero: no rate, no quantile, no gauge level.
      const quiet = bad.series.map((s) => ({
        ...s, labels: { ...s.labels, ...quietNode }, values: s.values.map(() => 0),
        series: s.series.replace(`instance="${SCENARIO_TARGET.instance}"`, `instance="${quietNode.instance}"`),
      }));
      return renderTestCase(a, { series: [...bad.series, ...quiet], group: bad.group }, [{ minute: SCENARIO.badUntil, firing: true }]);
    });
    const file = path.join(dir, 'group.test.yml');
    fs.writeFileSync(file, `rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n${cases.join('\n')}\n`);
    const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    // The expected alert lists exactly one instance: a second firing group would fail the test.
    expect(cases.every((c) => c.includes(`instance: "${SCENARIO_TARGET.instance}"`) && !c.includes('instance: "node-b:9464"'))).toBe(true);
  });
});

describe('the alert annotations', () => {
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
  const anchors = new Set(fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8').split('\n')
    .filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));

  it('link every alert to a runbook heading of docs/operations.md that exists (GitHub anchor)', () => {
    for (const a of ALERTS) {
      const [file, anchor] = a.runbook.split('#');
      expect(file, a.name).toMatch(/\/docs\/operations\.md$/);
      expect(anchors.has(anchor!), `${a.name}: #${anchor} is no heading of docs/operations.md`).toBe(true);
    }
    expect(anchors.has('parleynosuchalert')).toBe(false);
  });

  it('name in the connection-drop summary exactly the close reasons its expression counts', () => {
    const drop = ALERTS.find((a) => a.name === 'ParleyConnectionDropRateHigh')!;
    const where = drop.expr.of.where!.reason as { not: readonly string[] };
    const counted = CLOSE_REASONS.filter((r) => !where.not.includes(r));
    const listed = /\(([^)]*)\)/.exec(drop.summary)![1]!.split(', ');
    expect(listed.sort()).toEqual([...counted].sort());
  });
});

describe('the alert webhook', () => {

  it('posts firing and then resolved alerts in Alertmanager /api/v2/alerts format to a real HTTP server', async () => {
    const received: { path: string; body: PostableAlert[] }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => { received.push({ path: req.url!, body: JSON.parse(body) as PostableAlert[] }); res.writeHead(200).end(); });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/alerts`;
    try {
      const hook = new AlertWebhook({ url, labels: { service: 'parley', instance: 'n1' }, generatorURL: 'http://127.0.0.1:9464/alerts' });
      const r = { ...rule, for: '0s', keepFiringFor: '0s' };
      const ev = new AlertEvaluator({ rules: [r], notify: (t, f) => hook.notify(t, f, 0) });
      ev.observe(errors(0), 0);
      ev.observe(errors(600), 60_000);
      await hook.idle();
      ev.observe(errors(600), 120_000);
      await hook.idle();
      expect(received.map((x) => x.path)).toEqual(['/api/v2/alerts', '/api/v2/alerts']);
      expect(received[0]!.body).toEqual([{
        labels: { alertname: 'TestErrors', severity: 'page', service: 'parley', instance: 'n1' },
        annotations: { summary: 'errors', runbook_url: 'https://example.test/runbook', value: '10' },
        startsAt: new Date(60_000).toISOString(),
        generatorURL: 'http://127.0.0.1:9464/alerts',
      }]);
      expect(received[1]!.body).toHaveLength(1);
      expect(received[1]!.body[0]).toMatchObject({ labels: { alertname: 'TestErrors' }, endsAt: new Date(120_000).toISOString() });
    } finally {
      server.close();
    }
  });

  it('logs and survives a webhook that is down', async () => {
    const errorsLogged: unknown[] = [];
    const hook = new AlertWebhook({ url: 'http://127.0.0.1:1/api/v2/alerts', labels: {}, generatorURL: 'x', timeoutMs: 2000, log: { error: (o: unknown) => errorsLogged.push(o) } as never });
    await hook.post([]);
    expect(errorsLogged).toHaveLength(1);
  });
});

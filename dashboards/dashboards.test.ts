import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALERTS } from '../core/ops/alerts/rules.ts';
import { LOAD_METRICS, METRICS } from '../core/metrics.ts';
import { hasCommand, requires } from '../core/test/env.ts';
import { dashboardsDir, renderDashboards } from './render.ts';
import { dashboardProblems } from './schema.ts';
import { metricsOf } from '../core/ops/alerts/expr.ts';

interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string }[]; fieldConfig?: { defaults: { thresholds: { steps: { value: number | null }[] } } } }
const rendered = (name: string) => JSON.parse(fs.readFileSync(path.join(dashboardsDir(), 'rendered', name), 'utf8')) as { uid: string; panels: Panel[] };
const exprs = (d: { panels: Panel[] }) => d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const RUNTIME = /^(nodejs_|process_)/;
const DASHBOARDS = ['alerts.json', 'canary.json', 'loadtest.json', 'messaging.json', 'overview.json', 'presence.json', 'runtime.json'];

describe('dashboards', () => {
  it('renders from jsonnet to exactly the committed JSON', async (ctx) => {
    requires(ctx, 'jsonnet', hasCommand('jsonnet'));
    const { files, drifted } = await renderDashboards({ check: true });
    expect([...files.keys()]).toEqual(DASHBOARDS);
    expect(drifted).toEqual([]);
  });

  it('queries only metrics the server or the load generator exports', () => {
    for (const name of DASHBOARDS) {
      for (const expr of exprs(rendered(name))) {
        for (const [metric] of expr.matchAll(/\b(parley|nodejs|process)_[a-z0-9_]+/g)) {
          const family = metric.replace(/_bucket$/, '');
          expect(RUNTIME.test(family) || Object.hasOwn(METRICS, family) || Object.hasOwn(LOAD_METRICS, family), `${name}: ${metric}`).toBe(true);
        }
      }
    }
  });

  it('draws one panel per alert rule with the rule threshold as its line', () => {
    const panels = rendered('alerts.json').panels.filter((p) => p.type === 'timeseries').slice(1);
    expect(panels.map((p) => p.title)).toEqual(ALERTS.map((r) => `${r.name} (${r.severity})`));
    panels.forEach((p, i) => expect(p.fieldConfig!.defaults.thresholds.steps.at(-1)!.value).toBe(ALERTS[i]!.threshold));
  });

  it('lays panels out without overlap and with unique ids', () => {
    for (const name of DASHBOARDS) {
      const { panels } = rendered(name);
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      for (const a of panels) {
        expect(a.gridPos.x + a.gridPos.w).toBeLessThanOrEqual(24);
        for (const b of panels) {
          if (a === b) continue;
          const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w
            && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
          expect(overlap, `${name}: ${a.title} / ${b.title}`).toBe(false);
        }
      }
    }
  });

  it('writes PromQL that promtool parses', (ctx) => {
    requires(ctx, 'promtool', hasCommand('promtool'));
    const all = DASHBOARDS.flatMap((n) => exprs(rendered(n)));
    const concrete = all.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$job', '.*').replaceAll('$instance', '.*'));
    const rules = concrete.map((e, i) => `      - record: dashboard:expr${i}\n        expr: ${JSON.stringify(e)}`).join('\n');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-dash-')), 'exprs.yml');
    fs.writeFileSync(file, `groups:\n  - name: dashboard-exprs\n    rules:\n${rules}\n`);
    expect(() => execFileSync('promtool', ['check', 'rules', file], { stdio: 'pipe' })).not.toThrow();
  });

  it('refuses a query of a metric the catalog does not know', async (ctx) => {
    requires(ctx, 'jsonnet', hasCommand('jsonnet'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-dash-'));
    fs.cpSync(dashboardsDir(), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'bad.jsonnet'), "local q = import 'lib/queries.libsonnet'; { expr: q.rate('parley_no_such_total') }");
    await expect(renderDashboards({ dir, check: false })).rejects.toMatchObject({ stderr: expect.stringContaining('unknown metric parley_no_such_total') });
  });

  it('puts every catalog metric on a panel or in an alert rule', () => {
    const shown = new Set<string>();
    for (const name of DASHBOARDS) for (const expr of exprs(rendered(name))) for (const [m] of expr.matchAll(/\bparley_[a-z0-9_]+/g)) shown.add(m.replace(/_(bucket|sum|count)$/, ''));
    for (const a of ALERTS) for (const m of metricsOf(a.expr)) shown.add(m.replace(/_bucket$/, ''));
    expect([...Object.keys(METRICS), ...Object.keys(LOAD_METRICS)].filter((m) => !shown.has(m))).toEqual([]);
  });

  it('keep the rules Grafana\'s types cannot express: uid shape, grid, unique ids, refIds, a PromQL expr', () => {
    for (const name of DASHBOARDS) {
      const problems = dashboardProblems(JSON.parse(fs.readFileSync(path.join(dashboardsDir(), 'rendered', name), 'utf8')));
      expect(problems, name).toEqual([]);
    }
    // The check can fail: a panel without gridPos, a target without refId, a bad variable.
    const broken = rendered('overview.json') as unknown as Record<string, any>;
    delete broken.panels[1].gridPos;
    broken.panels[2].targets[0].refId = '';
    broken.templating.list[0].type = 'nonsense';
    expect(dashboardProblems(broken)).toEqual([
      'templating.list[0]: type must be one of query, custom, textbox, constant, datasource, interval, adhoc',
      'panels[1]: gridPos {x, y, w, h} of numbers is required',
      'panels[2].targets[0]: refId must be a non-empty string unique in its panel',
    ]);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALERTS } from '../../core/ops/alerts/rules.ts';
import { hasCommand, requires } from '../../core/test/env.ts';
import { connect, ROOT, testServer, TEST_SECRET, until } from '../../core/test/helpers.ts';
import type { ParleyServer } from '../../core/server.ts';
import { dashboardsDir } from '../../dashboards/render.ts';
import { stackFiles, STACK_DEFAULTS } from '../../dashboards/stack.ts';
import { startStack, type OpsStack } from '../ops.ts';

let stack: OpsStack | undefined;
let server: ParleyServer | undefined;
let load: ChildProcess | undefined;
afterAll(async () => { load?.kill('SIGKILL'); await stack?.stop(); await server?.close(); });

const free = () => new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
const query = async (base: string, q: string) => (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; data: { result: unknown[] }; error?: string };

describe('the ops stack', () => {
  it('commits dashboards/stack/ exactly as generated with the defaults', () => {
    for (const [f, text] of stackFiles(STACK_DEFAULTS)) expect(fs.readFileSync(path.join(dashboardsDir(), 'stack', f), 'utf8'), f).toBe(text);
  });

  it('scrapes a real node and a running parley load with real Prometheus: every dashboard query has series, every rule is healthy, forged logins page through Alertmanager with the runbook and resolve', async (ctx) => {
    requires(ctx, 'prometheus and prometheus-alertmanager (Debian packages)', hasCommand('prometheus') && hasCommand('prometheus-alertmanager'));
    server = await testServer();
    const alerts: Record<string, any>[] = [];
    // A real load generator serving its live figures: the load test dashboard's panels need them.
    const loadPort = await free();
    load = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'load', 'dm-steady', '--target', server.wsUrl, '--secret', TEST_SECRET,
      '--users', '6', '--duration', '300s', '--workers', '1', '--metrics-port', String(loadPort), '--quiet'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let loadErr = '';
    load.stderr!.on('data', (c: Buffer) => (loadErr += c.toString()));
    // Starting the CLI from source can take a minute on a busy machine.
    await until(() => loadErr.includes(`metrics at http://127.0.0.1:${loadPort}/metrics`) || load!.exitCode !== null, 'parley load to serve its metrics', 150_000);
    expect(load.exitCode, loadErr).toBe(null);
    // Short windows and no `for`: the real rules file, with durations a test can wait for.
    stack = await startStack({
      nodes: [`127.0.0.1:${server.opsPort}`], load: [`127.0.0.1:${loadPort}`], interval: '1s', prometheusPort: await free(), alertmanagerPort: await free(), receiverPort: 0, onAlert: (a) => alerts.push(a),
    });
    const rules = fs.readFileSync(path.join(stack.dir, 'rules.yml'), 'utf8').replace(/\[(5m|10m)\]/g, '[15s]').replace(/for: \w+/g, 'for: 0s').replace(/keep_firing_for: \w+/g, 'keep_firing_for: 0s');
    fs.writeFileSync(path.join(stack.dir, 'rules.yml'), rules);
    await fetch(`${stack.prometheusUrl}/-/reload`, { method: 'POST' });

    const alice = await connect(server, 'alice');
    const bob = await connect(server, 'bob');
    await alice.send({ to: 'bob' }, 'hello');
    await until(async () => (await query(stack!.prometheusUrl, 'parley_messages_stored_total')).data.result.length > 0, 'a scrape', 15_000);
    await until(async () => (await query(stack!.prometheusUrl, 'rate(parley_load_acked_total{job="parley-load"}[15s]) > 0')).data.result.length > 0, 'acks of the running load', 45_000).catch((err: Error) => { throw new Error(`${err.message}; parley load said: ${loadErr}`); });
    await new Promise((r) => setTimeout(r, 2500));

    const dead: string[] = [];
    for (const f of fs.readdirSync(path.join(dashboardsDir(), 'rendered'))) {
      const d = JSON.parse(fs.readFileSync(path.join(dashboardsDir(), 'rendered', f), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
      for (const p of d.panels) for (const t of p.targets ?? []) {
        // A counter that stays zero (or a ratio of two zero rates, NaN) is live; no series at all is a dead panel.
        const expr = t.expr.replaceAll('$__rate_interval', '15s').replaceAll('$job', '.*').replaceAll('$instance', '.*');
        // A panel that filters (`... > 0`, e.g. alerts now firing) is live when its series exist.
        const r = await query(stack.prometheusUrl, expr.replace(/\s*>\s*[\d.]+$/, ''));
        if (r.status !== 'success' || r.data.result.length === 0) dead.push(`${f} / ${p.title}: ${expr}`);
      }
    }
    expect(dead).toEqual([]);

    await until(async () => {
      const r = (await (await fetch(`${stack!.prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
      const all = r.data.groups.flatMap((g) => g.rules);
      return all.length === ALERTS.length && all.every((x) => x.health === 'ok');
    }, 'every rule to be evaluated healthy', 15_000);

    const forge = async () => {
      for (let i = 0; i < 40; i++) {
        await new Promise<void>((r) => {
          const req = http.request(server!.wsUrl.replace('ws:', 'http:'), { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer a.b.c' } });
          req.on('response', (res) => { res.resume(); r(); });
          req.on('error', () => r());
          req.end();
        });
      }
    };
    const fired = () => alerts.find((a) => a.labels.alertname === 'ParleyLoginFailuresHigh' && a.status === 'firing');
    const deadline = Date.now() + 30_000;
    while (!fired() && Date.now() < deadline) { await forge(); await new Promise((r) => setTimeout(r, 500)); }
    expect(fired()).toMatchObject({ labels: { severity: 'ticket', job: 'parley', instance: `127.0.0.1:${server.opsPort}` }, annotations: { runbook_url: expect.stringContaining('operations.md#parleyloginfailureshigh') } });
    await until(() => alerts.some((a) => a.labels.alertname === 'ParleyLoginFailuresHigh' && a.status === 'resolved'), 'the alert to resolve', 40_000);
    await Promise.all([alice.close(), bob.close()]);
  }, 360_000);
});

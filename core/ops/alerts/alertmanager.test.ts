import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasCommand, requires } from '../../test/env.ts';
import { freePort, until } from '../../test/helpers.ts';
import { AlertEvaluator } from './evaluator.ts';
import type { AlertRule } from './rules.ts';
import { AlertWebhook } from './webhook.ts';

const BIN = 'prometheus-alertmanager';
let child: ChildProcess | undefined;
afterEach(() => { child?.kill('SIGKILL'); child = undefined; });

/** Polls an HTTP check that fails while Alertmanager starts: a rejection counts as "not yet". */
const settled = (check: () => Promise<boolean>) => () => check().catch(() => false);

interface GettableAlert { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; status: { state: string } }

describe('the alert webhook against a real Alertmanager', () => {
  it('is accepted by Alertmanager /api/v2/alerts: the firing alert shows active, the resolution ends it', async (ctx) => {
    requires(ctx, 'Alertmanager (Debian package prometheus-alertmanager)', hasCommand(BIN));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-am-'));
    fs.writeFileSync(path.join(dir, 'am.yml'), 'route:\n  receiver: devnull\nreceivers:\n  - name: devnull\n');
    const port = await freePort();
    child = spawn(BIN, [`--config.file=${path.join(dir, 'am.yml')}`, `--storage.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='], { stdio: 'ignore' });
    const base = `http://127.0.0.1:${port}`;
    await until(settled(async () => (await fetch(`${base}/-/ready`)).ok), 'Alertmanager to be ready', 20_000);

    const rule: AlertRule = {
      name: 'ParleyInternalErrors', severity: 'page', expr: { kind: 'rate', of: { metric: 'parley_errors_total', where: { code: 'internal' } }, window: '1m' },
      threshold: 0.1, for: '0s', keepFiringFor: '0s', summary: 'internal errors', runbook: 'https://example.test/rb',
    };
    const hook = new AlertWebhook({ url: `${base}/api/v2/alerts`, labels: { service: 'parley', instance: 'node-1' }, generatorURL: 'http://127.0.0.1:9464/alerts' });
    const ev = new AlertEvaluator({ rules: [rule], notify: hook.notify });
    const errors = (v: number) => [{ name: 'parley_errors_total', labels: { code: 'internal' }, value: v }];
    const t0 = Date.now();
    ev.observe(errors(0), t0 - 60_000);
    ev.observe(errors(60), t0);
    await hook.idle();
    const alerts = async () => (await (await fetch(`${base}/api/v2/alerts`)).json()) as GettableAlert[];
    await until(settled(async () => (await alerts()).length === 1), 'the alert to arrive', 5000);
    const [got] = await alerts();
    expect(got!.labels).toEqual({ alertname: 'ParleyInternalErrors', severity: 'page', service: 'parley', instance: 'node-1' });
    expect(got!.annotations).toMatchObject({ summary: 'internal errors', runbook_url: 'https://example.test/rb' });
    expect(got!.status.state).toBe('active');
    expect(Date.parse(got!.startsAt)).toBe(t0);

    ev.observe(errors(60), t0 + 61_000);
    await hook.idle();
    await until(settled(async () => (await alerts()).some((a) => Date.parse(a.endsAt) === t0 + 61_000)), 'the resolution to end the alert', 5000);
  });
});

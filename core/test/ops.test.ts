import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { DebugEntry } from '../ops/debug/debug.ts';
import { ALERTS } from '../ops/alerts/rules.ts';
import type { ParleyServer } from '../server.ts';
import { hasCommand, requires } from './env.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { loadConfig } from '../config.ts';
import { startServer } from '../server.ts';
import type { AlertRule } from '../ops/alerts/rules.ts';
import type { PostableAlert } from '../ops/alerts/webhook.ts';
import { connect, tempDir, testServer, TEST_SECRET, until } from './helpers.ts';

const ADMIN = 'admin-token-for-tests-0123456789';
let server: ParleyServer | undefined;
const clients: ParleyClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

async function user(name: string): Promise<ParleyClient> {
  const c = await connect(server!, name);
  clients.push(c);
  return c;
}

function flagsFile(features: unknown[]): string {
  const file = path.join(tempDir('parley-ops-flags-'), 'features.json');
  fs.writeFileSync(file, JSON.stringify({ version: 2, features }, null, 2));
  return file;
}

async function ops(pathname: string, init: RequestInit & { token?: string | null } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
  const res = await fetch(`${server!.opsUrl}${pathname}`, { ...init, headers });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const sample = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
};

describe('GET /metrics on the ops port', () => {
  it('serves the application registry and the Node runtime metrics, counting frames, messages and deliveries', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const got: unknown[] = [];
    bob.on('message', (m) => got.push(m));
    await alice.send({ to: 'bob' }, 'hello');
    await until(() => got.length === 1, 'bob to receive');
    const { status, body } = await ops('/metrics', { token: null });
    expect(status).toBe(200);
    expect(sample(body, 'parley_frames_in_total{op="send"}')).toBe(1);
    expect(sample(body, 'parley_messages_stored_total')).toBe(1);
    expect(sample(body, 'parley_messages_delivered_total{variant="control"}')).toBe(1);
    expect(sample(body, 'parley_delivery_latency_seconds_count{variant="control"}')).toBe(1);
    expect(sample(body, 'parley_fanout_recipients_count{variant="batched"}')).toBe(0);
    expect(sample(body, 'parley_sessions')).toBe(2);
    expect(sample(body, 'parley_logins_total{reason="ok"}')).toBe(2);
    expect(sample(body, 'parley_store_commit_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'parley_frames_out_total{op="welcome"}')).toBe(2);
    expect(body).toContain('nodejs_eventloop_lag_p99_seconds');
  });

  it('lints clean with promtool check metrics after real traffic, errors and closes', async (ctx) => {
    requires(ctx, 'promtool (Debian package prometheus)', hasCommand('promtool'));
    server = await testServer();
    const alice = await user('alice');
    alice.on('error', () => {});
    alice.raw('{"op":"nope"}');
    alice.raw('not json');
    await alice.send({ to: 'bob' }, 'x');
    await alice.close();
    await until(() => server!.hub.size === 0, 'the session to close');
    const text = await server.ops.metrics.appText();
    expect(sample(text, 'parley_errors_total{code="unknown_op"}')).toBe(1);
    expect(sample(text, 'parley_errors_total{code="bad_json"}')).toBe(1);
    expect(sample(text, 'parley_frames_in_total{op="invalid"}')).toBe(2);
    expect(sample(text, 'parley_closes_total{reason="normal"}')).toBe(1);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('labels fan-out metrics by variant when the fanout-batched canary is on, and still delivers every message once', async () => {
    const file = flagsFile([{ name: 'fanout-batched', enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'nodeId', groupId: 'fanout-batched' } }] }]);
    server = await testServer({ flagsFile: file });
    const alice = await user('alice');
    const bob = await user('bob');
    const got: number[] = [];
    bob.on('message', (m) => got.push(m.seq));
    for (let i = 0; i < 20; i++) await alice.send({ to: 'bob' }, `m${i}`);
    await until(() => got.length === 20, 'bob to receive 20');
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const text = await server.ops.metrics.appText();
    expect(sample(text, 'parley_messages_delivered_total{variant="batched"}')).toBe(20);
    expect(sample(text, 'parley_messages_delivered_total{variant="control"}')).toBe(0);
  });
});

describe('flags the core obeys', () => {
  it('drops typing indicators of users for whom typing-indicators is off, counted as dropped_disabled', async () => {
    const file = flagsFile([{ name: 'typing-indicators', enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: 'bob' } }] }]);
    server = await testServer({ flagsFile: file });
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.send({ to: 'bob' }, 'hi');
    const typing = async () => sample(await server!.ops.metrics.appText(), 'parley_typing_events_total{outcome="dropped_disabled"}');
    alice.raw(JSON.stringify({ op: 'typing', id: 't1', chat: 'd:alice:bob', state: 'start' }));
    await until(async () => (await typing()) === 1, 'alice\'s typing to be dropped');
    bob.raw(JSON.stringify({ op: 'typing', id: 't2', chat: 'd:alice:bob', state: 'start' }));
    await until(async () => sample(await server!.ops.metrics.appText(), 'parley_typing_events_total{outcome="relayed"}') === 1, 'bob\'s typing to be relayed');
    expect(await typing()).toBe(1);
    const m = await server.ops.metrics.appText();
    expect(sample(m, 'parley_flag_evaluations_total{flag="typing-indicators",result="disabled"}')).toBe(1);
    expect(sample(m, 'parley_flag_evaluations_total{flag="typing-indicators",result="enabled"}')).toBe(1);
  });
});

describe('GET /alerts', () => {
  it('lists every default alert with its state, threshold and runbook', async () => {
    server = await testServer();
    const { status, body } = await ops('/alerts', { token: null });
    expect(status).toBe(200);
    expect(body.alerts.map((a: { name: string }) => a.name)).toEqual(ALERTS.map((a) => a.name));
    expect(body.alerts[0]).toMatchObject({ state: 'inactive', severity: 'ticket', threshold: 0.05 });
  });
});

describe('the embedded evaluator in a running node', () => {
  it('fires on live counters, shows it on /alerts and parley_alerts_firing, and pages the webhook', async () => {
    const posts: PostableAlert[][] = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => { posts.push(JSON.parse(body) as PostableAlert[]); res.writeHead(200).end(); });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const rule: AlertRule = {
      name: 'ParleyLoginFailuresHigh', severity: 'ticket', expr: { kind: 'rate', of: { metric: 'parley_logins_total', where: { reason: 'malformed' } }, window: '4s' },
      threshold: 0.1, for: '0s', keepFiringFor: '0s', summary: 'logins fail', runbook: 'https://example.test/rb',
    };
    try {
      const config = loadConfig(new Map(), {}, {
        port: 0, opsPort: 0, host: '127.0.0.1', dataDir: tempDir(), secret: TEST_SECRET, logLevel: 'silent', sqliteSync: 'normal',
        alertIntervalMs: 100, alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/api/v2/alerts`,
      });
      server = await startServer(config, { alertRules: [rule] });
      const failures = async () => {
        for (let i = 0; i < 5; i++) {
          const ws = new WebSocket(server!.wsUrl, 'parley.v1', { headers: { authorization: 'Bearer not-a-token' } });
          await new Promise<void>((r) => { ws.on('unexpected-response', () => r()); ws.on('error', () => r()); });
        }
      };
      await until(async () => sample(await server!.ops.metrics.appText(), 'parley_alert_evaluations_total') >= 1, 'a baseline evaluation');
      await failures();
      await until(async () => (await ops('/alerts', { token: null })).body.alerts[0].state === 'firing', 'the alert to fire', 8000).catch(async (e) => { console.log(JSON.stringify((await ops('/alerts', { token: null })).body), await server!.ops.metrics.appText().then((t) => t.split('\n').filter((l) => l.includes('logins')).join(' '))); throw e; });
      expect(await server.ops.metrics.appText()).toContain('parley_alerts_firing{alertname="ParleyLoginFailuresHigh"} 1');
      await until(() => posts.length > 0, 'the webhook to be called', 5000);
      expect(posts[0]![0]).toMatchObject({ labels: { alertname: 'ParleyLoginFailuresHigh', severity: 'ticket', service: 'parley' }, annotations: { summary: 'logins fail' } });
      await until(async () => (await ops('/alerts', { token: null })).body.alerts[0].state === 'resolved', 'the alert to resolve', 15_000);
      await until(() => posts.some((p) => p.some((a) => a.endsAt !== undefined)), 'the resolution to be posted', 5000);
    } finally {
      hook.close();
      hook.closeAllConnections();
    }
  });
});

describe('the admin API', () => {
  it('answers 401 on every /admin route without the admin token, with a wrong one, or when none is configured', async () => {
    server = await testServer({ adminToken: ADMIN });
    const routes: [string, string][] = [
      ['POST', '/admin/debug'], ['DELETE', '/admin/debug?user=a'], ['GET', '/admin/debug'], ['GET', '/admin/debug/abc'],
      ['GET', '/admin/users/alice/sessions'], ['POST', '/admin/users/alice/disconnect'], ['POST', '/admin/flags/reload'], ['GET', '/admin/alerts'], ['GET', '/admin/nothing'],
    ];
    for (const [method, p] of routes) {
      for (const token of [null, 'wrong-token-0123456789']) {
        const r = await ops(p, { method, token });
        expect([p, r.status, r.body.error.code]).toEqual([p, 401, 'unauthorized']);
      }
    }
    await server.close();
    server = await testServer();
    const r = await ops('/admin/alerts');
    expect(r.status).toBe(401);
    expect(r.body.error.message).toBe('the admin API is disabled; start the node with --admin-token');
    const m = await server.ops.metrics.appText();
    expect(sample(m, 'parley_admin_requests_total{result="unauthorized"}')).toBe(1);
  });

  it('lists the sessions of a user and disconnects the user with 4100 kicked', async () => {
    server = await testServer({ adminToken: ADMIN });
    const a1 = await user('alice');
    const a2 = await user('alice');
    await user('bob');
    const list = await ops('/admin/users/alice/sessions');
    expect(list.status).toBe(200);
    expect(list.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual([a1.session, a2.session].sort());
    const closes: number[] = [];
    a1.on('disconnect', (d) => closes.push(d.code));
    a2.on('disconnect', (d) => closes.push(d.code));
    const kick = await ops('/admin/users/alice/disconnect', { method: 'POST' });
    expect(kick.body).toEqual({ user: 'alice', disconnected: 2 });
    await until(() => closes.length === 2, 'both sessions to close');
    expect(closes).toEqual([4100, 4100]);
  });

  it('reloads flags on request and reports a broken file as a 400 with the reason', async () => {
    const file = flagsFile([{ name: 'read-receipts', enabled: true, strategies: [{ name: 'default' }] }]);
    server = await testServer({ adminToken: ADMIN, flagsFile: file });
    expect((await ops('/admin/flags/reload', { method: 'POST' })).body).toEqual({ reloaded: true });
    fs.writeFileSync(file, '{"features": 7}');
    const bad = await ops('/admin/flags/reload', { method: 'POST' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^flags were not reloaded: flags file .*: expected \{"version": 2, "features": \[\.\.\.\]\}$/);
  });

  it('refuses bad debug requests with bad_field and a message naming the field', async () => {
    server = await testServer({ adminToken: ADMIN });
    const cases: [unknown, string][] = [
      [{}, 'expected exactly one of "user" or "session"'],
      [{ user: 'a', session: 'b' }, 'expected exactly one of "user" or "session"'],
      [{ user: 'a b' }, '"user" must be a user id, got "a b"'],
      [{ user: 'alice', minutes: 0 }, '"minutes" must be an integer in [1, 60], got 0'],
      [{ user: 'alice', minutes: 'ten' }, '"minutes" must be an integer in [1, 60], got "ten"'],
    ];
    for (const [body, message] of cases) {
      const r = await ops('/admin/debug', { method: 'POST', body: JSON.stringify(body) });
      expect([r.status, r.body.error]).toEqual([400, { code: 'bad_field', message, ...(r.body.error.details ? { details: r.body.error.details } : {}) }]);
    }
    const r = await ops('/admin/debug', { method: 'POST', body: '{' });
    expect([r.status, r.body.error.code]).toEqual([400, 'bad_json']);
    expect((await ops('/admin/debug/nosuchsession')).status).toBe(404);
  });
});

describe('per-session debug logging', () => {
  it('logs frames and events of the one session in debug mode among 200 live sessions, and nothing of the others', async () => {
    const dataDir = tempDir();
    server = await testServer({ adminToken: ADMIN, dataDir });
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const conns: ParleyClient[] = [];
    for (let i = 0; i < users.length; i += 50) conns.push(...(await Promise.all(users.slice(i, i + 50).map((u) => user(u)))));
    const target = conns[137]!;
    const on = await ops('/admin/debug', { method: 'POST', body: JSON.stringify({ session: target.session, minutes: 5, by: 'oncall-jane' }) });
    expect(on.status).toBe(200);
    expect(on.body.debug).toMatchObject({ kind: 'session', id: target.session, by: 'oncall-jane', source: 'admin' });

    // Every session sends; the target also sends a frame carrying a token and a roster note.
    await Promise.all(conns.map((c, i) => c.send({ to: users[(i + 1) % users.length]! }, `hello from ${users[i]}`)));
    target.raw(JSON.stringify({ op: 'ping', id: 'p1', token: 'eyJhbGciOi.secret', note: 'my private note' }));
    await until(async () => (await ops(`/admin/debug/${target.session}`)).body.entries.some((e: DebugEntry) => e.kind === 'frame' && e.dir === 'out' && (e.frame as { op: string }).op === 'pong'), 'the pong to be logged');

    const ring = (await ops(`/admin/debug/${target.session}`)).body;
    expect(ring.debug).toBe(true);
    const kinds = new Set(ring.entries.map((e: DebugEntry) => e.kind));
    for (const k of ['debug_on', 'frame', 'request', 'rate_limit', 'ack', 'deliver']) expect(kinds.has(k), k).toBe(true);
    target.raw(JSON.stringify({ op: 'typing', chat: `d:${users[137]}:${users[138]}`, state: 'start' }));
    await until(async () => (await ops(`/admin/debug/${target.session}`)).body.entries.some((e: DebugEntry) => e.kind === 'flag' && e.flag === 'typing-indicators' && e.result === 'true'), 'the flag evaluation to be logged');
    const pingIn = ring.entries.find((e: DebugEntry) => e.kind === 'frame' && e.dir === 'in' && (e.frame as { op: string }).op === 'ping');
    expect(pingIn.frame).toEqual({ op: 'ping', id: 'p1', token: '[redacted]', note: '[redacted]' });
    expect(JSON.stringify(ring.entries)).not.toContain('eyJhbGciOi.secret');
    expect(JSON.stringify(ring.entries)).not.toContain('my private note');
    const request = ring.entries.find((e: DebugEntry) => e.kind === 'request' && e.op === 'send');
    expect(typeof request.ms).toBe('number');

    const m = await server.ops.metrics.appText();
    expect(sample(m, 'parley_debug_sessions')).toBe(1);
    expect(sample(m, 'parley_debug_log_lines_total')).toBeGreaterThanOrEqual(ring.entries.length);

    // Other sessions have no ring buffer; the separate destination holds lines of the target only.
    expect((await ops(`/admin/debug/${conns[3]!.session}`)).status).toBe(404);
    await server.close();
    server = undefined;
    const lines = fs.readFileSync(path.join(dataDir, 'debug.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { session: string; level: number });
    expect(lines.length).toBeGreaterThan(5);
    expect(new Set(lines.map((l) => l.session))).toEqual(new Set([target.session]));
    expect(lines.every((l) => l.level === 20)).toBe(true);
  });

  it('switches debug on for a user by the debug-session flag, and off again when the file unlists them', async () => {
    const debugFlag = (ids: string) => [{ name: 'debug-session', enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: ids } }] }];
    const file = flagsFile(debugFlag('dave'));
    server = await testServer({ adminToken: ADMIN, flagsFile: file, flagsPollMs: 100 });
    const dave = await user('dave');
    const erin = await user('erin');
    const list = async (u: string) => (await ops(`/admin/users/${u}/sessions`)).body.sessions[0].debug as boolean;
    expect(await list('dave')).toBe(true);
    expect(await list('erin')).toBe(false);
    expect((await ops('/admin/debug')).body.targets).toMatchObject([{ kind: 'session', id: dave.session, by: 'flag:debug-session', source: 'flag' }]);
    fs.writeFileSync(file, JSON.stringify({ version: 2, features: debugFlag('erin') }));
    await until(async () => !(await list('dave')) && (await list('erin')), 'the flag edit to move debug from dave to erin', 5000);
    expect(erin.session).toBeTruthy();
  });

  it('switches itself off after its bound and on for a user\'s later sessions while it lasts', async () => {
    server = await testServer({ adminToken: ADMIN });
    const r = await ops('/admin/debug', { method: 'POST', body: JSON.stringify({ user: 'frank', minutes: 1 }) });
    expect(r.body.debug.by).toMatch(/^admin@/);
    const frank = await user('frank');
    expect(server.ops.debug.slot(frank.session)!.on).toBe(true);
    expect(Date.parse(r.body.debug.until) - Date.now()).toBeLessThanOrEqual(60_000);
    const off = await ops('/admin/debug?user=frank', { method: 'DELETE' });
    expect(off.body).toEqual({ disabled: { kind: 'user', id: 'frank' } });
    expect(server.ops.debug.slot(frank.session)!.on).toBe(false);
    expect((await ops('/admin/debug?user=frank', { method: 'DELETE' })).status).toBe(404);
  });
});

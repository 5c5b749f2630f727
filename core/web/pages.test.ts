/**
 * The pages' pure parts and their server side without a browser: histogram quantiles as the
 * console computes them, a conversation's order and deduplication, the development sign-in's
 * guard rails, and the admin rollout route's answers to bad input.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../client/index.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { Conversation } from './chat/conversation.ts';
import { quantile, windowOf } from './shared/quantile.ts';

const msg = (seq: number, body = `m${seq}`): Message => ({ chat: 'd:alice:bob', seq, from: 'bob', cmid: `c${seq}`, body, ts: seq } as Message);

describe('quantile over cumulative buckets', () => {
  const buckets = [{ le: 0.01, count: 10 }, { le: 0.1, count: 60 }, { le: 1, count: 100 }, { le: '+Inf' as const, count: 100 }];
  it('interpolates inside the bucket holding the rank, as histogram_quantile does', () => {
    expect(quantile(0.5, buckets)).toBeCloseTo(0.082, 10);
    expect(quantile(0.99, buckets)).toBeCloseTo(0.9775, 10);
    expect(quantile(0.1, buckets)).toBeCloseTo(0.01, 10);
  });
  it('answers the last finite bound when the rank falls into +Inf, and nothing without observations', () => {
    expect(quantile(0.99, [{ le: 0.1, count: 5 }, { le: '+Inf', count: 10 }])).toBe(0.1);
    expect(quantile(0.5, [{ le: 0.1, count: 0 }, { le: '+Inf', count: 0 }])).toBeUndefined();
  });
  it('takes the window between two snapshots', () => {
    expect(windowOf([{ le: 1, count: 7 }, { le: '+Inf', count: 9 }], [{ le: 1, count: 5 }, { le: '+Inf', count: 5 }])).toEqual([{ le: 1, count: 2 }, { le: '+Inf', count: 4 }]);
  });
});

describe('a conversation as the chat page holds it', () => {
  it('keeps messages in seq order and ignores a seq it already has, whatever the arrival order', () => {
    const c = new Conversation('d:alice:bob');
    expect(c.add(msg(3), msg(1))).toBe(2);
    expect(c.add(msg(2), msg(3, 'again'), msg(1))).toBe(1);
    expect(c.messages.map((m) => [m.seq, m.body])).toEqual([[1, 'm1'], [2, 'm2'], [3, 'm3']]);
    expect(c.add({ ...msg(4), chat: 'r:other' })).toBe(0);
  });
  it('turns a waiting send into the committed message once, whether the ack or the catch-up comes first', () => {
    const c = new Conversation('d:alice:bob');
    c.pending.set('x1', { cmid: 'x1', body: 'hi', from: 'alice', ts: 1 });
    c.pending.set('x2', { cmid: 'x2', body: 'there', from: 'alice', ts: 2 });
    c.add({ ...msg(5, 'hi'), cmid: 'x1', from: 'alice' });
    c.acked('x1', 5, 1, 'alice');
    c.acked('x2', 6, 2, 'alice');
    expect(c.pending.size).toBe(0);
    expect(c.messages.map((m) => [m.seq, m.body])).toEqual([[5, 'hi'], [6, 'there']]);
    expect(c.partner('alice')).toBe('bob');
  });
});

describe('development sign-in', () => {
  it('refuses to start on a non-loopback host unless forced', () => {
    expect(() => loadConfig(new Map([['dev-login', 'true']]), {})).toThrow(ConfigError);
    expect(() => loadConfig(new Map([['dev-login', 'true']]), {})).toThrow(/--dev-login lets anyone sign in as anyone: it needs a loopback --host .* got "0\.0\.0\.0"; add --dev-login-any-host true/);
    expect(loadConfig(new Map([['dev-login', 'true'], ['host', '127.0.0.1']]), {}).devLogin).toBe(true);
    expect(loadConfig(new Map([['dev-login', 'true'], ['dev-login-any-host', 'true']]), {}).devLogin).toBe(true);
    expect(loadConfig(new Map(), {}).devLogin).toBe(false);
  });
});

describe('the page routes of a node without development sign-in', () => {
  let server: ParleyServer;
  let dir: string;
  const admin = 'pages-admin-token-0123456789';
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-pages-'));
    const flagsFile = path.join(dir, 'features.json');
    fs.copyFileSync('flags/features.json', flagsFile);
    server = await startServer(loadConfig(new Map(), {}, { host: '127.0.0.1', port: 0, opsPort: 0, dataDir: dir, adminToken: admin, flagsFile, logLevel: 'silent' }));
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const put = (flag: string, body: unknown) => fetch(`${server.opsUrl}/admin/flags/${flag}/rollout`, { method: 'PUT', headers: { authorization: `Bearer ${admin}` }, body: JSON.stringify(body) });

  it('answers /dev/token with 404 not_found', async () => {
    const res = await fetch(`${server.httpUrl}/dev/token`, { method: 'POST', body: '{"user":"alice"}' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('refuses a rollout that is no integer percentage, a flag not in the file and one without a rollout strategy', async () => {
    const bad = await put('fanout-batched', { percent: 101 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'bad_field', message: '"percent" must be an integer in [0, 100], got 101', details: { field: 'percent' } } });
    expect((await put('no-such-flag', { percent: 5 })).status).toBe(404);
    const noRollout = await put('typing-indicators', { percent: 5 });
    expect(noRollout.status).toBe(400);
    expect(((await noRollout.json()) as { error: { message: string } }).error.message).toContain('has no flexibleRollout or gradualRollout strategy');
    const ok = await put('fanout-batched', { percent: 40 });
    expect(await ok.json()).toMatchObject({ flag: 'fanout-batched', rollout: 40 });
  });

  it('kicks one session by id and says when there is none', async () => {
    const res = await fetch(`${server.opsUrl}/admin/sessions/nosuchsession/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(404);
    const unauth = await fetch(`${server.opsUrl}/admin/overview`);
    expect(unauth.status).toBe(401);
  });
});

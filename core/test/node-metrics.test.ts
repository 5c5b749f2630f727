import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import WebSocket from 'ws';
import type { ParleyClient } from '../client/index.ts';
import { RedisBus } from '../bus/redis.ts';
import { userChannel } from '../bus/types.ts';
import { restRoute } from '../edge/rest-probe.ts';
import { createLogger, logLines } from '../log.ts';
import { Metrics } from '../ops/registry.ts';
import type { ParleyServer } from '../server.ts';
import { lowFreePort, RedisProcess } from './cluster-env.ts';
import { hasCommand, requires } from './env.ts';
import { connect, testServer, until } from './helpers.ts';

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

/** The value of one series in the node's application registry (NaN when absent). */
async function value(series: string): Promise<number> {
  const text = await server!.ops.metrics.appText();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** A raw client that can stop reading its socket (ws answers a close frame only when it reads it). */
async function rawClient(name: string): Promise<WebSocket> {
  const ws = new WebSocket(server!.wsUrl, { headers: { authorization: `Bearer ${await server!.auth.mint(name, 3600)}` } });
  await new Promise<void>((resolve, reject) => { ws.once('message', () => resolve()); ws.once('error', reject); });
  return ws;
}

describe('the node metrics an operator asks for', () => {
  it('names REST resources by route, never by the ids in the path', () => {
    expect(restRoute('/api/v1/chats')).toBe('chats');
    expect(restRoute('/api/v1/chats/r:abc/messages')).toBe('chats.messages');
    expect(restRoute('/api/v1/chats/r:abc/members')).toBe('chats.members');
    expect(restRoute('/api/v1/chats/d:alice:bob/read')).toBe('chats.read');
    expect(restRoute('/api/v1/chats/r:abc')).toBe('chats');
    expect(restRoute('/api/v1/search')).toBe('search');
    expect(restRoute('/api/v1/made-up/123')).toBe('other');
    expect(restRoute('/api/v1/')).toBe('other');
  });

  it('counts logins and their time, users beside sessions, send sizes, catch-ups, fan-out passes, heartbeats and queue peaks', async () => {
    // Pings every second: fast enough for the test, and a peer is reaped only after two silent
    // intervals, which a loaded CI machine's 200 ms stalls reached at 100 ms (3 sessions closed early).
    server = await testServer({ pingIntervalMs: 1000 });
    const alice = await user('alice');
    const bob = await user('bob');
    const got = new Promise((resolve) => bob.once('message', resolve));
    await alice.send({ to: 'bob' }, 'hello');
    await got;
    // A second device of bob's catches the chat up from the store.
    const bob2 = await user('bob');
    expect(await value('parley_users')).toBe(2);
    expect(await value('parley_sessions')).toBe(3);
    expect(await value('parley_login_seconds_count')).toBe(3);
    expect(await value('parley_upgrades_pending')).toBe(0);
    expect(await value('parley_send_frame_bytes_count')).toBe(1);
    expect(await value('parley_send_frame_bytes_bucket{le="256"}')).toBe(1);
    await until(async () => (await value('parley_fill_seconds_count')) >= 1, 'the second device to catch up');
    // One bus event per member's channel: alice's and bob's.
    expect(await value('parley_fanout_dispatch_seconds_count{variant="control"}')).toBe(2);
    await until(async () => (await value('parley_ping_rtt_seconds_count')) >= 3, 'a pong from every session');
    expect(await value('parley_session_queue_peak_bytes_count')).toBe(0);
    await bob2.close();
    clients.splice(clients.indexOf(bob2), 1);
    await until(async () => (await value('parley_session_queue_peak_bytes_count')) === 1, 'the closed session to report its queue peak');
    expect(await value('parley_session_queue_peak_bytes_bucket{le="0"}')).toBe(1);
    expect(await value('parley_users')).toBe(2);
  });

  it('counts REST requests by route and status class, with their time', async () => {
    server = await testServer();
    const token = await server.auth.mint('alice', 3600);
    const get = (p: string, auth = true) => fetch(`${server!.httpUrl}${p}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} }).then((r) => { void r.body?.cancel(); return r.status; });
    expect(await get('/api/v1/chats')).toBe(200);
    expect(await get('/api/v1/chats', false)).toBe(401);
    expect(await get('/api/v1/chats/r:nope/messages')).toBeGreaterThanOrEqual(400);
    expect(await get('/api/v1/made-up')).toBe(404);
    await until(async () => (await value('parley_rest_request_seconds_count{route="other"}')) === 1, 'the last request to be counted');
    expect(await value('parley_rest_requests_total{route="chats",status="2xx"}')).toBe(1);
    expect(await value('parley_rest_requests_total{route="chats",status="4xx"}')).toBe(1);
    expect(await value('parley_rest_requests_total{route="chats.messages",status="4xx"}')).toBe(1);
    expect(await value('parley_rest_requests_total{route="other",status="4xx"}')).toBe(1);
    expect(await value('parley_rest_request_seconds_count{route="chats"}')).toBe(2);
  });

  it('reads the SQLite database, its write-ahead log and the data directory\'s disk at scrape', async () => {
    server = await testServer();
    const alice = await user('alice');
    await alice.send({ to: 'bob' }, 'into the WAL');
    const file = path.join(server.config.dataDir, 'parley.db');
    expect(await value('parley_sqlite_wal_bytes')).toBe(fs.statSync(`${file}-wal`).size);
    expect(await value('parley_sqlite_wal_bytes')).toBeGreaterThan(0);
    expect(await value('parley_sqlite_db_bytes')).toBe(fs.statSync(file).size);
    const st = fs.statfsSync(server.config.dataDir);
    expect(await value('parley_data_dir_size_bytes')).toBe(st.blocks * st.bsize);
    const free = await value('parley_data_dir_free_bytes');
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(st.blocks * st.bsize);
  });

  it('counts a peer cut off after 5 s without answering the close handshake', async () => {
    server = await testServer();
    const ws = await rawClient('carol');
    // The client stops reading: it never sees the close frame, so it never answers it.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    for (const s of server.hub.sessionsOf('carol')) s.close('kicked');
    await new Promise((r) => setTimeout(r, 4000));
    expect(await value('parley_close_timeouts_total')).toBe(0);
    await until(async () => (await value('parley_close_timeouts_total')) === 1, 'the socket to be cut off', 4000);
    ws.terminate();
  }, 15_000);

  it('counts a read pause when a burst of requests finds the node over its in-flight budget', async () => {
    server = await testServer({ nodeMaxInflight: 1 });
    const ws = await rawClient('dave');
    const socket = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    const replies: { code?: string }[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(d.toString()) as { code?: string }));
    // One TCP write: the first ping takes the node's only slot, the next ones are refused.
    socket.cork();
    for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ op: 'ping', id: i }));
    socket.uncork();
    await until(() => replies.length >= 5, 'five answers');
    expect(replies.filter((r) => r.code === 'overloaded').length).toBeGreaterThan(0);
    expect(await value('parley_read_pauses_total')).toBeGreaterThanOrEqual(1);
    ws.close();
    await until(() => server!.hub.size === 0, 'the session to close', 8000);
  });

  it('counts Unleash answers by outcome and the age of the flags in force, which grows while the server fails', async () => {
    let failing = false;
    const unleash = http.createServer((req, res) => {
      if (!req.url!.startsWith('/api/client/features')) return void res.writeHead(202).end();
      if (failing) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: 2, features: [{ name: 'typing-indicators', enabled: true, strategies: [{ name: 'default' }] }] }));
    });
    await new Promise<void>((r) => unleash.listen(0, '127.0.0.1', r));
    try {
      server = await testServer({ unleashUrl: `http://127.0.0.1:${(unleash.address() as AddressInfo).port}/api/`, unleashRefreshMs: 200 });
      await until(async () => (await value('parley_flag_fetches_total{result="ok"}')) >= 2, 'two answers');
      expect(await value('parley_flags_age_seconds')).toBeLessThan(1);
      expect(await value('parley_flag_fetches_total{result="error"}')).toBe(0);
      failing = true;
      await until(async () => (await value('parley_flag_fetches_total{result="error"}')) >= 1, 'a failed fetch', 5000);
      await until(async () => (await value('parley_flags_age_seconds')) >= 1, 'the flags to age', 5000);
      expect(await value('parley_flags_stale')).toBe(1);
    } finally {
      await server?.close();
      server = undefined;
      unleash.close();
      unleash.closeAllConnections();
    }
  });

  it('counts the main log\'s lines by level, children included, and none below the level', () => {
    const log = createLogger({ level: 'error', nodeId: 'n1' });
    log.warn('not written, not counted');
    log.info('not written, not counted');
    log.child({ part: 'test' }).error('counted: an error line written by a test of the log counters');
    expect(logLines(log)).toEqual({ fatal: 0, error: 1, warn: 0, info: 0, debug: 0, trace: 0 });
    expect(logLines(pino({ level: 'silent' }))).toBeUndefined();
  });

  it('counts bus bytes both ways, probe round trips, and an outage of a real Redis that is killed', async (ctx) => {
    requires(ctx, 'redis-server and redis-cli', hasCommand('redis-server') && hasCommand('redis-cli'));
    const redis = new RedisProcess(await lowFreePort(), []);
    await redis.start();
    const metrics = new Metrics({ runtime: false });
    const bus = new RedisBus({ url: `redis://127.0.0.1:${redis.port}`, node: 'n1', meter: metrics, log: pino({ level: 'silent' }), probeMs: 50 });
    const read = async (series: string) => Number((await metrics.appText()).split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    try {
      const got = new Promise<void>((resolve) => bus.onEvent(() => resolve()));
      await bus.subscribe(userChannel('erin'));
      await bus.publish(userChannel('erin'), { kind: 'kick', user: 'erin' } as never);
      await got;
      expect(await read('parley_bus_published_bytes_total')).toBeGreaterThan(10);
      expect(await read('parley_bus_received_bytes_total')).toBe(await read('parley_bus_published_bytes_total'));
      await until(async () => (await read('parley_bus_probe_seconds_count')) >= 1, 'a probe');
      expect(await read('parley_bus_outages_total')).toBe(0);
      await redis.kill();
      await until(async () => (await read('parley_bus_outages_total')) === 1, 'the outage to be counted');
    } finally {
      await bus.close();
      await redis.kill();
    }
  });
});

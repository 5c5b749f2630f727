/**
 * The cluster's hot cache in Redis (chat/redis-history-cache.ts), on one PostgreSQL database and a
 * real Redis (a single server, then a 3-master Redis Cluster), with three nodes in this process:
 * two nodes writing one room at once leave a cache that a third node serves exactly as the store
 * would; a message the cache never got (a key or member deleted, a commit that bypassed it) is
 * still served, from the store; an expired chat leaves no cache; a stopped Redis fails no read.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import type { Message } from '../protocol.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { hasCommand, requires } from './env.ts';
import { redisCluster, singleRedis, type RedisProcess } from './cluster-env.ts';
import { TEST_SECRET, tempDir, until } from './helpers.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../store/test/pg.ts';

const HAVE_REDIS = hasCommand('redis-server') && hasCommand('redis-cli');
const PER_CHAT = 40;
const TTL_MS = 600_000;

const seqs = (ms: readonly Message[]) => ms.map((m) => m.seq);

describe.each(['single', 'cluster'] as const)('the hot cache in Redis (%s)', (kind) => {
  let ok = false;
  let servers: RedisProcess[] = [];
  let db: TestDatabase;
  let redis: Redis | Cluster;
  const nodes: ParleyServer[] = [];
  let n1: ParleyServer, n2: ParleyServer, n3: ParleyServer;
  const key = (chat: string) => `hc:{c:${chat}}:recent`;
  const hits = (n: ParleyServer) => n.chat.historyCache.stats.hits;
  const misses = (n: ParleyServer) => n.chat.historyCache.stats.misses;

  beforeAll(async () => {
    ok = HAVE_REDIS && await pgAvailable();
    if (!ok) return;
    const r = kind === 'single' ? await singleRedis() : await redisCluster();
    servers = r.servers;
    redis = kind === 'single' ? new Redis(r.url) : new Cluster(servers.map((s) => ({ host: '127.0.0.1', port: s.port })));
    db = await createTestDatabase();
    const start = (nodeId: string) => startServer(loadConfig(new Map(), {}, {
      port: 0, opsPort: 0, host: '127.0.0.1', dataDir: tempDir(), secret: TEST_SECRET, logLevel: 'silent', nodeId,
      store: db.url, redis: r.url, redisPrefix: 'hc', historyCacheMessages: PER_CHAT, historyCacheTtlMs: TTL_MS,
      ephemeralMinLifetimeMs: 100, expiryCheckMs: 50,
    }));
    // One at a time: the first applies the migrations.
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await start(id));
    [n1, n2, n3] = nodes as [ParleyServer, ParleyServer, ParleyServer];
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) await n.close();
    redis?.disconnect();
    await Promise.all(servers.map((s) => s.kill()));
    await db?.drop();
  }, 60_000);

  /** alice on n1 and bob on n2 each send `n` messages to a fresh room, 8 at a time each, at once. */
  async function busyRoom(n: number): Promise<string> {
    const { chat } = await n1.chat.createRoom('alice', 'busy', ['bob', 'carol'], 'invite');
    const lane = async (node: ParleyServer, user: string) => {
      for (let i = 0; i < n; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => node.chat.send(user, { chat, cmid: `${chat}-${user}-${i + j}`, body: `${user} ${i + j}` })));
      }
    };
    await Promise.all([lane(n1, 'alice'), lane(n2, 'bob')]);
    return chat;
  }

  /** Every page of a chat's history through `node`, oldest first. */
  async function allPages(node: ParleyServer, chat: string, limit: number): Promise<Message[]> {
    const out: Message[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await node.chat.history('carol', chat, before, limit);
      out.unshift(...page.messages);
      if (!page.more) return out;
      before = page.messages[0]!.seq;
    }
  }

  const cachedSeqs = async (chat: string) => (await redis.zrangebyscore(key(chat), '-inf', '+inf', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);

  it('serves a room two nodes wrote at once, through a third node, exactly as the store does', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const chat = await busyRoom(60);
    const store = n3.chat.store;
    const lastSeq = (await store.chatInfo(chat))!.lastSeq;
    expect(lastSeq).toBe(120);
    // The set holds the newest PER_CHAT seqs, each once, however the two nodes' adds interleaved.
    await until(async () => (await cachedSeqs(chat)).at(-1) === lastSeq, 'the last add reached Redis');
    expect(await cachedSeqs(chat)).toEqual(Array.from({ length: PER_CHAT }, (_, i) => lastSeq - PER_CHAT + 1 + i));
    const h0 = hits(n3);
    const first = await n3.chat.history('carol', chat, undefined, 30);
    expect(first).toEqual({ messages: await store.before(chat, undefined, 30), more: true });
    expect(hits(n3)).toBe(h0 + 1);
    expect(await n3.chat.catchUp(chat, 100, 50)).toEqual(await store.after(chat, 100, 50));
    expect(hits(n3)).toBe(h0 + 2);
    expect(await allPages(n3, chat, 25)).toEqual(await store.after(chat, 0, 1000));
    const ttl = await redis.pttl(key(chat));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
  });

  it('reads from the store when a commit never reached the cache, then refills it', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const chat = await busyRoom(10);
    const store = n3.chat.store;
    await until(async () => (await cachedSeqs(chat)).length === 20, 'every add reached Redis');
    // A node that committed and crashed before its add: the store has seq 21, the cache does not.
    const [late] = await store.append([{ chat, from: 'alice', cmid: `crashed-${chat}`, body: 'committed, never cached', ts: Date.now() }]);
    expect(late).toMatchObject({ ok: true, message: { seq: 21 } });
    const m0 = misses(n3);
    const page = await n3.chat.history('carol', chat, undefined, 10);
    expect(page.messages).toEqual(await store.before(chat, undefined, 10));
    expect(page.messages.at(-1)!.body).toBe('committed, never cached');
    expect(misses(n3)).toBe(m0 + 1);
    expect(await n3.chat.catchUp(chat, 15, 50)).toEqual(await store.after(chat, 15, 50));
    // The miss refilled the set from its store read: the next first page is a hit again.
    expect(await cachedSeqs(chat)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    const h0 = hits(n3);
    expect((await n2.chat.history('bob', chat, undefined, 10)).messages).toEqual(page.messages);
    expect(await n3.chat.catchUp(chat, 15, 50)).toEqual(await store.after(chat, 15, 50));
    expect(hits(n3)).toBe(h0 + 1);
  });

  it('serves around a member or a whole set deleted from Redis from the store', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const chat = await busyRoom(15);
    const store = n3.chat.store;
    await until(async () => (await cachedSeqs(chat)).length === 30, 'every add reached Redis');
    // A member lost in the middle (an add that failed): every page across the hole misses.
    await redis.zremrangebyscore(key(chat), 27, 27);
    const m0 = misses(n3);
    expect(await n3.chat.catchUp(chat, 20, 50)).toEqual(await store.after(chat, 20, 50));
    expect(await n3.chat.history('carol', chat, 29, 5)).toEqual({ messages: await store.before(chat, 29, 5), more: true });
    expect(await n3.chat.history('carol', chat, undefined, 10)).toEqual({ messages: await store.before(chat, undefined, 10), more: true });
    expect(misses(n3)).toBe(m0 + 3);
    expect(await cachedSeqs(chat)).toContain(27);
    // The whole set gone (expired, or Redis restarted empty): a miss, the store, a refill.
    await redis.del(key(chat));
    expect(await n1.chat.catchUp(chat, 0, 50)).toEqual(await store.after(chat, 0, 50));
    expect(await n1.chat.history('alice', chat, undefined, 50)).toEqual({ messages: await store.before(chat, undefined, 50), more: false });
    expect((await cachedSeqs(chat)).length).toBe(30);
  });

  it('keeps a message committed while a fill read the store, and orders adds that arrive out of order', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const chat = await busyRoom(5);
    const store = n3.chat.store;
    await until(async () => (await cachedSeqs(chat)).length === 10, 'every add reached Redis');
    await redis.del(key(chat));
    // The fill's store read is taken, then two messages commit (their adds land first), then the fill writes.
    const page = await n3.chat.historyCache.fill(chat, async (n) => {
      const read = await store.before(chat, undefined, n);
      await n1.chat.send('alice', { chat, cmid: `d1-${chat}`, body: 'during the fill 1' });
      await n2.chat.send('bob', { chat, cmid: `d2-${chat}`, body: 'during the fill 2' });
      await until(async () => (await cachedSeqs(chat)).length === 2, 'the two adds reached Redis');
      return read;
    });
    expect(seqs(page!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await cachedSeqs(chat)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const h0 = hits(n3);
    expect(await n3.chat.history('carol', chat, undefined, 50)).toEqual({ messages: await store.after(chat, 0, 50), more: false });
    expect(hits(n3)).toBe(h0 + 1);
    // Adds in reverse seq order, as two nodes' commits may finish: the set is still in seq order.
    const later = await Promise.all([1, 2, 3].map((i) => store.append([{ chat, from: 'bob', cmid: `rev-${i}-${chat}`, body: `reverse ${i}`, ts: Date.now() }])));
    const reversed = later.map(([r]) => r!).flatMap((r) => (r.ok ? [r.message] : [])).sort((a, b) => b.seq - a.seq);
    expect(seqs(reversed)).toEqual([15, 14, 13]);
    for (const m of reversed) n2.chat.historyCache.append(m);
    await until(async () => (await cachedSeqs(chat)).length === 15, 'the reversed adds reached Redis');
    expect(await n3.chat.history('carol', chat, undefined, 50)).toEqual({ messages: await store.after(chat, 0, 50), more: false });
    expect(hits(n3)).toBe(h0 + 2);
  });

  it('deletes an expired ephemeral room\'s cached messages', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const { chat } = await n1.chat.createRoom('alice', 'brief', ['bob'], 'invite', { lifetimeMs: 600 });
    await n2.chat.send('bob', { chat, cmid: `e1-${chat}`, body: 'gone soon' });
    await until(async () => (await redis.exists(key(chat))) === 1, 'the message is cached');
    await until(async () => (await n1.chat.store.chatInfo(chat)) === undefined, 'the room expired', 10_000);
    await until(async () => (await redis.exists(key(chat))) === 0, 'its cached messages are deleted', 5_000);
  });

  it('answers history from the store and takes sends while Redis is stopped', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const chat = await busyRoom(5);
    const store = n3.chat.store;
    await Promise.all(servers.map((s) => s.kill()));
    const t0 = performance.now();
    await n1.chat.send('alice', { chat, cmid: `nr-${chat}`, body: 'while Redis is away' });
    expect(performance.now() - t0).toBeLessThan(1_500);
    for (const n of nodes) {
      expect(await n.chat.history('carol', chat, undefined, 50)).toEqual({ messages: await store.after(chat, 0, 50), more: false });
      expect(await n.chat.catchUp(chat, 3, 50)).toEqual(await store.after(chat, 3, 50));
    }
    expect((await store.after(chat, 0, 50)).at(-1)!.body).toBe('while Redis is away');
  }, 30_000);
});

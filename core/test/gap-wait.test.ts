/**
 * Two nodes on one PostgreSQL database and one Redis, every 1:1 pair split across them, both peers
 * sending as fast as their acks allow. A peer's message can reach the sender's node through Redis
 * before the sender's own commit has come back from PostgreSQL: the session then sees a seq past
 * its cursor while the missing seq is its own send, about to be acked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SUBPROTOCOL } from '../protocol.ts';
import { LoadGen } from '../bench/loadgen.ts';
import { TokenAuthority } from '../edge/auth.ts';
import { hasCommand, requires } from './env.ts';
import { metric, singleRedis, startNode, stopNode, type Node, type RedisProcess } from './cluster-env.ts';
import { connect, TEST_SECRET, testServer, until } from './helpers.ts';
import type { ParleyServer } from '../server.ts';
import type { Message } from '../protocol.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../store/test/pg.ts';

let nodes: Node[] = [];
let servers: RedisProcess[] = [];
let db: TestDatabase | undefined;
afterEach(async () => {
  await Promise.all(nodes.map(stopNode));
  await Promise.all(servers.map((s) => s.kill()));
  await db?.drop();
  nodes = [];
  servers = [];
  db = undefined;
});

describe('a gap that closes by itself', () => {
  it('waits for the missing seq to arrive live (a peer\'s message behind its own ack, or behind a later one) instead of reading the store: no own message comes back as a msg frame, nothing is lost, (almost) no gap repair is counted', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', hasCommand('redis-server') && (await pgAvailable()));
    const redis = await singleRedis();
    servers = redis.servers;
    db = await createTestDatabase();
    nodes.push(await startNode('n1', db.url, redis.url, ['--send-rate-per-sec', '1000000', '--send-burst', '1000000', '--abuse-limit', '1000000']));
    nodes.push(await startNode('n2', db.url, redis.url, ['--send-rate-per-sec', '1000000', '--send-burst', '1000000', '--abuse-limit', '1000000']));
    const auth = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));
    // Users u-0, u-1, ...: even ones on n1, odd on n2; u-2k and u-2k+1 are peers.
    const gen = await LoadGen.connect({
      protocol: SUBPROTOCOL,
      url: async (user) => `${nodes[Number(user.slice(user.lastIndexOf('-') + 1)) % 2]!.wsUrl}?token=${await auth.mint(user, 3600)}`,
      hello: { frame: '{"op":"sync"}', replyOp: 'synced' },
    }, 20, 'u');
    const s = await gen.closed(4, 500, 4000, 5000);
    await gen.close();
    expect(s.errors).toBe(0);
    expect(s.delivered).toBe(s.sent);
    expect(s.echoes).toBe(0);
    let repairs = 0;
    for (const n of nodes) repairs += (await metric(n, /^parley_gap_repairs_total\{trigger="seq"\} /)) ?? 0;
    // A live delivery later than the wait (100 ms) is repaired, as it should be, on a loaded machine: rarely.
    expect(repairs).toBeLessThan(s.sent / 200);
  }, 90_000);
});

describe('a gap that does not close by itself', () => {
  let server: ParleyServer | undefined;
  afterEach(async () => { await server?.close(); server = undefined; });

  it('is read from the store once the wait is over: a message committed without its live delivery (a dropped pub/sub message) reaches the recipient, in order, once', async () => {
    server = await testServer();
    const alice = await connect(server, 'alice');
    const bob = await connect(server, 'bob');
    const got: Message[] = [];
    bob.on('message', (m) => got.push(m));
    await alice.send({ to: 'bob' }, 'one');
    await until(() => got.length === 1, 'seq 1 live');
    // Seq 2 is committed but never published: the store has it, no session was told.
    const [r] = await server.chat.store.append([{ chat: 'd:alice:bob', from: 'alice', cmid: 'lost', body: 'two', ts: Date.now() }]);
    expect(r!.ok).toBe(true);
    const t0 = Date.now();
    await alice.send({ to: 'bob' }, 'three');
    await until(() => got.length === 3, 'seq 2 repaired and seq 3 after it', 3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(got.map((m) => [m.seq, m.body])).toEqual([[1, 'one'], [2, 'two'], [3, 'three']]);
    const text = await server.ops.metrics.appText();
    // Bob's session, and alice's: her own ack of seq 3 came with seq 2 unseen.
    expect(text).toContain('parley_gap_repairs_total{trigger="seq"} 2');
    await Promise.all([alice.close(), bob.close()]);
  });
});

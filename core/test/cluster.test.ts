/**
 * Three parley processes on one PostgreSQL database and one Redis (a single server, then a
 * 3-master Redis Cluster): what a user does on one node reaches the users of the others, and a
 * Redis outage during continuous sends loses nothing acked and duplicates nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requires } from './env.ts';
import { metric, peer, readyz, redisCluster, singleRedis, startNode, stopNode, type Node, type Peer, type RedisProcess } from './cluster-env.ts';
import { until } from './helpers.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../store/test/pg.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const HAVE_REDIS = hasCommand('redis-server') && hasCommand('redis-cli');

interface Cluster { nodes: Node[]; servers: RedisProcess[]; db: TestDatabase; peers: Peer[] }

async function up(kind: 'single' | 'cluster'): Promise<Cluster> {
  const redis = kind === 'single' ? await singleRedis() : await redisCluster();
  const db = await createTestDatabase();
  const nodes: Node[] = [];
  // One at a time: the first applies the migrations.
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await startNode(id, db.url, redis.url));
  return { nodes, servers: redis.servers, db, peers: [] };
}

async function down(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  await Promise.all(c.peers.map((p) => p.client.close()));
  await Promise.all(c.nodes.map(stopNode));
  await Promise.all(c.servers.map((s) => s.kill()));
  await c.db.drop();
}

async function join(c: Cluster, node: number, name: string): Promise<Peer> {
  const p = await peer(c.nodes[node]!, name);
  c.peers.push(p);
  return p;
}

const bodies = (p: Peer, chat?: string) => p.messages.filter((m) => chat === undefined || m.chat === chat).map((m) => m.body);
const ofOp = (p: Peer, op: string) => p.frames.filter((f) => f.op === op);

describe.each(['single', 'cluster'] as const)('three nodes through Redis (%s)', (kind) => {
  let c: Cluster | undefined;
  let ok = false;
  beforeAll(async () => {
    ok = HAVE_REDIS && await pgAvailable();
    if (ok) c = await up(kind);
  }, 120_000);
  afterAll(() => down(c), 60_000);

  it('carries 1:1 and room messages between users on different nodes', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const alice = await join(c!, 0, 'alice');
    const bob = await join(c!, 1, 'bob');
    const carol = await join(c!, 2, 'carol');
    await alice.client.send({ to: 'bob' }, 'hi bob');
    await until(() => bodies(bob).includes('hi bob'), 'bob on n2 gets alice\'s message from n1');
    const room = await carol.client.createRoom('r', ['alice', 'bob']);
    await bob.client.send({ chat: room.chat }, 'hello room');
    await until(() => bodies(alice, room.chat).includes('hello room') && bodies(carol, room.chat).includes('hello room'), 'alice and carol get bob\'s room message');
    expect(bodies(bob, room.chat)).toEqual([]);
  });

  it('carries friend requests and presence, typing and receipts across nodes', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const dan = await join(c!, 0, 'dan');
    const erin = await join(c!, 1, 'erin');
    await dan.social.requestFriend('erin');
    await until(() => ofOp(erin, 'roster.push').some((f) => f.item.user === 'dan' && f.item.state === 'received'), 'erin sees the request on n2');
    await erin.social.accept('dan');
    await until(() => dan.social.presence.get('erin')?.state === 'available', 'dan sees erin online');
    await until(() => erin.social.presence.get('dan')?.state === 'available', 'erin sees dan online');
    await erin.social.setPresence('away', 'lunch');
    await until(() => dan.social.presence.get('erin')?.state === 'away', 'dan sees erin away');
    // A friend connecting later, on a third node, reads erin's state from the directory.
    const danLaptop = await join(c!, 2, 'dan');
    await until(() => danLaptop.social.presence.get('erin')?.state === 'away', 'the bulk frame on n3 shows erin away');
    const ack = await dan.client.send({ to: 'erin' }, 'typing test');
    expect(await dan.social.typing(ack.chat, 'start')).toEqual({ sent: true });
    await until(() => ofOp(erin, 'typing').some((f) => f.user === 'dan' && f.state === 'start'), 'erin sees dan typing');
    await until(() => bodies(erin).includes('typing test'), 'erin gets the message');
    await erin.social.read(ack.chat, ack.seq);
    await until(() => ofOp(dan, 'read').some((f) => f.user === 'erin' && f.seq === ack.seq), 'dan sees erin\'s read marker');
    await erin.client.close();
    await until(() => dan.social.presence.get('erin')?.state === 'offline', 'dan sees erin go offline');
  });

  it('applies blocks made on one node to sends and deliveries through the others', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const fay = await join(c!, 0, 'fay');
    const gus = await join(c!, 1, 'gus');
    const hal = await join(c!, 2, 'hal');
    const room = await hal.client.createRoom('r', ['fay', 'gus']);
    await gus.social.block('fay');
    await expect(fay.client.send({ to: 'gus' }, 'hi')).rejects.toMatchObject({ code: 'blocked' });
    await fay.client.send({ chat: room.chat }, 'fay in the room');
    await until(() => bodies(hal, room.chat).includes('fay in the room'), 'hal gets fay\'s room message');
    await sleep(200);
    expect(bodies(gus, room.chat)).toEqual([]);
  });

  it('follows room joins and leaves made on another node (the review cases)', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const ida = await join(c!, 0, 'ida');
    const jon = await join(c!, 1, 'jon');
    const room = await ida.client.createRoom('r', ['jon'], 'open');
    await ida.client.send({ chat: room.chat }, 'one');
    await until(() => bodies(jon, room.chat).includes('one'), 'jon gets the first message');
    await jon.client.leave(room.chat);
    await ida.client.send({ chat: room.chat }, 'two');
    const kim = await join(c!, 2, 'kim');
    await kim.client.join(room.chat);
    const kimOnN1 = await join(c!, 0, 'kim');
    await expect(kimOnN1.client.send({ chat: room.chat }, 'kim here')).resolves.toMatchObject({ seq: 3 });
    await until(() => bodies(ida, room.chat).includes('kim here'), 'ida gets kim\'s message');
    await sleep(300);
    expect(bodies(jon, room.chat)).toEqual(['one']);
  });

  it('subscribes each node only to the channels of its own users', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const before = await metric(c!.nodes[2]!, /^parley_bus_subscriptions /);
    await join(c!, 2, 'lee');
    await until(async () => (await metric(c!.nodes[2]!, /^parley_bus_subscriptions /)) === before! + 1, 'n3 subscribed to lee');
    expect(await metric(c!.nodes[0]!, /^parley_bus_subscriptions /)).toBeLessThan(before! + 5);
    // Everything above travelled live through pub/sub, not through the store's gap repair.
    for (const n of c!.nodes) expect(await metric(n, /^parley_bus_received_total\{result="ok"\}/)).toBeGreaterThan(0);
  });
});

/** Sends alice → bob (1:1) and alice → room with carol every `everyMs` until stopped; returns the acked seqs per chat. */
function sendLoop(alice: Peer, targets: ({ to: string } | { chat: string })[], everyMs: number) {
  const acked = new Map<string, number[]>();
  let stop = false;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      const target = targets[n % targets.length]!;
      const i = n++;
      // Not awaited one by one: sends overlap like a real client's; each is retried with its cmid on failure.
      void (async () => {
        const cmid = `loop-${i}`;
        for (let attempt = 0; attempt < 50; attempt++) {
          try {
            const ack = await alice.client.send(target, `m${i}`, cmid);
            if (!acked.has(ack.chat)) acked.set(ack.chat, []);
            if (!acked.get(ack.chat)!.includes(ack.seq)) acked.get(ack.chat)!.push(ack.seq);
            return;
          } catch { await sleep(100); }
        }
      })();
      await sleep(everyMs);
    }
  })();
  return { acked, stop: async () => { stop = true; await done; await sleep(500); } };
}

async function outage(kind: 'single' | 'cluster'): Promise<void> {
  const c = await up(kind);
  try {
    const alice = await join(c, 0, 'alice');
    const bob = await join(c, 1, 'bob');
    const carol = await join(c, 2, 'carol');
    const room = await alice.client.createRoom('r', ['carol']);
    const loop = sendLoop(alice, [{ to: 'bob' }, { chat: room.chat }], 25);
    await sleep(1_500);
    // On a cluster one master goes away: its slots are down until it comes back.
    const victims = kind === 'single' ? c.servers : [c.servers[1]!];
    await Promise.all(victims.map((s) => s.kill()));
    await until(async () => (await readyz(c.nodes[1]!)).status === 503, 'n2 reports not ready', 10_000);
    expect((await readyz(c.nodes[1]!)).body).toMatchObject({ status: 'bus_down' });
    await sleep(3_000);
    await Promise.all(victims.map((s) => s.start()));
    await until(async () => (await Promise.all(c.nodes.map(readyz))).every((r) => r.status === 200), 'every node ready again', 30_000);
    await sleep(1_500);
    await loop.stop();
    const direct = [...loop.acked.keys()].find((k) => k !== room.chat)!;
    const expected = (chat: string) => [...loop.acked.get(chat)!].sort((a, b) => a - b);
    const seqs = (p: Peer, chat: string) => p.messages.filter((m) => m.chat === chat).map((m) => m.seq);
    await until(() => seqs(bob, direct).length >= expected(direct).length && seqs(carol, room.chat).length >= expected(room.chat).length, 'every acked message delivered', 20_000);
    expect(expected(direct).length).toBeGreaterThan(50);
    // Exactly once and in order: the delivered seqs are the acked ones, each once, ascending.
    expect(seqs(bob, direct)).toEqual(expected(direct));
    expect(seqs(carol, room.chat)).toEqual(expected(room.chat));
    // Pub/sub carries messages live again: faster than any repair (a gap is repaired after at least 2 s).
    const t0 = Date.now();
    await alice.client.send({ to: 'bob' }, 'after the outage');
    await until(() => bodies(bob).includes('after the outage'), 'a live delivery after recovery', 10_000);
    expect(Date.now() - t0).toBeLessThan(1_500);
    const sum = async (line: RegExp) => (await Promise.all(c.nodes.map((n) => metric(n, line)))).reduce((a, b) => a! + (b ?? 0), 0)!;
    const repairs = await sum(/^parley_gap_repairs_total\{trigger="(seq|cursor_check)"\}/);
    // With a single Redis every publish of the outage fails and what the recipients missed was read
    // from the store. With one master of three down only the channels on its slots fail, which may
    // be none of the recipients' (a failed publish to the sender's own channel misses nobody): the
    // exactly-once checks above are the proof there.
    if (kind === 'single') {
      expect(await sum(/^parley_bus_publishes_total\{result="error"\}/)).toBeGreaterThan(0);
      expect(repairs).toBeGreaterThan(0);
    }
  } finally {
    await down(c);
  }
}

describe('Redis going away during continuous sends', () => {
  it('delivers every acked message exactly once when a single Redis is killed for 3 s and started again', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', HAVE_REDIS && await pgAvailable());
    await outage('single');
  }, 180_000);

  it('delivers every acked message exactly once when one master of a 3-master Redis Cluster is killed for 3 s and restarted', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', HAVE_REDIS && await pgAvailable());
    await outage('cluster');
  }, 240_000);
});

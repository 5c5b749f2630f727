/**
 * Deployments sharing one Redis (a single server, then a 3-master Redis Cluster), told apart by
 * --redis-prefix: each has its own PostgreSQL database and the same user names, and none sees the
 * other's messages or presence. A third deployment on the same prefix as the first does see them:
 * the control that shows the isolation comes from the prefix. A bad prefix is a config error.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.ts';
import { hasCommand, requires } from './env.ts';
import { peer, redisCluster, singleRedis, startNode, stopNode, type Node, type Peer, type RedisProcess } from './cluster-env.ts';
import { until } from './helpers.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../store/test/pg.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const HAVE_REDIS = hasCommand('redis-server') && hasCommand('redis-cli');

describe('the redisPrefix setting', () => {
  it('defaults to parley', () => {
    expect(loadConfig(new Map(), {}).redisPrefix).toBe('parley');
    expect(loadConfig(new Map([['redis-prefix', 'eu-1.staging_b']]), {}).redisPrefix).toBe('eu-1.staging_b');
    expect(loadConfig(new Map(), { PARLEY_REDIS_PREFIX: 'tenant7' }).redisPrefix).toBe('tenant7');
  });

  it.each([
    ['a{b}', 'redisPrefix must be letters, digits, ".", "_" or "-" (one key segment: no braces, colons or whitespace), got "a{b}"'],
    ['a:b', 'redisPrefix must be letters, digits, ".", "_" or "-" (one key segment: no braces, colons or whitespace), got "a:b"'],
    ['a b', 'redisPrefix must be letters, digits, ".", "_" or "-" (one key segment: no braces, colons or whitespace), got "a b"'],
    ['x'.repeat(65), 'redisPrefix must be at most 64 characters, got 65'],
    ['', '--redis-prefix is empty; leave it out to get the default (parley)'],
  ])('refuses the prefix "%s" with a config error', (prefix, problem) => {
    const load = () => loadConfig(new Map([['redis-prefix', prefix]]), {});
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`invalid configuration:\n  - ${problem}`);
  });
});

interface Deployment { prefix: string; db: TestDatabase; nodes: Node[] }

describe.each(['single', 'cluster'] as const)('deployments sharing one Redis (%s)', (kind) => {
  let ok = false;
  let servers: RedisProcess[] = [];
  const deployments: Deployment[] = [];
  const peers: Peer[] = [];
  let a: Deployment, b: Deployment, control: Deployment;

  async function deploy(prefix: string, nodes: number, redis: string): Promise<Deployment> {
    const d: Deployment = { prefix, db: await createTestDatabase(), nodes: [] };
    deployments.push(d);
    for (let i = 1; i <= nodes; i++) d.nodes.push(await startNode(`${prefix}-${i}`, d.db.url, redis, ['--redis-prefix', prefix]));
    return d;
  }

  async function join(node: Node, name: string): Promise<Peer> {
    const p = await peer(node, name);
    peers.push(p);
    return p;
  }

  /** alice and bob are friends in the deployment; alice leaves again, so she starts offline. */
  async function befriend(d: Deployment): Promise<void> {
    const alice = await join(d.nodes[0]!, 'alice');
    const bob = await join(d.nodes.at(-1)!, 'bob');
    await alice.social.requestFriend('bob');
    await until(() => bob.frames.some((f) => f.op === 'roster.push' && f.item.user === 'alice'), `bob sees alice's request (${d.prefix})`);
    await bob.social.accept('alice');
    await until(() => alice.social.presence.get('bob')?.state === 'available', `alice sees bob (${d.prefix})`);
    await alice.client.close();
    await bob.client.close();
  }

  beforeAll(async () => {
    ok = HAVE_REDIS && await pgAvailable();
    if (!ok) return;
    const redis = kind === 'single' ? await singleRedis() : await redisCluster();
    servers = redis.servers;
    a = await deploy('alpha', 2, redis.url);
    b = await deploy('beta', 1, redis.url);
    control = await deploy('alpha', 1, redis.url);
    for (const d of deployments) await befriend(d);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.client.close()));
    await Promise.all(deployments.flatMap((d) => d.nodes).map(stopNode));
    await Promise.all(servers.map((s) => s.kill()));
    for (const d of deployments) await d.db.drop();
  }, 60_000);

  it('keeps one deployment\'s messages and presence from another on a different prefix', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const bobA = await join(a.nodes[1]!, 'bob');
    const bobB = await join(b.nodes[0]!, 'bob');
    const bobControl = await join(control.nodes[0]!, 'bob');
    await sleep(300);
    const alice = await join(a.nodes[0]!, 'alice');
    await alice.client.send({ to: 'bob' }, 'for bob of alpha');
    await until(() => bobA.messages.some((m) => m.body === 'for bob of alpha'), 'bob on the other node of alpha gets it');
    await until(() => bobA.social.presence.get('alice')?.state === 'available', 'bob of alpha sees alice online');
    // The same prefix on the same Redis is one namespace: the control deployment hears alpha.
    await until(() => bobControl.messages.some((m) => m.body === 'for bob of alpha'), 'the control deployment on prefix alpha hears the message');
    await until(() => bobControl.social.presence.get('alice')?.state === 'available', 'the control deployment sees alpha\'s alice online');
    await sleep(500);
    expect(bobB.messages).toEqual([]);
    expect(bobB.social.presence.get('alice')?.state ?? 'offline').toBe('offline');
    // A device of bob connecting to beta now reads the directory: alpha's alice is not in it.
    const laptopB = await join(b.nodes[0]!, 'bob');
    await sleep(500);
    expect(laptopB.social.presence.get('alice')?.state ?? 'offline').toBe('offline');
  });

  it('places every key under its prefix, a user\'s keys of both deployments on the slot of their hash tag', async (ctx) => {
    requires(ctx, 'redis-server and PostgreSQL', ok);
    const keysOn = (port: number, pattern: string) => execFileSync('redis-cli', ['-p', String(port), '--scan', '--pattern', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const all = servers.flatMap((s) => keysOn(s.port, '*'));
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((k) => !k.startsWith('alpha:') && !k.startsWith('beta:'))).toEqual([]);
    const holders = (key: string) => servers.filter((s) => keysOn(s.port, key).length > 0);
    const [inAlpha] = holders('alpha:{u:bob}:presence');
    const [inBeta] = holders('beta:{u:bob}:presence');
    expect(inAlpha).toBeDefined();
    expect(inAlpha).toBe(inBeta);
    if (kind === 'cluster') {
      const slot = (key: string) => execFileSync('redis-cli', ['-p', String(servers[0]!.port), 'cluster', 'keyslot', key], { encoding: 'utf8' }).trim();
      expect(slot('alpha:{u:bob}:presence')).toBe(slot('u:bob'));
      expect(slot('beta:{u:bob}:presence')).toBe(slot('u:bob'));
    }
  });
});

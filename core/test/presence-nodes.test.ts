/**
 * Two nodes sharing one bus and one store, as with a Redis bus and PostgreSQL: presence, typing,
 * roster pushes and block filters reach sessions on the other node, and a user's state is the most
 * available across nodes.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBroker, LocalBus } from '../bus/local.ts';
import { loadConfig } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { TEST_SECRET, tempDir, until } from './helpers.ts';
import { befriend, ofOp, person, sleep, type Person } from './social-fixtures.ts';

let nodes: ParleyServer[] = [];
const people: Person[] = [];

async function twoNodes(): Promise<[ParleyServer, ParleyServer]> {
  const dir = tempDir();
  const store = new SqliteStore({ file: path.join(dir, 'parley.db'), sync: 'normal' });
  const broker = new LocalBroker();
  const start = (nodeId: string) => startServer(loadConfig(new Map(), {}, {
    port: 0, opsPort: 0, host: '127.0.0.1', dataDir: dir, secret: TEST_SECRET, logLevel: 'silent', nodeId,
    presenceCoalesceMs: 0, presenceBatchMs: 10, presenceGraceMs: 0, typingThrottleMs: 0,
  }), { store, bus: new LocalBus(broker) });
  nodes = [await start('n1'), await start('n2')];
  return nodes as [ParleyServer, ParleyServer];
}

async function on(node: ParleyServer, name: string): Promise<Person> {
  const p = await person(node, name);
  people.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  for (const n of nodes) await n.close();
  nodes = [];
});

describe('presence across nodes', () => {
  it('shows the most available state across a user\'s devices on different nodes', async () => {
    const [n1, n2] = await twoNodes();
    await befriend(n1, 'alice', 'bob');
    const bob = await on(n2, 'bob');
    const phone = await on(n1, 'alice');
    await until(() => bob.social.presence.get('alice')?.state === 'available', 'alice online via n1');
    await phone.social.setPresence('away', 'phone in pocket');
    await until(() => bob.social.presence.get('alice')?.state === 'away', 'away');
    const laptop = await on(n2, 'alice');
    await until(() => bob.social.presence.get('alice')?.state === 'available', 'the laptop on n2 wins');
    await laptop.client.close();
    await until(() => bob.social.presence.get('alice')?.state === 'away', 'back to the phone on n1');
    expect(bob.social.presence.get('alice')?.status).toBe('phone in pocket');
    await phone.client.close();
    await until(() => bob.social.presence.get('alice')?.state === 'offline', 'offline everywhere');
  });

  it('carries roster pushes, typing and block filtering to the other node', async () => {
    const [n1, n2] = await twoNodes();
    const alice = await on(n1, 'alice');
    const bob = await on(n2, 'bob');
    const carol = await on(n2, 'carol');
    await alice.social.requestFriend('bob');
    await until(() => ofOp(bob, 'roster.push').length === 1, 'push on n2');
    expect(ofOp(bob, 'roster.push')[0]!.item).toEqual({ user: 'alice', state: 'received' });
    const room = await carol.client.createRoom('r', ['alice', 'bob']);
    await bob.social.block('alice');
    expect(await alice.social.typing(room.chat, 'start')).toEqual({ sent: true });
    await until(() => ofOp(carol, 'typing').length === 1, 'carol sees typing');
    await alice.client.send({ chat: room.chat }, 'hello room');
    await until(() => carol.messages.length === 1, 'carol gets the message');
    await sleep(100);
    expect(ofOp(bob, 'typing')).toEqual([]);
    expect(bob.messages).toEqual([]);
    await expect(alice.client.send({ to: 'bob' }, 'hi')).rejects.toMatchObject({ code: 'blocked', details: { byYou: false } });
  });
});

describe('presence of a node that went away', () => {
  it('shows the users of a node that stopped heartbeating as offline after presenceNodeTtlMs, with no grace-period announcement', async () => {
    const dir = tempDir();
    const store = new SqliteStore({ file: path.join(dir, 'parley.db'), sync: 'normal' });
    // Each node gets its own bus on the shared broker, so a node's drain leaves the bus to the other.
    const broker = new LocalBroker();
    const bus = () => new LocalBus(broker);
    const start = (nodeId: string) => startServer(loadConfig(new Map(), {}, {
      port: 0, opsPort: 0, host: '127.0.0.1', dataDir: dir, secret: TEST_SECRET, logLevel: 'silent', nodeId,
      presenceCoalesceMs: 0, presenceBatchMs: 10, presenceGraceMs: 60_000, presenceNodeTtlMs: 600,
    }), { store, bus: bus() });
    nodes = [await start('n1'), await start('n2')];
    const [n1, n2] = nodes as [ParleyServer, ParleyServer];
    await befriend(n1, 'alice', 'bob');
    const bob = await on(n2, 'bob');
    const alice = await on(n1, 'alice');
    await until(() => bob.social.presence.get('alice')?.state === 'available', 'alice online via n1');
    await sleep(800);
    expect(bob.social.presence.get('alice')?.state).toBe('available');
    // n1 drains: alice's grace period (60 s) never ends there, and n1 stops heartbeating.
    people.splice(people.indexOf(alice), 1);
    await n1.close();
    const t0 = Date.now();
    await until(() => bob.social.presence.get('alice')?.state === 'offline', 'alice expired with n1', 5_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(n2.social.presence.stats.expired).toBe(1);
    await alice.client.close();
  });
});

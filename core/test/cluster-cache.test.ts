/**
 * Two nodes in one process sharing one store object and one bus broker: the cheapest cluster, for
 * what each node caches. Membership changes made through one node reach the other node's member
 * cache; a node subscribes only to its own users' channels; a publish that fails after a commit is
 * counted, never un-acked, and the recipient gets the message late from the store.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBroker, LocalBus } from '../bus/local.ts';
import { CONTROL_CHANNEL, userChannel, type BusEvent } from '../bus/types.ts';
import { loadConfig } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { TEST_SECRET, tempDir, until } from './helpers.ts';
import { person, sleep, type Person } from './social-fixtures.ts';

let nodes: ParleyServer[] = [];
const people: Person[] = [];

/** A bus on the shared broker whose publishes can be made to fail, like Redis going away after a commit. */
class FlakyBus extends LocalBus {
  failing = false;
  override readonly lossy = true;
  override publish(channel: string, event: BusEvent): Promise<void> {
    if (this.failing) return Promise.reject(new Error('injected publish failure'));
    return super.publish(channel, event);
  }
}

async function twoNodes(overrides: Record<string, number> = {}): Promise<{ n1: ParleyServer; n2: ParleyServer; b1: FlakyBus; b2: FlakyBus }> {
  const dir = tempDir();
  const store = new SqliteStore({ file: path.join(dir, 'parley.db'), sync: 'normal' });
  const broker = new LocalBroker();
  const b1 = new FlakyBus(broker);
  const b2 = new FlakyBus(broker);
  const start = (nodeId: string, bus: LocalBus) => startServer(loadConfig(new Map(), {}, {
    port: 0, opsPort: 0, host: '127.0.0.1', dataDir: dir, secret: TEST_SECRET, logLevel: 'silent', nodeId, ...overrides,
  }), { store, bus });
  nodes = [await start('n1', b1), await start('n2', b2)];
  return { n1: nodes[0]!, n2: nodes[1]!, b1, b2 };
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

describe('member caches across two nodes', () => {
  it('stops delivering room messages through node 1 to bob once he left through node 2', async () => {
    const { n1, n2 } = await twoNodes();
    const alice = await on(n1, 'alice');
    const bob = await on(n2, 'bob');
    const room = await alice.client.createRoom('r', ['bob'], 'open');
    await alice.client.send({ chat: room.chat }, 'before');
    await until(() => bob.messages.length === 1, 'bob gets the first message');
    await bob.client.leave(room.chat);
    await alice.client.send({ chat: room.chat }, 'after');
    await sleep(150);
    expect(bob.messages.map((m) => m.body)).toEqual(['before']);
    expect(await n1.chat.membersOf(room.chat)).toEqual(new Set(['alice']));
  });

  it('lets dave send through node 1 right after he joined through node 2', async () => {
    const { n1, n2 } = await twoNodes();
    const alice = await on(n1, 'alice');
    const room = await alice.client.createRoom('r', [], 'open');
    await alice.client.send({ chat: room.chat }, 'anyone here?');
    const phone = await on(n2, 'dave');
    await phone.client.join(room.chat);
    const laptop = await on(n1, 'dave');
    await expect(laptop.client.send({ chat: room.chat }, 'me')).resolves.toMatchObject({ seq: 2 });
    await until(() => alice.messages.some((m) => m.body === 'me'), 'alice gets dave\'s message');
  });

  it('takes a change heard before the store shows it: a stale read is corrected by the recent change', async () => {
    const { n1 } = await twoNodes();
    const alice = await on(n1, 'alice');
    const room = await alice.client.createRoom('r', ['bob'], 'open');
    // Another node's "bob left" arrives while this node's store still lists bob (a replica behind, a slow commit).
    n1.chat.apply({ kind: 'members', chat: room.chat, user: 'bob', event: 'left' });
    expect(await n1.chat.membersOf(room.chat)).toEqual(new Set(['alice']));
  });
});

describe('subscriptions', () => {
  it('subscribes a node to the channels of its connected users only, and drops one with its last session', async () => {
    const { n1, b1 } = await twoNodes();
    const a1 = await on(n1, 'alice');
    const a2 = await on(n1, 'alice');
    await on(n1, 'bob');
    expect([...b1.channels].sort()).toEqual([CONTROL_CHANNEL, userChannel('alice'), userChannel('bob')].sort());
    await a1.client.close();
    expect(b1.channels.has(userChannel('alice'))).toBe(true);
    await a2.client.close();
    await until(() => !b1.channels.has(userChannel('alice')), 'alice\'s channel dropped with her last session');
  });
});

describe('a publish that fails after the commit', () => {
  it('acks the send, counts the failure, and delivers the message late through the cursor check', async () => {
    const { n1, n2, b1 } = await twoNodes({ gapCheckMs: 200 });
    n1.hub.gapGraceMs = 100;
    n2.hub.gapGraceMs = 100;
    const alice = await on(n1, 'alice');
    const bob = await on(n2, 'bob');
    await alice.client.send({ to: 'bob' }, 'one');
    await until(() => bob.messages.length === 1, 'first message live');
    b1.failing = true;
    const ack = await alice.client.send({ to: 'bob' }, 'two');
    expect(ack.seq).toBe(2);
    b1.failing = false;
    await until(() => bob.messages.length === 2, 'the dropped message arrives from the store');
    expect(bob.messages.map((m) => m.body)).toEqual(['one', 'two']);
    const metrics = await (await fetch(`${n1.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^parley_fanout_failures_total\{kind="msg"\} 1$/m);
    const repaired = await (await fetch(`${n2.opsUrl}/metrics`)).text();
    expect(repaired).toMatch(/^parley_gap_repairs_total\{trigger="cursor_check"\} 1$/m);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer, until } from './helpers.ts';

let server: ParleyServer;
const clients: ParleyClient[] = [];
async function user(name: string): Promise<ParleyClient> {
  const c = await connect(server, name);
  clients.push(c);
  return c;
}
function inbox(c: ParleyClient): Message[] {
  const got: Message[] = [];
  c.on('message', (m) => got.push(m));
  return got;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

describe('chat', () => {
  it('delivers a 1:1 message to the recipient after acking the sender with seq 1', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const got = inbox(bob);
    const ack = await alice.send({ to: 'bob' }, 'hi bob');
    expect(ack).toMatchObject({ chat: 'd:alice:bob', seq: 1 });
    await until(() => got.length === 1, 'bob to receive');
    expect(got[0]).toMatchObject({ chat: 'd:alice:bob', seq: 1, from: 'alice', body: 'hi bob', cmid: ack.cmid });
  });

  it('returns the original ack for a retried cmid and stores one message', async () => {
    server = await testServer();
    const alice = await user('alice');
    const first = await alice.send({ to: 'bob' }, 'once', 'cmid-1');
    const again = await alice.send({ to: 'bob' }, 'once', 'cmid-1');
    expect(again).toEqual({ ...first, dup: true });
    const page = await alice.history('d:alice:bob');
    expect(page.messages.map((m) => m.body)).toEqual(['once']);
  });

  it('shows every message to all three devices of one user, including their own from another device', async () => {
    server = await testServer();
    const [p1, p2, p3] = [await user('carol'), await user('carol'), await user('carol')];
    const dave = await user('dave');
    const seen = [inbox(p1!), inbox(p2!), inbox(p3!)];
    await dave.send({ to: 'carol' }, 'from dave');
    await p1!.send({ to: 'dave' }, 'from carol p1');
    await until(() => seen[0]!.length === 1 && seen[1]!.length === 2 && seen[2]!.length === 2, 'all devices');
    expect(seen[1]!.map((m) => m.body)).toEqual(['from dave', 'from carol p1']);
    expect(seen[2]!.map((m) => m.seq)).toEqual([1, 2]);
  });

  it('runs a room: create, invite, join, post, members, leave', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const eve = await user('eve');
    const room = await alice.createRoom('general', ['bob'], 'open');
    expect(room.members).toEqual(['alice', 'bob']);
    const bobGot = inbox(bob);
    await expect(eve.send({ chat: room.chat }, 'let me in')).rejects.toMatchObject({ code: 'not_member' });
    await expect(eve.history(room.chat)).rejects.toMatchObject({ code: 'not_member' });
    await eve.join(room.chat);
    await alice.send({ chat: room.chat }, 'welcome');
    await until(() => bobGot.length === 1, 'bob to get the room message');
    expect(await bob.members(room.chat)).toEqual(['alice', 'bob', 'eve']);
    await eve.leave(room.chat);
    await expect(eve.send({ chat: room.chat }, 'bye')).rejects.toMatchObject({ code: 'not_member' });
  });

  it('lists chats with the last message and unread count', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.send({ to: 'bob' }, 'one');
    await alice.send({ to: 'bob' }, 'two');
    const chats = await bob.chats();
    expect(chats).toHaveLength(1);
    expect(chats[0]).toMatchObject({ chat: 'd:alice:bob', kind: 'direct', lastSeq: 2, unread: 2, last: { body: 'two' } });
    expect((await alice.chats())[0]).toMatchObject({ unread: 0 });
  });

  it('pages history backwards with before and limit', async () => {
    server = await testServer({ sendBurst: 1000 });
    const alice = await user('alice');
    for (let i = 1; i <= 25; i++) await alice.send({ to: 'bob' }, `m${i}`);
    const p1 = await alice.history('d:alice:bob', { limit: 10 });
    expect(p1.messages.map((m) => m.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(p1.more).toBe(true);
    const p3 = await alice.history('d:alice:bob', { before: 6, limit: 10 });
    expect(p3.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(p3.more).toBe(false);
  });
});

describe('1:1 chat ids', () => {
  it('creates a 1:1 chat on the first message addressed by its id, over REST and socket', async () => {
    server = await testServer();
    const token = await server.auth.mint('alice', 60);
    const res = await fetch(`${server.httpUrl}/api/v1/chats/d:alice:bob/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmid: 'r1', body: 'hi' }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ chat: 'd:alice:bob', seq: 1 });
    const carol = await user('carol');
    expect(await carol.send({ chat: 'd:carol:dave' }, 'yo')).toMatchObject({ seq: 1 });
    await expect(carol.send({ chat: 'd:alice:bob' }, 'let me in')).rejects.toMatchObject({ code: 'not_member' });
  });

  it('refuses a non-canonical 1:1 id with bad_field', async () => {
    server = await testServer();
    const carol = await user('carol');
    await expect(carol.send({ chat: 'd:dave:carol' }, 'x')).rejects.toMatchObject({ code: 'bad_field' });
    await expect(carol.send({ chat: 'd:carol:carol' }, 'x')).rejects.toMatchObject({ code: 'bad_field' });
  });
});

describe('fan-out failures', () => {
  it('acks a committed message even when fan-out throws, and stores it once', async () => {
    server = await testServer();
    const alice = await user('alice');
    const failures: unknown[] = [];
    server.chat.hooks.fanoutFailed = (e) => failures.push(e);
    // A hub that throws stands for any failure after the commit.
    server.hub.dispatch = () => { throw new Error('fan-out broke'); };
    const ack = await alice.send({ to: 'bob' }, 'still stored');
    expect(ack.seq).toBe(1);
    expect(failures).toHaveLength(1);
    expect((await alice.history('d:alice:bob')).messages.map((m) => m.body)).toEqual(['still stored']);
  });
});

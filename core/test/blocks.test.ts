import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { befriend, ofOp, person, sleep, type Person } from './social-fixtures.ts';

let server: ParleyServer;
const people: Person[] = [];
async function user(name: string, opts = {}): Promise<Person> {
  const p = await person(server, name, opts);
  people.push(p);
  return p;
}
function inbox(p: Person): Message[] {
  const got: Message[] = [];
  p.client.on('message', (m) => got.push(m));
  return got;
}

afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  await server?.close();
});

describe('block list', () => {
  it('blocks one user at a time and pushes each change to every session of the blocker', async () => {
    server = await testServer();
    const a1 = await user('alice');
    const a2 = await user('alice');
    expect(await a1.social.block('bob')).toEqual({ user: 'bob', blocked: true, changed: true });
    expect(await a1.social.block('bob')).toEqual({ user: 'bob', blocked: true, changed: false });
    await until(() => ofOp(a2, 'block.push').length === 1 && ofOp(a1, 'block.push').length === 1, 'block push');
    expect(ofOp(a2, 'block.push')).toEqual([{ op: 'block.push', user: 'bob', blocked: true }]);
    expect(await a2.social.unblock('bob')).toEqual({ user: 'bob', blocked: false, changed: true });
    await until(() => ofOp(a1, 'block.push').length === 2, 'unblock push');
    expect(ofOp(a1, 'block.push')[1]).toEqual({ op: 'block.push', user: 'bob', blocked: false });
  });

  it('pages the block list in user-id order', async () => {
    server = await testServer();
    const alice = await user('alice');
    for (const u of ['e', 'c', 'a', 'd', 'b']) await alice.social.block(u);
    expect(await alice.social.blocks(undefined, 2)).toEqual({ users: ['a', 'b'], next: 'b' });
    expect(await alice.social.blocks('b', 2)).toEqual({ users: ['c', 'd'], next: 'd' });
    expect(await alice.social.blocks('d', 2)).toEqual({ users: ['e'] });
    expect(await alice.social.blocks()).toEqual({ users: ['a', 'b', 'c', 'd', 'e'] });
  });

  it('refuses a 1:1 with the blocker to the blocked user, and to the blocker, with the code blocked', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    await bob.client.send({ to: 'alice' }, 'before');
    await alice.social.block('bob');
    await expect(bob.client.send({ to: 'alice' }, 'hello?')).rejects.toMatchObject({ code: 'blocked', details: { user: 'alice', byYou: false } });
    await expect(bob.client.send({ chat: 'd:alice:bob' }, 'hello?')).rejects.toMatchObject({ code: 'blocked' });
    await expect(alice.client.send({ to: 'bob' }, 'hi')).rejects.toMatchObject({ code: 'blocked', details: { user: 'bob', byYou: true } });
    const res = await fetch(`${server.httpUrl}/api/v1/chats`, { method: 'POST', headers: { authorization: `Bearer ${await server.auth.mint('bob', 60)}` }, body: JSON.stringify({ to: 'alice' }) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error.code).toBe('blocked');
    await expect(bob.social.requestFriend('alice')).rejects.toMatchObject({ code: 'blocked' });
    await alice.social.unblock('bob');
    expect(await bob.client.send({ to: 'alice' }, 'again')).toMatchObject({ chat: 'd:alice:bob', seq: 2 });
  });

  it('does not deliver room messages from a blocked user to the blocker, live or on resume, and keeps the cursor moving', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const carol = await user('carol');
    const room = await carol.client.createRoom('r', ['alice', 'bob']);
    await alice.social.block('bob');
    const aliceGot = inbox(alice);
    const carolGot = inbox(carol);
    await carol.client.send({ chat: room.chat }, 'one');
    await bob.client.send({ chat: room.chat }, 'from bob');
    await carol.client.send({ chat: room.chat }, 'three');
    await until(() => aliceGot.length === 2 && carolGot.length === 1, 'deliveries');
    await sleep(100);
    expect(aliceGot.map((m) => [m.seq, m.body])).toEqual([[1, 'one'], [3, 'three']]);
    expect(carolGot.map((m) => m.body)).toEqual(['from bob']);
    // A fresh device resumes from cursor 0: the store fill skips bob's message too.
    const late = await user('alice', { cursors: { [room.chat]: 0 } });
    expect(late.messages.map((m) => m.body)).toEqual(['one', 'three']);
    expect(late.client.cursors[room.chat]).toBe(3);
    expect(aliceGot.length).toBe(2);
  });

  it('hides the blocker\'s presence from the blocked friend, and shows it again after unblock', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10 });
    await befriend(server, 'alice', 'bob');
    const alice = await user('alice');
    const bob = await user('bob');
    await until(() => bob.social.presence.get('alice')?.state === 'available', 'alice visible');
    await alice.social.block('bob');
    await until(() => bob.social.presence.get('alice')?.state === 'offline', 'alice hidden');
    await alice.social.setPresence('away', 'lunch');
    await sleep(100);
    expect(bob.social.presence.get('alice')?.state).toBe('offline');
    const bob2 = await user('bob');
    await until(() => bob2.social.bulkFrames === 1, 'bulk');
    expect(bob2.social.presence.get('alice')).toEqual({ user: 'alice', state: 'offline', ts: 0 });
    await alice.social.unblock('bob');
    await until(() => bob.social.presence.get('alice')?.state === 'away', 'alice visible again');
    expect(bob.social.presence.get('alice')?.status).toBe('lunch');
  });

  it('keeps typing from crossing a block in either direction', async () => {
    server = await testServer({ typingThrottleMs: 0 });
    const alice = await user('alice');
    const bob = await user('bob');
    const carol = await user('carol');
    const room = await carol.client.createRoom('r', ['alice', 'bob']);
    await alice.social.block('bob');
    await expect(bob.social.typing('d:alice:bob', 'start')).rejects.toMatchObject({ code: 'blocked' });
    expect(await bob.social.typing(room.chat, 'start')).toEqual({ sent: true });
    expect(await alice.social.typing(room.chat, 'start')).toEqual({ sent: true });
    await until(() => ofOp(carol, 'typing').length === 2, 'carol sees both');
    await sleep(100);
    expect(ofOp(alice, 'typing')).toEqual([]);
    expect(ofOp(bob, 'typing')).toEqual([]);
  });

  it('answers bad block input with stable codes', async () => {
    server = await testServer();
    const alice = await user('alice');
    await expect(alice.social.block('alice')).rejects.toMatchObject({ code: 'self_target' });
    await expect(alice.client.request('block', { user: '' })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'user' } });
    await expect(alice.client.request('unblock', {})).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.client.request('blocks', { limit: 0 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'limit' } });
    await expect(alice.client.request('blocks', { limit: 501 })).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.client.request('blocks', { after: 7 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'after' } });
  });

  it('serves the block list over REST', async () => {
    server = await testServer();
    const token = await server.auth.mint('alice', 60);
    const call = async (method: string, path: string) => {
      const res = await fetch(`${server.httpUrl}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect(await call('PUT', '/blocks/bob')).toEqual({ status: 200, body: { user: 'bob', blocked: true, changed: true } });
    expect(await call('PUT', '/blocks/carol')).toMatchObject({ status: 200 });
    expect(await call('GET', '/blocks/bob')).toEqual({ status: 200, body: { user: 'bob', blocked: true } });
    expect(await call('GET', '/blocks?limit=1')).toEqual({ status: 200, body: { users: ['bob'], next: 'bob' } });
    expect(await call('DELETE', '/blocks/bob')).toEqual({ status: 200, body: { user: 'bob', blocked: false, changed: true } });
    expect(await call('GET', '/blocks')).toEqual({ status: 200, body: { users: ['carol'] } });
    expect((await call('PUT', '/blocks/alice')).body.error.code).toBe('self_target');
    expect((await call('GET', '/blocks?limit=0')).status).toBe(400);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { ofOp, person, sleep, type Person } from './social-fixtures.ts';

let server: ParleyServer;
const people: Person[] = [];
async function user(name: string): Promise<Person> {
  const p = await person(server, name);
  people.push(p);
  return p;
}
const CHAT = 'd:alice:bob';

afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  await server?.close();
});

describe('read receipts', () => {
  it('notifies the other member of a 1:1 and the reader\'s other devices, and unread counts follow', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const bob2 = await user('bob');
    for (const body of ['a', 'b', 'c']) await alice.client.send({ to: 'bob' }, body);
    expect((await bob.client.chats())[0]).toMatchObject({ chat: CHAT, readSeq: 0, unread: 3 });
    expect(await bob.social.read(CHAT, 2)).toEqual({ chat: CHAT, seq: 2, unread: 1 });
    await until(() => ofOp(alice, 'read').length === 1 && ofOp(bob2, 'read').length === 1, 'read frames');
    expect(ofOp(alice, 'read')[0]).toEqual({ op: 'read', chat: CHAT, user: 'bob', seq: 2 });
    expect(ofOp(bob2, 'read')[0]).toEqual({ op: 'read', chat: CHAT, user: 'bob', seq: 2 });
    expect(ofOp(bob, 'read')).toEqual([]);
    expect((await bob.client.chats())[0]).toMatchObject({ readSeq: 2, unread: 1 });
  });

  it('only moves a marker forward: an older seq leaves it where it is and notifies nobody', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    for (const body of ['a', 'b', 'c']) await alice.client.send({ to: 'bob' }, body);
    await bob.social.read(CHAT, 3);
    expect(await bob.social.read(CHAT, 1)).toEqual({ chat: CHAT, seq: 3, unread: 0 });
    await sleep(50);
    expect(ofOp(alice, 'read').map((f) => f.seq)).toEqual([3]);
  });

  it('rejects a marker past the last seq with read_past_end', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.client.send({ to: 'bob' }, 'one');
    await expect(bob.social.read(CHAT, 2)).rejects.toMatchObject({ code: 'read_past_end', details: { chat: CHAT, lastSeq: 1 } });
    expect((await bob.client.chats())[0]).toMatchObject({ readSeq: 0, unread: 1 });
  });

  it('pushes an aggregate "read by" count per message to room members, coalesced per window', async () => {
    server = await testServer({ readByWindowMs: 100 });
    const alice = await user('alice');
    const bob = await user('bob');
    const carol = await user('carol');
    const room = await alice.client.createRoom('r', ['bob', 'carol']);
    for (const body of ['1', '2', '3']) await alice.client.send({ chat: room.chat }, body);
    await bob.social.read(room.chat, 3);
    await carol.social.read(room.chat, 2);
    await until(() => ofOp(alice, 'readby').length >= 1, 'readby');
    await sleep(200);
    expect(ofOp(alice, 'readby')).toEqual([{ op: 'readby', chat: room.chat, counts: { 1: 2, 2: 2, 3: 1 } }]);
    expect(ofOp(alice, 'read')).toEqual([]);
    expect(await alice.social.readBy(room.chat, 1, 3)).toEqual({ chat: room.chat, counts: { 1: 2, 2: 2, 3: 1 } });
    // A reader's own message does not count itself.
    await bob.client.send({ chat: room.chat }, '4');
    expect(await alice.social.readBy(room.chat, 4, 4)).toEqual({ chat: room.chat, counts: { 4: 0 } });
  });

  it('keeps a user\'s receipts private when they turn sending receipts off, while their unread count still moves', async () => {
    server = await testServer({ readByWindowMs: 50 });
    const alice = await user('alice');
    const bob = await user('bob');
    const bob2 = await user('bob');
    await alice.client.send({ to: 'bob' }, 'one');
    const room = await alice.client.createRoom('r', ['bob']);
    await alice.client.send({ chat: room.chat }, 'two');
    expect(await bob.social.settings({ receipts: false })).toEqual({ typing: true, receipts: false });
    await until(() => ofOp(bob2, 'settings.push').length === 1, 'settings pushed to the other device');
    await bob.social.read(CHAT, 1);
    await bob.social.read(room.chat, 1);
    await until(() => ofOp(bob2, 'read').length === 2, 'own devices learn the marker');
    await sleep(150);
    expect(ofOp(alice, 'read')).toEqual([]);
    expect(ofOp(alice, 'readby')).toEqual([]);
    expect(await alice.social.readBy(room.chat, 1, 1)).toEqual({ chat: room.chat, counts: { 1: 0 } });
    expect((await bob.client.chats()).map((c) => c.unread)).toEqual([0, 0]);
  });

  it('moves the marker over REST too', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    await bob.client.send({ to: 'alice' }, 'hey');
    const res = await fetch(`${server.httpUrl}/api/v1/chats/${CHAT}/read`, { method: 'POST', headers: { authorization: `Bearer ${await server.auth.mint('alice', 60)}` }, body: JSON.stringify({ seq: 1 }) });
    expect(await res.json()).toEqual({ chat: CHAT, seq: 1, unread: 0 });
    await until(() => ofOp(bob, 'read').length === 1, 'bob notified');
    expect(ofOp(alice, 'read')).toHaveLength(1);
    const bad = await fetch(`${server.httpUrl}/api/v1/chats/${CHAT}/read`, { method: 'POST', headers: { authorization: `Bearer ${await server.auth.mint('alice', 60)}` }, body: JSON.stringify({ seq: 9 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('read_past_end');
  });

  it('answers bad receipt input with stable codes', async () => {
    server = await testServer();
    const alice = await user('alice');
    await alice.client.send({ to: 'bob' }, 'x');
    await expect(alice.client.request('read', { chat: CHAT, seq: -1 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'seq' } });
    await expect(alice.client.request('read', { chat: 'nope', seq: 1 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'chat' } });
    await expect(alice.social.read('d:bob:carol', 1)).rejects.toMatchObject({ code: 'not_member' });
    await expect(alice.client.request('readby', { chat: CHAT, from: 1 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'to' } });
    await expect(alice.client.request('readby', { chat: CHAT, from: 5, to: 2 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'to' } });
    await expect(alice.client.request('readby', { chat: CHAT, from: 1, to: 201 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'to' } });
    await expect(alice.social.readBy('d:bob:carol', 1, 1)).rejects.toMatchObject({ code: 'not_member' });
    await expect(alice.client.request('settings', { typing: 'no' })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'typing' } });
    expect(await alice.social.settings()).toEqual({ typing: true, receipts: true });
  });
});

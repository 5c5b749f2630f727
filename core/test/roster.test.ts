import pg from 'pg';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../store/test/pg.ts';
import type { RosterState } from '../store/social.ts';
import { requires } from './env.ts';
import { testServer, until } from './helpers.ts';
import { befriend, ofOp, person, type Person } from './social-fixtures.ts';

let server: ParleyServer;
/** The second node of a two-node test (PostgreSQL), and its database. */
let second: ParleyServer | undefined;
let db: TestDatabase | undefined;
const people: Person[] = [];
async function user(name: string, on = server): Promise<Person> {
  const p = await person(on, name);
  people.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  await server?.close();
  await second?.close();
  await db?.drop();
  second = db = undefined;
});

/**
 * Two nodes on one store: on PostgreSQL two servers on one database, as in a cluster; SQLite
 * serves one node, so both are the same server (two sessions on it still race).
 */
async function twoNodes(ctx: TestContext, kind: 'sqlite' | 'postgres'): Promise<[ParleyServer, ParleyServer]> {
  if (kind === 'sqlite') {
    server = await testServer({ store: 'sqlite' });
    return [server, server];
  }
  requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
  db = await createTestDatabase();
  // Seeding 5,000 friendships is 5,000 commits in a row on bob's lock: not waiting for each one's
  // WAL flush saves about a third of this test's time. Locks and visibility are the same.
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
  await c.end();
  server = await testServer({ store: db.url });
  second = await testServer({ store: db.url });
  return [server, second];
}

const request = (): [RosterState, RosterState] => ['out', 'in'];
const friendly = (): [RosterState, RosterState] => ['friend', 'friend'];

describe('friends (roster)', () => {
  it('makes a friendship from request and accept, notifying both sides each time', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    expect(await alice.social.requestFriend('bob')).toEqual({ user: 'bob', state: 'sent' });
    await until(() => ofOp(bob, 'roster.push').length === 1 && ofOp(alice, 'roster.push').length === 1, 'request pushes');
    expect(ofOp(bob, 'roster.push')[0]).toEqual({ op: 'roster.push', ver: 1, item: { user: 'alice', state: 'received' } });
    expect(ofOp(alice, 'roster.push')[0]).toEqual({ op: 'roster.push', ver: 1, item: { user: 'bob', state: 'sent' } });
    expect(await bob.social.accept('alice')).toEqual({ user: 'alice', state: 'friend' });
    await until(() => ofOp(alice, 'roster.push').length === 2 && ofOp(bob, 'roster.push').length === 2, 'accept pushes');
    expect(ofOp(alice, 'roster.push')[1]).toEqual({ op: 'roster.push', ver: 2, item: { user: 'bob', state: 'friend' } });
    expect((await alice.social.fetchRoster()).items).toEqual([{ user: 'bob', state: 'friend' }]);
    expect((await bob.social.fetchRoster()).items).toEqual([{ user: 'alice', state: 'friend' }]);
  });

  it('turns a request back into a friendship, and supports decline, cancel and remove', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.social.requestFriend('bob');
    expect(await bob.social.requestFriend('alice')).toEqual({ user: 'alice', state: 'friend' });
    expect(await alice.social.removeFriend('bob')).toEqual({ user: 'bob', state: 'none' });
    expect(await bob.client.request('roster')).toEqual({ ver: 3, full: true, items: [] });
    await alice.social.requestFriend('bob');
    expect(await bob.social.decline('alice')).toEqual({ user: 'alice', state: 'none' });
    await alice.social.requestFriend('bob');
    expect(await alice.social.cancel('bob')).toEqual({ user: 'bob', state: 'none' });
    expect((await bob.social.fetchRoster()).items).toEqual([]);
  });

  it('answers a repeated request with the pending state and no new version', async () => {
    server = await testServer();
    const alice = await user('alice');
    await alice.social.requestFriend('bob');
    await alice.social.requestFriend('bob');
    expect(await alice.client.request('roster')).toEqual({ ver: 1, full: true, items: [{ user: 'bob', state: 'sent' }] });
  });

  it('rejects actions that do not apply with stable codes', async () => {
    server = await testServer();
    const alice = await user('alice');
    await befriend(server, 'alice', 'carol');
    await expect(alice.social.accept('bob')).rejects.toMatchObject({ code: 'no_request' });
    await expect(alice.social.decline('bob')).rejects.toMatchObject({ code: 'no_request' });
    await expect(alice.social.cancel('bob')).rejects.toMatchObject({ code: 'no_request' });
    await expect(alice.social.removeFriend('bob')).rejects.toMatchObject({ code: 'no_request' });
    await expect(alice.social.requestFriend('carol')).rejects.toMatchObject({ code: 'already_friends' });
    await expect(alice.social.requestFriend('alice')).rejects.toMatchObject({ code: 'self_target' });
    await expect(alice.client.request('friend.request', {})).rejects.toMatchObject({ code: 'bad_field', details: { field: 'user' } });
    await expect(alice.client.request('friend.accept', { user: 'no spaces' })).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.client.request('roster', { ver: -1 })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'ver' } });
    await expect(alice.client.request('roster', { ver: '3' })).rejects.toMatchObject({ code: 'bad_field' });
  });

  it('sends only the changes since a known version, and the whole roster for an unknown one', async () => {
    server = await testServer();
    for (let i = 0; i < 20; i++) await befriend(server, 'alice', `f${String(i).padStart(2, '0')}`);
    const alice = await user('alice');
    const full = await alice.social.fetchRoster();
    expect(full).toMatchObject({ ver: 20, full: true });
    expect(full.items).toHaveLength(20);
    await alice.social.requestFriend('zed');
    await alice.social.removeFriend('f03');
    const diff = await alice.client.request('roster', { ver: 20 });
    expect(diff).toEqual({ ver: 22, full: false, items: [{ user: 'zed', state: 'sent' }, { user: 'f03', state: 'none' }] });
    expect(await alice.client.request('roster', { ver: 22 })).toEqual({ ver: 22, full: false, items: [] });
    const unknown = await alice.client.request<{ full: boolean; items: unknown[] }>('roster', { ver: 999 });
    expect(unknown.full).toBe(true);
    expect(unknown.items).toHaveLength(20);
  });

  it('lets a reconnecting client resume its roster from its version without a full resend', async () => {
    server = await testServer();
    await befriend(server, 'alice', 'bob');
    await befriend(server, 'alice', 'carol');
    const alice = await user('alice');
    await alice.social.fetchRoster();
    const ver = alice.social.rosterVer;
    await alice.client.close();
    const carol = await user('carol');
    await carol.social.removeFriend('alice');
    const again = await user('alice');
    again.social.rosterVer = ver;
    expect(await again.social.fetchRoster()).toEqual({ ver: 3, full: false, items: [{ user: 'carol', state: 'none' }] });
  });

  it('keeps a note only for its author, pushed to the author\'s other devices', async () => {
    server = await testServer();
    await befriend(server, 'alice', 'bob');
    const alice = await user('alice');
    const alice2 = await user('alice');
    const bob = await user('bob');
    expect(await alice.social.setNote('bob', 'met at the climbing gym')).toEqual({ user: 'bob', state: 'friend', note: 'met at the climbing gym' });
    await until(() => ofOp(alice2, 'roster.push').length === 1, 'note push');
    expect(ofOp(alice2, 'roster.push')[0]!.item).toEqual({ user: 'bob', state: 'friend', note: 'met at the climbing gym' });
    expect((await alice.social.fetchRoster()).items).toEqual([{ user: 'bob', state: 'friend', note: 'met at the climbing gym' }]);
    expect((await bob.social.fetchRoster()).items).toEqual([{ user: 'alice', state: 'friend' }]);
    expect(ofOp(bob, 'roster.push')).toEqual([]);
    expect(await alice.social.setNote('bob', null)).toEqual({ user: 'bob', state: 'friend' });
    await expect(alice.social.setNote('stranger', 'x')).rejects.toMatchObject({ code: 'not_friend' });
    await expect(alice.social.setNote('bob', 'x'.repeat(1001))).rejects.toMatchObject({ code: 'bad_field', details: { field: 'note' } });
    await expect(alice.client.request('note.set', { user: 'bob', note: 42 })).rejects.toMatchObject({ code: 'bad_field' });
  });

  it('drops the notes of a pair when the friendship ends', async () => {
    server = await testServer();
    await befriend(server, 'alice', 'bob');
    const alice = await user('alice');
    await alice.social.setNote('bob', 'secret');
    await alice.social.removeFriend('bob');
    await alice.social.requestFriend('bob');
    expect((await alice.social.fetchRoster()).items).toEqual([{ user: 'bob', state: 'sent' }]);
  });

  it('serves the roster and the friendship check over REST', async () => {
    server = await testServer();
    await befriend(server, 'alice', 'bob');
    const token = await server.auth.mint('alice', 60);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server.httpUrl}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect(await call('GET', '/roster/bob')).toEqual({ status: 200, body: { user: 'bob', state: 'friend' } });
    expect(await call('GET', '/roster/eve')).toEqual({ status: 200, body: { user: 'eve', state: 'none' } });
    expect(await call('POST', '/roster/eve/request')).toEqual({ status: 200, body: { item: { user: 'eve', state: 'sent' } } });
    expect(await call('PUT', '/roster/bob/note', { note: 'n' })).toEqual({ status: 200, body: { item: { user: 'bob', state: 'friend', note: 'n' } } });
    expect((await call('GET', '/roster?ver=1')).body).toEqual({ ver: 3, full: false, items: [{ user: 'eve', state: 'sent' }, { user: 'bob', state: 'friend', note: 'n' }] });
    expect(await call('DELETE', '/roster/bob')).toEqual({ status: 200, body: { item: { user: 'bob', state: 'none' } } });
    expect((await call('POST', '/roster/bob/accept')).body.error.code).toBe('no_request');
    expect((await call('GET', '/roster/bad%20id')).body.error).toMatchObject({ code: 'bad_field' });
    expect((await call('GET', '/roster?ver=x')).status).toBe(400);
    expect((await call('POST', '/roster/bob/befriend')).status).toBe(404);
  });
});

describe.each(['sqlite', 'postgres'] as const)('roster caps on %s', (kind) => {
  it('caps pending requests sent and friends per user with roster_full, and lets exactly the accepts that fit win when 30 race at the cap from two nodes', async (ctx) => {
    const [n1, n2] = await twoNodes(ctx, kind);
    const social = n1.chat.store.social;
    await Promise.all(Array.from({ length: 500 }, (_, i) => social.rosterChange('alice', `p${i}`, request)));
    // bob has 10 places left and 30 requests waiting (c0..c29), and one more from carol.
    await Promise.all(Array.from({ length: 4990 }, (_, i) => social.rosterChange('bob', `f${i}`, friendly)));
    await Promise.all(Array.from({ length: 30 }, (_, i) => social.rosterChange(`c${i}`, 'bob', request)));
    await social.rosterChange('carol', 'bob', request);
    const alice = await user('alice');
    await expect(alice.social.requestFriend('zed')).rejects.toMatchObject({ code: 'roster_full', details: { user: 'alice', max: 500 } });
    await alice.social.cancel('p0');
    expect(await alice.social.requestFriend('zed')).toEqual({ user: 'zed', state: 'sent' });
    // bob on both nodes accepts all 30 at once: 10 become friends, 20 are refused, none past 5,000.
    const bobs = [await user('bob', n1), await user('bob', n2)];
    const settled = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => bobs[i % 2]!.social.accept(`c${i}`)));
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    for (const r of settled) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'roster_full', details: { user: 'bob', max: 5000 } });
    expect(await social.friends('bob')).toHaveLength(5000);
    const bob = bobs[0]!;
    await expect(bob.social.accept('carol')).rejects.toMatchObject({ code: 'roster_full', details: { user: 'bob', max: 5000 } });
    await expect(bob.social.accept('carol')).rejects.toMatchObject({ message: expect.stringContaining('your roster holds at most 5000 friends') });
    const carol = await user('carol', n2);
    await expect(carol.social.requestFriend('bob')).resolves.toEqual({ user: 'bob', state: 'sent' });
    const dan = await user('dan', n2);
    await dan.social.requestFriend('carol');
    await expect(carol.social.accept('dan')).resolves.toEqual({ user: 'dan', state: 'friend' });
  }, 120_000);
});

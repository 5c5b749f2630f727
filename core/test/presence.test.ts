import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { befriend, ofOp, person, sleep, type Person } from './social-fixtures.ts';

let server: ParleyServer;
const people: Person[] = [];
async function user(name: string): Promise<Person> {
  const p = await person(server, name);
  people.push(p);
  return p;
}
const state = (p: Person, who: string) => p.social.presence.get(who)?.state;

afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  await server?.close();
});

describe('presence', () => {
  it('sends a new session its friends\' presence in one bulk frame, strangers excluded', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10 });
    await befriend(server, 'obs', 'a');
    await befriend(server, 'obs', 'b');
    await befriend(server, 'obs', 'c');
    const a = await user('a');
    await a.social.setPresence('away', 'in a meeting');
    await user('b');
    await user('stranger');
    await sleep(50);
    const obs = await user('obs');
    await until(() => obs.social.bulkFrames === 1, 'bulk frame');
    const bulk = ofOp(obs, 'presence')[0]!;
    expect(bulk.bulk).toBe(true);
    expect(bulk.users.map((u: any) => [u.user, u.state, u.status])).toEqual([['a', 'away', 'in a meeting'], ['b', 'available', undefined], ['c', 'offline', undefined]]);
    expect(ofOp(obs, 'presence')).toHaveLength(1);
  });

  it('shows state and status to friends only', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10 });
    await befriend(server, 'alice', 'bob');
    const bob = await user('bob');
    const eve = await user('eve');
    const alice = await user('alice');
    await until(() => state(bob, 'alice') === 'available', 'online');
    expect(await alice.social.setPresence('idle', 'brb')).toMatchObject({ user: 'alice', state: 'idle', status: 'brb' });
    await until(() => state(bob, 'alice') === 'idle', 'idle');
    expect(bob.social.presence.get('alice')?.status).toBe('brb');
    await sleep(50);
    expect(ofOp(eve, 'presence').filter((f) => !f.bulk)).toEqual([]);
  });

  it('shows the most available state across a user\'s devices', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10, presenceGraceMs: 0 });
    await befriend(server, 'alice', 'bob');
    const bob = await user('bob');
    const phone = await user('alice');
    const laptop = await user('alice');
    await phone.social.setPresence('away');
    await sleep(50);
    expect(state(bob, 'alice')).toBe('available');
    await laptop.social.setPresence('idle');
    await until(() => state(bob, 'alice') === 'idle', 'idle beats away');
    await laptop.client.close();
    await until(() => state(bob, 'alice') === 'away', 'the phone remains');
    await phone.client.close();
    await until(() => state(bob, 'alice') === 'offline', 'offline');
  });

  it('announces nothing for a reconnect within the grace period, and offline after it', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10, presenceGraceMs: 400 });
    await befriend(server, 'alice', 'bob');
    const bob = await user('bob');
    let alice = await user('alice');
    await until(() => state(bob, 'alice') === 'available', 'online');
    const before = ofOp(bob, 'presence').length;
    await alice.client.close();
    alice = await user('alice');
    await sleep(600);
    expect(ofOp(bob, 'presence')).toHaveLength(before);
    const closedAt = Date.now();
    await alice.client.close();
    await until(() => state(bob, 'alice') === 'offline', 'offline after grace');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(380);
  });

  it('coalesces a burst of updates from one user into at most one broadcast per window, the last state winning', async () => {
    server = await testServer({ presenceCoalesceMs: 300, presenceBatchMs: 10 });
    await befriend(server, 'alice', 'bob');
    const alice = await user('alice');
    const bob = await user('bob');
    await sleep(350);
    const published = server.social.presence.stats.published;
    const frames = ofOp(bob, 'presence').length;
    for (const [s, text] of [['away', '1'], ['idle', '2'], ['away', '3'], ['available', '4'], ['idle', 'final']] as const) await alice.social.setPresence(s, text);
    await until(() => bob.social.presence.get('alice')?.status === 'final', 'last state');
    await sleep(400);
    expect(server.social.presence.stats.published - published).toBeLessThanOrEqual(2);
    expect(ofOp(bob, 'presence').length - frames).toBeLessThanOrEqual(2);
    expect(bob.social.presence.get('alice')).toMatchObject({ state: 'idle', status: 'final' });
  });

  it('tells both new friends each other\'s presence when a request is accepted', async () => {
    server = await testServer({ presenceCoalesceMs: 0, presenceBatchMs: 10 });
    const alice = await user('alice');
    const bob = await user('bob');
    await alice.social.setPresence('away', 'hi');
    await alice.social.requestFriend('bob');
    await bob.social.accept('alice');
    await until(() => state(bob, 'alice') === 'away' && state(alice, 'bob') === 'available', 'presence after accept');
    await bob.social.removeFriend('alice');
    await until(() => state(alice, 'bob') === 'offline', 'offline after remove');
  });

  it('answers bad presence input with bad_field', async () => {
    server = await testServer();
    const alice = await user('alice');
    await expect(alice.client.request('presence', { state: 'offline' })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'state' } });
    await expect(alice.client.request('presence', {})).rejects.toMatchObject({ code: 'bad_field', details: { field: 'state' } });
    await expect(alice.client.request('presence', { state: 'away', status: 'x'.repeat(141) })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'status' } });
    await expect(alice.client.request('presence', { state: 'away', status: 5 })).rejects.toMatchObject({ code: 'bad_field' });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { rawConnect } from './raw.ts';
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

async function pair(): Promise<[Person, Person, Person]> {
  const alice = await user('alice');
  const alice2 = await user('alice');
  const bob = await user('bob');
  await alice.client.send({ to: 'bob' }, 'hi');
  return [alice, alice2, bob];
}

describe('typing indicators', () => {
  it('relays start and stop to the other member and never echoes them to the sender\'s sessions', async () => {
    server = await testServer();
    const [alice, alice2, bob] = await pair();
    expect(await alice.social.typing(CHAT, 'start')).toEqual({ sent: true });
    await until(() => bob.social.typingIn(CHAT).includes('alice'), 'bob sees alice typing');
    expect(ofOp(bob, 'typing')[0]).toEqual({ op: 'typing', chat: CHAT, user: 'alice', state: 'start', ttlMs: 6000 });
    expect(await alice.social.typing(CHAT, 'stop')).toEqual({ sent: true });
    await until(() => ofOp(bob, 'typing').length === 2, 'stop');
    expect(bob.social.typingIn(CHAT)).toEqual([]);
    await sleep(50);
    expect(ofOp(alice, 'typing')).toEqual([]);
    expect(ofOp(alice2, 'typing')).toEqual([]);
  });

  it('throttles starts per user per conversation, dropping and counting the extras', async () => {
    server = await testServer({ typingThrottleMs: 5000 });
    const [alice, , bob] = await pair();
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await alice.social.typing(CHAT, 'start'));
    expect(replies).toEqual([{ sent: true }, ...Array(4).fill({ sent: false, reason: 'throttled' })]);
    expect(server.social.typing.stats.droppedThrottled).toBe(4);
    await sleep(100);
    expect(ofOp(bob, 'typing')).toHaveLength(1);
    expect(await alice.social.typing(CHAT, 'stop')).toEqual({ sent: true });
    expect(await alice.social.typing(CHAT, 'stop')).toEqual({ sent: false, reason: 'idle' });
  });

  it('ends an indicator with the typer\'s message, without a relayed stop, and does not throttle the next start', async () => {
    server = await testServer({ typingThrottleMs: 5000 });
    const [alice, , bob] = await pair();
    await alice.social.typing(CHAT, 'start');
    await until(() => bob.social.typingIn(CHAT).includes('alice'), 'typing');
    await alice.client.send({ to: 'bob' }, 'done typing');
    await until(() => bob.messages.length === 2, 'message');
    expect(bob.social.typingIn(CHAT)).toEqual([]);
    expect(await alice.social.typing(CHAT, 'stop')).toEqual({ sent: false, reason: 'idle' });
    expect(await alice.social.typing(CHAT, 'start')).toEqual({ sent: true });
    await until(() => ofOp(bob, 'typing').length === 2, 'second start');
    expect(ofOp(bob, 'typing').map((f) => f.state)).toEqual(['start', 'start']);
  });

  it('reads and changes privacy settings over REST', async () => {
    server = await testServer();
    const alice = await user('alice');
    const call = async (method: string, body?: unknown) => {
      const res = await fetch(`${server.httpUrl}/api/v1/settings`, { method, headers: { authorization: `Bearer ${await server.auth.mint('alice', 60)}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect(await call('GET')).toEqual({ status: 200, body: { typing: true, receipts: true } });
    expect(await call('PATCH', { typing: false })).toEqual({ status: 200, body: { typing: false, receipts: true } });
    await until(() => ofOp(alice, 'settings.push').length === 1, 'pushed to the socket');
    expect(await alice.social.settings()).toEqual({ typing: false, receipts: true });
    expect((await call('PATCH', { receipts: 'no' })).body.error).toMatchObject({ code: 'bad_field', details: { field: 'receipts' } });
  });

  it('expires a start that is neither renewed nor stopped: the server relays stop after the TTL', async () => {
    server = await testServer({ typingTtlMs: 300 });
    const [alice, , bob] = await pair();
    const t0 = Date.now();
    await alice.social.typing(CHAT, 'start');
    await until(() => ofOp(bob, 'typing').length === 2, 'expiry stop');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(ofOp(bob, 'typing')[1]).toMatchObject({ user: 'alice', state: 'stop' });
    expect(server.social.typing.stats.expired).toBe(1);
  });

  it('stops a typing indicator when the typer\'s last connection closes', async () => {
    server = await testServer();
    const [alice, alice2, bob] = await pair();
    await alice.social.typing(CHAT, 'start');
    await alice.client.close();
    await sleep(100);
    expect(ofOp(bob, 'typing')).toHaveLength(1);
    await alice2.client.close();
    await until(() => ofOp(bob, 'typing').length === 2, 'stop on leave');
    expect(ofOp(bob, 'typing')[1]).toMatchObject({ state: 'stop' });
  });

  it('drops every indicator when typing is switched off server-wide', async () => {
    server = await testServer({ typing: false });
    const [alice, , bob] = await pair();
    expect(await alice.social.typing(CHAT, 'start')).toEqual({ sent: false, reason: 'disabled' });
    expect(server.social.typing.stats.droppedDisabled).toBe(1);
    await sleep(50);
    expect(ofOp(bob, 'typing')).toEqual([]);
  });

  it('neither sends nor delivers indicators for a user who turned typing off', async () => {
    server = await testServer({ typingThrottleMs: 0 });
    const alice = await user('alice');
    const bob = await user('bob');
    const carol = await user('carol');
    const room = await alice.client.createRoom('r', ['bob', 'carol']);
    expect(await bob.social.settings({ typing: false })).toEqual({ typing: false, receipts: true });
    expect(await bob.social.typing(room.chat, 'start')).toEqual({ sent: false, reason: 'privacy' });
    await alice.social.typing(room.chat, 'start');
    await until(() => ofOp(carol, 'typing').length === 1, 'carol sees alice');
    await sleep(50);
    expect(ofOp(bob, 'typing')).toEqual([]);
    expect(ofOp(alice, 'typing')).toEqual([]);
    expect(server.social.typing.stats.filtered).toBe(1);
  });

  it('is answered only when the request carries an id', async () => {
    server = await testServer({ typingThrottleMs: 0 });
    const [, , bob] = await pair();
    const raw = await rawConnect(server, 'alice');
    await raw.request({ op: 'sync', id: 1 });
    const from = raw.frames.length;
    raw.send({ op: 'typing', chat: CHAT, state: 'start' });
    await raw.request({ op: 'ping', id: 2 });
    expect(raw.frames.slice(from).map((f) => f.op)).toEqual(['pong']);
    expect(await raw.request({ op: 'typing', id: 3, chat: CHAT, state: 'stop' })).toEqual({ op: 'reply', id: 3, result: { sent: true } });
    await until(() => ofOp(bob, 'typing').length === 2, 'both relayed');
    await raw.close();
  });

  it('answers bad typing input with stable codes', async () => {
    server = await testServer();
    const [alice] = await pair();
    await expect(alice.client.request('typing', { chat: CHAT, state: 'typing' })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'state' } });
    await expect(alice.client.request('typing', { state: 'start' })).rejects.toMatchObject({ code: 'bad_field', details: { field: 'chat' } });
    await expect(alice.social.typing('d:bob:carol', 'start')).rejects.toMatchObject({ code: 'not_member' });
    await expect(alice.social.typing('r:nosuchroom', 'start')).rejects.toMatchObject({ code: 'not_member' });
  });
});

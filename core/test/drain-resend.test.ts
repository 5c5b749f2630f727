/**
 * A send that reaches a draining node is refused with shutting_down just before the node closes
 * the socket with 4000: the client keeps it and repeats it, with its cmid, on the node it
 * reconnects to. The app sees one ack and no error, as a rolling restart requires.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { ParleyClient, type Message } from '../client/index.ts';
import { connect, freePort, tempDir, testServer, until } from './helpers.ts';

let servers: ParleyServer[] = [];
let clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

describe('a send refused by a draining node', () => {
  it('is re-sent by the client after the reconnect and acked exactly once, with no error', async () => {
    const [port, dataDir] = [await freePort(), tempDir()];
    // Each send waits 400 ms before its commit: the drain waits for the first, the second comes meanwhile.
    const old = await testServer({ port, dataDir, faultDelayMs: 400 });
    servers.push(old);
    const bob = await connect(old, 'bob');
    const alice = await connect(old, 'alice');
    clients.push(alice, bob);
    const errors: unknown[] = [];
    const closes: number[] = [];
    alice.on('error', (err) => errors.push(err));
    alice.on('disconnect', (d) => closes.push(d.code));
    const got: string[] = [];
    bob.on('message', (m) => got.push(m.body));
    const first = alice.send({ to: 'bob' }, 'in flight');
    await until(() => old.chat.inFlight === 1, 'the first send in flight');
    const draining = old.close();
    // Refused (shutting_down): the node waits for the first send before it closes the sockets.
    const second = alice.send({ to: 'bob' }, 'refused, then re-sent');
    await draining;
    const fresh = await testServer({ port, dataDir });
    servers.push(fresh);
    const [a1, a2] = await Promise.all([first, second]);
    expect(a1.seq).toBe(1);
    expect(a2).toMatchObject({ seq: 2 });
    expect(a2.dup).toBeUndefined();
    expect(errors).toEqual([]);
    expect(closes[0]).toBe(4000);
    await until(() => got.length >= 2, 'bob gets both messages');
    expect(got).toEqual(['in flight', 'refused, then re-sent']);
  });

  it('is taken as acked, not shown as a message, when the catch-up brings it back before its ack', async () => {
    // A send committed on a connection that died before its ack, resumed from a cursor below it: here
    // the same user and cmid commit it over REST while the socket client still holds it unsent.
    const server = await testServer();
    servers.push(server);
    const post = async (user: string, cmid: string, body: string) => (await fetch(`${server.httpUrl}/api/v1/chats/d:alice:bob/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${await server.auth.mint(user, 60)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmid, body }),
    })).status;
    expect(await post('bob', 'b-1', 'from bob')).toBe(201);
    const alice = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint('alice', 3600), backoffMinMs: 20, cursors: { 'd:alice:bob': 1 } });
    clients.push(alice);
    const shown: Message[] = [];
    alice.on('message', (m) => shown.push(m));
    const pending = alice.send({ to: 'bob' }, 'sent once', 'c-lost-ack');
    expect(await post('alice', 'c-lost-ack', 'sent once')).toBe(201);
    await alice.connect();
    expect(await pending).toMatchObject({ chat: 'd:alice:bob', seq: 2, cmid: 'c-lost-ack' });
    await alice.send({ to: 'bob' }, 'next');
    expect(shown).toEqual([]);
    expect((await alice.history('d:alice:bob')).messages.map((m) => [m.seq, m.body])).toEqual([[1, 'from bob'], [2, 'sent once'], [3, 'next']]);
  });
});

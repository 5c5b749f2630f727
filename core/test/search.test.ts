import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer } from './helpers.ts';
import { SocialClient } from '../client/social.ts';

let server: ParleyServer;
const clients: ParleyClient[] = [];
async function user(name: string): Promise<ParleyClient> {
  const c = await connect(server, name);
  clients.push(c);
  return c;
}
async function rest(who: string, query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = await server.auth.mint(who, 600);
  const res = await fetch(`${server.httpUrl}/api/v1/search?${query}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

describe('search through a node', () => {
  it('finds a message the moment its send is acked, with a highlighted snippet, over the socket and REST', async () => {
    server = await testServer();
    const alice = await user('alice');
    const bob = await user('bob');
    const ack = await alice.send({ to: 'bob' }, 'The Café opens at nine');
    const found = await bob.search('cafe');
    expect(found.hits).toHaveLength(1);
    expect(found.hits[0]!.message).toMatchObject({ chat: 'd:alice:bob', seq: ack.seq, from: 'alice', cmid: ack.cmid });
    expect(found.hits[0]!.snippet).toEqual({ text: 'The Café opens at nine', highlights: [[4, 8]] });
    expect(found.next).toBeUndefined();
    const viaRest = await rest('bob', 'q=caf%C3%A9*&from=alice');
    expect(viaRest.status).toBe(200);
    expect((viaRest.body.hits as { message: { seq: number } }[]).map((h) => h.message.seq)).toEqual([ack.seq]);
  });

  it('never shows a non-member anything: left rooms, rooms never joined, others\' 1:1 chats, blocked senders', async () => {
    server = await testServer();
    const [alice, bob, carol, eve] = [await user('alice'), await user('bob'), await user('carol'), await user('eve')];
    const left = await alice.createRoom('left', ['eve']);
    const never = await alice.createRoom('never', ['bob'], 'open');
    const shared = await alice.createRoom('shared', ['eve', 'bob']);
    await alice.send({ chat: left.chat }, 'zebra in left');
    await alice.send({ chat: never.chat }, 'zebra in never');
    await alice.send({ to: 'bob' }, 'zebra in alice and bob');
    await bob.send({ chat: shared.chat }, 'zebra from bob');
    await carol.send({ to: 'eve' }, 'zebra for eve');
    await eve.leave(left.chat);
    await new SocialClient(eve).block('bob');
    const found = await eve.search('zebra');
    expect(found.hits.map((h) => h.message.body)).toEqual(['zebra for eve']);
    for (const chat of [left.chat, never.chat, 'd:alice:bob']) {
      await expect(eve.search('zebra', { chat })).rejects.toMatchObject({ code: 'not_member' });
      expect((await rest('eve', `q=zebra&chat=${chat}`)).body).toMatchObject({ error: { code: 'not_member' } });
    }
    expect((await rest('eve', 'q=zebra')).body.hits).toHaveLength(1);
    expect((await bob.search('zebra')).hits).toHaveLength(3);
  });

  it('pages with a cursor that does not shift when newer messages arrive', async () => {
    server = await testServer();
    const alice = await user('alice');
    for (let i = 0; i < 5; i++) await alice.send({ to: 'bob' }, `note ${i}`);
    const first = await alice.search('note', { limit: 2 });
    await alice.send({ to: 'bob' }, 'note late');
    const second = await alice.search('note', { limit: 2, cursor: first.next! });
    const third = await alice.search('note', { limit: 2, cursor: second.next! });
    const seen = [...first.hits, ...second.hits, ...third.hits].map((h) => h.message.body);
    expect(seen.sort()).toEqual(['note 0', 'note 1', 'note 2', 'note 3', 'note 4']);
    expect(third.next).toBeUndefined();
  });

  it('answers bad input with bad_field naming the field', async () => {
    server = await testServer();
    const alice = await user('alice');
    await expect(alice.search('')).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.search('!!! ...')).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.search('x', { cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'bad_field' });
    await expect(alice.search('x', { since: 10, until: 5 })).rejects.toMatchObject({ code: 'bad_field' });
    expect((await rest('alice', 'q=x&limit=1000')).body).toMatchObject({ error: { code: 'bad_field', details: { field: 'limit' } } });
    expect((await rest('alice', 'limit=5')).body).toMatchObject({ error: { code: 'bad_field', details: { field: 'q' } } });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer, until } from './helpers.ts';

let server: ParleyServer;
beforeAll(async () => {
  server = await testServer();
});
afterAll(async () => {
  await server.close();
});

interface Res { status: number; json: any }
async function call(user: string, method: string, route: string, body?: unknown, raw?: string): Promise<Res> {
  const token = await server.auth.mint(user, 600);
  const res = await fetch(`${server.httpUrl}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  return { status: res.status, json: await res.json() };
}

describe('REST chats', () => {
  it('opens a 1:1 chat with 201, idempotently, and lists it', async () => {
    expect(await call('ra', 'POST', '/chats', { to: 'rb' })).toEqual({ status: 201, json: { chat: 'd:ra:rb', members: ['ra', 'rb'] } });
    expect(await call('rb', 'POST', '/chats', { to: 'ra' })).toEqual({ status: 201, json: { chat: 'd:ra:rb', members: ['ra', 'rb'] } });
    const list = await call('ra', 'GET', '/chats');
    expect(list.status).toBe(200);
    expect(list.json.chats).toEqual([{ chat: 'd:ra:rb', kind: 'direct', lastSeq: 0, readSeq: 0, unread: 0 }]);
  });

  it('creates a room with members, lists and extends its members', async () => {
    const room = await call('owner', 'POST', '/chats', { name: 'ops', members: ['m1'] });
    expect(room.status).toBe(201);
    expect(room.json).toEqual({ chat: expect.stringMatching(/^r:[0-9a-f]{20}$/), members: ['m1', 'owner'], policy: 'invite' });
    const chat = room.json.chat as string;
    expect(await call('m1', 'GET', `/chats/${chat}/members`)).toEqual({ status: 200, json: { chat, members: ['m1', 'owner'] } });
    expect(await call('m1', 'POST', `/chats/${chat}/members`, { user: 'm2' })).toEqual({ status: 200, json: { chat, user: 'm2' } });
    expect(await call('m2', 'GET', `/chats/${chat}/members`)).toEqual({ status: 200, json: { chat, members: ['m1', 'm2', 'owner'] } });
    expect(await call('m1', 'POST', `/chats/${chat}/members`, { user: 'm2' })).toMatchObject({ status: 409, json: { error: { code: 'already_member' } } });
    expect((await call('m2', 'GET', '/chats')).json.chats).toEqual([{ chat, kind: 'room', name: 'ops', lastSeq: 0, readSeq: 0, unread: 0 }]);
  });

  it('refuses a 1:1 chat with oneself with self_chat', async () => {
    expect(await call('solo', 'POST', '/chats', { to: 'solo' })).toEqual({ status: 400, json: { error: { code: 'self_chat', message: 'a 1:1 conversation needs two different users, got "solo" twice' } } });
  });
});

describe('REST messages', () => {
  it('posts with 201, answers a retry with the same cmid with 200 dup and the original seq, storing one message', async () => {
    await call('pa', 'POST', '/chats', { to: 'pb' });
    const first = await call('pa', 'POST', '/chats/d:pa:pb/messages', { cmid: 'rest-1', body: 'hello' });
    expect(first).toEqual({ status: 201, json: { chat: 'd:pa:pb', seq: 1, cmid: 'rest-1', ts: expect.any(Number), dup: false } });
    const again = await call('pa', 'POST', '/chats/d:pa:pb/messages', { cmid: 'rest-1', body: 'hello' });
    expect(again).toEqual({ status: 200, json: { ...first.json, dup: true } });
    const page = await call('pb', 'GET', '/chats/d:pa:pb/messages');
    expect(page.status).toBe(200);
    expect(page.json).toEqual({ chat: 'd:pa:pb', more: false, messages: [{ chat: 'd:pa:pb', seq: 1, from: 'pa', cmid: 'rest-1', body: 'hello', ts: first.json.ts }] });
  });

  it('pages backwards with before and limit, and forwards with after', async () => {
    await call('ha', 'POST', '/chats', { to: 'hb' });
    for (let i = 1; i <= 12; i++) expect((await call('ha', 'POST', '/chats/d:ha:hb/messages', { cmid: `h${i}`, body: `m${i}` })).status).toBe(201);
    const seqs = (r: Res) => (r.json.messages as Message[]).map((m) => m.seq);
    const newest = await call('hb', 'GET', '/chats/d:ha:hb/messages?limit=5');
    expect([seqs(newest), newest.json.more]).toEqual([[8, 9, 10, 11, 12], true]);
    const older = await call('hb', 'GET', '/chats/d:ha:hb/messages?limit=5&before=8');
    expect([seqs(older), older.json.more]).toEqual([[3, 4, 5, 6, 7], true]);
    const oldest = await call('hb', 'GET', '/chats/d:ha:hb/messages?limit=5&before=3');
    expect([seqs(oldest), oldest.json.more]).toEqual([[1, 2], false]);
    const after = await call('hb', 'GET', '/chats/d:ha:hb/messages?after=4&limit=3');
    expect([seqs(after), after.json.more]).toEqual([[5, 6, 7], true]);
    const tail = await call('hb', 'GET', '/chats/d:ha:hb/messages?after=10');
    expect([seqs(tail), tail.json.more]).toEqual([[11, 12], false]);
    expect(seqs(await call('hb', 'GET', '/chats/d:ha:hb/messages?after=12'))).toEqual([]);
  });

  it('delivers a REST-posted message live to every connected session of the members, the sender included', async () => {
    const room = (await call('svc', 'POST', '/chats', { name: 'alerts', members: ['live1'] })).json as { chat: string };
    const phone = await connect(server, 'live1');
    const laptop = await connect(server, 'live1');
    const svcSocket = await connect(server, 'svc');
    const got: Message[][] = [[], [], []];
    [phone, laptop, svcSocket].forEach((c, i) => c.on('message', (m) => got[i]!.push(m)));
    try {
      const posted = await call('svc', 'POST', `/chats/${room.chat}/messages`, { cmid: 'svc-1', body: 'disk full' });
      expect(posted.status).toBe(201);
      await until(() => got.every((g) => g.length === 1), 'every session to receive the REST message');
      for (const g of got) expect(g[0]).toEqual({ op: 'msg', chat: room.chat, seq: 1, from: 'svc', cmid: 'svc-1', body: 'disk full', ts: posted.json.ts });
    } finally {
      await Promise.all([phone.close(), laptop.close(), svcSocket.close()]);
    }
  });
});

describe('REST bad input', () => {
  it('answers bad bodies, paths and queries with stable codes and messages naming the problem', async () => {
    await call('ba', 'POST', '/chats', { to: 'bb' });
    const m = '/chats/d:ba:bb/messages';
    const cases: [string, string, unknown, string | undefined, number, string, RegExp][] = [
      ['POST', m, undefined, '{"cmid":', 400, 'bad_json', /^expected a JSON object body: /],
      ['POST', m, undefined, '[1]', 400, 'bad_json', /^expected a JSON object body$/],
      ['POST', m, { body: 'x' }, undefined, 400, 'bad_field', /^"cmid" must be a non-empty string of at most 64 chars, got nothing$/],
      ['POST', m, undefined, '{"cmid":"\\udc00","body":"x"}', 400, 'bad_field', /^"cmid" must be a non-empty string of at most 64 chars/],
      ['POST', m, { cmid: 'c', body: '' }, undefined, 400, 'bad_field', /^"body" must be a non-empty string, got a string of 0 chars$/],
      ['POST', m, { cmid: 'c', body: 'x'.repeat(4001) }, undefined, 413, 'body_too_large', /^"body" must be at most 4000 chars/],
      ['POST', m, { cmid: 'c', body: 5 }, undefined, 400, 'bad_field', /^"body" must be a non-empty string, got number 5$/],
      ['POST', m, undefined, '{"cmid":"c","body":"\\ud800"}', 400, 'bad_field', /unpaired surrogate/],
      ['GET', `${m}?limit=0`, undefined, undefined, 400, 'bad_field', /^query "limit" must be an integer in \[1, 200\], got "0"$/],
      ['GET', `${m}?before=x`, undefined, undefined, 400, 'bad_field', /^query "before" must be an integer/],
      ['GET', `${m}?after=-1`, undefined, undefined, 400, 'bad_field', /^query "after" must be an integer/],
      ['GET', '/chats/not-a-chat/messages', undefined, undefined, 400, 'bad_field', /is not a chat id$/],
      ['GET', '/chats/%E0%A4%A/messages', undefined, undefined, 400, 'bad_field', /^the path is not valid percent-encoding/],
      ['POST', '/chats', { to: 'no spaces' }, undefined, 400, 'bad_field', /^"to" must be a user id$/],
      ['POST', '/chats', { members: 'bob' }, undefined, 400, 'bad_field', /^"members" must be an array/],
      ['POST', '/chats', { name: 42 }, undefined, 400, 'bad_field', /^"name" must be a string of at most 100 chars, got number 42$/],
      ['POST', '/chats', undefined, '{"name":"\\ud800"}', 400, 'bad_field', /^"name" must be a string of at most 100 chars, got a string of 1 chars$/],
      ['POST', '/chats/d:ba:bb/members', { user: 'x' }, undefined, 403, 'forbidden', /fixed members/],
      ['POST', '/chats/r:0123/members', { user: 7 }, undefined, 400, 'bad_field', /^"user" must be a user id$/],
      ['DELETE', '/chats', undefined, undefined, 404, 'not_found', /^no route DELETE \/api\/v1\/chats$/],
      ['GET', '/users', undefined, undefined, 404, 'not_found', /^no route GET/],
      ['GET', '/chats/d:ba:bb/messages/1/x', undefined, undefined, 404, 'not_found', /^no route GET/],
    ];
    for (const [method, route, body, raw, status, code, message] of cases) {
      const res = await call('ba', method, route, body, raw);
      const what = `${method} ${route} ${raw ?? JSON.stringify(body)?.slice(0, 40)}`;
      expect(res.status, what).toBe(status);
      expect(res.json.error.code, what).toBe(code);
      expect(res.json.error.message, what).toMatch(message);
    }
    expect((await call('ba', 'GET', m)).json.messages).toEqual([]);
  });

  it('answers a body over 64 KiB with 413 payload_too_large', async () => {
    const res = await call('big', 'POST', '/chats', undefined, JSON.stringify({ name: 'x'.repeat(70 * 1024) }));
    expect(res).toEqual({ status: 413, json: { error: { code: 'payload_too_large', message: 'request bodies must be at most 65536 bytes' } } });
  });

  it('answers routes outside /api/v1 with 404 not_found', async () => {
    const res = await fetch(`${server.httpUrl}/admin.php`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /admin.php' } });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ERRORS } from '../errors.ts';
import { LIMITS } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer, until } from './helpers.ts';
import { rawConnect, type Frame, type RawClient } from './raw.ts';

let server: ParleyServer;
const open: RawClient[] = [];
async function raw(user: string): Promise<RawClient> {
  const c = await rawConnect(server, user);
  open.push(c);
  return c;
}

beforeAll(async () => {
  server = await testServer();
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await server.close();
});

/** Sends text and resolves with the next error frame. */
async function errorFor(c: RawClient, data: string | Buffer | object): Promise<Frame> {
  const from = c.frames.length;
  c.send(data);
  return c.next((f) => f.op === 'error', 5000, from);
}

/** The session still answers: a ping with an id gets its pong. */
async function stillServes(c: RawClient): Promise<void> {
  const id = `alive-${Math.random()}`;
  expect(await c.request({ op: 'ping', id })).toEqual({ op: 'pong', id });
}

describe('bad frames on a live socket', () => {
  it('answers malformed JSON with bad_json saying what was expected, and keeps the socket open', async () => {
    const c = await raw('bj');
    const e = await errorFor(c, '{"op":"send",');
    expect(e.code).toBe('bad_json');
    expect(e.message).toMatch(/^expected a JSON object: .+/);
    await stillServes(c);
  });

  it('answers non-object frames with bad_frame naming what came', async () => {
    const c = await raw('bf');
    const cases: [string, string][] = [
      ['[]', 'an array'], ['"hello"', 'a string of 5 chars'], ['7', 'number 7'], ['null', 'null'], ['true', 'boolean true'], ['{}', 'an object'], ['{"op":null}', 'an object'],
    ];
    for (const [text, got] of cases) {
      expect(await errorFor(c, text), text).toEqual({ op: 'error', code: 'bad_frame', message: `expected an object with a string "op", got ${got}` });
    }
    await stillServes(c);
  });

  it('answers a missing or unknown op with the request id echoed', async () => {
    const c = await raw('uo');
    expect(await errorFor(c, { id: 'x' })).toMatchObject({ code: 'bad_frame' });
    const e = await errorFor(c, { op: 'teleport', id: 'r-9' });
    expect(e).toMatchObject({ op: 'error', id: 'r-9', code: 'unknown_op' });
    expect(e.message).toMatch(/^unknown op "teleport"; expected one of send, sync, history/);
  });

  it('echoes the request id on every field error, for every op', async () => {
    const c = await raw('wf');
    const frames: [Frame, string][] = [
      [{ op: 'send', id: 1, to: 'bob', cmid: 1, body: 'x' }, 'cmid'],
      [{ op: 'send', id: 2, to: 'bob', cmid: 'c', body: ['x'] }, 'body'],
      [{ op: 'send', id: 3, to: 7, cmid: 'c', body: 'x' }, 'to'],
      [{ op: 'send', id: 4, chat: 'r:!', cmid: 'c', body: 'x' }, 'chat'],
      [{ op: 'sync', id: 5, cursors: 'all' }, 'cursors'],
      [{ op: 'sync', id: 6, limit: -1 }, 'limit'],
      [{ op: 'history', id: 7, chat: 'd:a:b', before: 0 }, 'before'],
      [{ op: 'history', id: 8, chat: 'd:a:b', limit: '10' }, 'limit'],
      [{ op: 'recv', id: 9, chat: 'd:a:b', seq: -3 }, 'seq'],
      [{ op: 'recv', id: 10, chat: null, seq: 1 }, 'chat'],
      [{ op: 'room.create', id: 11, name: 'n'.repeat(101) }, 'name'],
      [{ op: 'room.create', id: 12, members: [{}] }, 'members'],
      [{ op: 'room.join', id: 13 }, 'chat'],
      [{ op: 'room.leave', id: 14, chat: 5 }, 'chat'],
      [{ op: 'room.invite', id: 15, chat: 'r:1', user: '' }, 'user'],
      [{ op: 'room.members', id: 16, chat: [] }, 'chat'],
      [{ op: 'history', id: 'str-id', chat: 1 }, 'chat'],
    ];
    for (const [frame, field] of frames) {
      const e = await errorFor(c, frame);
      expect(e, JSON.stringify(frame)).toMatchObject({ op: 'error', id: frame.id, code: 'bad_field', details: { field } });
      expect(e.message, JSON.stringify(frame)).toMatch(new RegExp(`^"${field}" must be .+, got .+`));
    }
    await stillServes(c);
  });

  it('refuses a frame over maxFrameBytes with frame_too_large and keeps the socket open', async () => {
    const c = await raw('big');
    const frame = JSON.stringify({ op: 'send', id: 1, to: 'bob', cmid: 'c', body: 'x'.repeat(LIMITS.maxFrameBytes) });
    const e = await errorFor(c, frame);
    expect(e).toEqual({ op: 'error', code: 'frame_too_large', message: `frames must be at most ${LIMITS.maxFrameBytes} bytes, got ${Buffer.byteLength(frame)}` });
    await stillServes(c);
  });

  it('closes a socket whose frame exceeds maxPayloadBytes with 1009, before parsing', async () => {
    const c = await raw('huge');
    c.send('x'.repeat(LIMITS.maxPayloadBytes + 1));
    expect(await c.closed).toBe(1009);
  });

  it('answers a binary frame with binary_not_supported', async () => {
    const c = await raw('bin');
    expect(await errorFor(c, Buffer.from('{"op":"ping"}'))).toEqual({ op: 'error', code: 'binary_not_supported', message: 'expected a JSON text frame, got a binary frame' });
    await stillServes(c);
  });

  it('closes a text frame that is not UTF-8 with 1007 (RFC 6455), and the server stays up', async () => {
    const c = await raw('utf');
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await c.closed).toBe(1007);
    await stillServes(await raw('utf'));
  });
});

describe('conversations the user is not in', () => {
  it('answers not_member for every op on a chat the user is not in, over an existing and an unknown chat', async () => {
    const alice = await raw('nm-alice');
    const ack = await alice.request({ op: 'send', id: 's', to: 'nm-bob', cmid: 'c1', body: 'private' });
    expect(ack).toMatchObject({ op: 'ack', chat: 'd:nm-alice:nm-bob', seq: 1 });
    const room = (await alice.request({ op: 'room.create', id: 'r' })).result as { chat: string };

    const eve = await raw('nm-eve');
    for (const chat of ['d:nm-alice:nm-bob', room.chat, 'r:00000000000000000000', 'd:nm-x:nm-y']) {
      for (const frame of [
        { op: 'send', id: 1, chat, cmid: `e-${chat}`, body: 'let me in' },
        { op: 'history', id: 2, chat },
        { op: 'recv', id: 3, chat, seq: 1 },
        { op: 'room.members', id: 4, chat },
      ] as Frame[]) {
        const e = await errorFor(eve, frame);
        expect(e, JSON.stringify(frame)).toEqual({ op: 'error', id: frame.id, code: 'not_member', message: `you are not a member of ${chat}`, details: { chat } });
      }
    }
    expect(await errorFor(eve, { op: 'room.invite', id: 6, chat: room.chat, user: 'nm-eve' })).toMatchObject({ id: 6, code: 'not_member' });
    expect(await errorFor(eve, { op: 'room.leave', id: 7, chat: room.chat })).toMatchObject({ id: 7, code: 'not_member' });
    expect(await errorFor(eve, { op: 'room.join', id: 8, chat: 'd:nm-alice:nm-bob' })).toMatchObject({ id: 8, code: 'forbidden' });
    expect(await errorFor(eve, { op: 'room.join', id: 9, chat: 'r:00000000000000000000' })).toMatchObject({ id: 9, code: 'not_found' });
    expect(await errorFor(eve, { op: 'send', id: 10, to: 'nm-eve', cmid: 'self', body: 'me' })).toMatchObject({ id: 10, code: 'self_chat' });

    const page = await alice.request({ op: 'history', id: 'h', chat: 'd:nm-alice:nm-bob' });
    expect((page.result as { messages: { body: string }[] }).messages.map((m) => m.body)).toEqual(['private']);
  });

  it('leaves a cursor of a conversation the user is not in out of the sync instead of failing it', async () => {
    const alice = await raw('sy-alice');
    await alice.request({ op: 'send', id: 1, to: 'sy-bob', cmid: 'c1', body: 'one' });
    const eve = await raw('sy-eve');
    await eve.request({ op: 'send', id: 1, to: 'sy-bob', cmid: 'e1', body: 'mine' });
    const synced = await eve.request({ op: 'sync', id: 'sync', cursors: { 'd:sy-alice:sy-bob': 0, 'd:sy-bob:sy-eve': 0 } });
    expect(synced).toEqual({ op: 'synced', id: 'sync', chats: { 'd:sy-bob:sy-eve': { last: 1, more: false } } });
    expect(eve.frames.filter((f) => f.op === 'msg').map((f) => f.body)).toEqual(['mine']);
  });

  it('lets a client that left a room resume after a reconnect (its stale room cursor is ignored)', async () => {
    const owner = await connect(server, 'lv-owner');
    const leaver = await connect(server, 'lv-leaver');
    try {
      const room = await owner.createRoom('brief', ['lv-leaver']);
      await owner.send({ chat: room.chat }, 'hello');
      await until(() => leaver.cursors[room.chat] === 1, 'the leaver to see the room message');
      await leaver.leave(room.chat);
      const ready = new Promise((resolve) => leaver.once('ready', resolve));
      for (const s of server.hub.sessionsOf('lv-leaver')) s.close('kicked');
      await ready;
      const got: string[] = [];
      leaver.on('message', (m) => got.push(m.body));
      await owner.send({ to: 'lv-leaver' }, 'still friends?');
      await until(() => got.length === 1, 'the leaver to get a 1:1 message after resuming');
      expect(got).toEqual(['still friends?']);
    } finally {
      await Promise.all([owner.close(), leaver.close()]);
    }
  });

  it('refuses a recv past the last seq with cursor_past_end, so one bad report cannot hide later messages', async () => {
    const alice = await raw('pe-alice');
    const bob = await raw('pe-bob');
    await alice.request({ op: 'send', id: 1, to: 'pe-bob', cmid: 'c1', body: 'one' });
    expect(await bob.request({ op: 'recv', id: 'r', chat: 'd:pe-alice:pe-bob', seq: 1000 })).toEqual({
      op: 'error', id: 'r', code: 'cursor_past_end', message: 'the delivered cursor must be at most the last seq 1 of d:pe-alice:pe-bob, got 1000', details: { chat: 'd:pe-alice:pe-bob', lastSeq: 1 },
    });
    expect(await bob.request({ op: 'recv', id: 'ok', chat: 'd:pe-alice:pe-bob', seq: 1 })).toEqual({ op: 'reply', id: 'ok', result: {} });
    await bob.close();
    await alice.request({ op: 'send', id: 2, to: 'pe-bob', cmid: 'c2', body: 'two' });
    const again = await raw('pe-bob');
    expect(await again.request({ op: 'sync', id: 's' })).toEqual({ op: 'synced', id: 's', chats: { 'd:pe-alice:pe-bob': { last: 2, more: false } } });
    expect(again.frames.filter((f) => f.op === 'msg').map((f) => f.body)).toEqual(['two']);
  });

  it('resumes a sync cursor past the last seq from the last seq, so later messages still arrive', async () => {
    const alice = await raw('ahead-alice');
    await alice.request({ op: 'send', id: 1, to: 'ahead-bob', cmid: 'c1', body: 'one' });
    const bob = await raw('ahead-bob');
    expect(await bob.request({ op: 'sync', id: 's', cursors: { 'd:ahead-alice:ahead-bob': 500 } })).toEqual({ op: 'synced', id: 's', chats: { 'd:ahead-alice:ahead-bob': { last: 1, more: false } } });
    await alice.request({ op: 'send', id: 2, to: 'ahead-bob', cmid: 'c2', body: 'two' });
    expect(await bob.next((f) => f.op === 'msg', 5000, 0)).toMatchObject({ seq: 2, body: 'two' });
  });

  it('answers cmid_conflict when a cmid is reused in another conversation, and stores nothing', async () => {
    const c = await raw('cc');
    await c.request({ op: 'send', id: 1, to: 'cc-bob', cmid: 'same', body: 'one' });
    expect(await c.request({ op: 'send', id: 2, to: 'cc-carol', cmid: 'same', body: 'two' })).toMatchObject({ op: 'error', id: 2, code: 'cmid_conflict' });
    expect(await c.request({ op: 'history', id: 3, chat: 'd:cc:cc-carol' })).toMatchObject({ op: 'reply', result: { messages: [] } });
  });
});

describe('unicode', () => {
  it('rejects an unpaired surrogate in a body with bad_field, escaped in JSON', async () => {
    const c = await raw('sur');
    for (const body of ['\\ud83d', 'a\\ude00b', '\\ude00\\ud83d']) {
      const e = await errorFor(c, `{"op":"send","id":"u","to":"sur-b","cmid":"c","body":"${body}"}`);
      expect(e).toEqual({ op: 'error', id: 'u', code: 'bad_field', message: '"body" must be well-formed Unicode, got an unpaired surrogate', details: { field: 'body' } });
    }
  });

  it('round-trips emoji, RTL, combining marks, NUL and 4000 astral chars exactly through store and delivery', async () => {
    const alice = await raw('uni-a');
    const bob = await raw('uni-b');
    await bob.request({ op: 'sync', id: 'sync' });
    const bodies = [
      '👩🏽‍💻 family: 👨‍👩‍👧‍👦 flags 🇯🇵🏳️‍🌈',
      'שלום עולם مرحبا بالعالم',
      'e\u0301 a\u0308\u0323 Z\u0351\u0352\u0353',
      'nul:\u0000:end',
      '\u202e reversed \u202c \ufeff bom \u200b zwsp',
      '𝕏'.repeat(LIMITS.maxBodyChars),
      '\ud83d\ude00'.repeat(LIMITS.maxBodyChars),
      'x',
    ];
    for (const [i, body] of bodies.entries()) {
      const ack = await alice.request({ op: 'send', id: i, to: 'uni-b', cmid: `u${i}`, body });
      expect(ack, `body ${i}`).toMatchObject({ op: 'ack', seq: i + 1 });
    }
    const live = await Promise.all(bodies.map((_, i) => bob.next((f) => f.op === 'msg' && f.seq === i + 1, 5000, 0)));
    expect(live.map((m) => m.body)).toEqual(bodies);
    const page = await bob.request({ op: 'history', id: 'h', chat: 'd:uni-a:uni-b', limit: 50 });
    expect((page.result as { messages: { body: string }[] }).messages.map((m) => m.body)).toEqual(bodies);
  });

  it('refuses 4001 astral chars with body_too_large counting code points', async () => {
    const c = await raw('astral');
    const e = await errorFor(c, { op: 'send', id: 'a', to: 'astral-b', cmid: 'c', body: '😀'.repeat(LIMITS.maxBodyChars + 1) });
    expect(e).toMatchObject({ id: 'a', code: 'body_too_large', message: `"body" must be at most ${LIMITS.maxBodyChars} chars (code points), got ${LIMITS.maxBodyChars + 1}` });
  });
});

describe('isolation', () => {
  it('keeps serving other sessions while one sends garbage, and all error codes come from the catalog', async () => {
    const noisy = await raw('noisy');
    const a = await raw('iso-a');
    const b = await raw('iso-b');
    await b.request({ op: 'sync', id: 's' });
    for (let i = 0; i < 200; i++) noisy.send(i % 2 ? '}{' : Buffer.from([i]));
    const ack = await a.request({ op: 'send', id: 1, to: 'iso-b', cmid: 'iso', body: 'still here' });
    expect(ack).toMatchObject({ op: 'ack', seq: 1 });
    expect(await b.next((f) => f.op === 'msg', 5000, 0)).toMatchObject({ body: 'still here', from: 'iso-a' });
    await stillServes(noisy);
    const codes = new Set(noisy.frames.filter((f) => f.op === 'error').map((f) => f.code));
    expect([...codes].sort()).toEqual(['bad_json', 'binary_not_supported']);
    for (const code of codes) expect(ERRORS).toHaveProperty(code as string);
  });
});

describe('bad-frame flood', () => {
  it('closes a session with 4503 policy after badFrameLimit bad frames, answering each until then', async () => {
    const small = await testServer({ badFrameLimit: 20 });
    try {
      const flooder = await rawConnect(small, 'flood');
      const bystander = await rawConnect(small, 'calm');
      for (let i = 0; i < 30 && flooder.ws.readyState === WebSocket.OPEN; i++) flooder.send('nope');
      expect(await flooder.closed).toBe(4503);
      expect(flooder.frames.filter((f) => f.op === 'error')).toHaveLength(20);
      expect(await bystander.request({ op: 'ping', id: 'p' })).toEqual({ op: 'pong', id: 'p' });
      await bystander.close();
    } finally {
      await small.close();
    }
  });
});

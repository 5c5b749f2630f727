import { describe, expect, it } from 'vitest';
import { ERRORS } from '../errors.ts';
import { FRAME_OUT_OPS } from '../metrics.ts';
import { decode, directChatId, directMembers, encode, errorFrame, isChatId, LIMITS, PUSH_OPS, REQUEST_OPS, SERVER_OPS, SUBPROTOCOL, validateBody } from '../protocol.ts';
import { ParleyError } from '../errors.ts';

/** Decodes and returns the error, failing the test when the frame was accepted. */
function rejectOf(text: string): { code: string; message: string; id?: string | number; field?: unknown } {
  const d = decode(text);
  if (d.ok) throw new Error(`expected ${text} to be rejected, got ${JSON.stringify(d.req)}`);
  return { code: d.error.code, message: d.error.message, id: d.id, field: d.error.details?.field };
}

describe('protocol constants', () => {
  it('negotiates subprotocol parley.v1 and lists every op', () => {
    expect(SUBPROTOCOL).toBe('parley.v1');
    expect(REQUEST_OPS.slice(0, 11)).toEqual(['send', 'sync', 'history', 'chats', 'recv', 'room.create', 'room.join', 'room.leave', 'room.invite', 'room.members', 'ping']);
  });

  it('derives one 1:1 chat id per pair whichever side asks', () => {
    expect(directChatId('bob', 'alice')).toBe('d:alice:bob');
    expect(directChatId('alice', 'bob')).toBe('d:alice:bob');
    expect(directMembers('d:alice:bob')).toEqual(['alice', 'bob']);
    expect(directMembers('r:abc')).toBeUndefined();
  });

  it('accepts direct and room chat ids and nothing else', () => {
    for (const ok of ['d:a:b', 'r:0af9', 'd:a.b@c-d_e:x']) expect(isChatId(ok)).toBe(true);
    for (const bad of ['', 'x:a:b', 'd:a', 'd:a:b:c', 'd:b:a', 'd:a:a', 'r:ABC', 'r:', 'r:a b', 'd:a:b\n', 42, null]) expect(isChatId(bad)).toBe(false);
  });
});

describe('decode: valid frames', () => {
  it('decodes a send to a user with a string id', () => {
    expect(decode('{"op":"send","id":"r1","to":"bob","cmid":"c1","body":"hi"}')).toEqual({ ok: true, req: { op: 'send', id: 'r1', to: 'bob', cmid: 'c1', body: 'hi' } });
  });

  it('decodes a send to a chat with an integer id', () => {
    expect(decode('{"op":"send","id":7,"chat":"r:ab12","cmid":"c1","body":"hi"}')).toEqual({ ok: true, req: { op: 'send', id: 7, chat: 'r:ab12', cmid: 'c1', body: 'hi' } });
  });

  it('decodes sync with cursors and limit, and without anything', () => {
    expect(decode('{"op":"sync","cursors":{"d:a:b":3,"r:ff":0},"limit":10}')).toEqual({ ok: true, req: { op: 'sync', id: undefined, cursors: { 'd:a:b': 3, 'r:ff': 0 }, limit: 10 } });
    expect(decode('{"op":"sync"}')).toEqual({ ok: true, req: { op: 'sync', id: undefined, limit: undefined } });
  });

  it('decodes history, recv and every room op', () => {
    expect(decode('{"op":"history","chat":"d:a:b","before":10,"limit":5}')).toMatchObject({ ok: true, req: { op: 'history', chat: 'd:a:b', before: 10, limit: 5 } });
    expect(decode('{"op":"recv","chat":"d:a:b","seq":0}')).toMatchObject({ ok: true, req: { op: 'recv', chat: 'd:a:b', seq: 0 } });
    expect(decode('{"op":"room.create","name":"general","members":["bob","carol"]}')).toMatchObject({ ok: true, req: { op: 'room.create', name: 'general', members: ['bob', 'carol'] } });
    expect(decode('{"op":"room.create"}')).toMatchObject({ ok: true, req: { op: 'room.create' } });
    expect(decode('{"op":"room.join","chat":"r:1"}')).toMatchObject({ ok: true, req: { op: 'room.join', chat: 'r:1' } });
    expect(decode('{"op":"room.leave","chat":"r:1"}')).toMatchObject({ ok: true, req: { op: 'room.leave', chat: 'r:1' } });
    expect(decode('{"op":"room.invite","chat":"r:1","user":"bob"}')).toMatchObject({ ok: true, req: { op: 'room.invite', chat: 'r:1', user: 'bob' } });
    expect(decode('{"op":"room.members","chat":"r:1"}')).toMatchObject({ ok: true, req: { op: 'room.members', chat: 'r:1' } });
    expect(decode('{"op":"chats","id":1}')).toEqual({ ok: true, req: { op: 'chats', id: 1 } });
    expect(decode('{"op":"ping","id":"p"}')).toEqual({ ok: true, req: { op: 'ping', id: 'p' } });
  });

  it('ignores unknown extra fields so later protocol additions stay compatible', () => {
    expect(decode('{"op":"ping","id":1,"extra":{"x":[1,2]}}')).toEqual({ ok: true, req: { op: 'ping', id: 1 } });
  });

  it('accepts a body of exactly maxBodyChars and astral characters paired', () => {
    expect(validateBody('x'.repeat(LIMITS.maxBodyChars))).toHaveLength(LIMITS.maxBodyChars);
    expect(validateBody('😀\u05e9\u0301')).toBe('😀\u05e9\u0301');
  });
});

describe('decode: bad frames', () => {
  it('rejects text that is not JSON with bad_json and the parser message', () => {
    const e = rejectOf('{"op":');
    expect(e.code).toBe('bad_json');
    expect(e.message).toMatch(/^expected a JSON object: /);
  });

  it('rejects JSON that is not an object with a string op with bad_frame saying what came', () => {
    expect(rejectOf('[1,2]')).toMatchObject({ code: 'bad_frame', message: 'expected an object with a string "op", got an array' });
    expect(rejectOf('null')).toMatchObject({ code: 'bad_frame', message: 'expected an object with a string "op", got null' });
    expect(rejectOf('"send"')).toMatchObject({ code: 'bad_frame', message: 'expected an object with a string "op", got a string of 4 chars' });
    expect(rejectOf('42')).toMatchObject({ code: 'bad_frame', message: 'expected an object with a string "op", got number 42' });
    expect(rejectOf('{"id":1}')).toMatchObject({ code: 'bad_frame', message: 'expected an object with a string "op", got an object' });
    expect(rejectOf('{"op":5}')).toMatchObject({ code: 'bad_frame' });
  });

  it('rejects an unknown op with unknown_op, listing the known ones and echoing the id', () => {
    const e = rejectOf('{"op":"fly","id":"x1"}');
    expect(e).toMatchObject({ code: 'unknown_op', id: 'x1' });
    expect(e.message).toBe(`unknown op "fly"; expected one of ${REQUEST_OPS.join(', ')}`);
  });

  it('does not treat inherited object keys as ops', () => {
    for (const op of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) expect(rejectOf(JSON.stringify({ op })).code).toBe('unknown_op');
  });

  it('rejects a bad request id with bad_field naming "id"', () => {
    expect(rejectOf('{"op":"ping","id":{"a":1}}')).toMatchObject({ code: 'bad_field', field: 'id', message: '"id" must be a string of at most 64 chars or an integer, got an object' });
    expect(rejectOf('{"op":"ping","id":1.5}')).toMatchObject({ code: 'bad_field', field: 'id' });
    expect(rejectOf(`{"op":"ping","id":"${'i'.repeat(65)}"}`)).toMatchObject({ code: 'bad_field', field: 'id' });
  });

  it('rejects a send with both or neither of chat and to', () => {
    expect(rejectOf('{"op":"send","id":1,"cmid":"c","body":"b"}')).toMatchObject({ code: 'bad_field', id: 1, message: 'send needs exactly one of "chat" or "to"' });
    expect(rejectOf('{"op":"send","chat":"d:a:b","to":"b","cmid":"c","body":"b"}')).toMatchObject({ code: 'bad_field' });
  });

  it('names the field, the expectation and what came for each wrong type', () => {
    const cases: [string, string, string][] = [
      ['{"op":"send","to":"bob","cmid":5,"body":"b"}', 'cmid', '"cmid" must be a non-empty string of at most 64 chars, got number 5'],
      ['{"op":"send","to":"bob","cmid":"","body":"b"}', 'cmid', '"cmid" must be a non-empty string of at most 64 chars, got a string of 0 chars'],
      ['{"op":"send","to":"bob","cmid":"c","body":null}', 'body', '"body" must be a non-empty string, got null'],
      ['{"op":"send","to":"bob","cmid":"c","body":""}', 'body', '"body" must be a non-empty string, got a string of 0 chars'],
      ['{"op":"send","to":"b o b","cmid":"c","body":"b"}', 'to', '"to" must be a user id (1-64 of A-Z a-z 0-9 _ . @ -), got a string of 5 chars'],
      ['{"op":"send","chat":"nope","cmid":"c","body":"b"}', 'chat', '"chat" must be a chat id ("d:<a>:<b>" with a < b, or "r:<id>"), got a string of 4 chars'],
      ['{"op":"sync","cursors":[1]}', 'cursors', '"cursors" must be an object of chat id → seq, got an array'],
      ['{"op":"sync","cursors":{"d:a:b":-1}}', 'cursors.d:a:b', '"cursors.d:a:b" must be a non-negative integer seq, got number -1'],
      ['{"op":"sync","cursors":{"x":1}}', 'cursors.x', '"cursors.x" must be keyed by a chat id, got a string of 1 chars'],
      ['{"op":"sync","limit":0}', 'limit', `"limit" must be an integer in [1, ${LIMITS.maxSyncLimit}], got number 0`],
      ['{"op":"history","chat":"d:a:b","before":"3"}', 'before', '"before" must be an integer in [1, 9007199254740991], got a string of 1 chars'],
      ['{"op":"history","chat":"d:a:b","limit":201}', 'limit', '"limit" must be an integer in [1, 200], got number 201'],
      ['{"op":"history"}', 'chat', '"chat" must be a chat id ("d:<a>:<b>" with a < b, or "r:<id>"), got nothing'],
      ['{"op":"recv","chat":"d:a:b","seq":1e300}', 'seq', '"seq" must be a non-negative integer, got number 1e+300'],
      ['{"op":"recv","chat":"d:a:b"}', 'seq', '"seq" must be a non-negative integer, got nothing'],
      ['{"op":"room.create","name":7}', 'name', '"name" must be a string of at most 100 chars, got number 7'],
      ['{"op":"room.create","members":"bob"}', 'members', '"members" must be an array of at most 500 user ids, got a string of 3 chars'],
      ['{"op":"room.create","members":["ok",""]}', 'members', '"members" must be an array of at most 500 user ids, got an array'],
      ['{"op":"room.join","chat":1}', 'chat', '"chat" must be a chat id ("d:<a>:<b>" with a < b, or "r:<id>"), got number 1'],
      ['{"op":"room.leave","chat":{}}', 'chat', '"chat" must be a chat id ("d:<a>:<b>" with a < b, or "r:<id>"), got an object'],
      ['{"op":"room.invite","chat":"r:1","user":true}', 'user', '"user" must be a user id (1-64 of A-Z a-z 0-9 _ . @ -), got boolean true'],
      ['{"op":"room.members","chat":"r:UPPER"}', 'chat', '"chat" must be a chat id ("d:<a>:<b>" with a < b, or "r:<id>"), got a string of 7 chars'],
    ];
    for (const [frame, field, message] of cases) expect(rejectOf(frame), frame).toEqual({ code: 'bad_field', id: undefined, field, message });
  });

  it('rejects a sync naming more than maxSyncChats cursors, and accepts exactly that many', () => {
    const cursors = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`r:${i.toString(16)}`, i]));
    expect(decode(JSON.stringify({ op: 'sync', cursors: cursors(LIMITS.maxSyncChats) })).ok).toBe(true);
    expect(rejectOf(JSON.stringify({ op: 'sync', id: 9, cursors: cursors(LIMITS.maxSyncChats + 1) }))).toEqual({ code: 'bad_field', id: 9, field: 'cursors', message: `"cursors" must be at most ${LIMITS.maxSyncChats} entries, got an object` });
  });

  it('never lets prototype keys in a frame reach the request', () => {
    expect(rejectOf('{"op":"sync","cursors":{"__proto__":{"d:a:b":1}}}')).toMatchObject({ code: 'bad_field', field: 'cursors.__proto__' });
    const d = decode('{"op":"ping","id":1,"__proto__":{"op":"send"},"constructor":{"prototype":{"x":1}}}');
    expect(d).toEqual({ ok: true, req: { op: 'ping', id: 1 } });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('rejects a body over maxBodyChars with body_too_large and an unpaired surrogate with bad_field', () => {
    expect(rejectOf(JSON.stringify({ op: 'send', to: 'b', cmid: 'c', body: 'x'.repeat(LIMITS.maxBodyChars + 1) }))).toMatchObject({ code: 'body_too_large', message: '"body" must be at most 4000 chars (code points), got 4001' });
    expect(validateBody('😀'.repeat(LIMITS.maxBodyChars))).toHaveLength(2 * LIMITS.maxBodyChars);
    expect(rejectOf(JSON.stringify({ op: 'send', to: 'b', cmid: 'c', body: '😀'.repeat(LIMITS.maxBodyChars + 1) }))).toMatchObject({ code: 'body_too_large', message: '"body" must be at most 4000 chars (code points), got 4001' });
    expect(rejectOf('{"op":"send","to":"b","cmid":"c","body":"a\\ud800b"}')).toMatchObject({ code: 'bad_field', field: 'body', message: '"body" must be well-formed Unicode, got an unpaired surrogate' });
    expect(rejectOf('{"op":"send","to":"b","cmid":"c","body":"\\udc00"}')).toMatchObject({ code: 'bad_field', field: 'body' });
    expect(rejectOf('{"op":"send","to":"b","cmid":"\\ud83d","body":"b"}')).toMatchObject({ code: 'bad_field', field: 'cmid' });
  });

  it('rejects a frame over maxFrameBytes before parsing it', () => {
    const e = rejectOf(`{"op":"ping","pad":"${'x'.repeat(LIMITS.maxFrameBytes)}"}`);
    expect(e.code).toBe('frame_too_large');
    expect(e.message).toBe(`frames must be at most ${LIMITS.maxFrameBytes} bytes, got ${LIMITS.maxFrameBytes + 22}`);
  });

  it('only ever yields codes from the catalog', () => {
    for (const f of ['', '{', '[]', '{"op":"x"}', '{"op":"send"}', '{"op":"sync","cursors":5}']) expect(Object.keys(ERRORS)).toContain(rejectOf(f).code);
  });
});

describe('encode', () => {
  it('encodes an error frame with the id right after op and details only when present', () => {
    const err = new ParleyError('rate_limited', 'slow down', { retryAfterMs: 20 });
    expect(encode(errorFrame(err, 3))).toBe('{"op":"error","id":3,"code":"rate_limited","message":"slow down","details":{"retryAfterMs":20}}');
    expect(encode(errorFrame(new ParleyError('bad_json', 'nope')))).toBe('{"op":"error","code":"bad_json","message":"nope"}');
  });

  it('encodes the message pushes: msg, skip and member', () => {
    const message = { chat: 'd:alice:bob', seq: 3, from: 'bob', cmid: 'b-10', body: 'lunch?', ts: 1764300060000 };
    expect(encode({ op: 'msg', ...message })).toBe('{"op":"msg","chat":"d:alice:bob","seq":3,"from":"bob","cmid":"b-10","body":"lunch?","ts":1764300060000}');
    expect(encode({ op: 'skip', chat: 'r:5f0c', seq: 7 })).toBe('{"op":"skip","chat":"r:5f0c","seq":7}');
    expect(encode({ op: 'member', chat: 'r:5f0c', user: 'dave', event: 'joined' })).toBe('{"op":"member","chat":"r:5f0c","user":"dave","event":"joined"}');
  });

  it('encodes roster.push with the note only when the owner has one', () => {
    expect(encode({ op: 'roster.push', ver: 10, item: { user: 'erin', state: 'friend' } })).toBe('{"op":"roster.push","ver":10,"item":{"user":"erin","state":"friend"}}');
    expect(encode({ op: 'roster.push', ver: 11, item: { user: 'bob', state: 'friend', note: 'gym' } })).toBe('{"op":"roster.push","ver":11,"item":{"user":"bob","state":"friend","note":"gym"}}');
  });

  it('encodes block.push and settings.push', () => {
    expect(encode({ op: 'block.push', user: 'mallory', blocked: false })).toBe('{"op":"block.push","user":"mallory","blocked":false}');
    expect(encode({ op: 'settings.push', settings: { typing: false, receipts: true } })).toBe('{"op":"settings.push","settings":{"typing":false,"receipts":true}}');
  });

  it('encodes a presence batch, and the bulk frame with bulk before users', () => {
    expect(encode({ op: 'presence', users: [{ user: 'bob', state: 'available', ts: 1764300090000 }, { user: 'dave', state: 'offline', ts: 0 }] }))
      .toBe('{"op":"presence","users":[{"user":"bob","state":"available","ts":1764300090000},{"user":"dave","state":"offline","ts":0}]}');
    expect(encode({ op: 'presence', bulk: true, users: [{ user: 'bob', state: 'away', status: 'lunch', ts: 1764300000000 }] }))
      .toBe('{"op":"presence","bulk":true,"users":[{"user":"bob","state":"away","status":"lunch","ts":1764300000000}]}');
  });

  it('encodes typing with its ttlMs, and read and readby with seqs as keys', () => {
    expect(encode({ op: 'typing', chat: 'd:alice:bob', user: 'alice', state: 'stop', ttlMs: 6000 })).toBe('{"op":"typing","chat":"d:alice:bob","user":"alice","state":"stop","ttlMs":6000}');
    expect(encode({ op: 'read', chat: 'd:alice:bob', user: 'bob', seq: 12 })).toBe('{"op":"read","chat":"d:alice:bob","user":"bob","seq":12}');
    expect(encode({ op: 'readby', chat: 'r:5f0c', counts: { 41: 5, 42: 3 } })).toBe('{"op":"readby","chat":"r:5f0c","counts":{"41":5,"42":3}}');
  });

  it('lists every server op once, the pushes among them', () => {
    expect(SERVER_OPS).toEqual(['welcome', 'ack', 'msg', 'skip', 'reply', 'synced', 'member', 'error', 'pong', 'presence', 'typing', 'read', 'readby', 'roster.push', 'block.push', 'settings.push', 'chat.expired']);
    expect(PUSH_OPS).toEqual(['msg', 'skip', 'member', 'presence', 'typing', 'read', 'readby', 'roster.push', 'block.push', 'settings.push', 'chat.expired']);
  });

  it('counts every server op as its own frames_out label, and anything else as other', () => {
    expect(FRAME_OUT_OPS).toEqual([...SERVER_OPS, 'other']);
  });
});

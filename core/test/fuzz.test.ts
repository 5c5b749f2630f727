/**
 * Throws at least 10,000 random and mutated frames at a live node over a few connections, then
 * checks it still serves: a fresh 1:1 exchange works, no stored message was corrupted, and every
 * error frame carried a catalog code. Seeded: PARLEY_FUZZ_SEED=<n> replays a failing run.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ERRORS } from '../errors.ts';
import { LIMITS, REQUEST_OPS, type Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer, until } from './helpers.ts';
import { rawConnect, type Frame, type RawClient } from './raw.ts';
import { prng } from '../../loadtest/random.ts';

const SEED = Number(process.env.PARLEY_FUZZ_SEED ?? 20_261_128);
const FRAMES = 12_000;
const CONNECTIONS = 4;
const BATCH = 150;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

class Fuzzer {
  readonly rand: () => number;
  readonly chats: string[];
  cmids = 0;
  constructor(seed: number, chats: string[]) {
    this.rand = prng(seed);
    this.chats = chats;
  }

  int(n: number): number { return Math.floor(this.rand() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  chance(p: number): boolean { return this.rand() < p; }

  /** A string mixing ASCII, astral, RTL, combining marks, controls and (sometimes) lone surrogates. */
  text(max = 40): string {
    const pieces = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0000', '\u001f', '😀', '𝕏', 'ש', 'م', '\u0301', '\u202e', '\ufeff', '\ufffd', '\ud800', '\udfff', ':', 'd:', 'r:', '%', '{', '}'];
    let s = '';
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.pick(pieces);
    return s;
  }

  /** A random JSON value of bounded depth, including numbers at and past every edge. */
  value(depth = 0): Json {
    const kind = this.int(depth > 2 ? 5 : 8);
    switch (kind) {
      case 0: return null;
      case 1: return this.chance(0.5);
      case 2: return this.pick([0, -0, 1, -1, 0.5, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 4.9e-324, 2 ** 31, 4294967296, this.int(1e6)]);
      case 3: return this.text();
      case 4: return this.pick(['', 'd:fz0:fz1', 'r:0', this.pick(this.chats), 'x'.repeat(this.int(200)), 'fz1', '__proto__']);
      case 5: return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, Json> = {};
        for (let i = this.int(4); i > 0; i--) Object.defineProperty(o, this.pick(['a', 'op', 'chat', '__proto__', 'constructor', 'prototype', 'toString', this.pick(this.chats)]), { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
        return o;
      }
    }
  }

  /** A frame that the protocol accepts (though the server may still refuse it, e.g. not_member). */
  valid(user: string): Record<string, Json> {
    const op = this.chance(0.4) ? 'send' : this.pick(REQUEST_OPS);
    const chat = this.pick(this.chats);
    const id: Json = this.chance(0.5) ? this.int(1e6) : `q${this.int(1e6)}`;
    switch (op) {
      case 'send': {
        const body = this.chance(0.05) ? '😀'.repeat(this.int(LIMITS.maxBodyChars) + 1) : `${this.text(30).replace(/[\ud800-\udfff]/gu, '')}.`;
        const cmid = `${user}-${this.cmids++}`;
        return this.chance(0.5) ? { op, id, chat, cmid, body } : { op, id, to: this.pick(['fz0', 'fz1', 'fz2', 'fz3', 'fz-other']), cmid, body };
      }
      case 'sync': return { op, id, cursors: Object.fromEntries(this.chats.filter(() => this.chance(0.3)).map((c) => [c, this.int(50)])), limit: 1 + this.int(100) };
      case 'history': return { op, id, chat, before: 1 + this.int(100), limit: 1 + this.int(LIMITS.maxHistoryLimit) };
      case 'recv': return { op, id, chat, seq: this.int(100) };
      case 'room.create': return { op, id, name: this.text(20).replace(/[\ud800-\udfff]/gu, ''), members: ['fz1', 'fz2'] };
      case 'room.invite': return { op, id, chat, user: this.pick(['fz0', 'fz1', 'fz2', 'fz3', 'fz-new']) };
      case 'room.join': case 'room.leave': case 'room.members': return { op, id, chat };
      default: return { op, id };
    }
  }

  /** One frame to send: valid, mutated at the object level, mutated at the text level, or noise. */
  frame(user: string): string | { bytes: Buffer; binary: boolean } {
    const r = this.rand();
    if (r < 0.2) return JSON.stringify(this.valid(user));
    if (r < 0.55) {
      const f = this.valid(user);
      const keys = Object.keys(f);
      for (let i = 1 + this.int(3); i > 0; i--) {
        const m = this.int(4);
        if (m === 0 && keys.length) delete f[this.pick(keys)];
        else if (m === 1) f[this.pick([...keys, 'op', 'id', 'extra'])] = this.value();
        else if (m === 2) f.op = this.pick([...REQUEST_OPS, 'SEND', 'send ', '', 'msg', 'ack', 'welcome', 'error', 'constructor', '__proto__', 'hasOwnProperty', 'room.', 'room.create.x']);
        else f[this.pick(keys)] = this.pick([1e308, -1, 2 ** 53 + 2, -0, 0.1, '', [], {}, null, true, 'x'.repeat(LIMITS.maxIdChars + 1)]);
      }
      return JSON.stringify(f);
    }
    if (r < 0.8) {
      const text = JSON.stringify(this.valid(user));
      switch (this.int(7)) {
        case 0: return text.slice(0, this.int(text.length));
        case 1: return `{"__proto__":{"op":"ping","polluted":true},"constructor":{"prototype":{"op":"send"}},${text.slice(1)}`;
        case 2: { const n = 1 + this.int(this.chance(0.1) ? 50_000 : 500); return `{"op":"sync","cursors":${'['.repeat(n)}${']'.repeat(n)}}`; }
        case 3: return text.replace(/:(\d+)/, ':1' + '9'.repeat(1 + this.int(400)));
        case 4: return `${text.slice(0, -1)},"op":"${this.pick(REQUEST_OPS)}","op":1}`;
        case 5: return text.replace(/"[a-z]+":/, '"\\u0000":');
        default: return `${text}${this.pick([' ', '\n', 'x', '{}', ','])}`;
      }
    }
    if (r < 0.9) return this.text(200);
    if (r < 0.995) return JSON.stringify(this.value());
    // Rare: oversized text (frame_too_large), a binary frame, text that is not UTF-8 (1007), over the socket limit (1009).
    const r2 = this.rand();
    if (r2 < 0.45) return `{"op":"ping","pad":"${'p'.repeat(LIMITS.maxFrameBytes)}"}`;
    if (r2 < 0.9) return { bytes: Buffer.from(Array.from({ length: this.int(64) }, () => this.int(256))), binary: true };
    if (r2 < 0.97) return { bytes: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]), binary: false };
    return 'x'.repeat(LIMITS.maxPayloadBytes + 1);
  }
}

interface Tally {
  frames: number;
  errors: Map<string, number>;
  closes: Map<number, number>;
  /** user → cmid → every body sent with that cmid */
  bodies: Map<string, Map<string, Set<string>>>;
  acks: { user: string; chat: string; seq: number; cmid: string }[];
  malformed: Frame[];
}

/** Sends `count` fuzz frames as `user`, reconnecting whenever the node closes the socket. */
async function hammer(server: ParleyServer, user: string, fz: Fuzzer, count: number, t: Tally): Promise<void> {
  let c: RawClient = await rawConnect(server, user);
  const harvest = (client: RawClient) => {
    for (const f of client.frames) {
      if (f.op === 'error') {
        t.errors.set(String(f.code), (t.errors.get(String(f.code)) ?? 0) + 1);
        if (typeof f.code !== 'string' || typeof f.message !== 'string' || f.message.length === 0) t.malformed.push(f);
      } else if (f.op === 'ack') t.acks.push({ user, chat: String(f.chat), seq: Number(f.seq), cmid: String(f.cmid) });
    }
  };
  const bodies = t.bodies.get(user) ?? new Map<string, Set<string>>();
  t.bodies.set(user, bodies);
  for (let sent = 0; sent < count;) {
    for (let i = 0; i < BATCH && sent < count && c.ws.readyState === WebSocket.OPEN; i++, sent++) {
      const data = fz.frame(user);
      if (typeof data === 'string') {
        try {
          const parsed = JSON.parse(data) as { cmid?: unknown; body?: unknown };
          if (typeof parsed.cmid === 'string' && typeof parsed.body === 'string') {
            let set = bodies.get(parsed.cmid);
            if (!set) bodies.set(parsed.cmid, (set = new Set()));
            set.add(parsed.body);
          }
        } catch { /* not JSON: cannot store anything */ }
        // Text frames travel as UTF-8; a lone surrogate becomes U+FFFD on the wire, as in any client.
        c.send(data);
      } else c.ws.send(data.bytes, { binary: data.binary });
      t.frames++;
    }
    const barrier = `barrier-${sent}-${fz.int(1e9)}`;
    const pong = c.ws.readyState === WebSocket.OPEN ? c.request({ op: 'ping', id: barrier }, (f) => f.op === 'pong' && f.id === barrier, 15_000).catch(() => undefined) : undefined;
    const code = await Promise.race([c.closed, pong?.then(() => undefined)]);
    if (typeof code === 'number' || c.ws.readyState !== WebSocket.OPEN) {
      const closed = await c.closed;
      t.closes.set(closed, (t.closes.get(closed) ?? 0) + 1);
      harvest(c);
      c = await rawConnect(server, user);
    }
  }
  // Let in-flight requests answer before counting.
  await c.request({ op: 'ping', id: 'final' }, (f) => f.op === 'pong' && f.id === 'final', 15_000);
  await new Promise((r) => setTimeout(r, 200));
  harvest(c);
  await c.close();
}

describe('fuzz', () => {
  it(`survives ${FRAMES} random and mutated frames and still serves, with nothing corrupted (seed ${SEED})`, { timeout: 60_000 }, async () => {
    const server = await testServer({ badFrameLimit: 1500, sendRatePerSec: 100_000, sendBurst: 100_000, abuseLimit: 1_000_000, liveHoldMs: 0 });
    try {
      // A control conversation no fuzz user belongs to: it must come out byte for byte as written.
      const ctlA = await connect(server, 'ctl-a');
      const ctlBodies = ['before the storm', '😀 ש \u0301 \u0000', 'x'.repeat(LIMITS.maxBodyChars)];
      for (const b of ctlBodies) await ctlA.send({ to: 'ctl-b' }, b);
      const setup = await rawConnect(server, 'fz0');
      const room = (await setup.request({ op: 'room.create', id: 1, name: 'fuzz', members: ['fz1', 'fz2', 'fz3'] })).result as { chat: string };
      await setup.close();
      const chats = ['d:fz0:fz1', 'd:fz1:fz2', 'd:fz2:fz3', 'd:fz0:fz3', room.chat, 'r:00000000000000000000', 'd:ctl-a:ctl-b'];

      const tally: Tally = { frames: 0, errors: new Map(), closes: new Map(), bodies: new Map(), acks: [], malformed: [] };
      const started = Date.now();
      await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => hammer(server, `fz${i}`, new Fuzzer(SEED + i, chats), FRAMES / CONNECTIONS, tally)));
      const elapsedMs = Date.now() - started;

      expect(tally.frames).toBeGreaterThanOrEqual(10_000);
      expect(tally.malformed).toEqual([]);
      // Every error code is in the catalog, and none is a server failure.
      for (const code of tally.errors.keys()) expect(Object.keys(ERRORS), `error code ${code}`).toContain(code);
      expect(tally.errors.get('internal') ?? 0).toBe(0);
      expect(tally.closes.get(1007) ?? 0, 'closes for invalid UTF-8').toBeGreaterThan(0);
      // The fuzzer reached deep into validation, not just the JSON parser.
      for (const code of ['bad_json', 'bad_frame', 'unknown_op', 'bad_field', 'not_member', 'frame_too_large', 'binary_not_supported']) {
        expect(tally.errors.get(code) ?? 0, `${code} seen`).toBeGreaterThan(0);
      }
      // Only policy (too many bad frames) and the RFC limits ever closed a fuzz socket.
      for (const code of tally.closes.keys()) expect([4503, 1007, 1009], `close ${code}`).toContain(code);
      expect(tally.acks.length).toBeGreaterThan(300);

      // Every acknowledged message is stored at its seq, from its sender, with a body it was sent with.
      for (const ack of tally.acks) {
        const [stored] = await server.chat.store.after(ack.chat, ack.seq - 1, 1);
        expect(stored, `ack ${JSON.stringify(ack)}`).toMatchObject({ chat: ack.chat, seq: ack.seq, from: ack.user, cmid: ack.cmid });
        expect(tally.bodies.get(ack.user)?.get(ack.cmid)?.has(stored!.body), `body of ${ack.cmid}`).toBe(true);
      }
      // Seqs in every fuzzed chat are dense: 1..last with no hole and no duplicate.
      for (const chat of new Set(tally.acks.map((a) => a.chat))) {
        const all: Message[] = [];
        for (let after = 0; ; after = all.at(-1)!.seq) {
          const page = await server.chat.store.after(chat, after, 1000);
          all.push(...page);
          if (page.length < 1000) break;
        }
        expect(all.map((m) => m.seq), chat).toEqual(all.map((_, i) => i + 1));
      }

      // The control conversation is intact, and a fresh 1:1 exchange works end to end.
      const ctlB = await connect(server, 'ctl-b');
      expect((await ctlB.history('d:ctl-a:ctl-b')).messages.map((m) => m.body)).toEqual(ctlBodies);
      const fresh = await connect(server, 'after-fuzz');
      const got: Message[] = [];
      ctlB.on('message', (m) => got.push(m));
      const ack = await fresh.send({ to: 'ctl-b' }, 'still serving');
      await until(() => got.length === 1, 'the post-fuzz message');
      expect(got[0]).toMatchObject({ chat: 'd:after-fuzz:ctl-b', seq: 1, body: 'still serving', cmid: ack.cmid });
      const health = await fetch(`${server.opsUrl}/healthz`);
      expect(health.status).toBe(200);
      await Promise.all([ctlA.close(), ctlB.close(), fresh.close()]);
      console.log(`fuzz seed ${SEED}: ${tally.frames} frames in ${elapsedMs} ms, ${tally.acks.length} acks, errors ${JSON.stringify(Object.fromEntries(tally.errors))}, closes ${JSON.stringify(Object.fromEntries(tally.closes))}`);
    } finally {
      await server.close();
    }
  });

  it(`answers ${REST_REQUESTS} random REST requests with catalog errors or success, never a server failure (seed ${SEED})`, { timeout: 60_000 }, async () => {
    const server = await testServer({ liveHoldMs: 0 });
    try {
      const fz = new Fuzzer(SEED, ['d:fz0:fz1', 'd:fz1:fz2', 'r:00000000000000000000']);
      const tokens = [await server.auth.mint('fz0', 600), await server.auth.mint('fz1', 600)];
      const seen = new Map<number, number>();
      const bad: string[] = [];
      const one = async (): Promise<void> => {
        const req = restRequest(fz, tokens);
        const res = await rawHttp(server.httpUrl, req);
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        const what = `${req.method} ${req.path} → ${res.status} ${res.text.slice(0, 200)}`;
        if (req.method === 'HEAD') {
          if (res.status === 500) bad.push(`server failure: ${what}`);
          return;
        }
        // The chat page (a path such as /. or /.. normalizes to /) is a success that is not JSON.
        if (res.status === 200 && res.type.startsWith('text/html')) return;
        let json: { error?: { code?: string; message?: string } };
        try { json = JSON.parse(res.text) as typeof json; } catch { bad.push(`not JSON: ${what}`); return; }
        if (res.status >= 400) {
          const code = json.error?.code;
          if (!code || !Object.hasOwn(ERRORS, code) || typeof json.error?.message !== 'string') bad.push(`no catalog error: ${what}`);
          else if (ERRORS[code as keyof typeof ERRORS].status !== res.status) bad.push(`status differs from the catalog: ${what}`);
          else if (code === 'internal') bad.push(`server failure: ${what}`);
        } else if (res.status !== 200 && res.status !== 201) bad.push(`unexpected status: ${what}`);
      };
      for (let done = 0; done < REST_REQUESTS; done += 8) await Promise.all(Array.from({ length: 8 }, one));
      expect(bad).toEqual([]);
      for (const status of [200, 201, 400, 401, 403, 404]) expect(seen.get(status) ?? 0, `HTTP ${status} seen`).toBeGreaterThan(0);
      expect((await fetch(`${server.opsUrl}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

const REST_REQUESTS = 2_000;

interface RawRequest { method: string; path: string; headers: Record<string, string>; body?: Buffer }

/** Percent-encodes any string; lone surrogates (which encodeURIComponent refuses) become U+FFFD. */
const enc = (s: string): string => encodeURIComponent(s.replace(/[\ud800-\udfff]/gu, '\ufffd'));

/** A random request against /api/v1: real routes with mutated segments, queries, bodies and credentials. */
function restRequest(fz: Fuzzer, tokens: string[]): RawRequest {
  const seg = (): string => fz.pick(['chats', 'roster', 'blocks', 'settings', 'messages', 'members', 'read', 'note', 'd:fz0:fz1', 'd:fz1:fz0', 'r:00000000000000000000', 'fz1', '%E0%A4%A', '%00', '..', '.', '%2F', enc(fz.text(10)), 'x'.repeat(fz.int(300))]);
  const templates = [
    () => '/api/v1/chats',
    () => `/api/v1/chats/${fz.pick(['d:fz0:fz1', 'd:fz0:fz2', 'r:00000000000000000000', seg()])}/messages`,
    () => `/api/v1/chats/${seg()}/members`,
    () => `/api/v1/${Array.from({ length: fz.int(5) }, seg).join('/')}`,
    () => `/api/v1/roster/${seg()}/${seg()}`,
    () => `/${seg()}`,
  ];
  let path = fz.pick(templates)();
  if (fz.chance(0.5)) path += `?${fz.pick(['limit', 'before', 'after', 'ver', 'token', 'x'])}=${enc(JSON.stringify(fz.value()))}&limit=${fz.pick(['1', '0', '-1', '1e3', '201', 'abc', '50'])}`;
  const headers: Record<string, string> = { 'content-type': fz.pick(['application/json', 'text/plain', '']) };
  const auth = fz.rand();
  if (auth < 0.8) headers.authorization = `Bearer ${fz.pick(tokens)}`;
  else if (auth < 0.9) headers.authorization = fz.pick(['Bearer ', 'Basic abc', 'Bearer a.b.c', `Bearer ${tokens[0]!.slice(0, -3)}xyz`]);
  let body: Buffer | undefined;
  const b = fz.rand();
  if (b < 0.4) body = Buffer.from(JSON.stringify({ cmid: `rest-${fz.cmids++}`, body: fz.chance(0.8) ? 'hello over REST' : fz.value(), to: fz.pick(['fz1', 'fz0', 'bad id', 7]), name: fz.value(), members: fz.chance(0.5) ? ['fz1'] : fz.value(), user: fz.pick(['fz2', fz.value()]), seq: fz.value(), note: fz.value(), typing: fz.value() }));
  else if (b < 0.6) body = Buffer.from(JSON.stringify(fz.value()));
  else if (b < 0.7) body = Buffer.from(fz.text(100));
  else if (b < 0.72) body = Buffer.alloc(70 * 1024, 0x20);
  return { method: fz.pick(['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']), path, headers, body };
}

/** Sends a request with the path exactly as given (fetch would normalise it). */
function rawHttp(base: string, req: RawRequest): Promise<{ status: number; text: string; type: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    // An explicit length: without it Node sends a GET body unframed, which is malformed HTTP.
    const headers = { ...req.headers, 'content-length': String(req.body?.length ?? 0) };
    const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, type: String(res.headers['content-type'] ?? '') }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

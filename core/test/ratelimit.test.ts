import { describe, expect, it } from 'vitest';
import { ParleyClientError } from '../client/index.ts';
import type { Message } from '../protocol.ts';
import { connect, testServer } from './helpers.ts';
import { rawConnect, type Frame } from './raw.ts';

/** Waits until every send id got an ack or an error; returns them by id. */
async function outcomes(frames: Frame[], ids: string[], timeoutMs = 5000): Promise<Map<string, Frame>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const byId = new Map<string, Frame>();
    for (const f of frames) if ((f.op === 'ack' || f.op === 'error') && typeof f.id === 'string') byId.set(f.id, f);
    if (ids.every((id) => byId.has(id))) return byId;
    if (Date.now() > deadline) throw new Error(`only ${byId.size} of ${ids.length} sends were answered`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('send rate limit', () => {
  it('answers every send over the bucket with rate_limited and retryAfterMs, and stores exactly the acked ones', async () => {
    const server = await testServer({ sendRatePerSec: 10, sendBurst: 20, abuseLimit: 1000 });
    try {
      const c = await rawConnect(server, 'rl-a');
      const ids = Array.from({ length: 60 }, (_, i) => `s${i}`);
      for (const id of ids) c.send({ op: 'send', id, to: 'rl-b', cmid: id, body: id });
      const got = await outcomes(c.frames, ids);
      const acked = ids.filter((id) => got.get(id)!.op === 'ack');
      const limited = ids.filter((id) => got.get(id)!.op === 'error');
      expect(acked.length + limited.length).toBe(60);
      // The burst, plus at most what refilled at 10/s while the frames were in flight.
      expect(acked.length).toBeGreaterThanOrEqual(20);
      expect(acked.length).toBeLessThan(40);
      for (const id of limited) {
        const e = got.get(id)!;
        expect(e).toMatchObject({ code: 'rate_limited', details: { retryAfterMs: expect.any(Number) } });
        const retryAfterMs = (e.details as { retryAfterMs: number }).retryAfterMs;
        expect(retryAfterMs).toBeGreaterThan(0);
        expect(retryAfterMs).toBeLessThanOrEqual(100);
        expect(e.message).toBe(`send rate is limited to 10/s; retry after ${retryAfterMs} ms`);
      }
      const history = await c.request({ op: 'history', id: 'h', chat: 'd:rl-a:rl-b', limit: 200 });
      expect((history.result as { messages: Message[] }).messages.map((m) => m.cmid)).toEqual(acked);

      // Retrying a limited send after retryAfterMs succeeds, once.
      const first = limited[0]!;
      await new Promise((r) => setTimeout(r, (got.get(first)!.details as { retryAfterMs: number }).retryAfterMs + 20));
      expect(await c.request({ op: 'send', id: 'retry', to: 'rl-b', cmid: first, body: first })).toMatchObject({ op: 'ack', seq: acked.length + 1, cmid: first });
      await c.close();
    } finally {
      await server.close();
    }
  });

  it('rejects client-library sends over the limit with a rate_limited error carrying retryAfterMs', async () => {
    const server = await testServer({ sendRatePerSec: 1, sendBurst: 5, abuseLimit: 1000 });
    try {
      const alice = await connect(server, 'rl-lib');
      const results = await Promise.allSettled(Array.from({ length: 15 }, (_, i) => alice.send({ to: 'rl-bob' }, `m${i}`)));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as ParleyClientError] : []));
      expect(ok).toHaveLength(5);
      expect(failed).toHaveLength(10);
      for (const err of failed) {
        expect(err).toBeInstanceOf(ParleyClientError);
        expect(err.code).toBe('rate_limited');
        expect(err.details?.retryAfterMs).toBeGreaterThan(0);
      }
      await alice.close();
    } finally {
      await server.close();
    }
  });

  it('does not limit other sessions of the same user: the bucket is per session', async () => {
    const server = await testServer({ sendRatePerSec: 1, sendBurst: 3, abuseLimit: 1000 });
    try {
      const phone = await rawConnect(server, 'rl-p');
      const laptop = await rawConnect(server, 'rl-p');
      const ids = ['a', 'b', 'c', 'd'];
      for (const id of ids) phone.send({ op: 'send', id, to: 'rl-q', cmid: `p-${id}`, body: id });
      const got = await outcomes(phone.frames, ids);
      expect(ids.map((id) => got.get(id)!.op)).toEqual(['ack', 'ack', 'ack', 'error']);
      expect(await laptop.request({ op: 'send', id: 'l', to: 'rl-q', cmid: 'l-1', body: 'fine' })).toMatchObject({ op: 'ack', seq: 4 });
      await Promise.all([phone.close(), laptop.close()]);
    } finally {
      await server.close();
    }
  });
});

describe('sustained abuse', () => {
  it('closes a session with 4029 after abuseLimit rate-limited sends, answering each one until then', async () => {
    const server = await testServer({ sendRatePerSec: 1, sendBurst: 2, abuseLimit: 25 });
    try {
      const abuser = await rawConnect(server, 'abuser');
      const bystander = await rawConnect(server, 'calm');
      for (let i = 0; i < 200; i++) abuser.send({ op: 'send', id: `x${i}`, to: 'victim', cmid: `x${i}`, body: 'spam' });
      expect(await abuser.closed).toBe(4029);
      const limited = abuser.frames.filter((f) => f.op === 'error' && f.code === 'rate_limited');
      expect(limited).toHaveLength(25);
      expect(abuser.frames.filter((f) => f.op === 'error')).toHaveLength(25);
      // The two sends within the burst may have committed after the close, unacknowledged: a retry
      // with the same cmid on a new connection returns their acks, and nothing is stored twice.
      expect(abuser.frames.filter((f) => f.op === 'ack').length).toBeLessThanOrEqual(2);
      const back = await rawConnect(server, 'abuser');
      expect(await back.request({ op: 'send', id: 'r0', to: 'victim', cmid: 'x0', body: 'spam' })).toMatchObject({ op: 'ack', seq: 1 });
      expect(await back.request({ op: 'send', id: 'r1', to: 'victim', cmid: 'x1', body: 'spam' })).toMatchObject({ op: 'ack', seq: 2 });
      const history = await back.request({ op: 'history', id: 'h', chat: 'd:abuser:victim' });
      expect((history.result as { messages: Message[] }).messages.map((m) => m.cmid)).toEqual(['x0', 'x1']);
      expect(await bystander.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
      await Promise.all([back.close(), bystander.close()]);
    } finally {
      await server.close();
    }
  });
});

describe('REST send rate', () => {
  it('answers REST posts over the per-user rate with 429 rate_limited and Retry-After, and stores exactly the accepted ones', async () => {
    const node = await testServer({ sendRatePerSec: 1, sendBurst: 5 });
    try {
      const token = await node.auth.mint('alice', 60);
      const post = (i: number) => fetch(`${node.httpUrl}/api/v1/chats/d:alice:bob/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmid: `r${i}`, body: `m${i}` }),
      });
      const answers = [];
      for (let i = 0; i < 12; i++) answers.push(await post(i));
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 201).length).toBe(5);
      expect(statuses.filter((s) => s === 429).length).toBe(7);
      const refused = answers.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ error: { code: 'rate_limited', details: { retryAfterMs: expect.any(Number) } } });
      const history = await fetch(`${node.httpUrl}/api/v1/chats/d:alice:bob/messages`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await history.json()) as { messages: unknown[] }).messages).toHaveLength(5);
    } finally {
      await node.close();
    }
  });
});

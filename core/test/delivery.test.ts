import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ParleyClient } from '../client/index.ts';
import { SUBPROTOCOL, type Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, testServer, until } from './helpers.ts';
import { rawConnect } from './raw.ts';

let server: ParleyServer;
const clients: ParleyClient[] = [];
const open = async (user: string, opts = {}) => {
  const c = await connect(server, user, opts);
  clients.push(c);
  return c;
};
const NO_LIMITS = { sendRatePerSec: 1_000_000, sendBurst: 1_000_000, abuseLimit: 1_000_000 };

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

describe('offline delivery and resume', () => {
  it('gives a recipient who was offline during 1,000 messages all of them on connect, in order, once', async () => {
    server = await testServer(NO_LIMITS);
    const alice = await open('alice');
    await Promise.all(Array.from({ length: 1000 }, (_, i) => alice.send({ to: 'bob' }, `m${i + 1}`)));
    const bob = await open('bob', { sync: false });
    const got: Message[] = [];
    bob.on('message', (m) => got.push(m));
    await bob.request('sync');
    await until(() => got.length >= 1000, '1000 messages');
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i + 1}`));
    expect(bob.duplicatesDropped).toBe(0);
  });

  it('resumes a device without cursors from before a peer\'s message that crossed the user\'s own send: it is not skipped', async () => {
    server = await testServer(NO_LIMITS);
    const bob = await open('bob');
    const alice1 = await open('alice', { recvReportMs: 20 });
    await bob.send({ to: 'alice' }, 'first');
    await until(() => alice1.cursors['d:alice:bob'] === 1, 'alice has seq 1');
    await new Promise((r) => setTimeout(r, 100)); // her delivered cursor (1) is reported
    await alice1.close();
    // Bob's question is committed and on its way (not delivered: alice's device is gone) when
    // alice, on another device, answers; she closes before anything else arrives.
    const [q] = await server.chat.store.append([{ chat: 'd:alice:bob', from: 'bob', cmid: 'q', body: 'question', ts: Date.now() }]);
    expect(q!.ok).toBe(true);
    const alice2 = await open('alice', { sync: false });
    expect((await alice2.send({ to: 'bob' }, 'answer')).seq).toBe(3);
    await alice2.close();
    // A device without cursors resumes from the server's delivered cursor: bob's question is in it.
    const alice3 = await open('alice', { sync: false });
    const got: Message[] = [];
    alice3.on('message', (m) => got.push(m));
    await alice3.request('sync');
    await until(() => got.some((m) => m.seq === 3), 'her own answer, for this device');
    expect(got.map((m) => [m.seq, m.body])).toEqual([[2, 'question'], [3, 'answer']]);
  });

  it('resumes from the client cursor and from the server delivered cursor without gaps or repeats', async () => {
    server = await testServer(NO_LIMITS);
    const alice = await open('alice');
    const bob1 = await open('bob', { recvReportMs: 20 });
    const first: Message[] = [];
    bob1.on('message', (m) => first.push(m));
    for (let i = 1; i <= 10; i++) await alice.send({ to: 'bob' }, `a${i}`);
    await until(() => first.length === 10, 'first ten');
    const cursors = bob1.cursors;
    await new Promise((r) => setTimeout(r, 100)); // let the delivered cursor report land
    await bob1.close();
    for (let i = 11; i <= 20; i++) await alice.send({ to: 'bob' }, `a${i}`);

    // With the cursor the app persisted.
    const bob2 = await open('bob', { cursors, sync: false });
    const second: Message[] = [];
    bob2.on('message', (m) => second.push(m));
    await bob2.request('sync', { cursors });
    await until(() => second.length === 10, 'ten more');
    expect(second.map((m) => m.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    await bob2.close();

    // A device with no cursor relies on the server's delivered cursor (10, reported by bob1).
    const bob3 = await open('bob', { sync: false });
    const third: Message[] = [];
    bob3.on('message', (m) => third.push(m));
    await bob3.request('sync');
    await until(() => third.length === 10, 'from the delivered cursor');
    expect(third[0]!.seq).toBe(11);
  });

  it('holds live delivery until the first frame so a sync sees older messages before newer ones', async () => {
    server = await testServer({ ...NO_LIMITS, liveHoldMs: 5000 });
    const alice = await open('alice');
    for (let i = 1; i <= 5; i++) await alice.send({ to: 'bob' }, `old${i}`);
    const bob = await open('bob', { sync: false });
    const got: Message[] = [];
    bob.on('message', (m) => got.push(m));
    await alice.send({ to: 'bob' }, 'new'); // arrives while bob's session holds live delivery
    await bob.request('sync');
    await until(() => got.length === 6, 'six');
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('slow consumers', () => {
  it('closes a peer that stops reading with 4008 slow, and it loses nothing after reconnecting', async () => {
    server = await testServer({ ...NO_LIMITS, maxQueueBytes: 256 * 1024 });
    const token = await server.auth.mint('bob', 3600);
    const raw = new WebSocket(server.wsUrl, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` } });
    const seen: number[] = [];
    let closeCode = 0;
    raw.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { op: string; seq?: number };
      if (f.op === 'msg') seen.push(f.seq!);
    });
    raw.on('close', (code) => (closeCode = code));
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ op: 'sync' }));
    await new Promise((r) => setTimeout(r, 50));
    // Stop reading: the kernel buffers fill, then the server's queue grows past its bound.
    (raw as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    const alice = await open('alice');
    const body = 'x'.repeat(3900);
    const total = 3000;
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => alice.send({ to: 'bob' }, `${i + k}:${body}`)));
    }
    (raw as unknown as { _socket: { resume(): void } })._socket.resume();
    await until(() => closeCode !== 0, 'the slow close', 20_000);
    expect(closeCode).toBe(4008);
    expect(seen.length).toBeLessThan(total);
    expect(seen).toEqual(seen.map((_, i) => i + 1));

    const last = seen.at(-1) ?? 0;
    const bob = await open('bob', { cursors: { 'd:alice:bob': last }, sync: false });
    const rest: number[] = [];
    bob.on('message', (m) => rest.push(m.seq));
    await bob.request('sync', { cursors: bob.cursors });
    await until(() => last + rest.length >= total, 'the rest after reconnecting', 20_000);
    expect([...seen, ...rest]).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });
});

describe('heartbeats', () => {
  it('reaps a peer that stops answering pings within two intervals', async () => {
    server = await testServer({ pingIntervalMs: 200 });
    const token = await server.auth.mint('zed', 3600);
    const raw = new WebSocket(server.wsUrl, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ op: 'sync' }));
    await until(() => server.hub.size === 1, 'the session to register');
    const alive = await open('alive');
    // A paused socket reads no pings and so sends no pongs; the live client keeps answering.
    (raw as unknown as { _socket: { pause(): void } })._socket.pause();
    const t0 = Date.now();
    await until(() => server.hub.sessionsOf('zed').size === 0, 'the silent peer to be reaped', 5_000);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(server.hub.sessionsOf('alive').size).toBe(1);
    await alive.request('ping');
    raw.terminate();
  });
});

describe('resume races', () => {
  for (const liveHoldMs of [0, 50]) {
    it(`loses nothing when a live message arrives before a late sync (liveHoldMs ${liveHoldMs})`, async () => {
      server = await testServer({ ...NO_LIMITS, liveHoldMs });
      const alice = await open('alice');
      for (let i = 1; i <= 9; i++) await alice.send({ to: 'bob' }, `m${i}`);
      const chat = 'd:alice:bob';
      // The app persisted cursor 3; its sync is still in flight when a live message lands.
      const bob = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint('bob', 60), cursors: { [chat]: 3 }, sync: false });
      clients.push(bob);
      const got: Message[] = [];
      bob.on('message', (m) => got.push(m));
      await bob.connect();
      await new Promise((r) => setTimeout(r, liveHoldMs + 50));
      await alice.send({ to: 'bob' }, 'm10');
      await bob.request('sync', { cursors: { [chat]: 3 } });
      await until(() => bob.cursors[chat] === 10, 'the cursor to reach 10');
      expect(got.map((m) => m.seq).sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    });
  }

  it('sends nothing twice when its sync arrived during a stall that outlasted the live hold (a 60-minute soak resent 107,545 messages)', async () => {
    server = await testServer({ ...NO_LIMITS, liveHoldMs: 50 });
    const alice = await open('alice');
    for (let i = 1; i <= 30; i++) await alice.send({ to: 'bob' }, `m${i}`);
    const chat = 'd:alice:bob';
    const bob = await rawConnect(server, 'bob');
    // Bob has everything (cursor 30) and says so at once; the node's event loop then stalls past
    // the live hold, so the expired hold and Bob's waiting sync are both ready when it resumes.
    bob.send({ op: 'sync', id: 's', cursors: { [chat]: 30 } });
    const until_ = Date.now() + 200;
    while (Date.now() < until_) { /* the stall */ }
    const synced = await bob.next((f) => f.op === 'synced');
    await alice.send({ to: 'bob' }, 'm31');
    await until(() => bob.frames.some((f) => f.op === 'msg' && f.seq === 31), 'm31 live');
    await new Promise((r) => setTimeout(r, 100));
    // Not the delivered cursor's 30 messages again (nothing was ever marked delivered): only the new one.
    expect(bob.frames.filter((f) => f.op === 'msg').map((f) => f.seq)).toEqual([31]);
    expect(synced).toMatchObject({ chats: { [chat]: { last: 30 } } });
    await bob.close();
  });

  it('a fill from the delivered cursor still running when the sync comes skips ahead to the client\'s cursor', async () => {
    server = await testServer({ ...NO_LIMITS, liveHoldMs: 20 });
    const alice = await open('alice');
    // 3,000 messages of 2 KB: more than the socket buffers hold, so the fill waits on Bob's reading.
    const body = 'x'.repeat(2000);
    await Promise.all(Array.from({ length: 3000 }, () => alice.send({ to: 'bob' }, body)));
    const chat = 'd:alice:bob';
    const bob = await rawConnect(server, 'bob');
    // No frame within the hold: the node resumes Bob from his delivered cursor (0).
    await bob.next((f) => f.op === 'msg', 5000, 0);
    const socket = (bob.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // His sync arrives while that fill waits on him: he has everything up to 2,990.
    bob.send({ op: 'sync', id: 's', cursors: { [chat]: 2990 } });
    await new Promise((r) => setTimeout(r, 300));
    socket.resume();
    await bob.next((f) => f.op === 'synced', 10_000, 0);
    await until(() => bob.frames.some((f) => f.op === 'msg' && f.seq === 3000), 'the last message');
    await new Promise((r) => setTimeout(r, 100));
    const seqs = bob.frames.filter((f) => f.op === 'msg').map((f) => f.seq as number);
    // In order, none twice, and the fill jumped from where it was to 2,991.
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.slice(-10)).toEqual(Array.from({ length: 10 }, (_, i) => 2991 + i));
    expect(seqs.length).toBeLessThan(2500);
    await bob.close();
  });

  it('a device without cursors whose sync comes late still starts at the delivered cursor', async () => {
    server = await testServer({ ...NO_LIMITS, liveHoldMs: 30 });
    const alice = await open('alice');
    for (let i = 1; i <= 5; i++) await alice.send({ to: 'bob' }, `m${i}`);
    const bob = await open('bob', { sync: false });
    const got: Message[] = [];
    bob.on('message', (m) => got.push(m));
    await new Promise((r) => setTimeout(r, 100)); // the hold expires before any frame
    await alice.send({ to: 'bob' }, 'm6');
    await bob.request('sync');
    await until(() => got.length >= 6, 'six messages');
    await new Promise((r) => setTimeout(r, 50));
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

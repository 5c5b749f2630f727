import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { rawConnect, type Frame, type RawClient } from './raw.ts';

let server: ParleyServer;
const sockets: RawClient[] = [];

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
  await server?.close();
});

async function synced(user: string): Promise<RawClient> {
  const c = await rawConnect(server, user);
  sockets.push(c);
  await c.request({ op: 'sync', id: 's' });
  return c;
}

const msgs = (c: RawClient) => c.frames.filter((f): f is Frame & { seq: number; from: string } => f.op === 'msg');

describe('fan-out order for the sender', () => {
  it('sends neither user its own messages back when both send in the same commit, and each gets all of the peer\'s in order', async () => {
    server = await testServer({ sendRatePerSec: 10_000, sendBurst: 10_000 });
    const a = await synced('a');
    const b = await synced('b');
    const rounds = 30;
    for (let i = 0; i < rounds; i++) {
      // Both sends reach the server in one turn and share a commit: a's gets seq n, b's n + 1.
      a.send({ op: 'send', to: 'b', cmid: `a${i}`, body: `from a ${i}` });
      b.send({ op: 'send', to: 'a', cmid: `b${i}`, body: `from b ${i}` });
      await until(() => a.frames.filter((f) => f.op === 'ack').length === i + 1 && b.frames.filter((f) => f.op === 'ack').length === i + 1, `round ${i} acks`);
    }
    await until(() => msgs(a).length >= rounds && msgs(b).length >= rounds, 'every peer message');
    await new Promise((r) => setTimeout(r, 100));
    for (const [me, c] of [['a', a], ['b', b]] as const) {
      const got = msgs(c);
      expect(got.filter((m) => m.from === me)).toEqual([]);
      expect(got.map((m) => m.body)).toEqual(Array.from({ length: rounds }, (_, i) => `from ${me === 'a' ? 'b' : 'a'} ${i}`));
      const seqs = got.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    expect(c2seqs(a, b)).toEqual(Array.from({ length: rounds * 2 }, (_, i) => i + 1));
  });
});

/** Every seq of the chat seen by either side (acks and msgs): no gap, none twice. */
function c2seqs(a: RawClient, b: RawClient): number[] {
  const seen = [...a.frames, ...b.frames].filter((f) => f.op === 'ack').map((f) => f.seq as number);
  return seen.sort((x, y) => x - y);
}

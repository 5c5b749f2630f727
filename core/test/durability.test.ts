import { afterEach, describe, expect, it } from 'vitest';
import { ParleyClient, type Ack } from '../client/index.ts';
import { TokenAuthority } from '../edge/auth.ts';
import type { Message } from '../protocol.ts';
import { freePort, spawnServer, tempDir, TEST_SECRET, until, type ServerProcess } from './helpers.ts';

const authority = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));
const procs: ServerProcess[] = [];
const clients: ParleyClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

async function client(url: string, user: string): Promise<ParleyClient> {
  const c = new ParleyClient({ url, token: await authority.mint(user, 3600), backoffMinMs: 50, backoffMaxMs: 300 });
  clients.push(c);
  await c.connect();
  return c;
}

const LIMITS = ['--send-rate-per-sec', '100000', '--send-burst', '100000', '--abuse-limit', '1000000'];

describe('durability', () => {
  it('delivers every acked message exactly once, in order, across a kill -9 and restart', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const args = ['--port', String(port), ...LIMITS];
    procs.push(await spawnServer(dataDir, args));
    const url = `ws://127.0.0.1:${port}/ws`;

    const bob = await client(url, 'bob');
    const received: Message[] = [];
    bob.on('message', (m) => received.push(m));
    const senders = await Promise.all(['s1', 's2', 's3'].map((u) => client(url, u)));
    const room = await senders[0]!.createRoom('ops', ['s2', 's3', 'bob']);

    const acks: Ack[] = [];
    const failures: Error[] = [];
    let sending = true;
    const loops = senders.map(async (s, i) => {
      for (let n = 0; sending; n++) {
        const target = n % 2 === 0 ? { to: 'bob' } : { chat: room.chat };
        // Pace the loop so each sender keeps a few sends in flight at any moment.
        const inFlight = [0, 1, 2].map((k) => s.send(target, `s${i + 1}-${n}-${k}`).then((a) => { acks.push(a); }, (e: Error) => { failures.push(e); }));
        await Promise.all(inFlight);
      }
    });

    await until(() => acks.length >= 300, '300 acks before the kill', 20_000);
    procs[0]!.child.kill('SIGKILL');
    await procs[0]!.exited;
    const ackedAtKill = acks.length;
    await new Promise((r) => setTimeout(r, 300));
    procs.push(await spawnServer(dataDir, args));
    await until(() => acks.length >= ackedAtKill + 300, '300 more acks after the restart', 30_000);
    sending = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);

    // Every acked message that has bob as a recipient reaches bob once, with the acked seq, in order.
    const expected = new Map(acks.map((a) => [`${a.chat}#${a.seq}`, a]));
    await until(() => received.length >= expected.size, `bob to receive all ${expected.size} acked messages`, 30_000);
    const keys = received.map((m) => `${m.chat}#${m.seq}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const [key, a] of expected) {
      const m = received.find((r) => `${r.chat}#${r.seq}` === key);
      expect(m?.cmid, key).toBe(a.cmid);
    }
    for (const chat of new Set(received.map((m) => m.chat))) {
      const seqs = received.filter((m) => m.chat === chat).map((m) => m.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    // Acks never named the same (chat, seq) twice: a retried send after the crash was deduplicated.
    expect(expected.size).toBe(acks.length);
  });

  it('exits 0 on SIGTERM after telling clients to reconnect with 4000, keeping every acked message', async () => {
    const dataDir = tempDir();
    const proc = await spawnServer(dataDir, LIMITS);
    procs.push(proc);
    const alice = await client(proc.wsUrl, 'alice');
    const closes: number[] = [];
    alice.on('disconnect', (d) => closes.push(d.code));
    const acks: Ack[] = [];
    const sends = Array.from({ length: 200 }, (_, i) => alice.send({ to: 'bob' }, `m${i}`).then((a) => acks.push(a), () => undefined));
    await until(() => acks.length >= 20, 'some acks');
    const started = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(closes[0]).toBe(4000);
    await alice.close();
    void sends;

    const again = await spawnServer(dataDir, LIMITS);
    procs.push(again);
    const bob = await client(again.wsUrl, 'bob');
    const history = await bob.history('d:alice:bob', { limit: 200 });
    const stored = new Set(history.messages.map((m) => m.cmid));
    for (const a of acks) expect(stored.has(a.cmid)).toBe(true);
  });
});

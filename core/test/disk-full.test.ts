/**
 * A full disk, for real: the data dir is a small tmpfs that a filler file fills up, then frees.
 * Mounting needs root (CI runs as root); elsewhere the tests skip, in CI they must run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClient, ParleyClientError, type Ack } from '../client/index.ts';
import { TokenAuthority } from '../edge/auth.ts';
import { loadConfig } from '../config.ts';
import { ALERTS } from '../ops/alerts/rules.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { connect, freePort, spawnServer, tempDir, TEST_SECRET, until, type ServerProcess } from './helpers.ts';
import { requires } from './env.ts';

let mountDir = '';
let mounted = false;
let server: ParleyServer | undefined;
const clients: ParleyClient[] = [];
const procs: ServerProcess[] = [];

beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  mountDir = tempDir('parley-diskfull-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mountDir], { stdio: 'pipe' });
    mounted = true;
  } catch {
    mounted = false;
  }
});

// Each step runs even if one before it failed: a node left running would keep the mount busy.
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) { p.child.kill('SIGKILL'); await p.exited; }
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  const closing = server?.close();
  server = undefined;
  try {
    await closing;
  } finally {
    if (mounted) for (const f of fs.readdirSync(mountDir)) fs.rmSync(path.join(mountDir, f), { recursive: true, force: true });
  }
});

afterAll(() => {
  if (!mountDir) return;
  // A lazy unmount still detaches the file system if something holds it open.
  if (mounted) execFileSync('umount', ['-l', mountDir]);
  fs.rmSync(mountDir, { recursive: true, force: true });
});

/** Writes a filler file until the file system has no block left; returns its path. */
function fillDisk(): string {
  const file = path.join(mountDir, 'filler');
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** The code a refused send was answered with ('acked' if it was not refused). */
async function outcome(p: Promise<Ack>): Promise<string> {
  try {
    await p;
    return 'acked';
  } catch (err) {
    return err instanceof ParleyClientError ? err.code : String(err);
  }
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

const UNAVAILABLE = ALERTS.find((a) => a.name === 'ParleyStoreUnavailable')!;

describe('a full disk', () => {
  it('refuses writes with store_unavailable and no ack, stays up, fails /readyz and pages; once space returns it writes again by itself and keeps each acked message once', async (ctx) => {
    requires(ctx, 'a tmpfs mount (root)', mounted);
    const dataDir = path.join(mountDir, 'data');
    const config = loadConfig(new Map(), {}, {
      port: 0, opsPort: 0, host: '127.0.0.1', dataDir, secret: TEST_SECRET, logLevel: 'silent', sqliteSync: 'full', alertIntervalMs: 100,
    });
    // The catalog rule with its expression and threshold as shipped; only its waits are shortened.
    server = await startServer(config, { alertRules: [{ ...UNAVAILABLE, for: '0s', keepFiringFor: '0s' }] });
    const alice = await connect(server, 'alice', { reconnect: false });
    const bob = await connect(server, 'bob', { reconnect: false });
    clients.push(alice, bob);
    const room = await alice.createRoom('disk', ['bob']);
    const acked = new Map<string, Ack>();
    for (let i = 0; i < 20; i++) {
      const ack = await alice.send({ chat: room.chat }, `before-${i}`, `before-${i}`);
      acked.set(ack.cmid, ack);
    }

    const filler = fillDisk();
    const refused = Array.from({ length: 10 }, (_, i) => `during-${i}`);
    const outcomes = await Promise.all(refused.map((cmid) => outcome(alice.send({ chat: room.chat }, cmid, cmid))));
    expect(outcomes).toEqual(refused.map(() => 'store_unavailable'));
    await expect(alice.createRoom('another')).rejects.toMatchObject({ code: 'store_unavailable', details: { reason: 'full', retryAfterMs: 1000 } });

    // The node is up: reads work, /healthz answers, /readyz tells the load balancer to move away.
    const page = await bob.history(room.chat, { limit: 100 });
    expect(page.messages.map((m) => m.cmid)).toEqual([...acked.keys()]);
    expect((await getJson(`${server.opsUrl}/healthz`)).status).toBe(200);
    const ready = await getJson(`${server.opsUrl}/readyz`);
    expect(ready).toMatchObject({ status: 503, body: { status: 'store_unavailable', reason: 'full' } });
    const rest = await fetch(`${server.httpUrl}/api/v1/chats/${encodeURIComponent(room.chat)}/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${await server.auth.mint('alice', 3600)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmid: 'rest-1', body: 'over REST' }),
    });
    expect(rest.status).toBe(503);
    expect(rest.headers.get('retry-after')).toBe('1');
    expect(((await rest.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    const metrics = await (await fetch(`${server.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^parley_store_unavailable 1$/m);
    expect(Number(/^parley_store_errors_total\{kind="full"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    const alertState = async () => (await getJson(`${server!.opsUrl}/alerts`)).body.alerts[0].state as string;
    await until(async () => (await alertState()) === 'firing', 'ParleyStoreUnavailable to fire', 5_000);

    fs.rmSync(filler);
    await until(async () => (await getJson(`${server!.opsUrl}/readyz`)).status === 200, '/readyz to be ready again', 10_000);
    // The refused sends, retried with their cmids, are stored now; a second retry is a duplicate.
    for (const cmid of [...refused, 'rest-1']) acked.set(cmid, await alice.send({ chat: room.chat }, cmid, cmid));
    for (const cmid of refused) expect(await alice.send({ chat: room.chat }, cmid, cmid)).toMatchObject({ dup: true, seq: acked.get(cmid)!.seq });
    await until(async () => (await alertState()) === 'resolved', 'ParleyStoreUnavailable to resolve', 5_000);
    expect(await (await fetch(`${server.opsUrl}/metrics`)).text()).toMatch(/^parley_store_unavailable 0$/m);

    const stored = (await bob.history(room.chat, { limit: 100 })).messages;
    expect(stored.map((m) => m.cmid)).toEqual([...acked.keys()]);
    expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
  });

  it('loses no acked message across a kill -9 and restart after the disk filled and freed', async (ctx) => {
    requires(ctx, 'a tmpfs mount (root)', mounted);
    const dataDir = path.join(mountDir, 'data');
    const port = await freePort();
    const args = ['--port', String(port), '--send-rate-per-sec', '100000', '--send-burst', '100000', '--abuse-limit', '1000000'];
    procs.push(await spawnServer(dataDir, args));
    const url = `ws://127.0.0.1:${port}/ws`;
    const authority = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));
    const client = async (user: string) => {
      const c = new ParleyClient({ url, token: await authority.mint(user, 3600), reconnect: false });
      clients.push(c);
      await c.connect();
      return c;
    };
    const alice = await client('alice');
    const acked = new Map<string, number>();
    const sendAll = async (prefix: string, n: number) => {
      const results = await Promise.all(Array.from({ length: n }, (_, i) => outcome(alice.send({ to: 'bob' }, `${prefix}-${i}`, `${prefix}-${i}`).then((a) => { acked.set(a.cmid, a.seq); return a; }))));
      return results;
    };
    expect(await sendAll('before', 50)).toEqual(Array(50).fill('acked'));
    const filler = fillDisk();
    expect(new Set(await sendAll('during', 50))).toEqual(new Set(['store_unavailable']));
    fs.rmSync(filler);
    // Sends fail until the store's probe finds space; each is retried with its cmid until acked.
    await until(async () => (await sendAll('during', 50)).every((o) => o === 'acked'), 'the refused sends to be acked on retry', 10_000);
    expect(await sendAll('after', 50)).toEqual(Array(50).fill('acked'));

    procs[0]!.child.kill('SIGKILL');
    await procs[0]!.exited;
    procs.push(await spawnServer(dataDir, args));
    const bob = await client('bob');
    const chat = (await bob.chats())[0]!.chat;
    const stored = (await bob.history(chat, { limit: 200 })).messages;
    expect(stored.length).toBe(150);
    expect(new Map(stored.map((m) => [m.cmid, m.seq]))).toEqual(acked);
  });
});

import net from 'node:net';
import pg from 'pg';
import { describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import { requires } from '../test/env.ts';
import { PostgresStore, type PostgresOptions } from './postgres.ts';
import { PG_MIGRATIONS } from './postgres-migrations.ts';
import { storeContract } from './test/contract.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from './test/pg.ts';
import type { RosterState } from './social.ts';
import type { AppendItem, AppendResult } from './types.ts';

/** A new database for this test, dropped after it. */
async function freshDatabase(ctx: TestContext): Promise<TestDatabase> {
  requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
  const db = await createTestDatabase();
  onTestFinished(() => db.drop());
  return db;
}

async function openStore(url: string, opts: Partial<PostgresOptions> = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url, ...opts });
  onTestFinished(() => store.close());
  return store;
}

storeContract('PostgreSQL', async (ctx) => PostgresStore.open({ url: (await freshDatabase(ctx)).url }), async (ctx, n) => {
  const { url } = await freshDatabase(ctx);
  return Promise.all(Array.from({ length: n }, () => PostgresStore.open({ url })));
});

const item = (from: string, cmid: string, chat = 'r:race'): AppendItem => ({ chat, from, cmid, body: `${from} ${cmid}`, ts: Date.now() });
const seqOf = (r: AppendResult) => (r.ok ? r.message.seq : -1);

/** Forwards a local port to PostgreSQL; `cut()` drops every connection and refuses new ones until `resume()`. */
async function pgProxy(): Promise<{ url: (db: string) => string; cut: () => void; resume: () => Promise<void>; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(5432, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const kill = () => { for (const s of sockets) s.destroy(); };
  return {
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    cut: () => { server.close(); kill(); },
    resume: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => { server.close(); kill(); },
  };
}

describe('PostgreSQL store: migrations', () => {
  it('migrates once when five nodes open the same new database at the same time', async (ctx) => {
    const db = await freshDatabase(ctx);
    const stores = await Promise.all(Array.from({ length: 5 }, () => openStore(db.url)));
    expect(stores).toHaveLength(5);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    onTestFinished(() => c.end());
    const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
  });

  it('refuses to start on a schema newer than this build, naming both versions', async (ctx) => {
    const db = await freshDatabase(ctx);
    await (await PostgresStore.open({ url: db.url })).close();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('INSERT INTO schema_migrations(version) VALUES (99)');
    await c.end();
    await expect(PostgresStore.open({ url: db.url })).rejects.toThrow(`database schema version 99 is newer than this build knows (${PG_MIGRATIONS.length}); refusing to start`);
  });

  it('fails to open with the URL (password hidden) and the reason when the database does not exist', async (ctx) => {
    requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
    await expect(PostgresStore.open({ url: 'postgres://postgres:hunter2@127.0.0.1:5432/parley_test_missing' }))
      .rejects.toThrow('cannot open the PostgreSQL store at postgres://postgres:***@127.0.0.1:5432/parley_test_missing: database "parley_test_missing" does not exist');
  });
});

describe('PostgreSQL store: many writers', () => {
  it('gives two nodes writing the same room as fast as they can seqs 1..N, each once, with no gap', async (ctx) => {
    const db = await freshDatabase(ctx);
    const [one, two] = [await openStore(db.url, { poolMax: 4 }), await openStore(db.url, { poolMax: 4 })];
    await one.createRoom('r:race', undefined, 'alice', ['bob'], 'open');
    const perNode = 1500;
    // Each node keeps 50 appends in flight, so both commit batches into the same chat row at once.
    const writer = async (store: PostgresStore, user: string) => {
      const seqs: number[] = [];
      for (let i = 0; i < perNode; i += 50) {
        const wave = await Promise.all(Array.from({ length: 50 }, (_, j) => store.append([item(user, `m${i + j}`)])));
        seqs.push(...wave.map((r) => seqOf(r[0]!)));
      }
      return seqs;
    };
    const [a, b] = await Promise.all([writer(one, 'alice'), writer(two, 'bob')]);
    // Each node's own acks ascend; together they are exactly 1..N.
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(b).toEqual([...b].sort((x, y) => x - y));
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * perNode }, (_, i) => i + 1));
    const stored = await two.after('r:race', 0, 5000);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 2 * perNode }, (_, i) => i + 1));
    expect(stored.filter((m) => m.from === 'alice').map((m) => m.cmid)).toEqual(Array.from({ length: perNode }, (_, i) => `m${i}`));
    expect((await one.chatInfo('r:race'))?.lastSeq).toBe(2 * perNode);
  });

  it('stores a send retried through two nodes at once exactly once, and both answer with its seq', async (ctx) => {
    const db = await freshDatabase(ctx);
    const [one, two] = [await openStore(db.url), await openStore(db.url)];
    await one.createRoom('r:race', undefined, 'alice', [], 'open');
    for (let round = 0; round < 30; round++) {
      const [x, y] = await Promise.all([one.append([item('alice', `retry${round}`)]), two.append([item('alice', `retry${round}`)])]);
      expect([x[0]!.ok && x[0]!.dup, y[0]!.ok && y[0]!.dup].sort()).toEqual([false, true]);
      expect(seqOf(x[0]!)).toBe(round + 1);
      expect(seqOf(y[0]!)).toBe(round + 1);
    }
    expect((await one.after('r:race', 0, 100)).map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('keeps a roster exact when two nodes send each other a request at the same moment', async (ctx) => {
    const db = await freshDatabase(ctx);
    const [one, two] = [await openStore(db.url), await openStore(db.url)];
    // The second to commit sees the first's request and accepts it, like the roster service does.
    const decide = (mine: RosterState, theirs: RosterState): [RosterState, RosterState] => (mine === 'in' ? ['friend', 'friend'] : theirs === 'in' ? [mine, theirs] : ['out', 'in']);
    for (let i = 0; i < 20; i++) {
      const [a, b] = [`a${i}`, `b${i}`];
      // Both already have a roster (a version row), so nothing but the lock orders the two changes.
      await one.social.rosterChange(a, 'c', () => ['friend', 'friend']);
      await one.social.rosterChange(b, 'c', () => ['friend', 'friend']);
      await Promise.all([one.social.rosterChange(a, b, decide), two.social.rosterChange(b, a, decide)]);
      expect([await one.social.rosterState(a, b), await one.social.rosterState(b, a)]).toEqual(['friend', 'friend']);
      expect([(await one.social.roster(a)).ver, (await one.social.roster(b)).ver]).toEqual([3, 3]);
    }
  });
});

describe('PostgreSQL store: outages', () => {
  it('answers store_unavailable while the database is unreachable and writes again when it returns, without being reopened', async (ctx) => {
    const db = await freshDatabase(ctx);
    const proxy = await pgProxy();
    onTestFinished(() => proxy.close());
    const errors: string[] = [];
    const store = await openStore(proxy.url(db.name), { connectTimeoutMs: 1000, onError: (kind) => errors.push(kind) });
    await store.ensureDirect('d:a:b', 'a', 'b');
    expect(seqOf((await store.append([item('a', 'before', 'd:a:b')]))[0]!)).toBe(1);
    proxy.cut();
    const down = await Promise.allSettled([store.append([item('a', 'during', 'd:a:b')]), store.after('d:a:b', 0, 10), store.social.block('a', 'b', 10)]);
    expect(down.map((s) => s.status === 'rejected' && (s.reason as { code?: string }).code)).toEqual(['store_unavailable', 'store_unavailable', 'store_unavailable']);
    expect(errors).toContain('unavailable');
    // The node reports it (readiness, parley_store_unavailable), then sees the database back by itself.
    expect(store.fault()).toMatchObject({ kind: 'unreachable', since: expect.any(Number) });
    await proxy.resume();
    const back = Date.now() + 5_000;
    while (store.fault() && Date.now() < back) await new Promise((r) => setTimeout(r, 50));
    expect(store.fault()).toBeUndefined();
    // The retry with the same cmid is stored once, right after the message before the outage.
    expect((await store.append([item('a', 'during', 'd:a:b')]))[0]).toMatchObject({ ok: true, dup: false, message: { seq: 2 } });
    expect((await store.append([item('a', 'during', 'd:a:b')]))[0]).toMatchObject({ ok: true, dup: true, message: { seq: 2 } });
    expect((await store.after('d:a:b', 0, 10)).map((m) => m.cmid)).toEqual(['before', 'during']);
  });
});

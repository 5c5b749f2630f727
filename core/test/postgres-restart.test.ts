import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { ParleyClient, type Ack, type Message } from '../client/index.ts';
import { createTestDatabase, pgAvailable } from '../store/test/pg.ts';
import { hasCommand, requires } from './env.ts';
import { spawnServer, tempDir, TEST_SECRET, until, type ServerProcess } from './helpers.ts';
import { loadConfig } from '../config.ts';
import { TokenAuthority } from '../edge/auth.ts';

const CLUSTER = ['15', 'main'];
const LIMITS = ['--send-rate-per-sec', '100000', '--send-burst', '100000', '--abuse-limit', '1000000'];

const procs: ServerProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
});

const clusterOnline = () => execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' }).split('\n').some((l) => /^15\s+main\s+\d+\s+online/.test(l));
// Whatever happens in the test, the shared PostgreSQL is left running.
afterAll(() => {
  if (hasCommand('pg_lsclusters') && !clusterOnline()) execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...CLUSTER, 'start'], { stdio: 'ignore' });
});

async function client(url: string, user: string): Promise<ParleyClient> {
  const auth = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));
  const c = new ParleyClient({ url, token: await auth.mint(user, 3600), backoffMinMs: 20, backoffMaxMs: 200 });
  await c.connect();
  onTestFinished(() => c.close());
  return c;
}

describe('a node on PostgreSQL', () => {
  it('refuses a store setting that is neither sqlite nor a postgres URL, saying what it expects', () => {
    expect(() => loadConfig(new Map([['store', 'mysql://x']]), {})).toThrow('store must be "sqlite" or a postgres:// or postgresql:// URL, got "mysql://x"');
    expect(() => loadConfig(new Map(), { PARLEY_STORE: 'postgres://' })).toThrow('store must be "sqlite" or a postgres:// or postgresql:// URL with a host, got one without');
    expect(loadConfig(new Map(), { PARLEY_STORE: 'postgresql://u@db.internal:5433/parley' }, { nodeId: 'n1' }).store).toBe('postgresql://u@db.internal:5433/parley');
  });

  it('answers store_unavailable during a PostgreSQL restart, reconnects by itself, and stores every retried send exactly once', async (ctx) => {
    requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
    requires(ctx, 'pg_ctlcluster (postgresql-common)', hasCommand('pg_ctlcluster'));
    const db = await createTestDatabase();
    onTestFinished(() => db.drop());
    procs.push(await spawnServer(tempDir(), ['--store', db.url, ...LIMITS]));
    const url = procs[0]!.wsUrl;

    const bob = await client(url, 'bob');
    const received: Message[] = [];
    bob.on('message', (m) => received.push(m));
    const alice = await client(url, 'alice');
    const acks: Ack[] = [];
    const refusals: string[] = [];
    let sending = true;
    // One send in flight; a refused send is retried with the same cmid until it is acked.
    const loop = (async () => {
      for (let n = 0; sending; n++) {
        const cmid = `m${n}`;
        for (;;) {
          try {
            acks.push(await alice.send({ to: 'bob' }, `hello ${n}`, cmid));
            break;
          } catch (err) {
            refusals.push((err as { code?: string }).code ?? String(err));
            await new Promise((r) => setTimeout(r, 25));
          }
        }
      }
    })();

    await until(() => acks.length >= 100, '100 acks before the restart', 20_000);
    const ackedBefore = acks.length;
    // Asynchronous, so sends keep arriving at the node while PostgreSQL stops and starts.
    const t0 = Date.now();
    await promisify(execFile)('pg_ctlcluster', ['--skip-systemctl-redirect', ...CLUSTER, 'restart'], { timeout: 60_000 });
    const restartMs = Date.now() - t0;
    await until(() => acks.length >= ackedBefore + 100, '100 more acks after the restart, on the same node', 30_000);
    sending = false;
    await loop;

    expect(refusals.length, `refusals during a ${restartMs} ms restart`).toBeGreaterThan(0);
    expect(new Set(refusals)).toEqual(new Set(['store_unavailable']));
    // Every send was acked once, under its own cmid, with seqs 1..N and no gap.
    expect(acks.map((a) => a.cmid)).toEqual(acks.map((_, i) => `m${i}`));
    expect(acks.map((a) => a.seq)).toEqual(acks.map((_, i) => i + 1));
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    onTestFinished(() => c.end());
    const { rows } = await c.query<{ seq: string; cmid: string }>('SELECT seq, cmid FROM messages ORDER BY seq');
    expect(rows.map((r) => [Number(r.seq), r.cmid])).toEqual(acks.map((a) => [a.seq, a.cmid]));
    // Bob got each exactly once, in order (a send whose commit outcome was unknown arrives through gap repair).
    await until(() => received.length >= acks.length, `bob's ${acks.length} messages`, 15_000);
    expect(received.map((m) => m.cmid)).toEqual(acks.map((a) => a.cmid));
  });
});

/**
 * `parley cluster up` as users run it: `node bin/parley.js` from a compiled installation, on the
 * local PostgreSQL and Redis with HAProxy in front. Two users logged in through HAProxy land on
 * different nodes and talk; Ctrl-C (SIGINT) drains them, and afterwards no process, port or
 * database of the cluster is left.
 */
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuthority } from '../../core/edge/auth.ts';
import { ParleyClient, type Message } from '../../core/client/index.ts';
import { hasCommand, requires } from '../../core/test/env.ts';
import { freePort, tempDir, TEST_SECRET, until } from '../../core/test/helpers.ts';
import { PG_ADMIN_URL, pgAvailable } from '../../core/store/test/pg.ts';
import { compiledTree, runToEnd, type CompiledTree } from '../../nightly/test/fixtures.ts';
import { UsageError } from '../../core/args.ts';
import { clusterCommand } from '../cluster.ts';

let tree: CompiledTree | undefined;
beforeAll(async () => { tree = await compiledTree(); }, 180_000);
afterAll(() => tree?.remove());

const redisUp = () => new Promise<boolean>((resolve) => {
  const s = net.connect(6379, '127.0.0.1', () => { s.end(); resolve(true); });
  s.on('error', () => resolve(false));
});
const refused = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(false); });
  s.on('error', () => resolve(true));
});
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const children = (pid: number) => execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);

describe('parley cluster up (compiled)', () => {
  it('runs two nodes behind HAProxy, carries a message between users on different nodes, and leaves nothing behind after SIGINT', async (ctx) => {
    requires(ctx, 'haproxy, Redis on 127.0.0.1:6379 and PostgreSQL', hasCommand('haproxy') && await redisUp() && await pgAvailable());
    const [port, statsPort] = [await freePort(), await freePort()];
    const dir = tempDir('parley-cluster-up-');
    const cli = spawn(tree!.parley[0]!, [...tree!.parley.slice(1), 'cluster', 'up', '--nodes', '2', '--port', String(port), '--stats-port', String(statsPort), '--dir', dir],
      { cwd: dir, env: { ...process.env, PARLEY_SECRET: TEST_SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => cli.on('exit', (code) => r(code)));
    try {
      await until(() => out.includes('Ctrl-C stops everything.') || cli.exitCode !== null, 'the addresses', 120_000);
      expect(cli.exitCode, err).toBe(null);
      const line = (key: string) => out.split('\n').filter((l) => l.startsWith(key));
      expect(line('public')).toEqual([`public  ws://127.0.0.1:${port}/ws  http://127.0.0.1:${port}/api/v1  (HAProxy, 2 nodes behind it)`]);
      expect(line('stats')).toEqual([`stats   http://127.0.0.1:${statsPort}/`]);
      expect(line('tokens')).toEqual([`tokens  parley token <user> --data-dir ${dir}`]);
      const db = /parley_cluster_[0-9a-f]{8}/.exec(line('store')[0] ?? '')?.[0];
      expect(line('store')[0]).toMatch(/\(created for this cluster; dropped on exit\)$/);
      const nodes = line('node').map((l) => /^node (n\d) +ws:\/\/127\.0\.0\.1:(\d+)\/ws +ops http:\/\/127\.0\.0\.1:(\d+) +log /.exec(l)!).map((m) => ({ id: m[1]!, port: Number(m[2]), opsPort: Number(m[3]) }));
      expect(nodes.map((n) => n.id)).toEqual(['n1', 'n2']);
      const pids = children(cli.pid!);
      // Two nodes and HAProxy, nothing else.
      expect(pids).toHaveLength(3);
      expect(await (await fetch(`http://127.0.0.1:${statsPort}/`)).text()).toContain('parley_ws');

      // The token of `parley token` with the cluster's secret, minted the way the printed line says.
      const mint = await runToEnd([...tree!.parley, 'token', 'ann', '--data-dir', dir], { cwd: dir, env: { PARLEY_SECRET: undefined } });
      expect(mint.code, mint.stderr).toBe(0);
      const url = `ws://127.0.0.1:${port}/ws`;
      const ann = new ParleyClient({ url, token: mint.stdout.trim(), backoffMinMs: 20 });
      const ben = new ParleyClient({ url, token: await new TokenAuthority(new TextEncoder().encode(TEST_SECRET)).mint('ben', 600), backoffMinMs: 20 });
      const got: Message[] = [];
      const closes: number[] = [];
      ben.on('message', (m) => got.push(m));
      ben.on('disconnect', (d) => closes.push(d.code));
      await ann.connect();
      await ben.connect();
      // leastconn put one on each node.
      const sessions = await Promise.all(nodes.map(async (n) => ((await (await fetch(`http://127.0.0.1:${n.opsPort}/readyz`)).json()) as { sessions: number }).sessions));
      expect(sessions).toEqual([1, 1]);
      const ack = await ann.send({ to: 'ben' }, 'across the cluster');
      await until(() => got.some((m) => m.body === 'across the cluster'), 'ben gets ann\'s message from the other node');
      expect(got.map((m) => [m.from, m.seq])).toEqual([['ann', ack.seq]]);

      const t0 = Date.now();
      cli.kill('SIGINT');
      expect(await exited, err).toBe(0);
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(out).toContain('parley cluster: stopped');
      // ben was told to reconnect (the node drained) before everything went away.
      expect(closes[0]).toBe(4000);
      await Promise.all([ann.close(), ben.close()]);
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
      for (const p of [port, statsPort, ...nodes.flatMap((n) => [n.port, n.opsPort])]) expect(await refused(p), `port ${p}`).toBe(true);
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      await admin.end();
      expect(left.rowCount).toBe(0);
    } finally {
      if (cli.exitCode === null) { cli.kill('SIGKILL'); await exited; }
    }
  }, 240_000);
});

describe('parley cluster usage', () => {
  it('names every bad option at once, before starting anything', async () => {
    const err = await clusterCommand(['up', '--nodes', '0', '--port', 'x', '--store', 'mysql://db', '--pg', 'postgres://h/db', '--nodez', '2']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).problems).toEqual([
      'unknown flag --nodez',
      '--nodes must be an integer from 1 to 16, got "0"',
      '--port must be a port (0-65535), got "x"',
      '--store and --pg exclude each other: --store uses a database, --pg creates one',
      '--store must be a postgres:// or postgresql:// URL, got "mysql://db"',
    ]);
  });

  it('refuses a bad --node for cluster haproxy with the form it expects', async () => {
    const err = await clusterCommand(['haproxy', '--node', '10.0.0.1:8080']).catch((e: unknown) => e);
    expect((err as UsageError).problems).toEqual(['--node must be HOST:PORT:OPSPORT (e.g. 10.0.0.11:8080:9464), got "10.0.0.1:8080"']);
  });
});

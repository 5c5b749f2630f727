/**
 * Deploys a build as a small cluster for one run (`--deploy cluster`): a fresh PostgreSQL database,
 * a redis-server of its own on a free port (a shared Redis when none is installed), and the build's
 * nodes started from its own tree by cli/cluster.ts, pinned away from the load generator. The
 * teardown stops it all as one: the nodes drain, the database is dropped, redis-server is killed.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startCluster, type LocalCluster } from '../cli/cluster.ts';
import { pinPrefix, type Deployment, type Teardown } from './deploy.ts';

export const DEFAULT_NIGHTLY_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_NIGHTLY_REDIS = 'redis://127.0.0.1:6379';

export interface ClusterDeployOptions {
  buildDir: string;
  secret: string;
  teardown: Teardown;
  /** Nodes in the cluster (2 for the nightly). */
  nodes: number;
  /** Admin URL of the PostgreSQL server the run's database is created on and dropped from. */
  pgAdmin: string;
  /** Redis the nodes share when redis-server is not installed (no per-run server possible). */
  sharedRedis: string;
  /** Extra PARLEY_* variables for every node. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** The CPU of node `i`: CPU 0 is the load generator's; the nodes share the rest round-robin. */
export function nodeCpu(i: number, cpus = os.cpus().length): number {
  return 1 + (i % Math.max(1, cpus - 1));
}

let redisServerPresent: boolean | undefined;
/** Whether `redis-server` runs on this machine. */
export function redisServerInstalled(): boolean {
  redisServerPresent ??= (() => {
    try { execFileSync('redis-server', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
  })();
  return redisServerPresent;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a PING on 127.0.0.1:port is answered +PONG; rejects after `timeoutMs`. */
async function redisAnswers(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pong = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => c.write('PING\r\n'));
      c.setTimeout(1000, () => { c.destroy(); resolve(false); });
      c.on('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
      c.on('error', () => resolve(false));
    });
    if (pong) return;
    if (Date.now() > deadline) throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface RedisServer { url: string; port: number; pid: number; stop(): Promise<void> }

/** A redis-server of the run's own: loopback, a free port, nothing persisted, pinned with the nodes. */
async function startRedisServer(dir: string, timeoutMs: number): Promise<RedisServer> {
  const port = await freePort();
  const argv = [...pinPrefix(nodeCpu(0)), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--logfile', path.join(dir, 'redis.log')];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await Promise.race([redisAnswers(port, timeoutMs), exited.then(() => { throw new Error(`redis-server exited before it answered on port ${port}`); })]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid!, stop };
}

/** The database a cluster's store URL names. */
function databaseOf(store: string): string {
  return new URL(store).pathname.slice(1);
}

/**
 * Starts a cluster of the build for one run and waits until every node is ready. The deployment's
 * wsUrl lists every node's WebSocket URL (comma-separated: `parley load` spreads users over them);
 * `nodes` carries each node's ops URL and pid for the scrape.
 */
export async function deployCluster(opts: ClusterDeployOptions): Promise<Deployment> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-nightly-cluster-'));
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  let redisStarting: Promise<RedisServer> | undefined;
  let starting: Promise<LocalCluster> | undefined;
  let stopping: Promise<void> | undefined;
  // One stop for the whole cluster, in order: the nodes drain while Redis and the database are
  // still there, then the database is dropped (startCluster's stop) and redis-server goes.
  const stop = () => (stopping ??= (async () => {
    unregister();
    // A Ctrl-C during the start waits for it: startCluster stops what it started when it fails.
    const cluster = await starting?.catch(() => undefined);
    try {
      await cluster?.stop();
    } finally {
      await (await redisStarting?.catch(() => undefined))?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  })());
  const unregister = opts.teardown.add(stop);
  try {
    redisStarting = redisServerInstalled() ? startRedisServer(dir, timeoutMs) : undefined;
    const redis = await redisStarting;
    const prefix = `parley-night-${path.basename(dir).slice(-6).replace(/[^A-Za-z0-9]/g, '')}`;
    starting = startCluster({
      nodes: opts.nodes, pgAdmin: opts.pgAdmin, redis: redis?.url ?? opts.sharedRedis, secret: opts.secret, dir, startTimeoutMs: timeoutMs,
      nodeArgs: ['--log-level', 'info'],
      launch: {
        command: [process.execPath, path.join(opts.buildDir, 'bin/parley.js')], cwd: opts.buildDir,
        // On a shared Redis, keys and channels of a prefix of the run's own (PARLEY_REDIS_PREFIX: an
        // environment variable, which a build from before the setting warns about and ignores).
        pin: (i) => pinPrefix(nodeCpu(i)), env: { ...opts.env, PARLEY_ADMIN_TOKEN: undefined, ...(redis ? {} : { PARLEY_REDIS_PREFIX: prefix }) },
      },
    });
    const cluster = await starting;
    const nodes = cluster.nodes.map((n) => ({ id: n.id, wsUrl: n.wsUrl, opsUrl: n.opsUrl, pid: n.child!.pid! }));
    opts.log?.(`  cluster: ${nodes.length} nodes (${nodes.map((n) => `${n.id} pid ${n.pid}`).join(', ')}), database ${databaseOf(cluster.store)}, `
      + `${redis ? `redis-server pid ${redis.pid} on port ${redis.port}` : `shared Redis ${opts.sharedRedis}, key prefix ${prefix}`}`);
    return { wsUrl: nodes.map((n) => n.wsUrl).join(','), opsUrl: nodes[0]!.opsUrl, nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

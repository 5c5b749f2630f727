/**
 * Deploys a build as a small cluster for one run (`--deploy cluster`): a fresh PostgreSQL database,
 * a redis-server of its own on a free port (a shared Redis when none is installed), and the build's
 * nodes started from its own tree by cli/cluster.ts, pinned away from the load generator. The
 * teardown stops it all as one: the nodes drain, the database is dropped, redis-server is killed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCluster, type LocalCluster } from '../cli/cluster.ts';
import { startRedisServer, type RedisServer } from '../core/bench/redis-server.ts';
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
    // A redis-server of the run's own, pinned with the nodes.
    redisStarting = redisServerInstalled() ? startRedisServer({ prefix: pinPrefix(nodeCpu(0)), dir, timeoutMs }) : undefined;
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

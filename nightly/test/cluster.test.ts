/**
 * `parley nightly --deploy cluster` from the compiled CLI: every run of the battery gets two nodes
 * of the build on a PostgreSQL database and a redis-server of its own. The same build on both sides
 * (pre-seeded in the cache from the compiled tree, so no tsc in a worktree), one block: the report
 * is written, the exit code is the gate's, both nodes carried load, and afterwards no node,
 * redis-server or database is left, after a finished night and after a Ctrl-C.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PG_ADMIN_URL, pgAvailable } from '../../core/store/test/pg.ts';
import { hasCommand, requires } from '../../core/test/env.ts';
import { ROOT, tempDir, until } from '../../core/test/helpers.ts';
import { lockHash } from '../build.ts';
import { readHistory } from '../history.ts';
import { compiledTree, runToEnd, type CompiledTree } from './fixtures.ts';

let tree: CompiledTree | undefined;
const tmp = tempDir('parley-nightly-cluster-test-');
const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const cache = path.join(tmp, 'cache');

beforeAll(async () => {
  tree = await compiledTree();
  // The build of HEAD is this checkout compiled: the nightly finds it in its cache.
  const build = path.join(cache, 'builds', commit);
  fs.mkdirSync(build, { recursive: true });
  for (const entry of ['bin', 'dist', 'node_modules', 'package.json']) fs.symlinkSync(path.join(tree.dir, entry), path.join(build, entry));
  fs.writeFileSync(path.join(build, '.parley-build.json'), JSON.stringify({ commit, lockHash: lockHash(ROOT), warnings: [] }));
}, 180_000);
afterAll(() => {
  tree?.remove();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Deployed { pids: number[]; database: string; redisPid: number; redisPort: number }

/** The cluster of every run, from the nightly's log lines. */
function deployments(log: string): Deployed[] {
  return [...log.matchAll(/cluster: 2 nodes \(n1 pid (\d+), n2 pid (\d+)\), database (\w+), redis-server pid (\d+) on port (\d+)/g)]
    .map((m) => ({ pids: [Number(m[1]), Number(m[2])], database: m[3]!, redisPid: Number(m[4]), redisPort: Number(m[5]) }));
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const refused = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(false); });
  s.on('error', () => resolve(true));
});
async function databasesLeft(names: string[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names])).rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
}
async function expectNothingLeft(runs: Deployed[]): Promise<void> {
  expect(runs.flatMap((r) => [...r.pids, r.redisPid]).filter(alive)).toEqual([]);
  expect(await Promise.all(runs.map((r) => refused(r.redisPort)))).toEqual(runs.map(() => true));
  expect(await databasesLeft(runs.map((r) => r.database))).toEqual([]);
}

const nightlyArgs = (out: string) => ['nightly', '--repo', ROOT, '--cache', cache, '--base', commit, '--head', commit, '--allow-dirty', '--battery', 'smoke',
  '--deploy', 'cluster', '--pg', PG_ADMIN_URL, '--out', out, '--waivers', path.join(tmp, 'none.json'), '--resamples', '1000'];

it('runs each battery run on two fresh nodes, gates on their summed figures, and leaves no node, redis-server or database behind', async (ctx) => {
  requires(ctx, 'redis-server and PostgreSQL at 127.0.0.1:5432', hasCommand('redis-server') && await pgAvailable());
  const out = path.join(tmp, 'out');
  const night = await runToEnd([...tree!.parley, ...nightlyArgs(out), '--blocks', '1', '--max-blocks', '1'], { cwd: tmp });
  const said = `--- stdout\n${night.stdout}\n--- stderr\n${night.stderr}`;
  // Two runs a side cannot decide the gating metric: inconclusive (3), the gate's code.
  expect(night.code, said).toBe(3);
  expect(night.stdout).toMatch(/^inconclusive \(exit 3\); report /m);

  const { nights } = readHistory(out);
  expect(nights).toHaveLength(1);
  const n = nights[0]!;
  expect(n.gate.exitCode).toBe(3);
  expect(n.environment.deploy).toMatch(/^cluster: 2 nodes/);
  expect(n.runs).toHaveLength(4);
  const runs = deployments(night.stderr);
  // One cluster per attempt (a discarded run is redone on a fresh one).
  expect(runs.length, said).toBe(n.runs.length + n.discarded.length);
  expect(new Set(runs.map((r) => r.database)).size).toBe(runs.length);
  for (const r of n.runs) {
    expect(Object.keys(r.nodes ?? {}).sort()).toEqual(['n1', 'n2']);
    // Both nodes had users, stored their messages and received the other node's through Redis.
    for (const f of Object.values(r.nodes!)) {
      expect(f.logins).toBeGreaterThan(0);
      expect(f.messages_stored).toBeGreaterThan(0);
      expect(f.bus_received).toBeGreaterThan(0);
      expect(f.cpu_ms).toBeGreaterThan(0);
    }
    // The compared CPU is the cluster's: both nodes' time for the run's work.
    const cpuMs = r.nodes!.n1!.cpu_ms! + r.nodes!.n2!.cpu_ms!;
    const acked = JSON.parse(fs.readFileSync(path.join(out, 'nights', n.id, 'runs', r.file!), 'utf8')).counters.acked as number;
    expect(r.metrics['server.cpu_ms_per_1k']).toBeCloseTo(cpuMs / (acked / 1000), 6);
  }
  const report = fs.readFileSync(path.join(out, 'nights', n.id, 'report.html'), 'utf8');
  expect(report).toContain('<h3>Nodes</h3>');
  expect(report).toContain('INCONCLUSIVE');
  await expectNothingLeft(runs);
}, 600_000);

it('stops the nodes, the redis-server and the database of the running cluster on SIGINT and exits 4', async (ctx) => {
  requires(ctx, 'redis-server and PostgreSQL at 127.0.0.1:5432', hasCommand('redis-server') && await pgAvailable());
  const child = spawn(tree!.parley[0]!, [...tree!.parley.slice(1), ...nightlyArgs(path.join(tmp, 'out-sigint'))], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until(() => deployments(log).length > 0, 'a deployed cluster', 120_000);
    child.kill('SIGINT');
    expect(await exited, log).toBe(4);
    expect(log).toContain('SIGINT: stopping servers');
    await expectNothingLeft(deployments(log));
  } finally {
    child.kill('SIGKILL');
  }
}, 300_000);

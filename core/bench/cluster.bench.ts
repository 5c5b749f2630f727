/**
 * bench:cluster: what the cluster parts cost. The same 1:1 and room workloads against three
 * deployments, side by side in one run:
 * - `sqlite`: one node on the embedded store (the single-machine default);
 * - `pg`: one node on PostgreSQL (a fresh database on the local server);
 * - `redis2`: two nodes on one PostgreSQL database and a Redis of their own (redis-server on a free
 *   port), every user's peer or fellow room members on the other node, so every delivery crosses
 *   Redis: the hop's full cost.
 * Each (deployment, workload) runs on a fresh deployment: an open model at a fixed offered rate
 * (the same for every deployment, so CPU per send compares like with like) for p50/p99
 * send→deliver latency and CPU per send of every process on the path (the nodes, redis-server, all
 * PostgreSQL processes, from /proc schedstat), then a closed loop for the acked sends/s it
 * sustains. Rounds run the deployments in alternating order (A B C, C B A) and report medians with
 * their spread. Nodes and redis-server are pinned to core 0, the load generator to core 1;
 * PostgreSQL is a system service and runs where the kernel puts it.
 *
 * Usage: npm run bench:cluster [-- --pairs 50 --rooms 10 --room-size 6 --dm-rate 1000 --room-rate 200
 *   --window 4 --rounds 2 --warmup-ms 2000 --measure-ms 5000 --configs sqlite,pg,redis2]
 * Exit code: 0 every run delivered everything without errors, 1 a run lost messages or got errors,
 * 2 invalid (the generator fell behind) or a crash. Writes out/bench-cluster.json.
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseArgs } from '../args.ts';
import { fromLabel, machine, printTable, raisePriority, ROOT, round, runPinned, SERVER_CPU, startParley, type ParleyNode } from './harness.ts';
import { LoadGen, type RunStats, type Target } from './loadgen.ts';
import { startRedisServer } from './redis-server.ts';
import { cpuNs } from './readings.ts';
import { median } from './stats.ts';

const CONFIGS = ['sqlite', 'pg', 'redis2'] as const;
type Config = (typeof CONFIGS)[number];
const WORKLOADS = ['dm', 'room'] as const;
type Workload = (typeof WORKLOADS)[number];

const DEFAULTS = Object.freeze({
  /** 1:1: pairs of users, each sending to its peer. */
  pairs: 50,
  /** Rooms: this many rooms of roomSize members, each member sending to its room. */
  rooms: 10,
  roomSize: 6,
  /** Offered 1:1 sends/s in the open model. */
  dmRate: 1000,
  /** Offered room sends/s in the open model (each reaches roomSize - 1 members). */
  roomRate: 200,
  /** Sends outstanding per user in the closed loop. */
  window: 4,
  rounds: 2,
  warmupMs: 2000,
  measureMs: 5000,
  graceMs: 3000,
  /** A run whose generator dispatched sends later than this (p99) measured the generator: invalid. */
  maxDispatchLagMs: 10,
});

type Options = { -readonly [K in keyof typeof DEFAULTS]: number } & { configs: Config[]; out: string; pgAdmin: string };

function options(argv: string[]): Options {
  const { flags } = parseArgs(argv);
  const configs = (flags.get('configs') ?? CONFIGS.join(',')).split(',') as Config[];
  const unknown = configs.filter((c) => !CONFIGS.includes(c));
  if (unknown.length || !configs.length) throw new Error(`--configs takes a comma-separated subset of ${CONFIGS.join(', ')}, got "${flags.get('configs')}"`);
  const opts: Options = {
    ...DEFAULTS, configs, out: flags.get('out') ?? path.join(ROOT, 'out/bench-cluster.json'),
    pgAdmin: flags.get('pg') ?? process.env.PARLEY_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const raw = flags.get(kebab(key));
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${kebab(key)} must be a positive integer, got "${raw}"`);
    opts[key] = n;
  }
  if (opts.roomSize < 2) throw new Error(`--room-size must be at least 2, got ${opts.roomSize}`);
  return opts;
}

// ── deployments ─────────────────────────────────────────────────────────────────────────────────

interface Deployment {
  config: Config;
  nodes: ParleyNode[];
  redis?: ChildProcess;
  target: Target;
  stop(): Promise<void>;
}

async function withAdmin<T>(url: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try { return await run(c); } finally { await c.end().catch(() => undefined); }
}

/** A fresh database on the local server, and how to drop it. */
async function freshDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `parley_bench_${crypto.randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}

/** Users are named `<prefix>-...-<i>`; in redis2 even i connect to node 1, odd to node 2: a peer or next member is always on the other node. */
const nodeOf = (user: string): number => Number(user.slice(user.lastIndexOf('-') + 1)) % 2;

async function deploy(config: Config, opts: Options, pin: boolean): Promise<Deployment> {
  const dirs: string[] = [];
  const dataDir = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-cluster-')); dirs.push(d); return d; };
  const cleanup: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const c of cleanup.reverse()) await c().catch((err: unknown) => console.warn(`  teardown: ${(err as Error).message}`));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  };
  try {
    if (config === 'sqlite') {
      const node = await startParley({ pin, dataDir: dataDir() });
      cleanup.push(() => node.stop());
      return { config, nodes: [node], target: node.target, stop };
    }
    const db = await freshDatabase(opts.pgAdmin);
    cleanup.push(() => db.drop());
    if (config === 'pg') {
      const node = await startParley({ pin, dataDir: dataDir(), args: ['--store', db.url, '--node-id', 'n1'] });
      cleanup.push(() => node.stop());
      return { config, nodes: [node], target: node.target, stop };
    }
    // A redis-server of the run's own, pinned with the nodes.
    const redis = await startRedisServer({ prefix: pin ? ['taskset', '-c', SERVER_CPU] : [] });
    cleanup.push(() => redis.stop());
    const args = (id: string) => ['--store', db.url, '--redis', redis.url, '--node-id', id];
    // The first node applies the migrations; the second starts on a migrated database.
    const n1 = await startParley({ pin, dataDir: dataDir(), args: args('n1') });
    cleanup.push(() => n1.stop());
    const n2 = await startParley({ pin, dataDir: dataDir(), args: args('n2') });
    cleanup.push(() => n2.stop());
    const nodes = [n1, n2];
    const target: Target = { ...n1.target, url: (user) => nodes[nodeOf(user)]!.target.url(user) };
    return { config, nodes, redis: redis.child, target, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ── CPU of every process on the path ────────────────────────────────────────────────────────────

/** Every PostgreSQL process (postmaster, backends, writers): their CPU is the store's. */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(d)); } catch { /* gone */ }
  }
  return pids;
}

const safeCpuNs = (pid: number): number => { try { return cpuNs(pid); } catch { return 0; } };

interface CpuReading { nodes: number[]; redis: number; postgres: Map<number, number> }

function readCpu(d: Deployment): CpuReading {
  return {
    nodes: d.nodes.map((n) => safeCpuNs(n.child.pid!)),
    redis: d.redis ? safeCpuNs(d.redis.pid!) : 0,
    postgres: new Map(d.config === 'sqlite' ? [] : postgresPids().map((p) => [p, safeCpuNs(p)])),
  };
}

/** CPU µs per send between two readings, by part; PostgreSQL backends started in between count from zero. */
function cpuPerSend(a: CpuReading, b: CpuReading, sends: number): { nodes: number; perNode: number[]; redis: number; postgres: number; total: number } {
  const us = (ns: number) => ns / 1000 / sends;
  const perNode = b.nodes.map((x, i) => round(us(x - a.nodes[i]!), 1));
  const nodes = us(b.nodes.reduce((s, x, i) => s + x - a.nodes[i]!, 0));
  const redis = us(b.redis - a.redis);
  let pgNs = 0;
  for (const [pid, ns] of b.postgres) pgNs += ns - (a.postgres.get(pid) ?? 0);
  const postgres = us(pgNs);
  return { nodes: round(nodes, 1), perNode, redis: round(redis, 1), postgres: round(postgres, 1), total: round(nodes + redis + postgres, 1) };
}

// ── one measured run ────────────────────────────────────────────────────────────────────────────

interface Run {
  config: Config;
  workload: Workload;
  round: number;
  open: RunStats & { offeredPerSec: number };
  /** CPU µs per send in the open model (whole run, warm-up included), by part. */
  cpuUsPerSend: ReturnType<typeof cpuPerSend>;
  /** Acked sends/s the closed loop sustained. */
  capacityPerSec: number;
  /** CPU µs per acked send in the closed loop (saturation: group commit at its best), by part. */
  cpuUsPerSendAtCapacity: ReturnType<typeof cpuPerSend>;
  capacityErrors: number;
  valid: boolean;
}

async function measure(config: Config, workload: Workload, roundNo: number, opts: Options, pin: boolean): Promise<Run> {
  const d = await deploy(config, opts, pin);
  try {
    const prefix = `${workload}${roundNo}`;
    const gen = workload === 'dm' ? await LoadGen.connect(d.target, opts.pairs, prefix) : await LoadGen.connectRooms(d.target, opts.rooms, opts.roomSize, prefix);
    const rate = workload === 'dm' ? opts.dmRate : opts.roomRate;
    const total = Math.floor(((opts.warmupMs + opts.measureMs) / 1000) * rate);
    const before = readCpu(d);
    const open = await gen.open(rate, opts.warmupMs, opts.measureMs, opts.graceMs);
    const cpu = cpuPerSend(before, readCpu(d), total);
    const beforeClosed = readCpu(d);
    const closed = await gen.closed(opts.window, opts.warmupMs, opts.measureMs, opts.graceMs);
    const cpuAtCapacity = cpuPerSend(beforeClosed, readCpu(d), Math.max(1, closed.acked));
    await gen.close();
    const run: Run = {
      config, workload, round: roundNo, open: { ...open, offeredPerSec: rate }, cpuUsPerSend: cpu,
      capacityPerSec: closed.issuedPerSec, cpuUsPerSendAtCapacity: cpuAtCapacity, capacityErrors: closed.errors, valid: open.dispatchLagP99Ms <= opts.maxDispatchLagMs,
    };
    const lost = open.sent * open.fanout - open.delivered;
    console.log(`  round ${roundNo} ${config.padEnd(6)} ${workload.padEnd(4)}: p50 ${open.p50Ms} ms, p99 ${open.p99Ms} ms at ${rate} sends/s (×${open.fanout}); CPU µs/send nodes ${cpu.nodes}, redis ${cpu.redis}, postgres ${cpu.postgres} = ${cpu.total}; capacity ${closed.issuedPerSec} sends/s at ${cpuAtCapacity.total} µs/send (nodes ${cpuAtCapacity.nodes}, redis ${cpuAtCapacity.redis}, postgres ${cpuAtCapacity.postgres})${lost ? `; LOST ${lost}` : ''}${open.errors + closed.errors ? `; errors ${open.errors + closed.errors} (${open.firstError ?? closed.firstError})` : ''}${run.valid ? '' : `; INVALID (generator lag p99 ${open.dispatchLagP99Ms} ms)`}`);
    return run;
  } finally {
    await d.stop();
  }
}

// ── the bench ───────────────────────────────────────────────────────────────────────────────────

const spread = (xs: number[]): string => (xs.length > 1 ? ` (${Math.min(...xs)}–${Math.max(...xs)})` : '');

async function bench(argv: string[]): Promise<number> {
  const opts = options(argv);
  const pin = process.env.PARLEY_BENCH_PINNED === '1';
  const niceness = raisePriority();
  console.log(`bench:cluster, ${fromLabel()}: ${opts.configs.join(', ')} × dm (${opts.pairs} pairs at ${opts.dmRate}/s), room (${opts.rooms} rooms of ${opts.roomSize} at ${opts.roomRate}/s); ${opts.rounds} rounds; ${pin ? 'nodes and redis on core 0, load on core 1' : 'unpinned'}`);
  const runs: Run[] = [];
  for (let r = 1; r <= opts.rounds; r++) {
    const order = r % 2 ? opts.configs : [...opts.configs].reverse();
    for (const workload of WORKLOADS) for (const config of order) runs.push(await measure(config, workload, r, opts, pin));
  }

  const summary = WORKLOADS.flatMap((workload) => opts.configs.map((config) => {
    const rs = runs.filter((x) => x.config === config && x.workload === workload);
    const med = (f: (x: Run) => number) => round(median(rs.map(f)), 2);
    return {
      config, workload,
      p50Ms: med((x) => x.open.p50Ms), p99Ms: med((x) => x.open.p99Ms), p99s: rs.map((x) => x.open.p99Ms),
      cpuNodes: med((x) => x.cpuUsPerSend.nodes), cpuRedis: med((x) => x.cpuUsPerSend.redis), cpuPostgres: med((x) => x.cpuUsPerSend.postgres),
      cpuTotal: med((x) => x.cpuUsPerSend.total), cpuTotals: rs.map((x) => x.cpuUsPerSend.total),
      capacity: med((x) => x.capacityPerSec), capacities: rs.map((x) => x.capacityPerSec),
      capNodes: med((x) => x.cpuUsPerSendAtCapacity.nodes), capRedis: med((x) => x.cpuUsPerSendAtCapacity.redis), capPostgres: med((x) => x.cpuUsPerSendAtCapacity.postgres),
      capTotal: med((x) => x.cpuUsPerSendAtCapacity.total),
      lost: rs.reduce((s, x) => s + x.open.sent * x.open.fanout - x.open.delivered, 0),
      errors: rs.reduce((s, x) => s + x.open.errors + x.capacityErrors, 0),
    };
  }));
  console.log('\n  medians over rounds (spread): open model at the same offered rate per workload; capacity from the closed loop');
  printTable(['deployment', 'workload', 'p50 ms', 'p99 ms', 'node µs/send', 'redis µs/send', 'postgres µs/send', 'total µs/send', 'vs sqlite', 'capacity sends/s', 'lost', 'errors'], summary.map((s) => {
    const base = summary.find((b) => b.workload === s.workload && b.config === 'sqlite');
    return [s.config, s.workload, s.p50Ms.toFixed(2), `${s.p99Ms.toFixed(2)}${spread(s.p99s)}`, s.cpuNodes.toFixed(1), s.cpuRedis.toFixed(1), s.cpuPostgres.toFixed(1),
      `${s.cpuTotal.toFixed(1)}${spread(s.cpuTotals)}`, base ? `${(s.cpuTotal / base.cpuTotal).toFixed(2)}x` : '-', `${s.capacity}${spread(s.capacities)}`, String(s.lost), String(s.errors)];
  }), 2);
  console.log('\n  at capacity (closed loop): CPU µs per acked send, medians over rounds');
  printTable(['deployment', 'workload', 'capacity sends/s', 'node µs/send', 'redis µs/send', 'postgres µs/send', 'total µs/send'], summary.map((s) => [
    s.config, s.workload, String(s.capacity), s.capNodes.toFixed(1), s.capRedis.toFixed(1), s.capPostgres.toFixed(1), s.capTotal.toFixed(1)]), 2);
  for (const workload of WORKLOADS) {
    const one = summary.find((s) => s.workload === workload && s.config === 'pg');
    const two = summary.find((s) => s.workload === workload && s.config === 'redis2');
    if (one && two) console.log(`  the Redis hop (${workload}): ${round(two.cpuTotal - one.cpuTotal, 1)} µs more CPU per send in total (${(two.cpuTotal / one.cpuTotal).toFixed(2)}x one PostgreSQL node), of which redis-server ${two.cpuRedis} µs; p99 ${two.p99Ms} vs ${one.p99Ms} ms`);
  }

  const invalid = runs.some((x) => !x.valid);
  const failed = summary.some((s) => s.lost > 0 || s.errors > 0);
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify({ bench: 'cluster', at: new Date().toISOString(), command: `npm run bench:cluster -- ${argv.join(' ')}`.trim(), options: opts, machine: machine(os.tmpdir(), niceness), runs, summary }, null, 2));
  console.log(`\n  ${invalid ? 'INVALID: the generator fell behind in a run' : failed ? 'FAIL: a run lost messages or got errors' : 'every run delivered every send, without errors'}; results in ${path.relative(process.cwd(), opts.out)}`);
  return invalid ? 2 : failed ? 1 : 0;
}

runPinned(import.meta.url, bench);

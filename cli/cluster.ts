/**
 * `parley cluster up`: a local cluster in one command. N nodes as child processes on one PostgreSQL
 * database (created for the run, or --store) and one Redis, HAProxy in front when it is installed
 * (cli/haproxy.ts), every address printed; Ctrl-C drains the nodes, stops HAProxy and drops the
 * database it created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseArgs, UsageError } from '../core/args.ts';
import { selfCommand } from '../core/paths.ts';
import { backendProblems, checkConfig, haproxyConfig, HAPROXY_DEFAULTS, serverStates, startHaproxy, type Backend, type HaproxyProcess } from './haproxy.ts';

export const CLUSTER_HELP = `usage: parley cluster up [--nodes 3] [--store URL | --pg URL] [--redis URL] [--port 8080]
                        [--stats-port 8404] [--haproxy true|false] [--secret S] [--dir DIR]
                        [-- <parley serve settings for every node>]
       parley cluster haproxy --node HOST:PORT:OPSPORT ... [--bind *:80] [--stats HOST:PORT]

\`cluster up\` starts --nodes parley nodes (1-16) as child processes on 127.0.0.1, on one
PostgreSQL database and one Redis, and HAProxy (Debian: haproxy) in front of them when it is
installed: clients connect to ws://127.0.0.1:PORT/ws and http://127.0.0.1:PORT/api/v1 (--port);
HAProxy's stats page is on --stats-port (0: none). Without HAProxy (or with --haproxy false) it
says so, and clients connect to a node directly.

  --store URL   an existing PostgreSQL database, kept as it is; without it a new database
                parley_cluster_<random> is created through --pg (default
                postgres://postgres@127.0.0.1:5432/postgres) and dropped on exit
  --redis URL   Redis URL or cluster seeds (default redis://127.0.0.1:6379)
  --secret S    token secret shared by the nodes (default PARLEY_SECRET, else a new one); it is
                written to DIR/secret, so \`parley token <user> --data-dir DIR\` mints tokens
  --dir DIR     node data dirs, logs and haproxy.cfg (default: a new temporary dir)
  -- ...        the words after -- go to every node's \`parley serve\` (-- --dev-login true)

It waits until every node's /readyz answers 200 and HAProxy has every node up, prints the
addresses, and runs until SIGINT or SIGTERM: the nodes drain (their clients are told to
reconnect), HAProxy stops, a database it created is dropped, and it exits 0. Node logs:
DIR/<node>.log.

\`cluster haproxy\` prints an haproxy.cfg for running nodes, one --node each: its address,
public port and ops port (reachable from HAProxy: see the nodes' --ops-host). docs/cluster.md
explains it.`;

export const DEFAULT_PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

export interface ClusterStart {
  nodes: number;
  /** An existing database; without it one is created through pgAdmin and dropped by stop(). */
  store?: string;
  pgAdmin?: string;
  redis?: string;
  secret?: string;
  /** HAProxy's public port; undefined runs no HAProxy. */
  port?: number;
  /** HAProxy's stats page port (with port). */
  statsPort?: number;
  dir?: string;
  /** Extra `parley serve` words for every node. */
  nodeArgs?: string[];
  /** Bound on one node's start, from spawn to /readyz 200. */
  startTimeoutMs?: number;
  /**
   * How a node is started, for a build other than this one (`parley nightly` deploys the build
   * under test from its own tree): the argv prefix of its `parley` (default: this CLI), the working
   * directory, an argv prefix per node index (a taskset pin), and extra environment variables.
   */
  launch?: { command: string[]; cwd?: string; pin?: (index: number) => string[]; env?: Record<string, string | undefined> };
}

/** One node of the cluster: it keeps its ports across stop() and start(). */
export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly opsPort: number;
  readonly wsUrl: string;
  readonly opsUrl: string;
  readonly logFile: string;
  /** The running process, or undefined when stopped. */
  readonly child: ChildProcess | undefined;
  /** Starts the process (again) and resolves once /readyz answers 200. */
  start(): Promise<void>;
  /** Sends `signal` (SIGTERM drains) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface LocalCluster {
  readonly dir: string;
  readonly store: string;
  /** Whether stop() drops the database (it was created for this cluster). */
  readonly createdStore: boolean;
  readonly redis: string;
  readonly nodes: readonly ClusterNode[];
  /** Through HAProxy, when it runs. */
  readonly wsUrl: string | undefined;
  readonly httpUrl: string | undefined;
  readonly statsUrl: string | undefined;
  /** HAProxy's runtime API socket (serverStates()), when it runs. */
  readonly haproxySocket: string | undefined;
  readonly haproxy: HaproxyProcess | undefined;
  /** Drains every node, stops HAProxy, drops a created database; idempotent. */
  stop(): Promise<void>;
}

/** Ports free a moment ago, all different: held open together so none is handed out twice. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function admin<T>(url: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await run(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const tail = (file: string) => { try { return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n'); } catch { return ''; } };

function clusterNode(id: string, port: number, opsPort: number, dir: string, args: string[], env: NodeJS.ProcessEnv, startTimeoutMs: number,
  command: string[], cwd?: string): ClusterNode {
  const logFile = path.join(dir, `${id}.log`);
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  return {
    id, port, opsPort, logFile, opsUrl,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    get child() { return child; },
    async start() {
      const [cmd, ...pre] = command;
      const log = fs.openSync(logFile, 'a');
      const p = spawn(cmd!, [...pre, 'serve', '--host', '127.0.0.1', '--port', String(port), '--ops-port', String(opsPort),
        '--data-dir', path.join(dir, id), '--node-id', id, '--log-format', 'json', ...args], { env, cwd, stdio: ['ignore', log, log] });
      fs.closeSync(log);
      child = p;
      exited = new Promise((resolve) => p.once('exit', (code) => { if (child === p) child = undefined; resolve(code); }));
      const deadline = Date.now() + startTimeoutMs;
      for (;;) {
        if (child !== p) throw new Error(`node ${id} exited with ${await exited} before it was ready:\n${tail(logFile)}`);
        const ready = await fetch(`${opsUrl}/readyz`, { signal: AbortSignal.timeout(2000) })
          .then(async (r) => `${r.status} ${((await r.json()) as { status?: string }).status ?? ''}`, () => 'no answer');
        if (ready.startsWith('200')) return;
        if (Date.now() > deadline) { p.kill('SIGKILL'); throw new Error(`node ${id} was not ready within ${startTimeoutMs} ms (last /readyz: ${ready}); see ${logFile}`); }
        await sleep(100);
      }
    },
    async stop(signal = 'SIGTERM') {
      const p = child;
      if (!p) return exited;
      p.kill(signal);
      // A drain is bounded by the node's own --drain-timeout-ms; one that hangs past it is killed.
      const hard = setTimeout(() => p.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(hard);
      return code;
    },
  };
}

/** Whether the first address of a Redis URL or seed list accepts a TCP connection within 2 s. */
function answers(redis: string): Promise<boolean> {
  const first = redis.split(',')[0]!.trim();
  let host = '127.0.0.1';
  let port = 6379;
  try {
    const u = new URL(first.includes('://') ? first : `redis://${first}`);
    host = u.hostname.replace(/^\[|\]$/g, '') || host;
    port = Number(u.port || 6379);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const c = net.connect({ host, port, timeout: 2000 }, () => { c.end(); resolve(true); });
    c.on('timeout', () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(false));
  });
}

/** Starts the cluster; on a failure part-way, stops what it started and rethrows. */
export async function startCluster(s: ClusterStart): Promise<LocalCluster> {
  const dir = s.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-'));
  fs.mkdirSync(dir, { recursive: true });
  const secret = s.secret ?? crypto.randomBytes(48).toString('base64url');
  // `parley token <user> --data-dir DIR` reads it from here, as from any node's data dir.
  fs.writeFileSync(path.join(dir, 'secret'), secret, { mode: 0o600 });
  const redis = s.redis ?? DEFAULT_REDIS;
  // The nodes would wait for a missing Redis (not ready) until the start timeout: say it at once.
  if (!(await answers(redis))) throw new Error(`nothing answers at ${withoutPassword(redis)} (--redis); start Redis or name another`);
  const pgAdmin = s.pgAdmin ?? DEFAULT_PG_ADMIN;
  let store = s.store;
  const dbName = `parley_cluster_${crypto.randomBytes(4).toString('hex')}`;
  if (store === undefined) {
    await admin(pgAdmin, (c) => c.query(`CREATE DATABASE ${dbName}`)).catch((err: unknown) => {
      throw new Error(`cannot create a database through ${withoutPassword(pgAdmin)} (--pg): ${(err as Error).message}; pass --store with an existing one`);
    });
    const url = new URL(pgAdmin);
    url.pathname = `/${dbName}`;
    store = url.toString();
  }
  const createdStore = s.store === undefined;
  const ports = await freePorts(2 * s.nodes);
  const env = { ...process.env, ...s.launch?.env, PARLEY_SECRET: secret };
  const args = ['--store', store, '--redis', redis, ...(s.nodeArgs ?? [])];
  const command = (i: number) => [...(s.launch?.pin?.(i) ?? []), ...(s.launch?.command ?? selfCommand())];
  const nodes = Array.from({ length: s.nodes }, (_, i) => clusterNode(`n${i + 1}`, ports[2 * i]!, ports[2 * i + 1]!, dir, args, env, s.startTimeoutMs ?? 120_000, command(i), s.launch?.cwd));
  let haproxy: HaproxyProcess | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    await haproxy?.stop();
    if (createdStore) await admin(pgAdmin, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  })());
  const socket = path.join(dir, 'haproxy.sock');
  try {
    // The first node applies the migrations; the others start together after it.
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((n) => n.start()));
    if (s.port !== undefined) {
      const cfg = path.join(dir, 'haproxy.cfg');
      fs.writeFileSync(cfg, haproxyConfig({
        ...HAPROXY_DEFAULTS, bind: `127.0.0.1:${s.port}`, log: 'stderr format short local0 notice', maxconn: 4096, statsSocket: socket,
        stats: s.statsPort ? `127.0.0.1:${s.statsPort}` : undefined,
        nodes: nodes.map((n) => ({ name: n.id, host: '127.0.0.1', port: n.port, opsPort: n.opsPort })),
      }));
      const problem = await checkConfig(cfg);
      if (problem) throw new Error(`haproxy -c refused ${cfg}: ${problem}`);
      haproxy = await startHaproxy(cfg, path.join(dir, 'haproxy.log'), s.port);
      // Clients told the address must find the nodes in the pool: wait for HAProxy's checks to pass.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const states = await serverStates(socket).catch(() => new Map<string, string>());
        if (states.size === nodes.length && [...states.values()].every((st) => st === 'UP')) break;
        if (Date.now() > deadline) throw new Error(`HAProxy did not see every node up within 15 s (${[...states].map(([n, st]) => `${n} ${st}`).join(', ')}); see ${dir}/haproxy.log`);
        await sleep(100);
      }
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const front = s.port === undefined ? undefined : `127.0.0.1:${s.port}`;
  return {
    dir, store, createdStore, redis, nodes, haproxy, stop,
    wsUrl: front && `ws://${front}/ws`,
    httpUrl: front && `http://${front}`,
    statsUrl: front && s.statsPort ? `http://127.0.0.1:${s.statsPort}/` : undefined,
    haproxySocket: front && socket,
  };
}

/** A URL fit to print: its password, if any, replaced. */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Whether `haproxy` runs on this machine. */
export function haproxyInstalled(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('haproxy', ['-v'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}

function portFlag(flags: Map<string, string>, name: string, dflt: number, problems: string[]): number {
  const v = flags.get(name);
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) problems.push(`--${name} must be a port (0-65535), got "${v}"`);
  return n;
}

/** `parley cluster haproxy`: the configuration for the nodes named on the command line, on stdout. */
function printHaproxyConfig(argv: string[]): number {
  const nodes: Backend[] = [];
  const problems: string[] = [];
  let bind: string = HAPROXY_DEFAULTS.bind;
  let stats: string | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (value === undefined) { problems.push(`${flag} needs a value`); break; }
    if (flag === '--bind') bind = value;
    else if (flag === '--stats') stats = value;
    else if (flag === '--node') {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+):(\d+)$/.exec(value);
      if (!m) problems.push(`--node must be HOST:PORT:OPSPORT (e.g. 10.0.0.11:8080:9464), got "${value}"`);
      else nodes.push({ name: `n${nodes.length + 1}`, host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), opsPort: Number(m[3]) });
    } else problems.push(`unexpected "${flag}"`);
  }
  if (!problems.length) problems.push(...backendProblems(nodes));
  if (problems.length) throw new UsageError(problems);
  process.stdout.write(haproxyConfig({ ...HAPROXY_DEFAULTS, nodes, bind, stats }));
  return 0;
}

export async function clusterCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'haproxy') return printHaproxyConfig(argv.slice(1));
  const split = argv.indexOf('--');
  const nodeArgs = split < 0 ? [] : argv.slice(split + 1);
  const [sub, ...rest] = split < 0 ? argv : argv.slice(0, split);
  if (sub !== 'up') { console.error(sub ? `parley cluster: unknown subcommand "${sub}"\n\n${CLUSTER_HELP}` : CLUSTER_HELP); return 2; }
  const { flags, rest: words } = parseArgs(rest);
  const problems: string[] = [];
  if (words.length) problems.push(`unexpected argument "${words[0]}"`);
  const known = new Set(['nodes', 'store', 'pg', 'redis', 'port', 'stats-port', 'haproxy', 'secret', 'dir']);
  for (const k of flags.keys()) if (!known.has(k)) problems.push(`unknown flag --${k}`);
  const nodes = Number(flags.get('nodes') ?? 3);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) problems.push(`--nodes must be an integer from 1 to 16, got "${flags.get('nodes')}"`);
  const port = portFlag(flags, 'port', 8080, problems);
  const statsPort = portFlag(flags, 'stats-port', 8404, problems);
  const useHaproxy = flags.get('haproxy') ?? 'true';
  if (useHaproxy !== 'true' && useHaproxy !== 'false') problems.push(`--haproxy must be true or false, got "${useHaproxy}"`);
  if (flags.has('store') && flags.has('pg')) problems.push('--store and --pg exclude each other: --store uses a database, --pg creates one');
  for (const k of ['store', 'pg'] as const) {
    const v = flags.get(k);
    if (v !== undefined && !/^postgres(ql)?:\/\//.test(v)) problems.push(`--${k} must be a postgres:// or postgresql:// URL, got "${v}"`);
  }
  if (problems.length) throw new UsageError(problems);

  let haproxy = useHaproxy === 'true';
  if (haproxy && !(await haproxyInstalled())) {
    console.log('HAProxy is not installed (Debian: apt-get install haproxy): no load balancer; connect to the nodes directly.');
    haproxy = false;
  }
  // A signal during start-up stops the cluster once it is up (the children must not be orphaned).
  let signalled = false;
  let onSignal: (() => void) | undefined;
  const signal = () => { signalled = true; onSignal?.(); };
  process.once('SIGINT', signal);
  process.once('SIGTERM', signal);
  let cluster: LocalCluster;
  try {
    cluster = await startCluster({
      nodes, store: flags.get('store'), pgAdmin: flags.get('pg'), redis: flags.get('redis'), secret: flags.get('secret') ?? process.env.PARLEY_SECRET,
      port: haproxy ? port : undefined, statsPort, dir: flags.get('dir'), nodeArgs,
    });
  } catch (err) {
    console.error(`parley cluster: ${(err as Error).message}`);
    return 1;
  }
  const lines = [
    `store   ${withoutPassword(cluster.store)}${cluster.createdStore ? ' (created for this cluster; dropped on exit)' : ''}`,
    `redis   ${withoutPassword(cluster.redis)}`,
  ];
  if (cluster.wsUrl) {
    lines.push(`public  ${cluster.wsUrl}  ${cluster.httpUrl}/api/v1  (HAProxy, ${nodes} node${nodes > 1 ? 's' : ''} behind it)`);
    if (cluster.statsUrl) lines.push(`stats   ${cluster.statsUrl}`);
  }
  for (const n of cluster.nodes) lines.push(`node ${n.id.padEnd(3)} ${n.wsUrl}  ops ${n.opsUrl}  log ${n.logFile}`);
  lines.push(`tokens  parley token <user> --data-dir ${cluster.dir}`, 'Ctrl-C stops everything.');
  console.log(lines.join('\n'));
  if (!signalled) await new Promise<void>((r) => (onSignal = r));
  console.log('parley cluster: stopping (the nodes drain)');
  await cluster.stop();
  console.log('parley cluster: stopped');
  return 0;
}

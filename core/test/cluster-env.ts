/**
 * A real cluster on loopback for the cluster tests: redis-server processes (one server, or three
 * cluster masters) on free ports, a fresh PostgreSQL database, and parley nodes as child processes.
 * Everything started here is stopped by its own pid.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { TokenAuthority } from '../edge/auth.ts';
import { ParleyClient } from '../client/index.ts';
import { SocialClient } from '../client/social.ts';
import type { Message } from '../protocol.ts';
import { spawnServer, TEST_SECRET, tempDir, type ServerProcess } from './helpers.ts';

/** A free port ≤ 55535 (its cluster bus port, +10000, must be valid too). */
export async function lowFreePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if (await isFree(port) && await isFree(port + 10_000)) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function waitPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG') return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not answer`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One redis-server process that can be stopped and started again on its port (and config). */
export class RedisProcess {
  readonly port: number;
  readonly #args: string[];
  #child: ChildProcess | undefined;

  constructor(port: number, args: string[]) {
    this.port = port;
    this.#args = args;
  }

  async start(): Promise<void> {
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.#args], { stdio: 'ignore' });
    await waitPing(this.port);
  }

  /** SIGKILL: the server vanishes as in a crash. */
  async kill(): Promise<void> {
    const child = this.#child;
    // A process ended by a signal keeps exitCode null: check both, so a second kill returns.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
}

export async function singleRedis(): Promise<{ url: string; servers: RedisProcess[] }> {
  const r = new RedisProcess(await lowFreePort(), []);
  await r.start();
  return { url: `redis://127.0.0.1:${r.port}`, servers: [r] };
}

/** Three masters without replicas, slots spread by redis-cli --cluster create. */
export async function redisCluster(): Promise<{ url: string; servers: RedisProcess[] }> {
  const dir = tempDir('parley-redis-');
  const servers: RedisProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await lowFreePort();
    servers.push(new RedisProcess(port, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir, '--cluster-node-timeout', '2000']));
  }
  await Promise.all(servers.map((s) => s.start()));
  execFileSync('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-yes'], { stdio: 'ignore', timeout: 30_000 });
  const deadline = Date.now() + 20_000;
  while (!execFileSync('redis-cli', ['-p', String(servers[0]!.port), 'cluster', 'info'], { encoding: 'utf8' }).includes('cluster_state:ok')) {
    if (Date.now() > deadline) throw new Error('the cluster did not become ok');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: servers.map((s) => `127.0.0.1:${s.port}`).join(','), servers };
}

export interface Node extends ServerProcess { id: string; opsUrl: string }

/** A parley node as a child process, on the shared store and Redis. */
export async function startNode(id: string, store: string, redis: string, extra: string[] = []): Promise<Node> {
  const p = await spawnServer(tempDir(), ['--store', store, '--redis', redis, '--node-id', id, '--gap-check-ms', '1000',
    '--presence-coalesce-ms', '0', '--presence-batch-ms', '20', '--presence-grace-ms', '0', '--typing-throttle-ms', '0', '--live-hold-ms', '0', ...extra]);
  return { ...p, id, opsUrl: `http://127.0.0.1:${p.opsPort}` };
}

export async function stopNode(n: Node): Promise<void> {
  if (n.child.exitCode !== null) return;
  n.child.kill('SIGTERM');
  await n.exited;
}

const authority = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));

export interface Peer { name: string; client: ParleyClient; social: SocialClient; messages: Message[]; frames: Array<{ op: string; [k: string]: any }> }

export async function peer(node: Node, name: string): Promise<Peer> {
  const token = await authority.mint(name, 3600);
  const client = new ParleyClient({ url: node.wsUrl, token, backoffMinMs: 20, backoffMaxMs: 200, recvReportMs: 200 });
  const social = new SocialClient(client);
  const messages: Message[] = [];
  const frames: Peer['frames'] = [];
  client.on('message', (m) => messages.push(m));
  client.on('event', (f) => frames.push(f));
  await client.connect();
  return { name, client, social, messages, frames };
}

export async function readyz(node: Node): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`${node.opsUrl}/readyz`);
  return { status: res.status, body: await res.json() as { status: string; reason?: string } };
}

export async function metric(node: Node, line: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? undefined : Number(m.split(' ').pop());
}

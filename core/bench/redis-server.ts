/**
 * A redis-server of a run's own for benches and the nightly's cluster runs: loopback, a free
 * port, nothing persisted; resolves once it answers PING. Plain process management, no parley code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/** A loopback port free a moment ago. */
export function freePort(): Promise<number> {
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

export interface RedisServer { url: string; port: number; pid: number; child: ChildProcess; stop(): Promise<void> }

export interface RedisServerOptions {
  /** Words before `redis-server` (e.g. a `taskset -c N` pin). */
  prefix?: string[];
  /** Working directory and log file location; without it Redis logs nowhere and writes nothing. */
  dir?: string;
  timeoutMs?: number;
}

/** Starts redis-server on a free loopback port and waits until it answers; stops it again when it does not. */
export async function startRedisServer(o: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const timeoutMs = o.timeoutMs ?? 10_000;
  const argv = [...(o.prefix ?? []), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ...(o.dir ? ['--dir', o.dir, '--logfile', path.join(o.dir, 'redis.log')] : [])];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`redis-server could not start (${err.message}); install redis-server`)));
    void exited.then(() => reject(new Error(`redis-server exited before it answered on port ${port}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await Promise.race([redisAnswers(port, timeoutMs), failed]);
  } catch (err) {
    await stop();
    throw err;
  }
  failed.catch(() => undefined);
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid!, child, stop };
}

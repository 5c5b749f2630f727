/**
 * Deploys a build on loopback: `parley serve` from the build's own tree, free ports, a fresh data
 * dir, pinned to its CPU with taskset when there is more than one; ready when /readyz answers 200.
 * Every started server is registered with the teardown, which stops them on failure and on Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Target {
  /** ws://host:port/ws; for a cluster, every node's, comma-separated (`parley load` spreads users over them) */
  wsUrl: string;
  /** http://host:opsPort */
  opsUrl: string;
  /** Local server pid (for /proc figures); absent for remote environments. */
  pid?: number;
  /** The nodes of a cluster deployment, each scraped on its own; absent for one server. */
  nodes?: readonly NodeTarget[];
}

/** One node of a cluster deployment. */
export interface NodeTarget {
  id: string;
  wsUrl: string;
  opsUrl: string;
  pid?: number;
}

export interface Deployment extends Target {
  stop(): Promise<void>;
}

/** Stops whatever was started, in reverse order, once; installed as the SIGINT/SIGTERM handler. */
export class Teardown {
  readonly #stops = new Set<() => Promise<void>>();
  add(stop: () => Promise<void>): () => void {
    this.#stops.add(stop);
    return () => this.#stops.delete(stop);
  }
  async run(): Promise<void> {
    const stops = [...this.#stops].reverse();
    this.#stops.clear();
    await Promise.allSettled(stops.map((s) => s()));
  }
}

let tasksetPresent: boolean | undefined;
/** `taskset -c <cpu>` prefix when pinning is possible (util-linux present and more than one CPU). */
export function pinPrefix(cpu: number): string[] {
  tasksetPresent ??= (() => {
    try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); return true; } catch { return false; }
  })();
  return tasksetPresent && os.cpus().length > 1 ? ['taskset', '-c', String(cpu % os.cpus().length)] : [];
}

export interface DeployOptions {
  buildDir: string;
  secret: string;
  /** CPU for the server (the load generator gets the others). */
  cpu: number;
  teardown: Teardown;
  /** Extra PARLEY_* variables. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** Starts a fresh server from a build and waits until it is ready. */
export async function deploy(opts: DeployOptions): Promise<Deployment> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-nightly-data-'));
  const argv = [...pinPrefix(opts.cpu), process.execPath, path.join(opts.buildDir, 'bin/parley.js'), 'serve',
    '--host', '127.0.0.1', '--port', '0', '--ops-port', '0', '--data-dir', dataDir, '--log-level', 'info', '--sqlite-sync', 'normal'];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.buildDir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env, PARLEY_SECRET: opts.secret, PARLEY_ADMIN_TOKEN: undefined },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    unregister();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const unregister = opts.teardown.add(stop);
  try {
    const { port, opsPort } = await listening(child, exited, opts.readyTimeoutMs ?? 30_000);
    const target = { wsUrl: `ws://127.0.0.1:${port}/ws`, opsUrl: `http://127.0.0.1:${opsPort}`, pid: child.pid! };
    await waitReady(target.opsUrl, opts.readyTimeoutMs ?? 30_000);
    return { ...target, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function listening(child: ChildProcess, exited: Promise<number | null>, timeoutMs: number): Promise<{ port: number; opsPort: number }> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('parley listening')) continue;
        clearTimeout(timer);
        const rec = JSON.parse(line) as { port: number; opsPort: number };
        resolve({ port: rec.port, opsPort: rec.opsPort });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening: ${stderr}`)); });
  });
}

class NotParley extends Error {}

/** Polls /readyz until it answers 200; fails at once when something that is not parley answers. */
export async function waitReady(opsUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(new URL('/readyz', opsUrl), { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      // parley answers 200 or 503 (draining, over budget); a 4xx comes from some other service.
      if (res.status >= 400 && res.status < 500) throw new NotParley(`${new URL('/readyz', opsUrl).href} answered ${res.status}: that port is held by something other than a parley ops port`);
      last = `status ${res.status}`;
    } catch (err) {
      if (err instanceof NotParley) throw err;
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${opsUrl}/readyz not ready within ${timeoutMs} ms (${last})`);
}

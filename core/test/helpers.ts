/** Test fixtures: real servers on port 0 with a fresh data dir, real clients, real processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParleyClient, type ClientOptions } from '../client/index.ts';
import { loadConfig, type SETTINGS } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { createTestDatabase } from '../store/test/pg.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export function tempDir(prefix = 'parley-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

type Overrides = Partial<Record<keyof typeof SETTINGS, string | number | boolean>>;

/**
 * Starts an in-process node on free ports with a fresh data dir. PARLEY_TEST_STORE=postgres gives
 * it a fresh PostgreSQL database instead of SQLite (dropped on close), to run a suite on both stores.
 */
export async function testServer(overrides: Overrides = {}): Promise<ParleyServer> {
  const db = overrides.store === undefined && process.env.PARLEY_TEST_STORE === 'postgres' ? await createTestDatabase() : undefined;
  const config = loadConfig(new Map(), {}, {
    port: 0, opsPort: 0, host: '127.0.0.1', dataDir: tempDir(), secret: TEST_SECRET, logLevel: 'silent', sqliteSync: 'normal', ...(db ? { store: db.url } : {}), ...overrides,
  });
  const server = await startServer(config);
  if (!db) return server;
  const close = server.close.bind(server);
  return Object.assign(server, { close: async () => { await close(); await db.drop(); } });
}

/** A connected client for `user`; closed by the caller. */
export async function connect(server: ParleyServer, user: string, opts: Partial<ClientOptions> = {}): Promise<ParleyClient> {
  const client = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint(user, 3600), backoffMinMs: 20, backoffMaxMs: 200, ...opts });
  await client.connect();
  return client;
}

/** Waits until `check` returns true, polling; fails with `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port that was free a moment ago, for a server that must keep its port across restarts. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  opsPort: number;
  wsUrl: string;
  exited: Promise<number | null>;
}

/**
 * Runs `parley serve` from source in a child process and waits until it listens. `heapProbe`
 * preloads core/bench/heap-probe.mjs (with --expose-gc and an IPC channel) so a test can ask the
 * node for its heap after a full GC (heapAfterGc).
 */
export async function spawnServer(dataDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, opts: { heapProbe?: boolean } = {}): Promise<ServerProcess> {
  const probe = opts.heapProbe ? ['--expose-gc', '--import', path.join(ROOT, 'core/bench/heap-probe.mjs')] : [];
  const child = spawn(process.execPath, [...probe, '--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'serve', '--port', '0', '--ops-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, ...args], {
    cwd: ROOT, env: { ...process.env, PARLEY_SECRET: TEST_SECRET, PARLEY_LOG_LEVEL: 'info', ...env }, stdio: opts.heapProbe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (!line.includes('parley listening')) continue;
        const rec = JSON.parse(line) as { port: number; opsPort: number };
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ child, port: rec.port, opsPort: rec.opsPort, wsUrl: `ws://127.0.0.1:${rec.port}/ws`, exited });
        return;
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)));
  });
}

/** What survives a full GC in a node spawned with `heapProbe`: the V8 heap plus Buffers and other memory held outside it, in MiB. */
export function heapAfterGc(proc: ServerProcess): Promise<{ heapUsedMiB: number; externalMiB: number }> {
  const id = Math.random().toString(36).slice(2);
  return new Promise((resolve) => {
    const on = (m: { id?: string; heapUsedMiB: number; externalMiB: number }) => { if (m?.id === id) { proc.child.off('message', on); resolve(m); } };
    proc.child.on('message', on);
    proc.child.send({ cmd: 'heap', id });
  });
}

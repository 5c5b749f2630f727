/**
 * A real Unleash server for tests: unleash-server (a devDependency) in a child process on a free
 * loopback port, with its own database on the local PostgreSQL, an admin and a client API token.
 * Test-only: nothing in production imports it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '' };

export interface UnleashFixture {
  /** The API root the client and the admin calls use: http://127.0.0.1:PORT/api/ */
  readonly url: string;
  readonly adminToken: string;
  /** A backend token for project default, environment development. */
  readonly clientToken: string;
  readonly database: string;
  /** Stops the server (the database stays, for start()). */
  stop(): Promise<void>;
  /** Starts it again on the same port and database. */
  start(): Promise<void>;
  /** Stops it and drops its database. */
  close(): Promise<void>;
}

const SCRIPT = `
import { start } from 'unleash-server';
const e = process.env;
await start({
  db: { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database: e.U_DB, ssl: false },
  server: { port: Number(e.U_PORT), host: '127.0.0.1' },
  authentication: { initApiTokens: [
    { environment: '*', projects: ['*'], secret: e.U_ADMIN, type: 'admin', tokenName: 'parley-admin' },
    { environment: 'development', projects: ['default'], secret: e.U_CLIENT, type: 'backend', tokenName: 'parley-client' },
  ] },
  logLevel: 'error',
  versionCheck: { enable: false },
});
process.stdout.write('unleash ready\\n');
`;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ ...PG, database: 'postgres' });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

/** Starts a fresh Unleash; rejects after `timeoutMs` with its last output. */
export async function startUnleash(timeoutMs = 90_000): Promise<UnleashFixture> {
  const database = `unleash_test_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE ${database}`);
  const port = await freePort();
  const adminToken = `*:*.${randomBytes(16).toString('hex')}`;
  const clientToken = `default:development.${randomBytes(16).toString('hex')}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, U_DB: database, U_PORT: String(port), U_ADMIN: adminToken, U_CLIENT: clientToken, NODE_NO_WARNINGS: '1' },
    });
    child = c;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`unleash did not start within ${timeoutMs} ms: ${out.slice(-2000)}`)); }, timeoutMs);
      c.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('unleash ready')) { clearTimeout(t); resolve(); } });
      c.stderr!.on('data', (d: Buffer) => { out += d; });
      c.once('exit', (code) => { clearTimeout(t); reject(new Error(`unleash exited with ${code}: ${out.slice(-2000)}`)); });
    });
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => { c.once('exit', () => r()); c.kill('SIGKILL'); });
  };
  try {
    await start();
  } catch (err) {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}/api/`, adminToken, clientToken, database, stop, start,
    async close() {
      await stop();
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

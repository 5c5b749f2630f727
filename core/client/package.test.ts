/**
 * The client as an app developer gets it: `npm pack` ships only the client's built files with `ws`
 * as its one dependency, and the packed tarball, installed outside the repository, talks to a real
 * node from plain JavaScript: in Node over `ws`, and over a browser-style WebSocket without `ws`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, ROOT, tempDir, testServer, until } from '../test/helpers.ts';
import type { ParleyClient } from './index.ts';

const run = promisify(execFile);
const CLIENT = path.join(ROOT, 'core/client');

// Plain JavaScript, as in the README: connect as alice, send bob one message, print the ack.
const SEND = `
import { ParleyClient } from '@parley/client';
const [url, token, body] = process.argv.slice(2);
const alice = new ParleyClient({ url, token });
await alice.connect();
console.log(JSON.stringify(await alice.send({ to: 'bob' }, body)));
await alice.close();
`;

// The same with a browser's WebSocket constructor (url and protocols only: it cannot set headers)
// while a resolve hook fails any import of ws or a node: module from the package.
const BROWSER = `
import { register } from 'node:module';
import WS from 'ws';
register('./deny-node.mjs', import.meta.url);
class BrowserWebSocket extends WS { constructor(url, protocols) { super(url, protocols); } }
const { ParleyClient } = await import('@parley/client');
const [url, token, body] = process.argv.slice(2);
const alice = new ParleyClient({ url, token, webSocketImpl: BrowserWebSocket });
await alice.connect();
console.log(JSON.stringify(await alice.send({ to: 'bob' }, body)));
await alice.close();
`;

const DENY_NODE = `
export async function resolve(specifier, context, next) {
  const fromPackage = context.parentURL?.includes('/node_modules/@parley/client/');
  if (fromPackage && (specifier === 'ws' || specifier.startsWith('node:'))) throw new Error('@parley/client imported ' + specifier);
  return next(specifier, context);
}
`;

/** The client's own modules (sources beside this file, tests excluded). */
function clientModules(): string[] {
  return fs.readdirSync(CLIENT).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => f.slice(0, -3)).sort();
}

beforeAll(async () => {
  await run('npm', ['run', 'build', '-w', '@parley/client'], { cwd: ROOT });
}, 120_000);

describe('npm pack of @parley/client', () => {
  it('lists only the built client modules, protocol and errors with their types, package.json and README', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: CLIENT });
    const [pack] = JSON.parse(stdout) as [{ name: string; files: { path: string }[] }];
    const built = (name: string) => [`dist/${name}.d.ts`, `dist/${name}.js`];
    const expected = ['README.md', 'package.json', ...clientModules().flatMap((m) => built(`client/${m}`)), ...built('errors'), ...built('protocol')];
    expect(pack.name).toBe('@parley/client');
    expect(pack.files.map((f) => f.path).sort()).toEqual(expected.sort());
  });

  it('depends on ws alone, at the version range the server uses, and on nothing else', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(CLIENT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
    expect(pkg.dependencies).toEqual({ ws: root.dependencies.ws });
    expect(pkg.peerDependencies ?? pkg.optionalDependencies ?? pkg.devDependencies).toBeUndefined();
    expect(pkg.version).toBe(root.version);
  });

  it('imports only its own files statically, and ws only lazily', () => {
    const dist = path.join(CLIENT, 'dist');
    const files = fs.readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    const imports = files.flatMap((f) => [...fs.readFileSync(path.join(dist, f), 'utf8').matchAll(/\bimport\s*(?:\(\s*|[^'"]*from\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!));
    expect(imports.filter((s) => !s.startsWith('.'))).toEqual(['ws']);
    expect(fs.readFileSync(path.join(dist, 'client/transport.js'), 'utf8')).toContain("import('ws')");
  });
});

describe('the packed client installed outside the repository', () => {
  let server: ParleyServer;
  let bob: ParleyClient;
  let app: string;
  const received: Message[] = [];

  beforeAll(async () => {
    app = tempDir('parley-app-');
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', app], { cwd: CLIENT });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    // ws comes from the repository's install (a folder dependency is linked), so no network is needed.
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(app, filename), path.join(ROOT, 'node_modules/ws')], { cwd: app });
    fs.writeFileSync(path.join(app, 'send.mjs'), SEND);
    fs.writeFileSync(path.join(app, 'browser.mjs'), BROWSER);
    fs.writeFileSync(path.join(app, 'deny-node.mjs'), DENY_NODE);
    server = await testServer();
    bob = await connect(server, 'bob');
    bob.on('message', (m) => received.push(m));
  }, 120_000);

  afterAll(async () => {
    await bob?.close();
    await server?.close();
    if (app) fs.rmSync(app, { recursive: true, force: true });
  });

  async function sendFrom(script: string, body: string): Promise<{ chat: string; seq: number }> {
    const token = await server.auth.mint('alice', 3600);
    const { stdout } = await run(process.execPath, [script, server.wsUrl, token, body], { cwd: app, timeout: 30_000 });
    return JSON.parse(stdout) as { chat: string; seq: number };
  }

  it('connects from plain Node with a bearer header and sends bob a message he receives', async () => {
    const ack = await sendFrom('send.mjs', 'hi from plain node');
    expect(ack.chat).toBe('d:alice:bob');
    await until(() => received.some((m) => m.seq === ack.seq), 'bob to receive the message');
    expect(received.find((m) => m.seq === ack.seq)).toMatchObject({ chat: 'd:alice:bob', from: 'alice', body: 'hi from plain node' });
  });

  it('connects over a browser-style WebSocket with ?token= and imports neither ws nor a node: module', async () => {
    const ack = await sendFrom('browser.mjs', 'hi from a browser socket');
    await until(() => received.some((m) => m.seq === ack.seq), 'bob to receive the message');
    expect(received.find((m) => m.seq === ack.seq)).toMatchObject({ from: 'alice', body: 'hi from a browser socket' });
  });
});

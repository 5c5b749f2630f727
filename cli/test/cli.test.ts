/**
 * The command line as a user meets it: every case runs the compiled entry point
 * (`node bin/parley.js ...`) in a child process and checks its exit code, stdout and stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../core/config.ts';
import { BIN, isSource, PACKAGE_ROOT, PACKAGE_VERSION, selfCommand } from '../../core/paths.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
/** The environment without the caller's PARLEY_* variables, so only what a case sets applies. */
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PARLEY_')));

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `parley ...args` through bin/parley.js and waits for it to exit. */
function parley(args: string[], env: NodeJS.ProcessEnv = {}, cwd = PACKAGE_ROOT): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...CLEAN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Starts `parley serve ...args`, waits for `ready` on stdout, then sends SIGTERM and collects the run. */
function serveUntil(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Run & { readyLine: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: PACKAGE_ROOT, env: { ...CLEAN_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let readyLine = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    const line = stdout.split('\n').find((l) => ready.test(l));
    if (line && !readyLine) { readyLine = line; child.kill('SIGTERM'); }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, readyLine }); }));
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

/** Server flags for a node on free loopback ports with its own data dir. */
const nodeArgs = (dataDir: string) => ['--host', '127.0.0.1', '--port', '0', '--ops-port', '0', '--data-dir', dataDir, '--sqlite-sync', 'normal'];

beforeAll(() => {
  // Users run the compiled CLI; compile it when a source file is newer than dist/. tsc emits
  // despite type errors elsewhere in the tree, so its exit code is not the question here.
  if (selfCommand()[1] !== BIN) spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: PACKAGE_ROOT, stdio: 'ignore' });
}, 180_000);

describe('the compiled CLI is fresh after a build', () => {
  // The build writes core/client/dist/*.d.ts after dist/cli/main.js: counted as sources, they made
  // every child (nightly loads, profiles, clusters) start through tsx, seconds slower each.
  it('does not count what the build itself writes, tests or dependencies as sources', () => {
    expect(['core/paths.ts', 'nightly/battery.ts', 'loadtest/scenarios/dm-steady.ts'].map(isSource)).toEqual([true, true, true]);
    expect(['core/client/dist/errors.d.ts', 'core/client/dist/client/index.d.ts', 'core/paths.test.ts', 'core/client/node_modules/x/index.ts', 'core/types.d.ts'].map(isSource))
      .toEqual([false, false, false, false, false]);
  });
});

describe('parley --version', () => {
  it.each([['--version'], ['-V'], ['version']])('prints the package version for %s and exits 0', async (arg) => {
    expect(await parley([arg])).toEqual({ code: 0, stdout: `parley ${PACKAGE_VERSION}\n`, stderr: '' });
  });
});

describe('parley --help', () => {
  it('lists every command with its summary starting in one column', async () => {
    const { code, stdout } = await parley(['--help']);
    expect(code).toBe(0);
    const rows = stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/)[0])).toEqual(['serve', 'token', 'flags', 'canary', 'alerts', 'load', 'profile', 'nightly', 'dashboards', 'search', 'keys', 'ops', 'cluster', 'version']);
    expect(new Set(rows.map((l) => /^ {2}\S+ +/.exec(l)![0].length))).toHaveProperty('size', 1);
    for (const line of stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('shows every server setting in `serve --help` as flag and variable in two aligned columns', async () => {
    const { code, stdout } = await parley(['serve', '--help']);
    expect(code).toBe(0);
    const rows = stdout.split('\n').filter((l) => l.startsWith('  --'));
    expect(rows).toHaveLength(Object.keys(SETTINGS).length);
    expect(new Set(rows.map((l) => l.indexOf('PARLEY_')))).toHaveProperty('size', 1);
    expect(stdout).toContain('  --port N');
    expect(stdout).toContain('  --log-format json|pretty');
    for (const line of stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('documents every option `flags` accepts, and refuses one it does not with exit 2', async () => {
    const { stdout } = await parley(['flags', '--help']);
    for (const option of ['--file', '--user', '--session', '--node']) expect(stdout).toContain(option);
    const bad = await parley(['flags', 'eval', 'read-receipts', '--user', 'alice', '--nod', 'n1']);
    expect(bad).toMatchObject({ code: 2, stderr: 'parley flags: unknown flag --nod for flags eval (see parley flags --help)\n' });
  });

  it('evaluates a nodeId-sticky flag for the node given with --node', async () => {
    const file = path.join(tempDir(), 'features.json');
    fs.writeFileSync(file, JSON.stringify({ version: 2, features: [{ name: 'fanout-batched', enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'nodeId', groupId: 'g' } }] }] }));
    expect(await parley(['flags', 'eval', 'fanout-batched', '--user', 'alice', '--node', 'n1', '--file', file])).toMatchObject({ code: 0, stdout: 'fanout-batched for alice: enabled\n' });
  });
});

describe('parley token', () => {
  it('warns on stderr when it has to generate a new secret, and not once the data dir has one', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const first = await parley(['token', 'alice', '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(first.stderr).toContain(`parley token: warning: no secret was configured and ${dataDir} had none: generated a new one in ${path.join(dataDir, 'secret')}`);
    expect(first.stderr).toContain('A node already running with another secret or data dir refuses this token');
    const second = await parley(['token', 'alice', '--data-dir', dataDir]);
    expect(second).toMatchObject({ code: 0, stderr: '' });
  });

  it('is silent on stderr with a configured secret and writes no secret file', async () => {
    const dataDir = tempDir();
    const run = await parley(['token', 'alice', '--data-dir', dataDir], { PARLEY_SECRET: SECRET });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });
});

describe('parley keys list', () => {
  it('creates no file and no folder when there is no keyring and no database', async () => {
    const parent = tempDir();
    const dataDir = path.join(parent, 'data');
    const run = await parley(['keys', 'list', '--data-dir', dataDir]);
    expect(run).toEqual({ code: 0, stdout: `no keyring at ${path.join(dataDir, 'keyring.json')} and no notes (the first \`parley serve\` or \`parley keys rotate\` creates it)\n`, stderr: '' });
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('lists a rotated keyring and leaves the data dir as it was', async () => {
    const dataDir = tempDir();
    expect((await parley(['keys', 'rotate', '--data-dir', dataDir])).code).toBe(0);
    const before = fs.readdirSync(dataDir);
    expect(await parley(['keys', 'list', '--data-dir', dataDir])).toEqual({ code: 0, stdout: '* k1              0 notes\n', stderr: '' });
    expect(fs.readdirSync(dataDir)).toEqual(before);
  });
});

describe('parley flags rollout', () => {
  it('changes one line of the committed flags file and keeps the rest byte for byte', async () => {
    const file = path.join(tempDir(), 'features.json');
    fs.copyFileSync(path.join(PACKAGE_ROOT, 'flags/features.json'), file);
    const before = fs.readFileSync(file, 'utf8').split('\n');
    const run = await parley(['flags', 'rollout', 'fanout-batched', '25', '--file', file]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const after = fs.readFileSync(file, 'utf8').split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.map((line, i) => i).filter((i) => before[i] !== after[i]);
    expect(changed).toHaveLength(1);
    expect(after[changed[0]!]).toBe(before[changed[0]!]!.replace(/"rollout": "\d+"/, '"rollout": "25"'));
  });
});

describe('parley serve', () => {
  it('answers a port in use with one line and exit 2', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const run = await parley(['serve', ...nodeArgs(tempDir()), '--port', String(port)], { PARLEY_SECRET: SECRET });
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`parley serve: port ${port} is in use: another process listens on 127.0.0.1:${port}; stop it or choose another --port\n`);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it('answers an address that is not this machine\'s with one line and exit 2', async () => {
    const run = await parley(['serve', '--host', '192.0.2.1', '--port', '0', '--ops-port', '0', '--data-dir', tempDir()], { PARLEY_SECRET: SECRET });
    expect(run).toMatchObject({ code: 2, stderr: 'parley serve: cannot bind --host 192.0.2.1: the address is not one of this machine\'s (EADDRNOTAVAIL)\n' });
  });

  it.each([
    [['--port='], {}, '--port is empty; leave it out to get the default (8080)'],
    [[], { PARLEY_PORT: '' }, 'PARLEY_PORT is empty; leave it out to get the default (8080)'],
    [[], { PARLEY_LOG_FORMAT: '' }, 'PARLEY_LOG_FORMAT is empty; leave it out to get the built-in behaviour'],
    [['--secret='], {}, '--secret is empty; leave it out to get the built-in behaviour'],
  ])('refuses an empty value %j %j with exit 2 instead of taking the default', async (args, env, problem) => {
    const run = await parley(['serve', ...args, '--data-dir', tempDir()], env);
    expect(run).toEqual({ code: 2, stdout: '', stderr: `parley serve: invalid configuration:\n  - ${problem}\n` });
  });

  it.each([
    [['--host', '999.1.1.1'], 'host must be an IPv4 address, an IPv6 address or a host name, got "999.1.1.1" (not a valid IPv4 address)'],
    [['--ops-host', 'no_such host'], 'opsHost must be an IPv4 address, an IPv6 address or a host name, got "no_such host"'],
    [['--alert-webhook-url', 'alertmanager:9093'], 'alertWebhookUrl must be an http:// or https:// URL, got "alertmanager:9093"'],
    [['--unleash-url', 'ftp://flags'], 'unleashUrl must be an http:// or https:// URL, got "ftp://flags"'],
  ])('refuses %j before binding anything, with one clear problem and exit 2', async (args, problem) => {
    const run = await parley(['serve', ...args, '--data-dir', tempDir()], { PARLEY_SECRET: SECRET });
    expect(run).toEqual({ code: 2, stdout: '', stderr: `parley serve: invalid configuration:\n  - ${problem}\n` });
  });

  it('warns about a PARLEY_* variable that is no setting, naming the one it resembles, and still starts', async () => {
    const run = await serveUntil(nodeArgs(tempDir()), /parley listening/, { PARLEY_SECRET: SECRET, PARLEY_PROT: '9999', PARLEY_SMTP_URL: 'smtp://x' });
    expect(run.stderr).toBe('parley serve: warning: PARLEY_PROT is not a parley setting and is ignored (did you mean PARLEY_PORT?)\n');
    expect(run.code).toBe(0);
  });

  it('logs one JSON object per line when stdout is not a terminal', async () => {
    const run = await serveUntil(nodeArgs(tempDir()), /parley listening/, { PARLEY_SECRET: SECRET });
    expect(JSON.parse(run.readyLine)).toMatchObject({ level: 30, msg: 'parley listening', port: expect.any(Number) });
  });

  it('logs one readable line per record with --log-format pretty', async () => {
    const run = await serveUntil([...nodeArgs(tempDir()), '--log-format', 'pretty'], /parley listening/, { PARLEY_SECRET: SECRET });
    expect(run.readyLine).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}parley listening port=\d+ opsPort=\d+ wsPath=\/ws dataDir=\S+ chat=http:\/\/\S+ console=http:\/\/\S+$/);
    expect(run.stdout).toMatch(/ INFO {2}parley drained\n$/);
    expect(run.code).toBe(0);
  });
});

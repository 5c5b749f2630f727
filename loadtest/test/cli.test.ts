/**
 * End to end: `parley load` as a process against a real parley node, its result file, its exit
 * codes, and its answers to bad input.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, spawnServer, tempDir, TEST_SECRET, type ServerProcess } from '../../core/test/helpers.ts';
import { EXIT_CODES, parseResult } from '../result.ts';

function parley(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), ...args], { cwd: ROOT, env: { ...process.env, PARLEY_SECRET: '', PARLEY_DATA_DIR: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

let server: ServerProcess;
const dir = tempDir('parley-load-');
beforeAll(async () => { server = await spawnServer(tempDir()); });
afterAll(async () => { server.child.kill('SIGTERM'); await server.exited; });

const common = () => ['--target', server.wsUrl, '--secret', TEST_SECRET, '--users', '20', '--duration', '2s', '--rate', '2', '--workers', '2', '--max-lag', '500ms', '--max-cpu-percent', '100', '--quiet'];

describe('parley load dm-steady against a real node', () => {
  it('passes with exit 0, writes a valid result and loses nothing', async () => {
    const out = path.join(dir, 'pass.json');
    // The delivery gates of dm-steady, with latency targets a busy shared test machine can meet.
    const file = path.join(dir, 'lenient.ts');
    fs.writeFileSync(file, `import base from ${JSON.stringify(path.join(ROOT, 'loadtest/scenarios/dm-steady.ts'))};
export default { ...base, name: 'lenient', options: { ...base.options, thresholds: { deliver_ms: ['p(99)<5000'], lost: ['count==0'], duplicated: ['count==0'], errors: ['rate<0.001'] } } };
`);
    const r = await parley(['load', file, ...common(), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/VALID run; exit 0/);
    expect(r.code).toBe(EXIT_CODES.pass);
    const result = parseResult(fs.readFileSync(out, 'utf8'));
    expect(result.exitCode).toBe(0);
    expect(result.validity).toEqual({ valid: true, reasons: [] });
    expect(result.counters.users).toBe(20);
    expect(result.counters.connects).toBe(20);
    expect(result.counters.lost).toBe(0);
    expect(result.counters.acked).toBe(result.counters.sent);
    expect(result.counters.delivered).toBe(result.counters.acked);
    expect(result.metrics.deliver_ms!.summary.count).toBe(result.counters.delivered);
    expect(result.health.workers.map((w) => w.users)).toEqual([10, 10]);
    expect(r.stdout).toMatch(/VALID run; exit 0/);
  });

  it('exits 99 when a threshold fails and names it', async () => {
    const out = path.join(dir, 'fail.json');
    // A scenario file of one's own: the same users, an impossible latency target.
    const file = path.join(dir, 'strict.ts');
    fs.writeFileSync(file, `import base from ${JSON.stringify(path.join(ROOT, 'loadtest/scenarios/dm-steady.ts'))};
export default { ...base, name: 'strict', options: { ...base.options, thresholds: { ack_ms: ['p(50)<0.001'] } } };
`);
    const r = await parley(['load', file, ...common(), '--out', out]);
    expect(r.code).toBe(EXIT_CODES.thresholds);
    const result = parseResult(fs.readFileSync(out, 'utf8'));
    expect(result.thresholds).toMatchObject([{ metric: 'ack_ms', expression: 'p(50)<0.001', passed: false }]);
    expect(result.exitReason).toBe('thresholds failed: ack_ms p(50)<0.001');
  });

  it('exits 98 when no user can connect (wrong secret)', async () => {
    const r = await parley(['load', 'dm-steady', ...common().map((a) => (a === TEST_SECRET ? 'x'.repeat(40) : a)), '--users', '4']);
    expect(r.code).toBe(EXIT_CODES.infrastructure);
    expect(r.stdout).toMatch(/no simulated user could connect to ws:\/\/127\.0\.0\.1:\d+\/ws \(.*unauthorized: 4/);
  });

  it('answers bad input with exit 2 and every problem at once', async () => {
    const r = await parley(['load', 'dm-steady', '--target', 'http://nope', '--users', 'many', '--segment', '4/3', '--secret', 's']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--users must be an integer, got "many"/);
    expect(r.stderr).toMatch(/--target must be a ws:\/\/ or wss:\/\/ URL/);
    expect(r.stderr).toMatch(/--segment must be i\/n with 1 <= i <= n/);
    const unknown = await parley(['load', 'no-such-scenario', '--target', server.wsUrl]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown scenario "no-such-scenario"; expected one of .*dm-steady/);
  });

  it('mints tokens with a loopback node\'s secret from its data dir when no token flag is given', async () => {
    const nodeDir = tempDir();
    fs.writeFileSync(path.join(nodeDir, 'secret'), `${TEST_SECRET}\n`, { mode: 0o600 });
    const out = path.join(dir, 'local.json');
    const args = ['load', 'login-storm', '--target', server.wsUrl, '--users', '4', '--duration', '1s', '--param-holdMs', '100', '--workers', '1', '--max-lag', '500ms', '--max-cpu-percent', '100'];
    const byFlag = await parley([...args, '--data-dir', nodeDir, '--out', out]);
    expect(byFlag.stderr).toBe(`parley load: minting tokens with the local node's secret from ${path.join(nodeDir, 'secret')}\n`);
    expect(parseResult(fs.readFileSync(out, 'utf8')).counters).toMatchObject({ connects: 4 });
    const byEnv = await parley([...args, '--quiet', '--out', out], { PARLEY_DATA_DIR: nodeDir });
    expect(byEnv.stderr).toBe('');
    expect(parseResult(fs.readFileSync(out, 'utf8')).counters).toMatchObject({ connects: 4 });
  });

  it('says so when a loopback node has no secret, and creates none', async () => {
    const empty = tempDir();
    const r = await parley(['load', 'dm-steady', '--target', server.wsUrl, '--data-dir', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no secret for the local node at ${server.wsUrl}: PARLEY_SECRET is unset and ${path.join(empty, 'secret')} does not exist`);
    expect(fs.readdirSync(empty)).toEqual([]);
  });

  it('asks for --secret, --token-file or --token-url against a remote node', async () => {
    const r = await parley(['load', 'dm-steady', '--target', 'ws://sut.example:8080/ws']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('simulated users need tokens for the remote node ws://sut.example:8080/ws: give --secret (the node\'s PARLEY_SECRET), --token-file or --token-url');
  });

  it('refuses to merge a file that is not a result', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ schemaVersion: 0 }));
    const r = await parley(['load', 'merge', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a parley load result:[\s\S]*schemaVersion must be 1, got 0/);
  });
});

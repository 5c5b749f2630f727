/**
 * Ctrl-C during a battery: `parley nightly` stops every server it started and exits 4
 * (infrastructure). The build of HEAD is pre-seeded in the cache from this checkout's compiled
 * tree, so the test spends its time in deploy and load, not in tsc.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { requires } from '../../core/test/env.ts';
import { ROOT, tempDir, until } from '../../core/test/helpers.ts';
import { lockHash } from '../build.ts';

/** Pids of processes whose command line mentions `needle`. */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) pids.push(Number(p)); } catch { /* exited meanwhile */ }
  }
  return pids;
}

it('stops every server it started and exits 4 when interrupted with SIGINT', async (ctx) => {
  requires(ctx, 'the compiled CLI (npm run build)', fs.existsSync(path.join(ROOT, 'dist/cli/main.js')));
  const cache = tempDir('parley-nightly-cache-');
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const build = path.join(cache, 'builds', commit);
  fs.mkdirSync(build, { recursive: true });
  for (const entry of ['bin', 'dist', 'node_modules', 'package.json']) fs.symlinkSync(path.join(ROOT, entry), path.join(build, entry));
  fs.writeFileSync(path.join(build, '.parley-build.json'), JSON.stringify({ commit, lockHash: lockHash(ROOT), warnings: [] }));
  const out = tempDir('parley-nightly-out-');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'nightly', '--base', commit, '--head', commit,
    // HEAD of this checkout is built as committed; local edits are not what this test is about.
    '--cache', cache, '--out', out, '--battery', 'smoke', '--allow-dirty'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until(() => processesWith(`${build}/bin/parley.js`).length > 0, 'a deployed server', 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(4);
    expect(log).toContain('SIGINT: stopping servers');
    expect(processesWith(`${build}/bin/parley.js`)).toEqual([]);
  } finally {
    child.kill('SIGKILL');
    for (const pid of processesWith(`${build}/bin/parley.js`)) process.kill(pid, 'SIGKILL');
    fs.rmSync(cache, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 120_000);

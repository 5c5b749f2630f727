/**
 * Bad input gets one clear line and its documented exit code: usage errors (unknown ref, unknown
 * battery, a dirty worktree, a previous head the repository no longer has) exit 2 before anything
 * is built or recorded; a ref that does not compile and a port held by another service exit 4 and
 * leave one whole, parseable history line.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { ROOT, tempDir, TEST_SECRET } from '../../core/test/helpers.ts';
import { appendNight, historyFile, readHistory, type NightRecord } from '../history.ts';
import { nightly } from '../cli.ts';
import { preflight } from '../preflight.ts';
import { git } from './fixtures.ts';

const tmp = tempDir('parley-nightly-bad-');
const repo = path.join(tmp, 'repo');
beforeAll(() => { git(ROOT, 'clone', '--quiet', '--shared', ROOT, repo); });
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

/** `parley nightly ...` through the CLI: its exit code and what it printed on stderr. */
async function parley(...argv: string[]): Promise<{ code: number; stderr: string[] }> {
  const stderr: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { stderr.push(a.join(' ')); });
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    return { code: await main(['nightly', ...argv]), stderr };
  } finally {
    spy.mockRestore();
    log.mockRestore();
  }
}

describe('usage errors: exit 2, one line, nothing recorded', () => {
  it('names an unknown ref', async () => {
    const out = path.join(tmp, 'out-ref');
    const r = await parley('--repo', repo, '--base', 'no-such-ref', '--out', out);
    expect(r).toEqual({ code: 2, stderr: [`parley nightly: --base: unknown ref "no-such-ref" in ${repo}`] });
    expect(fs.existsSync(out)).toBe(false);
  });
  it('names a battery that does not exist', async () => {
    const out = path.join(tmp, 'out-battery');
    const r = await parley('--repo', repo, '--battery', 'huge', '--out', out);
    expect(r).toEqual({ code: 2, stderr: ['parley nightly: --battery must be one of smoke, nightly, got "huge"'] });
    expect(fs.existsSync(out)).toBe(false);
  });
  it('says when the previous night\'s head is not in the repository', async () => {
    const out = path.join(tmp, 'out-gone');
    const gone = 'f'.repeat(40);
    appendNight(out, { schemaVersion: 1, id: 'n1', at: '', battery: 'smoke', mode: 'build', aa: false, base: { ref: 'HEAD', commit: gone }, head: { ref: 'HEAD', commit: gone },
      blocks: 0, runs: [], discarded: [], rows: [], gate: { status: 'pass', exitCode: 0, reasons: [] }, environment: {} } satisfies NightRecord);
    const before = fs.readFileSync(historyFile(out), 'utf8');
    const r = await parley('--repo', repo, '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual([`parley nightly: the previous night's head ffffffffff (HEAD, from the history) is not in ${repo} (a shallow clone or rewritten history?); pass --base`]);
    expect(fs.readFileSync(historyFile(out), 'utf8')).toBe(before);
  });
  it('refuses to build HEAD from a worktree with uncommitted changes, unless told they are not measured', async () => {
    const dirty = path.join(tmp, 'dirty');
    git(ROOT, 'clone', '--quiet', '--shared', ROOT, dirty);
    fs.appendFileSync(path.join(dirty, 'README.md'), 'local edit\n');
    fs.writeFileSync(path.join(dirty, 'untracked.txt'), 'untracked files do not count\n');
    const out = path.join(tmp, 'out-dirty');
    const r = await parley('--repo', dirty, '--base', 'HEAD', '--out', out);
    expect(r).toEqual({ code: 2, stderr: [`parley nightly: ${dirty} has uncommitted changes to 1 tracked file(s) (README.md): the gate builds commits, so they would not be measured; commit or stash them, or pass --allow-dirty to measure HEAD as committed`] });
    expect(fs.existsSync(out)).toBe(false);
    expect(await preflight({ repo: dirty, base: 'HEAD', head: 'HEAD', allowDirty: true })).toMatchObject({ baseline: false, dirty: ['README.md'] });
    // Refs other than HEAD are built from their commits; local edits cannot be mistaken for them.
    expect(await preflight({ repo: dirty, base: 'HEAD~1', head: 'HEAD~1', allowDirty: false })).toMatchObject({ dirty: [] });
  });
});

describe('infrastructure failures: exit 4, one line, one whole history line', () => {
  it('names the first compile error of a ref that does not build and where the rest is', async () => {
    const broken = path.join(tmp, 'broken');
    git(ROOT, 'clone', '--quiet', '--shared', ROOT, broken);
    fs.rmSync(path.join(broken, 'cli/main.ts'));
    git(broken, '-c', 'user.name=t', '-c', 'user.email=t@localhost', 'commit', '--quiet', '-am', 'lose the CLI');
    const out = path.join(tmp, 'out-broken');
    const lines: string[] = [];
    const code = await nightly(['--repo', broken, '--deps-from', ROOT, '--base', 'HEAD', '--head', 'HEAD~1', '--battery', 'smoke', '--out', out], (l) => lines.push(l));
    expect(code).toBe(4);
    const failure = lines.filter((l) => l.startsWith('infrastructure failure: '));
    expect(failure).toHaveLength(1);
    expect(failure[0]).toMatch(/^infrastructure failure: compiling HEAD \([0-9a-f]{10}\) failed: cli\/run\.ts\(\d+,\d+\): error TS2307: Cannot find module '\.\/main\.ts'.*\(\+\d+ more lines in .*\.build\.log\)$/);
    const { nights, skipped } = readHistory(out);
    expect({ skipped, n: nights.length, status: nights[0]!.gate.status, reason: nights[0]!.gate.reasons[0] }).toEqual({ skipped: 0, n: 1, status: 'infrastructure', reason: failure[0]!.slice('infrastructure failure: '.length) });
  }, 180_000);
  it('says at once that an ops port is held by something other than parley', async () => {
    const other = http.createServer((_req, res) => { res.statusCode = 404; res.end('not here'); });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as AddressInfo).port;
    const out = path.join(tmp, 'out-port');
    const lines: string[] = [];
    const started = Date.now();
    try {
      const code = await nightly(['--base-url', `ws://127.0.0.1:${port}/ws`, '--base-ops-url', `http://127.0.0.1:${port}`, '--head-url', `ws://127.0.0.1:${port}/ws`,
        '--head-ops-url', `http://127.0.0.1:${port}`, '--secret', TEST_SECRET, '--battery', 'smoke', '--out', out], (l) => lines.push(l));
      expect(code).toBe(4);
    } finally {
      other.close();
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(lines.filter((l) => l.startsWith('infrastructure failure: '))).toEqual([
      `infrastructure failure: base server unavailable: http://127.0.0.1:${port}/readyz answered 404: that port is held by something other than a parley ops port`,
    ]);
    expect(readHistory(out)).toMatchObject({ skipped: 0, nights: [{ gate: { status: 'infrastructure', exitCode: 4 } }] });
  });
});

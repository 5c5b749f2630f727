/**
 * The compiled CLI, as CI and cron run it: `node bin/parley.js nightly` from a compiled
 * installation (not tsx), on a real two-commit repository, through build, deploy, battery,
 * compare, history, publish and gate, twice: the first night records the baseline, the second
 * compares the new commit against it and prunes to one night. One block each keeps the load to
 * eight short runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, tempDir } from '../../core/test/helpers.ts';
import { readHistory } from '../history.ts';
import { cloneWithCommit, compiledTree, runToEnd, type CompiledTree } from './fixtures.ts';

let tree: CompiledTree;
const tmp = tempDir('parley-nightly-compiled-');
beforeAll(async () => { tree = await compiledTree(); }, 120_000);
afterAll(() => {
  tree?.remove();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('records the first night as the baseline, then gates the next commit against it, from the compiled CLI', async () => {
  const repo = cloneWithCommit(tmp, (r) => {
    const file = path.join(r, 'core/config.ts');
    fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8')}// a commit for the nightly to compare\n`);
  }, 'a second commit');
  const out = path.join(tmp, 'out');
  const common = ['nightly', '--repo', repo, '--deps-from', ROOT, '--battery', 'smoke', '--blocks', '1', '--max-blocks', '1', '--out', out,
    '--waivers', path.join(tmp, 'none.json'), '--resamples', '1000'];

  const first = await runToEnd([...tree.parley, ...common, '--head', 'HEAD~1'], { cwd: tmp });
  const log = () => `--- stdout\n${first.stdout}\n--- stderr\n${first.stderr}`;
  expect(first.code, log()).toBe(0);
  expect(first.stdout).toMatch(/^baseline recorded: HEAD~1 [0-9a-f]{10} \(exit 0\); report /m);
  // A run whose generator hiccuped is discarded and redone (the gate's own health check); what
  // matters here is that the compiled CLI runs every phase, not this machine's jitter.

  const second = await runToEnd([...tree.parley, ...common, '--keep-nights', '1'], { cwd: tmp });
  // Two runs a side cannot decide the gating metrics: inconclusive (3), never a pass.
  expect(second.code, `--- stdout\n${second.stdout}\n--- stderr\n${second.stderr}`).toBe(3);

  const { nights, skipped } = readHistory(out);
  expect(skipped).toBe(0);
  expect(nights.map((n) => ({ status: n.gate.status, aa: n.aa, runs: n.runs.length, discarded: n.discarded.length })))
    .toEqual([{ status: 'baseline', aa: true, runs: 4, discarded: expect.any(Number) }, { status: 'inconclusive', aa: false, runs: 4, discarded: expect.any(Number) }]);
  // Only discards for a generator's health, never a failed load (the compiled path's old bug).
  for (const n of nights) for (const d of n.discarded) expect(d.reason).toMatch(/generator|machine|starved|lag/);
  expect(nights[1]!.base.commit).toBe(nights[0]!.head.commit);
  expect(nights[1]!.head.subject).toBe('a second commit');
  const dir = path.join(out, 'nights', nights[1]!.id);
  expect(fs.readdirSync(dir).sort()).toEqual(['report.html', 'result.json', 'runs', 'summary.eml', 'summary.md']);
  // The kept runs' result files, plus those of discarded runs (a discarded pair leaves two).
  const files = fs.readdirSync(path.join(dir, 'runs'));
  expect(files).toEqual(expect.arrayContaining(nights[1]!.runs.map((r) => r.file)));
  expect(files.length).toBeGreaterThanOrEqual(4);
  expect(files.length).toBeLessThanOrEqual(4 + nights[1]!.discarded.length);
  expect(fs.readFileSync(path.join(dir, 'summary.md'), 'utf8')).toMatch(/4 runs kept, \d+ discarded/);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as { gate: { exitCode: number }; rows: unknown[] };
  expect(result.gate.exitCode).toBe(3);
  expect(result.rows.length).toBeGreaterThan(5);
  expect(fs.readFileSync(path.join(dir, 'report.html'), 'utf8')).toContain('INCONCLUSIVE');
  // --keep-nights 1: the baseline's folder is gone, its line stays; both builds are still in use.
  expect(fs.readdirSync(path.join(out, 'nights'))).toEqual([nights[1]!.id]);
  expect(fs.readdirSync(path.join(out, 'cache/builds')).filter((f) => !f.endsWith('.log')).sort()).toEqual([nights[0]!.head.commit, nights[1]!.head.commit].sort());
  const index = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  expect(index).toContain(`${nights[0]!.id} (pruned)`);
  expect(index).toContain(`nights/${nights[1]!.id}/report.html`);
}, 900_000);

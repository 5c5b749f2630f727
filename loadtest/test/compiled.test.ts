/**
 * `parley load` and `parley profile` as users run them: `node bin/parley.js` from a compiled
 * installation (not tsx). The load forks its workers from the compiled tree; the profiler starts
 * the node through selfCommand(), which must find this installation's own bin/parley.js.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, tempDir, TEST_SECRET, type ServerProcess } from '../../core/test/helpers.ts';
import { compiledTree, runToEnd, type CompiledTree } from '../../nightly/test/fixtures.ts';
import { EXIT_CODES, parseResult } from '../result.ts';

let tree: CompiledTree;
let server: ServerProcess;
const dir = tempDir('parley-compiled-load-');
beforeAll(async () => {
  [tree, server] = await Promise.all([compiledTree(), spawnServer(tempDir())]);
}, 120_000);
afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  tree?.remove();
  fs.rmSync(dir, { recursive: true, force: true });
});

const lenient = ['--users', '10', '--duration', '1s', '--rate', '2', '--max-lag', '500ms', '--max-cpu-percent', '100', '--quiet'];

describe('the compiled CLI', () => {
  it('runs parley load with two forked workers and writes a valid result', async () => {
    const out = path.join(dir, 'load.json');
    const r = await runToEnd([...tree.parley, 'load', 'dm-steady', '--target', server.wsUrl, '--secret', TEST_SECRET, '--workers', '2', ...lenient, '--out', out], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/VALID run; exit \d+/);
    const result = parseResult(fs.readFileSync(out, 'utf8'));
    expect(result.validity).toEqual({ valid: true, reasons: [] });
    expect(result.health.workers).toHaveLength(2);
    expect(result.counters.connects).toBe(10);
    expect(result.counters.lost).toBe(0);
    expect([EXIT_CODES.pass, EXIT_CODES.thresholds]).toContain(r.code);
  });

  it('runs parley profile, which starts the node from the same compiled tree under --cpu-prof', async () => {
    const outDir = path.join(dir, 'profiles');
    const r = await runToEnd([...tree.parley, 'profile', 'dm-steady', '--tool', 'cpu-prof', '--out-dir', outDir, '--workers', '1', ...lenient], { cwd: dir });
    expect(r.stderr).toContain('profile: starting the node under cpu-prof');
    const report = r.stdout.trim().split('\n').at(-1)!;
    expect(report).toMatch(new RegExp(`^${outDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.+\\.cpuprofile$`));
    const prof = JSON.parse(fs.readFileSync(report, 'utf8')) as { nodes: { callFrame: { url: string } }[] };
    // The profiled node ran the compiled server, not tsx on the sources.
    expect(prof.nodes.some((n) => n.callFrame.url.startsWith(`file://${tree.dir}/dist/core/`))).toBe(true);
    expect([EXIT_CODES.pass, EXIT_CODES.thresholds]).toContain(r.code);
  });
});

/**
 * A night whose every run fails says why: the load's own last words reach the console, the report,
 * summary.md and the history, and the counts are those of the runs thrown away. The load generator
 * is broken the way a bad installation breaks it (node cannot load a module), against an
 * environment that is ready, so only the load fails; each attempt costs a node start.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { spawnServer, tempDir, TEST_SECRET } from '../../core/test/helpers.ts';
import { BATTERIES, type Battery } from '../batteries.ts';
import { InfrastructureError, runBattery } from '../battery.ts';
import { nightly } from '../cli.ts';
import { readHistory } from '../history.ts';

const saved = process.env.NODE_OPTIONS;
afterEach(() => {
  if (saved === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = saved;
});

it('shows the load\'s last stderr lines for nine discarded runs in the console, the report and summary.md, with the right counts', async () => {
  // Two environments, ready and nothing else: /readyz 200, no /metrics; the load never gets as far as connecting.
  const [env, other] = [readyOnly(), readyOnly()];
  await Promise.all([env, other].map((e) => new Promise<void>((r) => e.listen(0, '127.0.0.1', r))));
  const [port, port2] = [env, other].map((e) => (e.address() as AddressInfo).port);
  const out = tempDir('parley-nightly-fail-');
  const missing = path.join(out, 'missing-preload.cjs');
  const lines: string[] = [];
  try {
    process.env.NODE_OPTIONS = `--require ${missing}`;
    const code = await nightly([
      '--base-url', `ws://127.0.0.1:${port}/ws`, '--base-ops-url', `http://127.0.0.1:${port}`, '--head-url', `ws://127.0.0.1:${port2}/ws`,
      '--head-ops-url', `http://127.0.0.1:${port2}`, '--design', 'paired', '--secret', TEST_SECRET, '--battery', 'smoke', '--out', out, '--waivers', path.join(out, 'none.json'),
    ], (l) => lines.push(l));
    // Smoke runs base and head in pairs: both runs of every attempt fail, and each is counted.
    const attempts = BATTERIES.smoke!.maxRedos + 1;
    expect(code).toBe(4);
    const log = lines.join('\n');
    expect(log).toContain(`infrastructure failure: dm (base and head in pairs): no healthy run after ${attempts} attempts (last: parley load exited 1 without a result file: Error: Cannot find module '${missing}'`);
    expect(log).toContain(`    | Error: Cannot find module '${missing}'`);
    // The load's words once, not once per identical failure.
    expect(lines.filter((l) => l.startsWith('    | Error:'))).toHaveLength(1);
    expect(log).toContain(`0 run(s) kept, ${2 * attempts} discarded`);

    const [night] = readHistory(out).nights;
    expect(night!.discarded).toHaveLength(2 * attempts);
    expect(night!.discarded.filter((d) => d.side === 'head')).toHaveLength(attempts);
    expect(night!.discarded[0]!.tail).toContain(`Error: Cannot find module '${missing}'`);
    const dir = path.join(out, 'nights', night!.id);
    const summary = fs.readFileSync(path.join(dir, 'summary.md'), 'utf8');
    expect(summary).toContain(`0 runs kept, ${2 * attempts} discarded.`);
    expect(summary).toContain(`- ${attempts} × base dm: parley load exited 1 without a result file: Error: Cannot find module '${missing}'`);
    expect(summary).toContain(`- ${attempts} × head dm: parley load exited 1 without a result file: Error: Cannot find module '${missing}'`);
    expect(summary).toContain(`  Error: Cannot find module '${missing}'`);
    const report = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(report).not.toContain('No run was discarded');
    expect(report).toContain(`<h3>Discarded runs (${2 * attempts})</h3>`);
    expect(report).toContain(`${attempts} &times; base dm: parley load exited 1 without a result file`);
  } finally {
    env.close();
    other.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 120_000);

function readyOnly(): http.Server {
  return http.createServer((req, res) => { res.statusCode = req.url === '/readyz' ? 200 : 404; res.end(); });
}

it('counts the healthy run of a redone pair as discarded too, and says why', async () => {
  // base: a real node; head: an environment where the load cannot connect. Every pair is redone.
  const node = await spawnServer(tempDir());
  const broken = readyOnly();
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  const brokenPort = (broken.address() as AddressInfo).port;
  const dm = BATTERIES.smoke!.scenarios[0]!;
  const battery: Battery = {
    ...BATTERIES.smoke!, plan: { initialBlocks: 1, maxBlocks: 1 }, maxRedos: 1,
    scenarios: [{ ...dm, warmup: undefined, args: ['--users', '4', '--arrival-rate', '100', '--duration', '1s', '--rate', '5', '--drain', '200ms', '--max-lag', '1s'] }],
  };
  const runsDir = tempDir('parley-nightly-partner-');
  const lines: string[] = [];
  try {
    const err = await runBattery({
      battery, design: 'paired', secret: TEST_SECRET, runsDir, generatorCpu: 0, log: (l) => lines.push(l), compare: {},
      providers: {
        base: { acquire: async () => ({ wsUrl: node.wsUrl, opsUrl: `http://127.0.0.1:${node.opsPort}`, release: async () => {} }) },
        head: { acquire: async () => ({ wsUrl: `ws://127.0.0.1:${brokenPort}/ws`, opsUrl: `http://127.0.0.1:${brokenPort}`, release: async () => {} }) },
      },
    }).then(() => undefined, (e: unknown) => e);
    expect(err, lines.join('\n')).toBeInstanceOf(InfrastructureError);
    const { runs, discarded } = (err as InfrastructureError).partial!;
    // Two attempts of one pair: four runs thrown away, two per side; the base runs were healthy.
    expect({ kept: runs.length, discarded: discarded.length, base: discarded.filter((d) => d.side === 'base').length }).toEqual({ kept: 0, discarded: 4, base: 2 });
    for (const d of discarded.filter((x) => x.side === 'base')) expect(d.reason).toMatch(/^healthy, but the other run of its pair was discarded \(.+\)$/);
    for (const d of discarded.filter((x) => x.side === 'head')) expect(d.reason).not.toMatch(/^healthy/);
  } finally {
    node.child.kill('SIGTERM');
    await node.exited;
    broken.close();
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
}, 60_000);

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { normalizedStrategyValue } from 'unleash-client/lib/strategy/util.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, tempDir, TEST_SECRET, type ServerProcess } from '../../core/test/helpers.ts';
import { readFeatures } from '../../core/ops/flags/flags.ts';
import { startUnleash, type UnleashFixture } from '../../core/ops/flags/unleash-fixture.ts';
import { canaryCommand } from '../../cli/canary.ts';
import { load } from '../../loadtest/cli.ts';
import { UnleashAdmin } from '../unleash.ts';
import { GUARDS } from './guards.ts';
import { ScrapeSource } from './source.ts';
import { CANARY_EXIT, fileTarget, runCanary, unleashTarget, type WalkOptions } from './walk.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const guard = GUARDS['fanout-batched']!;
// Node canary: a node is in the variant when its bucket is ≤ the rollout. These ids are chosen so
// that A is in from 5% on and B stays in control until 100%.
const idIn = (prefix: string, ok: (bucket: number) => boolean) => {
  for (let i = 0; ; i++) if (ok(normalizedStrategyValue(`${prefix}-${i}`, 'fanout-batched'))) return `${prefix}-${i}`;
};
const NODE_A = idIn('canary-a', (b) => b <= 5);
const NODE_B = idIn('canary-b', (b) => b > 50);

const procs: ServerProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) { p.child.kill('SIGKILL'); await p.exited; }
});
async function node(id: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}, dataDir = tempDir('parley-canary-')): Promise<ServerProcess & { ops: string }> {
  const p = await spawnServer(dataDir, [...(id ? ['--node-id', id] : []), ...args], env);
  procs.push(p);
  return { ...p, ops: `http://127.0.0.1:${p.opsPort}` };
}
function flagsFile(): string {
  const file = path.join(tempDir('parley-canary-flags-'), 'features.json');
  fs.copyFileSync(path.join(ROOT, 'flags/features.json'), file);
  return file;
}
/** Real traffic: `parley load room-fanout` in-process against each node, bounded in time. */
function traffic(nodes: ServerProcess[], seconds: number): Promise<number[]> {
  return Promise.all(nodes.map((n, i) => load(['room-fanout', '--target', n.wsUrl, '--secret', TEST_SECRET, '--users', '20', '--arrival-rate', '100', '--group-size', '5',
    '--rate', '2', '--duration', `${seconds}s`, '--in-process', '--quiet', '--user-prefix', `n${i}u`])));
}
async function webhook(): Promise<{ url: string; posts: string[]; close: () => void }> {
  const posts: string[] = [];
  const server = http.createServer((req, res) => { let b = ''; req.on('data', (d) => (b += d)); req.on('end', () => { posts.push(b); res.end('ok'); }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/hook`, posts, close: () => server.close() };
}
const FAST: Omit<WalkOptions, 'source' | 'target' | 'steps'> = {
  guard, intervalMs: 7000, sampleMs: 1000, settleMs: 1500, maxHolds: 2, judge: { minSamples: 5, minEvents: 20, alpha: 0.05 }, print: () => {},
};

describe('parley canary with the flags file on two nodes', () => {
  it('rolls back at once a variant that makes deliveries 60 ms late, posts the decision with its evidence, and leaves the flag at 0%', { timeout: 120_000 }, async () => {
    const file = flagsFile();
    const args = ['--flags-file', file, '--flags-poll-ms', '200', '--fault-variant-delay-ms', '60'];
    const [a, b] = await Promise.all([node(NODE_A, args), node(NODE_B, args)]);
    const hook = await webhook();
    const lines: string[] = [];
    try {
      const loads = traffic([a, b], 14);
      const r = await runCanary({ ...FAST, source: new ScrapeSource([a.ops, b.ops]), target: fileTarget(file), steps: [5, 25, 50, 100], delivery: { webhookUrl: hook.url }, print: (l) => lines.push(l) });
      await loads;
      expect(r.code, lines.join('\n')).toBe(CANARY_EXIT.rolledBack);
      // Holds may come first while the load ramps up; the first verdict is the roll back, at 5%.
      const verdicts = r.decisions.filter((d) => d.outcome !== 'hold');
      expect(verdicts).toHaveLength(1);
      expect(verdicts[0]).toMatchObject({ step: 5, outcome: 'rollback' });
      expect(verdicts[0]!.reason).toMatch(/^the variant is worse: delivery latency mean \(ms\) ×\d+/);
      expect(await fileTarget(file).get('fanout-batched')).toBe(0);
      expect(hook.posts).toHaveLength(r.decisions.length);
      expect(JSON.parse(hook.posts.at(-1)!).text).toBe('parley canary fanout-batched: rollback at 5%');
      expect(lines.join('\n')).toMatch(/delivery latency mean \(ms\)\s+\d[\d.]*\s+\d[\d.]*\s+×\d[\d.]* \[[\d.]+, [\d.]+\]\s+\d+\/\d+ \(\d+\)\s+[\d.]+\s+fail/);
    } finally {
      hook.close();
    }
  });

  it('holds an idle canary and says why: no traffic on the variant, nothing judged; exit code 3', async () => {
    const file = flagsFile();
    const dataDir = tempDir('parley-canary-');
    const a = await node(undefined, ['--flags-file', file, '--flags-poll-ms', '200'], {}, dataDir);
    const id = (await (await fetch(`${a.ops}/healthz`)).json() as { node: string }).node;
    const lines: string[] = [];
    const code = await canaryCommand(['fanout-batched', '--node', a.ops, '--file', file, '--interval', '3s', '--sample', '500ms'], {}, (l) => lines.push(l));
    expect(code).toBe(CANARY_EXIT.stopped);
    expect(lines.join('\n')).toMatch(/hold: no traffic on the (variant|control): 0 of \d+ intervals had ≥ 20 deliveries; 6 are needed before any verdict/);
    expect(lines.join('\n')).toContain('judged only: nothing changed');
    // The node id, used for the canary's stickiness, survives a restart of the node.
    procs.splice(0).forEach((p) => p.child.kill('SIGKILL'));
    await a.exited;
    const again = await node(undefined, ['--flags-file', file], {}, dataDir);
    expect((await (await fetch(`${again.ops}/healthz`)).json() as { node: string }).node).toBe(id);
    expect(fs.readFileSync(path.join(dataDir, 'node-id'), 'utf8').trim()).toBe(id);
  });
});

describe('parley canary with a real Unleash server', () => {
  let unleash: UnleashFixture;
  beforeAll(async () => {
    unleash = await startUnleash();
    await new UnleashAdmin({ url: unleash.url, token: unleash.adminToken }).push(readFeatures(path.join(ROOT, 'flags/features.json')));
  }, 120_000);
  afterAll(async () => { await unleash?.close(); });

  it('widens a harmless variant step by step to 100% in Unleash, the nodes following within their refresh interval', async () => {
    const env = { UNLEASH_URL: unleash.url, UNLEASH_API_TOKEN: unleash.clientToken };
    const args = ['--unleash-refresh-ms', '500'];
    const [a, b] = await Promise.all([node(NODE_A, args, env), node(NODE_B, args, env)]);
    const ready = await (await fetch(`${a.ops}/readyz`)).json() as { flags: unknown };
    expect(ready.flags).toMatchObject({ source: 'unleash', stale: false });
    const admin = new UnleashAdmin({ url: unleash.url, token: unleash.adminToken });
    const loads = traffic([a, b], 90);
    const lines: string[] = [];
    // Harmless is "at most 10% or `floor` worse with 95% confidence". On a shared two-core test
    // machine delivery latency swings by tens of ms between intervals, so the floors are scaled to
    // that noise here; the statistics and the 60 ms fault above are unchanged.
    const busy = { ...guard, metrics: guard.metrics.map((m) => ({ ...m, floor: m.kind === 'errors-per-1k' ? m.floor : 50 })) };
    const r = await runCanary({ ...FAST, guard: busy, intervalMs: 10_000, maxHolds: 4, source: new ScrapeSource([a.ops, b.ops]), target: unleashTarget(admin), steps: [5, 50, 100], print: (l) => lines.push(l) });
    await loads;
    expect(r.code, lines.join('\n')).toBe(CANARY_EXIT.widened);
    expect(r.decisions.map((d) => `${d.step}:${d.outcome}`).filter((d) => !d.endsWith(':hold'))).toEqual(['5:widen', '50:widen']);
    expect(r.code).toBe(CANARY_EXIT.widened);
    expect(await admin.rollout('fanout-batched')).toBe(100);
  }, 300_000);
});

/**
 * `parley canary --prometheus URL`: the same decision as scraping the nodes, read from a real
 * Prometheus that scrapes them (the ops stack's own configuration). Two nodes, one in the variant
 * from 5% on, the variant made 60 ms late: the canary reads both variants through Prometheus's
 * HTTP API, tells the nodes apart by their instance label, and rolls the flag back at 5%.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { normalizedStrategyValue } from 'unleash-client/lib/strategy/util.js';
import { afterAll, expect, it } from 'vitest';
import { hasCommand, requires } from '../../core/test/env.ts';
import { spawnServer, tempDir, TEST_SECRET, type ServerProcess } from '../../core/test/helpers.ts';
import { canaryCommand } from '../../cli/canary.ts';
import { startStack, type OpsStack } from '../../cli/ops.ts';
import { load } from '../../loadtest/cli.ts';
import { CANARY_EXIT, fileTarget } from './walk.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const idIn = (prefix: string, ok: (bucket: number) => boolean) => {
  for (let i = 0; ; i++) if (ok(normalizedStrategyValue(`${prefix}-${i}`, 'fanout-batched'))) return `${prefix}-${i}`;
};
const free = () => new Promise<number>((r) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });

const procs: ServerProcess[] = [];
let stack: OpsStack | undefined;
afterAll(async () => {
  await stack?.stop();
  for (const p of procs.splice(0)) { p.child.kill('SIGKILL'); await p.exited; }
});

it('rolls back a 60 ms-late variant reading the nodes through a real Prometheus, the nodes told apart by instance', async (ctx) => {
  requires(ctx, 'prometheus (Debian package)', hasCommand('prometheus') && hasCommand('prometheus-alertmanager'));
  const file = path.join(tempDir('parley-canary-prom-'), 'features.json');
  fs.copyFileSync(path.join(ROOT, 'flags/features.json'), file);
  await fileTarget(file).set('fanout-batched', 5);
  const args = ['--flags-file', file, '--flags-poll-ms', '200', '--fault-variant-delay-ms', '60'];
  const [a, b] = await Promise.all([
    spawnServer(tempDir('parley-canary-prom-a-'), ['--node-id', idIn('prom-a', (x) => x <= 5), ...args]),
    spawnServer(tempDir('parley-canary-prom-b-'), ['--node-id', idIn('prom-b', (x) => x > 50), ...args]),
  ]);
  procs.push(a, b);
  stack = await startStack({ nodes: [`127.0.0.1:${a.opsPort}`, `127.0.0.1:${b.opsPort}`], interval: '1s', prometheusPort: await free(), alertmanagerPort: await free(), receiverPort: 0, onAlert: () => {} });
  const loads = Promise.all([a, b].map((n, i) => load(['room-fanout', '--target', n.wsUrl, '--secret', TEST_SECRET, '--users', '20', '--arrival-rate', '100', '--group-size', '5',
    '--rate', '2', '--duration', '40s', '--in-process', '--quiet', '--user-prefix', `p${i}u`])));
  const lines: string[] = [];
  const code = await canaryCommand(['fanout-batched', '--prometheus', stack.prometheusUrl, '--file', file, '--steps', '5,25,50,100',
    '--interval', '7s', '--sample', '1s', '--settle', '1500ms', '--max-holds', '3', '--min-samples', '5', '--min-events', '20'], {}, (l) => lines.push(l));
  await loads;
  const said = lines.join('\n');
  expect(code, said).toBe(CANARY_EXIT.rolledBack);
  expect(said).toContain(`Prometheus ${stack.prometheusUrl}`);
  // Holds may come first while traffic ramps up; the verdict is the roll back, at 5%.
  expect(said).toMatch(/^fanout-batched at 5%: rollback: the variant is worse: delivery latency mean \(ms\) ×\d/m);
  expect(said).not.toMatch(/: widen/);
  expect(await fileTarget(file).get('fanout-batched')).toBe(0);
}, 180_000);

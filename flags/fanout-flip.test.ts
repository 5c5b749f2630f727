/**
 * The fanout-batched canary switched back and forth under traffic, as a canary's widen and roll
 * back do, with the variant's passes made 60 ms late (so a batch is always in flight when the
 * path changes): every acknowledged message still reaches every member, once. A canary run in CI
 * once saw `lost=1` in the load it drove through a roll back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { spawnServer, tempDir, TEST_SECRET, type ServerProcess } from '../core/test/helpers.ts';
import { load } from '../loadtest/cli.ts';
import { fileTarget } from './canary/walk.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const procs: ServerProcess[] = [];
afterAll(async () => {
  for (const p of procs.splice(0)) { p.child.kill('SIGKILL'); await p.exited; }
});

it('loses and duplicates nothing while the fan-out path flips between batched and control every few hundred ms', async () => {
  const dir = tempDir('parley-flip-');
  const file = path.join(dir, 'features.json');
  fs.copyFileSync(path.join(ROOT, 'flags/features.json'), file);
  const target = fileTarget(file);
  await target.set('fanout-batched', 100);
  const node = await spawnServer(tempDir('parley-flip-node-'), ['--flags-file', file, '--flags-poll-ms', '100', '--fault-variant-delay-ms', '60']);
  procs.push(node);
  const out = path.join(dir, 'load.json');
  let flips = 0;
  let stop = false;
  const flipping = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 250));
      await target.set('fanout-batched', flips++ % 2 ? 100 : 0);
    }
  })();
  const code = await load(['room-fanout', '--target', node.wsUrl, '--secret', TEST_SECRET, '--users', '20', '--arrival-rate', '100', '--group-size', '5',
    '--rate', '4', '--duration', '15s', '--in-process', '--quiet', '--out', out]);
  stop = true;
  await flipping;
  const counters = (JSON.parse(fs.readFileSync(out, 'utf8')) as { counters: Record<string, number> }).counters;
  const metrics = await (await fetch(`http://127.0.0.1:${node.opsPort}/metrics`)).text();
  const delivered = (variant: string) => Number(new RegExp(`^parley_messages_delivered_total\\{variant="${variant}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  // Both paths carried traffic, or the flips proved nothing.
  expect(flips).toBeGreaterThan(20);
  expect(delivered('batched')).toBeGreaterThan(100);
  expect(delivered('control')).toBeGreaterThan(100);
  expect({ code, lost: counters.lost, duplicated: counters.duplicated ?? 0, unacked: counters.unacked, expected: (counters.expected ?? 0) > 1000 })
    .toEqual({ code: 0, lost: 0, duplicated: 0, unacked: 0, expected: true });
}, 120_000);

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pgAvailable } from '../store/test/pg.ts';
import { hasCommand, requires } from '../test/env.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface ClusterResult {
  runs: {
    config: string; workload: string;
    open: { sent: number; delivered: number; fanout: number; errors: number };
    cpuUsPerSend: { perNode: number[]; redis: number; postgres: number };
    capacityPerSec: number; capacityErrors: number;
  }[];
}

// A short bench:cluster (the same bench as `npm run bench:cluster`, at a low rate): every
// deployment and workload runs, delivers every send once to every recipient, and the CPU it
// reports lands where the deployment says it should.
describe('bench:cluster, short', () => {
  it('runs 1:1 and rooms on one SQLite node, one PostgreSQL node and two nodes through Redis, losing nothing, with CPU on every part of the path', async (ctx) => {
    requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
    requires(ctx, 'redis-server', hasCommand('redis-server'));
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-bench-test-')), 'cluster.json');
    const args = ['--import', 'tsx', path.join(ROOT, 'core/bench/cluster.bench.ts'), '--rounds', '1', '--pairs', '6', '--rooms', '2', '--room-size', '4',
      '--dm-rate', '200', '--room-rate', '60', '--warmup-ms', '500', '--measure-ms', '1500', '--grace-ms', '3000', '--out', out];
    let stdout = '';
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, args, { cwd: ROOT, timeout: 170_000 }, () => undefined);
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('exit', (c) => resolve(c));
    });
    expect(code, stdout).toBe(0);
    const r = JSON.parse(fs.readFileSync(out, 'utf8')) as ClusterResult;
    expect(r.runs.map((x) => `${x.config}/${x.workload}`).sort()).toEqual(['pg/dm', 'pg/room', 'redis2/dm', 'redis2/room', 'sqlite/dm', 'sqlite/room']);
    for (const run of r.runs) {
      expect(run.open.fanout).toBe(run.workload === 'dm' ? 1 : 3);
      expect(run.open.sent).toBeGreaterThan(0);
      expect(run.open.delivered).toBe(run.open.sent * run.open.fanout);
      expect(run.open.errors + run.capacityErrors).toBe(0);
      expect(run.capacityPerSec).toBeGreaterThan(0);
      expect(run.cpuUsPerSend.perNode).toHaveLength(run.config === 'redis2' ? 2 : 1);
      // Every node on the path worked: in redis2 each user's peers are on the other node.
      for (const us of run.cpuUsPerSend.perNode) expect(us).toBeGreaterThan(0);
      if (run.config === 'sqlite') expect(run.cpuUsPerSend.postgres).toBe(0);
      else expect(run.cpuUsPerSend.postgres).toBeGreaterThan(0);
      if (run.config === 'redis2') expect(run.cpuUsPerSend.redis).toBeGreaterThan(0);
      else expect(run.cpuUsPerSend.redis).toBe(0);
    }
  }, 180_000);
});

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface SoakResult {
  status: string;
  ledger: { acked: number; lost: number; unacked: number; offline: number };
  totals: { duplicates: number; reconnects: number; joins: number; presence: number; typing: number };
  rss: { t: number; rssMiB: number }[];
  heap: { t: number; heapUsedMiB: number }[];
  minutes: { p99Ms: number }[];
}

// The short soak: the same bench as `npm run bench:soak`, one minute at a low fixed rate (no
// capacity run), so it fits CI on a shared machine. The 60-minute recording is in docs/benchmarks.md.
describe('bench:soak, one minute', () => {
  it('loses no acked message and grows RSS by under 48 MiB and heap after GC by under 16 MiB after warm-up, under churn', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'soak-test-')), 'soak.json');
    const args = ['--import', 'tsx', path.join(ROOT, 'core/bench/soak.bench.ts'), '--seconds', '60', '--rate', '300', '--users', '60', '--rooms', '4',
      '--reconnects-per-sec', '2', '--presence-per-sec', '4', '--typing-per-sec', '6', '--room-churn-per-sec', '1', '--grace-sec', '20', '--out', out];
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, args, { cwd: ROOT, timeout: 170_000 }, () => undefined);
      child.on('exit', (c) => resolve(c));
    });
    const r = JSON.parse(fs.readFileSync(out, 'utf8')) as SoakResult;
    expect(r.status).toBe('done');
    expect(code).toBe(0);
    expect(r.ledger.lost).toBe(0);
    expect(r.ledger.offline).toBe(0);
    expect(r.ledger.acked).toBeGreaterThan(15_000);
    expect(r.totals.duplicates).toBe(0);
    expect(r.totals.reconnects).toBeGreaterThan(60);
    expect(r.totals.joins).toBeGreaterThan(20);
    const warm = r.rss.find((s) => s.t >= 20_000)!;
    expect(r.rss.at(-1)!.rssMiB - warm.rssMiB).toBeLessThan(48);
    expect(r.heap.length).toBeGreaterThanOrEqual(2);
    expect(r.heap.at(-1)!.heapUsedMiB - r.heap[0]!.heapUsedMiB).toBeLessThan(16);
    expect(r.minutes.length).toBeGreaterThanOrEqual(1);
  }, 180_000);
});

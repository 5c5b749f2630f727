/**
 * A stall of the generator itself makes the run invalid: a worker stopped with SIGSTOP for 150 ms
 * sends late, and that delay would otherwise be read as the target's latency.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_SECRET } from '../../core/test/helpers.ts';
import { resolveOptions } from '../options.ts';
import { EXIT_CODES } from '../result.ts';
import { runLoad } from '../runner.ts';
import { loadScenario, scenarioFile } from '../scenario.ts';
import { fakeServer, type FakeServer } from './fake-server.ts';

let server: FakeServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The load workers this test process forked (its children whose command line names worker.ts). */
function workerPids(): number[] {
  let out = '';
  try { out = execFileSync('pgrep', ['-P', String(process.pid)]).toString(); } catch { return []; }
  return out.split('\n').filter(Boolean).map(Number).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker.'); } catch { return false; }
  });
}

describe('generator stalls', () => {
  it('marks a run invalid (exit 97) when a worker is stopped for 150 ms, whatever the whole run\'s lag p99', async () => {
    server = await fakeServer({});
    const file = scenarioFile('dm-steady');
    const scenario = await loadScenario(file);
    const options = resolveOptions({ ...scenario.options, thresholds: {} }, new Map(Object.entries({
      // --max-lag 1s: the whole-run gate stays out of the way (on a quiet machine a 150 ms stall over
      // 16 s is 0.8% of the sends, under its p99 anyway), so only the slice rule can fail the run.
      target: server.url, users: '4', duration: '16s', rate: '10', schedule: 'fixed', drain: '500ms', workers: '1', 'max-lag': '1s', 'max-cpu-percent': '100',
    })));
    let pid = 0;
    const stall = (async () => {
      for (let i = 0; i < 100 && !pid; i++) { await sleep(50); pid = workerPids()[0] ?? 0; }
      await sleep(1500);
      process.kill(pid, 'SIGSTOP');
      await sleep(150);
      process.kill(pid, 'SIGCONT');
    })();
    const r = await runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
    await stall;
    expect(pid).toBeGreaterThan(0);
    const h = r.health.workers[0]!;
    expect(h.scheduleLagWorstSliceP99Ms).toBeGreaterThan(100);
    expect(r.metrics.ack_ms!.summary.max).toBeGreaterThan(100);
    expect(r.validity.valid).toBe(false);
    expect(r.exitCode).toBe(EXIT_CODES.invalid);
    expect(r.validity.reasons).toHaveLength(1);
    expect(r.validity.reasons[0]).toMatch(/generator 1\/1#0 stalled: schedule lag p99 [\d.]+ ms in its worst 1000 ms slice > 100 ms/);
  });

  it('keeps a run without a stall valid: ordinary jitter stays under the slice bound', async () => {
    server = await fakeServer({});
    const file = scenarioFile('dm-steady');
    const scenario = await loadScenario(file);
    const options = resolveOptions({ ...scenario.options, thresholds: {} }, new Map(Object.entries({
      target: server.url, users: '4', duration: '2s', rate: '10', schedule: 'fixed', drain: '500ms', workers: '1', 'max-lag': '1s', 'max-cpu-percent': '100',
    })));
    const r = await runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
    expect(r.health.workers[0]!.scheduleLagWorstSliceP99Ms).toBeLessThan(100);
    expect(r.validity).toEqual({ valid: true, reasons: [] });
  });
});

/**
 * Proof that the numbers are right: against servers that inject a known delay, a stall, loss,
 * duplication and reordering, the generator measures exactly what was injected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_SECRET } from '../../core/test/helpers.ts';
import { countAtOrAbove, decode, percentileMs } from '../histogram.ts';
import { resolveOptions } from '../options.ts';
import type { LoadResult } from '../result.ts';
import { runLoad } from '../runner.ts';
import { loadScenario, scenarioFile } from '../scenario.ts';
import { fakeServer, type FakeServer, type Faults } from './fake-server.ts';

let server: FakeServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

async function run(faults: Faults, flags: Record<string, string>): Promise<LoadResult> {
  server = await fakeServer(faults);
  const file = scenarioFile('dm-steady');
  const scenario = await loadScenario(file);
  // Generous health gates: these tests judge measurement, not the shared CI machine's speed.
  const options = resolveOptions(scenario.options, new Map(Object.entries({ target: server.url, workers: '1', 'max-lag': '1000ms', 'max-cpu-percent': '100', drain: '1s', ...flags })));
  return runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
}

const hist = (r: LoadResult, metric: string) => decode(r.metrics[metric]!.hdr);

describe('measurement against injected faults', () => {
  it('measures send→deliver p50 within 1 ms of a 20 ms delivery delay', async () => {
    const r = await run({ deliverDelayMs: 20 }, { users: '10', duration: '3s', rate: '20', schedule: 'fixed' });
    expect(r.counters.lost).toBe(0);
    expect(r.metrics.deliver_ms!.summary.count).toBe(r.counters.acked);
    // The server writes each delivery 20 ms after its intended send time and records when it
    // really did (a busy machine can make it late): the generator must agree within 1 ms.
    const injected = percentileMs(server!.trueDelay, 50);
    expect(injected).toBeGreaterThanOrEqual(20);
    expect(Math.abs(r.metrics.deliver_ms!.summary.p50 - injected)).toBeLessThanOrEqual(1);
    expect(r.metrics.ack_ms!.summary.p50).toBeLessThan(5);
  });

  it('charges a 1 s stall to every send intended during it and counts the late sends', async () => {
    // One pair, 50 sends/s each, one send in flight: during the stall each user's in-flight send
    // waits at the server and every later send waits in the generator (late) until it ends.
    const r = await run({ stall: { afterMs: 1000, forMs: 1000 } }, { users: '2', duration: '3s', rate: '50', schedule: 'fixed', window: '1' });
    const ack = hist(r, 'ack_ms');
    const actual = hist(r, 'ack_ms_actual');
    expect(r.counters.lost).toBe(0);
    expect(ack.totalCount).toBe(r.counters.acked);
    // A send intended x ms into the stall cannot be acked before the stall ends: at least
    // 2 users × (1000 − v) / 20 ms sends took v ms or more, for every v.
    for (const v of [100, 300, 500, 700, 900]) expect(countAtOrAbove(ack, v)).toBeGreaterThanOrEqual(2 * Math.floor((1000 - v) / 20) - 2);
    expect(ack.maxValue / 1000).toBeGreaterThanOrEqual(980);
    // ~100 sends were intended during the stall; all but the one in flight per user went out late.
    expect(r.counters.late_sends).toBeGreaterThanOrEqual(96);
    expect(r.counters.late_sends).toBeLessThanOrEqual(140);
    expect(r.counters.missed_sends).toBe(0);
    // Timed from the actual send, the stall nearly vanishes: coordinated omission made visible.
    expect(percentileMs(ack, 90)).toBeGreaterThan(500);
    expect(percentileMs(actual, 90)).toBeLessThan(200);
  });

  it('counts injected loss, duplication and reordering exactly', async () => {
    const r = await run({ dropEvery: 7, duplicateEvery: 11, reorderEvery: 13 }, { users: '10', duration: '3s', rate: '20' });
    const injected = server!.counts;
    expect(injected.dropped).toBeGreaterThan(10);
    expect(injected.duplicated).toBeGreaterThan(5);
    expect(injected.reordered).toBeGreaterThan(5);
    expect(r.counters.lost).toBe(injected.dropped);
    expect(r.counters.duplicated).toBe(injected.duplicated);
    expect(r.counters.reordered).toBe(injected.reordered);
    expect(r.counters.delivered).toBe(injected.delivered);
    expect(r.counters.expected).toBe(r.counters.acked);
    expect(r.exitCode).toBe(99);
    expect(r.thresholds.find((t) => t.metric === 'lost')!.passed).toBe(false);
  });
});

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
import type { ThresholdSpec } from '../thresholds.ts';
import { fakeServer, type FakeServer, type Faults } from './fake-server.ts';

let server: FakeServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

async function run(faults: Faults, flags: Record<string, string>, thresholds?: Record<string, ThresholdSpec[]>): Promise<LoadResult> {
  server = await fakeServer(faults);
  const file = scenarioFile('dm-steady');
  const scenario = await loadScenario(file);
  // Generous health gates: these tests judge measurement, not the shared CI machine's speed.
  const options = resolveOptions({ ...scenario.options, ...(thresholds ? { thresholds } : {}) }, new Map(Object.entries({ target: server.url, workers: '1', 'max-lag': '1000ms', 'max-cpu-percent': '100', drain: '1s', ...flags })));
  return runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
}

const hist = (r: LoadResult, metric: string) => decode(r.metrics[metric]!.hdr);
const check = (ok: boolean, problem: string): string => (ok ? '' : problem);

/**
 * A timing claim on a shared machine must hold in one of `n` runs: other load only ever adds
 * latency, so a generator that measures wrongly fails every attempt, a busy neighbour only some.
 */
async function holdsInOneOf(n: number, attempt: () => Promise<string[]>): Promise<void> {
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    const problems = (await attempt()).filter(Boolean);
    if (problems.length === 0) return;
    failures.push(`attempt ${i + 1}: ${problems.join('; ')}`);
  }
  expect.fail(failures.join('\n'));
}

describe('measurement against injected faults', () => {
  it('measures send→deliver p50 within 1 ms of a 20 ms delivery delay', async () => {
    await holdsInOneOf(5, async () => {
      const r = await run({ deliverDelayMs: 20 }, { users: '10', duration: '2s', rate: '20', schedule: 'fixed' });
      // The server writes each delivery 20 ms after its intended send time and records when it
      // really did (a busy machine can make it late): the generator must agree within 1 ms.
      const injected = percentileMs(server!.trueDelay, 50);
      const measured = r.metrics.deliver_ms!.summary.p50;
      await server!.close();
      server = undefined;
      return [
        check(r.counters.lost === 0, `lost ${r.counters.lost}`),
        check(r.metrics.deliver_ms!.summary.count === r.counters.acked, 'one delivery sample per acked message'),
        check(injected >= 20, `server delivered early: ${injected}`),
        check(Math.abs(measured - injected) <= 1, `measured p50 ${measured} ms vs injected ${injected} ms`),
      ];
    });
  });

  it('charges a 1 s stall to every send intended during it and counts the late sends', async () => {
    // One pair, 50 sends/s each, one send in flight: during the stall each user's in-flight send
    // waits at the server and every later send waits in the generator (late) until it ends.
    await holdsInOneOf(3, async () => {
      const r = await run({ stall: { afterMs: 1000, forMs: 1000 } }, { users: '2', duration: '3s', rate: '50', schedule: 'fixed', window: '1' });
      await server!.close();
      server = undefined;
      const ack = hist(r, 'ack_ms');
      const actual = hist(r, 'ack_ms_actual');
      // A send intended x ms into the stall cannot be acked before the stall ends: at least
      // 2 users × (1000 − v) / 20 ms sends took v ms or more, for every v.
      const below = [100, 300, 500, 700, 900].filter((v) => countAtOrAbove(ack, v) < 2 * Math.floor((1000 - v) / 20) - 2);
      return [
        check(r.counters.lost === 0, `lost ${r.counters.lost}`),
        check(ack.totalCount === r.counters.acked, 'one ack sample per acked send'),
        check(below.length === 0, `too few samples at or above ${below.join(', ')} ms`),
        check(ack.maxValue / 1000 >= 980, `max ack_ms ${ack.maxValue / 1000}`),
        // ~100 sends were intended during the stall; all but the one in flight per user went out
        // late, while the ~100 intended before it went out on time.
        check(r.counters.late_sends! >= 96 && r.counters.late_sends! <= r.counters.scheduled! - 90, `late_sends ${r.counters.late_sends} of ${r.counters.scheduled}`),
        check(r.counters.missed_sends === 0, `missed ${r.counters.missed_sends}`),
        // Timed from the actual send, the stall nearly vanishes: coordinated omission made visible.
        check(percentileMs(ack, 90) > 500, `ack_ms p90 ${percentileMs(ack, 90)}`),
        check(percentileMs(actual, 90) < 200, `ack_ms_actual p90 ${percentileMs(actual, 90)}`),
      ];
    });
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

  it('aborts the schedule when an abortOnFail threshold fails, and still drains and reports', async () => {
    const r = await run({ deliverDelayMs: 30 }, { users: '4', duration: '30s', rate: '20' }, {
      deliver_ms: [{ threshold: 'p(50)<5', abortOnFail: true, delayAbortEval: '1s' }],
    });
    expect(r.aborted?.reason).toBe('threshold deliver_ms: p(50)<5 failed');
    expect(r.aborted!.atMs).toBeGreaterThanOrEqual(1000);
    expect(r.durationMs).toBeLessThan(15_000);
    expect(r.counters.lost).toBe(0);
    expect(r.exitCode).toBe(99);
  });

  it('in closed mode sends the next message only after the ack plus the think time', async () => {
    const r = await run({}, { users: '2', duration: '2s', mode: 'closed', think: '200ms' });
    // At most one send per 200 ms per user over 2 s, every one acked, none late (intended = actual).
    expect(r.counters.sent).toBeGreaterThanOrEqual(6);
    expect(r.counters.sent).toBeLessThanOrEqual(22);
    expect(r.counters.acked).toBe(r.counters.sent);
    expect(r.counters.late_sends ?? 0).toBe(0);
    expect(r.counters.lost).toBe(0);
  });
});

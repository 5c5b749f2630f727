/**
 * End-of-run accounting is exact: every scheduled send ends as exactly one of acked, unacked,
 * refused or missed, and every expected delivery as delivered or lost, even when acks and
 * deliveries arrive while the sockets close.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_SECRET } from '../../core/test/helpers.ts';
import { resolveOptions } from '../options.ts';
import { runLoad } from '../runner.ts';
import { loadScenario, scenarioFile } from '../scenario.ts';
import { fakeServer, type FakeServer } from './fake-server.ts';

let server: FakeServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

describe('end-of-run accounting', () => {
  it('counts acks and deliveries that arrive during the close once, in acked and delivered, never in unacked or lost', async () => {
    // The relay freezes 1 s before the schedule ends and thaws 1.5 s after it: after the 1 s drain,
    // while the generator closes its sockets, the waiting sends are acked and delivered.
    server = await fakeServer({ freeze: { afterMs: 2000, forMs: 2500 } });
    const file = scenarioFile('dm-steady');
    const scenario = await loadScenario(file);
    const options = resolveOptions({ ...scenario.options, thresholds: {} }, new Map(Object.entries({
      target: server.url, users: '2', duration: '3s', rate: '50', schedule: 'fixed', drain: '1s', workers: '1', 'max-lag': '1000ms', 'max-cpu-percent': '100',
    })));
    const r = await runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
    const c = r.counters;
    const injected = server.counts;
    expect(c.acked).toBe(injected.acked);
    expect(c.unacked).toBe(0);
    expect(c.missed_sends).toBeGreaterThan(0);
    expect(c.scheduled).toBe(c.acked! + c.unacked! + (c.refused ?? 0) + c.missed_sends!);
    expect(c.expected).toBe(c.acked);
    // A delivery the relay wrote after the recipient's close went through is lost, and only that.
    expect(c.delivered).toBe(injected.delivered);
    expect(c.delivered_unacked).toBe(0);
    expect(c.expected).toBe(c.delivered! + c.lost!);
  });
});

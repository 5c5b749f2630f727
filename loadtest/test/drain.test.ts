/**
 * The drain waits for recipients that dropped and are coming back: their resume delivers what
 * they missed. Settling while they were still reconnecting counted those messages as lost (a busy
 * machine's reconnect-churn once reported lost=110 with nothing lost on the server).
 */
import { afterEach, expect, it } from 'vitest';
import { testServer, TEST_SECRET } from '../../core/test/helpers.ts';
import type { ParleyServer } from '../../core/server.ts';
import { resolveOptions } from '../options.ts';
import { runLoad } from '../runner.ts';
import { loadScenario, scenarioFile } from '../scenario.ts';

let server: ParleyServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

it('counts nothing lost when the run ends while recipients are reconnecting, once they have resumed', async () => {
  server = await testServer();
  const file = scenarioFile('reconnect-churn');
  const scenario = await loadScenario(file);
  // Every user drops about every 200 ms: when the schedule ends, many are between a drop and their resume.
  const options = resolveOptions(scenario.options, new Map(Object.entries({
    target: server.wsUrl, users: '20', 'arrival-rate': '200', duration: '3s', rate: '10', drain: '8s', workers: '1', 'param-dropsPerMinute': '300', 'max-lag': '1000ms', 'max-cpu-percent': '100',
  })));
  const r = await runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
  const c = r.counters;
  expect(c.reconnects).toBeGreaterThan(100);
  expect({ lost: c.lost, duplicated: c.duplicated ?? 0, unacked: c.unacked, delivered: c.delivered }).toEqual({ lost: 0, duplicated: 0, unacked: 0, delivered: c.expected! + (c.delivered_unacked ?? 0) });
}, 60_000);

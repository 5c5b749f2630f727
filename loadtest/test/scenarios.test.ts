/**
 * Every bundled scenario runs against a real parley node and does what its story says; scenarios
 * that need ops a node lacks end with a clear infrastructure failure, not a crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, TEST_SECRET } from '../../core/test/helpers.ts';
import type { ParleyServer } from '../../core/server.ts';
import { resolveOptions } from '../options.ts';
import { EXIT_CODES, type LoadResult } from '../result.ts';
import { runLoad } from '../runner.ts';
import { loadScenario, scenarioFile, scenarioNames } from '../scenario.ts';
import { fakeServer } from './fake-server.ts';

let server: ParleyServer;
beforeAll(async () => { server = await testServer({ sendRatePerSec: 1000 }); });
afterAll(async () => { await server.close(); });

async function run(name: string, flags: Record<string, string>, target = server.wsUrl): Promise<LoadResult> {
  const file = scenarioFile(name);
  const scenario = await loadScenario(file);
  // Latency targets are the scenarios' own business; here only behaviour is checked.
  const options = resolveOptions({ ...scenario.options, thresholds: {} }, new Map(Object.entries({
    target, users: '10', duration: '2s', workers: '1', 'max-lag': '5000ms', 'max-cpu-percent': '100', ...flags,
  })));
  return runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret: TEST_SECRET } });
}

describe('bundled scenarios against a real node', () => {
  it('lists the eight scenarios, one file each', () => {
    expect(scenarioNames()).toEqual(['dm-steady', 'http-api', 'login-storm', 'offline-catchup', 'presence-storm', 'reconnect-churn', 'room-fanout', 'typing-flood']);
  });

  it('login-storm connects and syncs every user without sending', async () => {
    const r = await run('login-storm', { 'param-holdMs': '200' });
    expect(r.exitCode).toBe(EXIT_CODES.pass);
    expect(r.counters).toMatchObject({ users: 10, connects: 10 });
    expect(r.counters.sent ?? 0).toBe(0);
    expect(r.metrics.connect_ms!.summary.count).toBe(10);
    expect(r.metrics.sync_ms!.summary.count).toBe(10);
  });

  it('room-fanout delivers every message to every other member of its room', async () => {
    const r = await run('room-fanout', { users: '20', 'group-size': '5', rate: '2' });
    expect(r.counters.requests).toBe(4);
    expect(r.counters.acked).toBeGreaterThan(0);
    expect(r.counters.expected).toBe(r.counters.acked! * 4);
    expect(r.counters.delivered).toBe(r.counters.expected);
    expect(r.counters.lost).toBe(0);
  });

  it('reconnect-churn drops and resumes users without losing or doubling a message', async () => {
    const r = await run('reconnect-churn', { rate: '5', 'param-dropsPerMinute': '60', drain: '4s' });
    expect(r.counters.reconnects).toBeGreaterThan(3);
    expect(r.counters.lost).toBe(0);
    expect(r.counters.duplicated ?? 0).toBe(0);
    expect(r.counters.missed_sends).toBe(0);
    expect(r.metrics.reconnect_ms!.summary.count).toBeGreaterThan(3);
  });

  it('offline-catchup delivers the whole backlog after the reconnect', async () => {
    const r = await run('offline-catchup', { 'param-backlog': '20', rate: '50' });
    expect(r.counters.acked).toBe(100);
    expect(r.counters.delivered).toBe(100);
    expect(r.counters.lost).toBe(0);
    expect(r.metrics.catchup_ms!.summary.count).toBe(5);
  });

  it('presence-storm befriends pairs and measures presence reaching the friend', async () => {
    const r = await run('presence-storm', { rate: '2' });
    expect(r.exitCode).toBe(EXIT_CODES.pass);
    expect(r.counters.signals).toBeGreaterThan(10);
    expect(r.metrics.presence_ms!.summary.count).toBeGreaterThan(5);
  });

  it('typing-flood measures typing signals reaching the peer', async () => {
    const r = await run('typing-flood', { rate: '2' });
    expect(r.exitCode).toBe(EXIT_CODES.pass);
    expect(r.counters.signals).toBeGreaterThan(10);
    expect(r.metrics.typing_ms!.summary.count).toBeGreaterThan(3);
  });

  it('http-api posts and reads over REST through autocannon', async () => {
    const r = await run('http-api', { users: '4', duration: '1s' });
    expect(r.exitCode).toBe(EXIT_CODES.pass);
    expect(r.metrics.http_ms!.summary.count).toBeGreaterThan(10);
    expect(r.errorsByCode).toEqual({});
  });

  it('presence-storm against a node without presence ends with exit 98 and says why', async () => {
    const fake = await fakeServer();
    try {
      const r = await run('presence-storm', {}, fake.url);
      expect(r.exitCode).toBe(EXIT_CODES.infrastructure);
      expect(r.exitReason).toMatch(/the server answered unknown_op to "friend.request": this scenario needs a node that supports it/);
    } finally {
      await fake.close();
    }
  });
});

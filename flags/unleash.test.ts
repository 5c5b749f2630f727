import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagLayer, readFeatures, type FeaturesFile } from '../core/ops/flags/flags.ts';
import { BACKUP_FILE } from '../core/ops/flags/backup.ts';
import { startUnleash, type UnleashFixture } from '../core/ops/flags/unleash-fixture.ts';
import { Metrics } from '../core/ops/registry.ts';
import { flagsCommand } from '../cli/flags.ts';
import { UnleashAdmin } from './unleash.ts';

let unleash: UnleashFixture;
let admin: UnleashAdmin;
beforeAll(async () => {
  unleash = await startUnleash();
  admin = new UnleashAdmin({ url: unleash.url, token: unleash.adminToken });
}, 120_000);
afterAll(async () => { await unleash?.close(); });

const ROOT = path.resolve(import.meta.dirname, '..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'parley-unleash-'));
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - t0;
}
function capture(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (s: string) => lines.push(s);
  return { lines, restore: () => { console.log = orig; } };
}
const env = () => ({ UNLEASH_URL: unleash.url, UNLEASH_ADMIN_TOKEN: unleash.adminToken });

describe('parley flags push and pull against a real Unleash server', { timeout: 120_000 }, () => {
  it('push creates the committed flags, their context field and strategy types; a second push changes nothing; a dry run prints the diff only', async () => {
    const file = path.join(ROOT, 'flags/features.json');
    const out = capture();
    try {
      expect(await flagsCommand(['push', '--file', file, '--dry-run'], env())).toBe(0);
      expect(await admin.plan(readFeatures(file))).not.toEqual([]);
      expect(await flagsCommand(['push', '--file', file], env())).toBe(0);
      expect(await flagsCommand(['push', '--file', file], env())).toBe(0);
    } finally { out.restore(); }
    expect(out.lines).toContain('would context:nodeId: create context field nodeId (stickiness)');
    expect(out.lines).toContain('would strategy:userWithId: define strategy type userWithId(userIds)');
    expect(out.lines).toContain('fanout-batched: add strategy flexibleRollout(rollout=0 stickiness=nodeId groupId=fanout-batched)');
    expect(out.lines.at(-1)).toMatch(/^Unleash project default \(development\) already matches /);
    expect(await admin.plan(readFeatures(file))).toEqual([]);
  });

  it('pull writes the project back as the same client-features data, and a dry run of a changed rollout prints the changed line', async () => {
    const file = path.join(tmp(), 'features.json');
    const out = capture();
    try {
      expect(await flagsCommand(['pull', '--file', file], env())).toBe(0);
      const pulled = readFeatures(file);
      const committed = readFeatures(path.join(ROOT, 'flags/features.json'));
      const byName = (s: FeaturesFile) => Object.fromEntries(s.features.map((f) => [f.name, f]));
      expect(byName(pulled)).toEqual(byName(committed));
      await admin.setRollout('fanout-batched', 5);
      out.lines.length = 0;
      expect(await flagsCommand(['pull', '--file', file, '--dry-run'], env())).toBe(0);
      expect(out.lines.map((l) => l.replace(/\s+/g, ' '))).toEqual(['- "rollout": "0",', '+ "rollout": "5",']);
    } finally {
      out.restore();
      await admin.setRollout('fanout-batched', 0);
    }
  });
});

describe('a node on UNLEASH_URL with a real Unleash server', { timeout: 120_000 }, () => {
  it('picks up a flag created through the admin API, follows a rollout change within its refresh interval, and reports its evaluations to Unleash', async () => {
    const metrics = new Metrics({ runtime: false });
    const dataDir = tmp();
    const layer = await FlagLayer.open({ unleashUrl: unleash.url, apiToken: unleash.clientToken, refreshMs: 500, metricsMs: 1000, backupDir: dataDir, meter: metrics, properties: { nodeId: 'node-a' } });
    try {
      expect(layer.status()).toMatchObject({ source: 'unleash', stale: false });
      expect(await metrics.appText()).toContain('parley_flags_stale 0');
      await admin.push({ version: 2, features: [{ name: 'read-receipts', type: 'kill-switch', description: 'off for everyone', enabled: false, strategies: [{ name: 'default', parameters: {} }] }] });
      await until(() => !layer.isEnabled('read-receipts', { userId: 'u' }), 'the admin change to reach the node', 5000);
      await admin.setRollout('fanout-batched', 100);
      const ms = await until(() => layer.isEnabled('fanout-batched'), 'the rollout to reach the node', 5000);
      expect(ms).toBeLessThan(2000);
      for (let i = 0; i < 10; i++) layer.isEnabled('fanout-batched');
      // Unleash folds posted client metrics into its store every 5 s.
      await until(async () => {
        const res = await fetch(`${unleash.url}admin/client-metrics/features/fanout-batched`, { headers: { authorization: unleash.adminToken } });
        const body = await res.json() as { lastHourUsage: { yes: number }[] };
        return body.lastHourUsage.some((u) => u.yes > 0);
      }, 'Unleash to show the node\'s evaluations', 20_000);
      expect(fs.statSync(path.join(dataDir, BACKUP_FILE)).mode & 0o777).toBe(0o600);
    } finally {
      await layer.close();
      await admin.push(readFeatures(path.join(ROOT, 'flags/features.json')));
    }
  });

  it('keeps its last known flags when Unleash is down, says so in status and metric, and restarts from the backup in its data dir', async () => {
    await admin.setRollout('fanout-batched', 100);
    const dataDir = tmp();
    const metrics = new Metrics({ runtime: false });
    const opts = { unleashUrl: unleash.url, apiToken: unleash.clientToken, refreshMs: 300, backupDir: dataDir, properties: { nodeId: 'node-b' } };
    const first = await FlagLayer.open({ ...opts, meter: metrics });
    try {
      expect(first.isEnabled('fanout-batched')).toBe(true);
      await unleash.stop();
      await until(() => first.status().stale, 'the node to notice Unleash is down', 5000);
      expect(first.status().source).toBe('unleash');
      expect(await metrics.appText()).toContain('parley_flags_stale 1');
      expect(first.isEnabled('fanout-batched')).toBe(true);
    } finally {
      await first.close();
    }
    const t0 = Date.now();
    const again = await FlagLayer.open(opts);
    try {
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(again.status()).toMatchObject({ source: 'backup', stale: true });
      expect(again.isEnabled('fanout-batched')).toBe(true);
      await unleash.start();
      await until(() => !again.status().stale, 'the node to reach Unleash again', 10_000);
      expect(again.status().source).toBe('unleash');
    } finally {
      await again.close();
      await admin.setRollout('fanout-batched', 0);
    }
  });
});

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../registry.ts';
import { flagsCommand, setRollout } from '../../../cli/flags.ts';
import { FlagLayer, readFeatures, type FeaturesFile, type FlagContext } from './flags.ts';
import { FLAGS, FLAG_NAMES } from './names.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);
const SPEC_DIR = path.join(path.dirname(require.resolve('@unleash/client-specification/package.json')), 'specifications');

const open: FlagLayer[] = [];
afterEach(async () => { for (const l of open.splice(0)) await l.close(); });
async function layer(opts: Parameters<typeof FlagLayer.open>[0]): Promise<FlagLayer> {
  const l = await FlagLayer.open(opts);
  open.push(l);
  return l;
}

function tempFlags(state: FeaturesFile): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-flags-'));
  const file = path.join(dir, 'features.json');
  fs.writeFileSync(file, JSON.stringify(state, null, 2));
  return file;
}

const rollout = (name: string, pct: number, stickiness = 'userId') => ({
  name, enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: String(pct), stickiness, groupId: name } }],
});

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

describe('the flag layer', () => {
  it('evaluates the committed flags/features.json as bootstrap data, with every flag the core obeys defined there', async () => {
    const state = readFeatures(path.join(ROOT, 'flags/features.json'));
    expect(state.version).toBe(2);
    expect(state.features.map((f) => f.name).sort()).toEqual([...FLAG_NAMES].sort());
    const flags = await layer({ file: path.join(ROOT, 'flags/features.json'), properties: { nodeId: 'n1', version: '0.1.0' } });
    expect(flags.isEnabled('typing-indicators', { userId: 'alice', sessionId: 's1' })).toBe(true);
    expect(flags.isEnabled('fanout-batched', {})).toBe(false);
    expect(flags.isEnabled('debug-session', { userId: 'alice' })).toBe(false);
  });

  it('answers an unknown or missing flag with its documented default, and any other name with false', async () => {
    const flags = await layer({ state: { version: 2, features: [] } });
    for (const name of FLAG_NAMES) expect(flags.isEnabled(name, { userId: 'u' }), name).toBe(FLAGS[name].default);
    expect(flags.isEnabled('no-such-flag', { userId: 'u' })).toBe(false);
    expect(flags.variant('no-such-flag')).toEqual({ name: 'disabled', enabled: false, featureEnabled: false });
  });

  it('never throws, whatever the context, and counts evaluations by flag and result', async () => {
    const metrics = new Metrics({ runtime: false });
    const flags = await layer({ state: { version: 2, features: [rollout('fanout-batched', 100)] }, meter: metrics });
    const weird = [undefined, {}, { userId: '' }, { properties: { a: 'b' } }, { userId: 'x'.repeat(10_000) }, null as unknown as FlagContext, { userId: 5 } as unknown as FlagContext];
    for (const ctx of weird) expect(() => flags.isEnabled('fanout-batched', ctx)).not.toThrow();
    expect(flags.isEnabled('fanout-batched', { userId: 'bob' })).toBe(true);
    const text = await metrics.appText();
    expect(text).toMatch(/parley_flag_evaluations_total\{flag="fanout-batched",result="enabled"\} \d+/);
    expect(text).toContain('parley_flag_evaluations_total{flag="read-receipts",result="disabled"} 0');
  });

  it('is sticky per user for a percentage rollout, as canaries need', async () => {
    const flags = await layer({ state: { version: 2, features: [rollout('fanout-batched', 30)] } });
    const users = Array.from({ length: 1000 }, (_, i) => `user${i}`);
    const first = users.map((u) => flags.isEnabled('fanout-batched', { userId: u }));
    const second = users.map((u) => flags.isEnabled('fanout-batched', { userId: u }));
    expect(second).toEqual(first);
    const share = first.filter(Boolean).length / users.length;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.35);
  });

  it('picks up an edit of the flags file in a running process within seconds, without restart', async () => {
    const file = tempFlags({ version: 2, features: [rollout('fanout-batched', 0)] });
    const flags = await layer({ file, watch: true, pollMs: 250 });
    let changes = 0;
    flags.onChange(() => changes++);
    expect(flags.isEnabled('fanout-batched', { userId: 'alice' })).toBe(false);
    expect(await flagsCommand(['rollout', 'fanout-batched', '100', '--file', file])).toBe(0);
    const ms = await until(() => flags.isEnabled('fanout-batched', { userId: 'alice' }), 'the edit to apply', 5000);
    expect(ms).toBeLessThan(3000);
    expect(changes).toBe(1);
  });

  it('starts on documented defaults when the flags file does not exist, and loads it once it appears', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-flags-')), 'features.json');
    const flags = await layer({ file, watch: true, pollMs: 200 });
    expect(flags.isEnabled('typing-indicators', { userId: 'a' })).toBe(true);
    expect(flags.isEnabled('fanout-batched', { userId: 'a' })).toBe(false);
    fs.writeFileSync(file, JSON.stringify({ version: 2, features: [rollout('fanout-batched', 100)] }));
    await until(() => flags.isEnabled('fanout-batched', { userId: 'a' }), 'the new file to load', 5000);
  });

  it('keeps the previous definitions when the edited file is broken, and says why', async () => {
    const file = tempFlags({ version: 2, features: [rollout('fanout-batched', 100)] });
    const flags = await layer({ file });
    fs.writeFileSync(file, '{"version": 2, "features": [');
    await expect(flags.reload()).rejects.toThrow(/^flags file .*features\.json: /);
    expect(flags.isEnabled('fanout-batched', { userId: 'alice' })).toBe(true);
    fs.writeFileSync(file, '{"version": 2, "features": [{"name": "x"}]}');
    await expect(flags.reload()).rejects.toThrow('features[0] needs a string "name" and a "strategies" array');
  });

  it('switches debug-session on only for the users its userWithId strategy lists', async () => {
    const flags = await layer({ state: { version: 2, features: [{ name: 'debug-session', enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: 'alice,carol' } }] }] } });
    expect(['alice', 'bob', 'carol'].map((u) => flags.isEnabled('debug-session', { userId: u, sessionId: 's' }))).toEqual([true, false, true]);
  });
});

describe('parley flags', () => {
  it('rollout rewrites the flexibleRollout percentage in the file and nothing else', async () => {
    const before = { version: 2, features: [rollout('fanout-batched', 5, 'nodeId'), { name: 'read-receipts', enabled: true, strategies: [{ name: 'default', parameters: {} }] }] };
    const file = tempFlags(before);
    expect(await flagsCommand(['rollout', 'fanout-batched', '25', '--file', file])).toBe(0);
    const after = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof before;
    expect(after.features[0]!.strategies[0]!.parameters).toEqual({ rollout: '25', stickiness: 'nodeId', groupId: 'fanout-batched' });
    expect(after.features[1]).toEqual(before.features[1]);
  });

  it('rollout edits the percentage of a legacy gradualRollout strategy', () => {
    const state = setRollout({ version: 2, features: [{ name: 'f', enabled: true, strategies: [{ name: 'gradualRolloutUserId', parameters: { percentage: '1', groupId: 'f' } }] }] }, 'f', 40);
    expect((state.features[0] as { strategies: { parameters: unknown }[] }).strategies[0]!.parameters).toEqual({ percentage: '40', groupId: 'f' });
  });

  it('rollout refuses a bad percentage, an unknown flag, and a flag without a rollout strategy', async () => {
    const file = tempFlags({ version: 2, features: [{ name: 'read-receipts', enabled: true, strategies: [{ name: 'default' }] }] });
    await expect(flagsCommand(['rollout', 'read-receipts', '101', '--file', file])).rejects.toThrow('<percent> must be an integer from 0 to 100, got "101"');
    await expect(flagsCommand(['rollout', 'nope', '5', '--file', file])).rejects.toThrow('flag "nope" is not in the file');
    await expect(flagsCommand(['rollout', 'read-receipts', '5', '--file', file])).rejects.toThrow('flag "read-receipts" has no flexibleRollout or gradualRollout strategy to change (it has: default)');
  });

  it('eval prints the result for a user', async () => {
    const file = tempFlags({ version: 2, features: [{ name: 'debug-session', enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: 'alice' } }] }] });
    const lines: string[] = [];
    const orig = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      await flagsCommand(['eval', 'debug-session', '--user', 'alice', '--file', file]);
      await flagsCommand(['eval', 'debug-session', '--user', 'bob', '--file', file]);
    } finally {
      console.log = orig;
    }
    expect(lines).toEqual(['debug-session for alice: enabled', 'debug-session for bob: disabled']);
  });
});

interface SpecFile {
  name: string;
  state: FeaturesFile & { events?: unknown };
  tests?: { description: string; context: FlagContext; toggleName: string; expectedResult: boolean }[];
  variantTests?: { description: string; context: FlagContext; toggleName: string; expectedResult: { name: string; enabled: boolean; feature_enabled?: boolean; payload?: unknown } }[];
}

describe('the @unleash/client-specification suite through the flag layer', () => {
  const index = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'index.json'), 'utf8')) as string[];
  // The delta-API files describe a server event stream, not client-features data: not bootstrap input.
  const files = index.map((f) => ({ f, spec: JSON.parse(fs.readFileSync(path.join(SPEC_DIR, f), 'utf8')) as SpecFile })).filter(({ spec }) => Array.isArray(spec.state.features));

  it('covers every specification file that has client-features state', () => {
    expect(files.length).toBe(20);
  });

  for (const { f, spec } of files) {
    it(`passes ${f}`, async () => {
      const flags = await layer({ state: spec.state, appName: 'client-specification', environment: 'default' });
      const failures: string[] = [];
      for (const t of spec.tests ?? []) {
        const got = flags.isEnabled(t.toggleName, t.context);
        if (got !== t.expectedResult) failures.push(`${t.description}: expected ${t.expectedResult}, got ${got}`);
      }
      for (const t of spec.variantTests ?? []) {
        const v = flags.variant(t.toggleName, t.context);
        const got: Record<string, unknown> = { name: v.name, enabled: v.enabled, feature_enabled: v.featureEnabled };
        if (v.payload) got.payload = v.payload;
        const want: Record<string, unknown> = { ...t.expectedResult };
        if (want.feature_enabled === undefined) delete got.feature_enabled;
        if (JSON.stringify(got, Object.keys(got).sort()) !== JSON.stringify(want, Object.keys(want).sort())) {
          failures.push(`${t.description}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        }
      }
      expect(failures).toEqual([]);
      expect((spec.tests?.length ?? 0) + (spec.variantTests?.length ?? 0)).toBeGreaterThan(0);
    });
  }
});

describe('the flag layer against an Unleash server', () => {
  it('polls /client/features with the API token instead of reading the file, and applies server changes', async () => {
    const http = await import('node:http');
    let users = 'zed';
    const seen: { path: string; auth: string | undefined }[] = [];
    const server = http.createServer((req, res) => {
      seen.push({ path: req.url!, auth: req.headers.authorization });
      if (req.url!.startsWith('/api/client/features')) {
        const body = JSON.stringify({ version: 2, features: [{ name: 'debug-session', enabled: true, strategies: [{ name: 'userWithId', parameters: { userIds: users } }] }] });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else {
        res.writeHead(202).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/api/`;
    try {
      const file = tempFlags({ version: 2, features: [] });
      const flags = await layer({ file, unleashUrl: url, apiToken: 'client-token-1', refreshMs: 200 });
      expect(flags.isEnabled('debug-session', { userId: 'zed' })).toBe(true);
      expect(seen.some((s) => s.path.startsWith('/api/client/features') && s.auth === 'client-token-1')).toBe(true);
      let changed = 0;
      flags.onChange(() => changed++);
      users = 'amy';
      await until(() => flags.isEnabled('debug-session', { userId: 'amy' }), 'the server change to apply', 5000);
      expect(flags.isEnabled('debug-session', { userId: 'zed' })).toBe(false);
      expect(changed).toBeGreaterThanOrEqual(1);
    } finally {
      for (const l of open.splice(0)) await l.close();
      server.close();
      server.closeAllConnections();
    }
  });
});

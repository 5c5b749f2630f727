/** Options, token sources and the result validator answer bad input with every problem at once. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../core/test/helpers.ts';
import { resolveOptions, targetsOf } from '../options.ts';
import { validateResult } from '../result.ts';
import { isLoopback, tokenProvider, tokenSourceFrom } from '../tokens.ts';

describe('options', () => {
  it('lets flags override scenario options and reads durations with units', () => {
    const o = resolveOptions({ users: 10, duration: '1m', messageRate: 2 }, new Map([['target', 'ws://127.0.0.1:1/ws'], ['users', '30'], ['slice', '500ms'], ['segment', '2/3'], ['param-backlog', '7']]));
    expect(o).toMatchObject({ users: 30, durationMs: 60_000, messageRate: 2, sliceMs: 500, segment: { index: 2, count: 3 }, params: { backlog: 7 } });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('reports every bad option together', () => {
    expect(() => resolveOptions({ duration: 'forever' }, new Map([['target', 'ws://x/ws'], ['mode', 'half-open'], ['window', '0'], ['slice', '10ms']]))).toThrow(
      /duration must be a duration like 500ms[\s\S]*mode must be one of open, closed, got "half-open"[\s\S]*window must be a number in \[1, 10000\], got 0[\s\S]*slice must be at least 100ms/,
    );
  });

  it('takes a comma-separated --target list for the nodes of one cluster and names each bad URL in it', () => {
    const o = resolveOptions({}, new Map([['target', 'ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws']]));
    expect(targetsOf(o.target)).toEqual(['ws://127.0.0.1:1/ws', 'ws://127.0.0.1:2/ws']);
    expect(() => resolveOptions({}, new Map([['target', 'ws://127.0.0.1:1/ws,http://127.0.0.1:2/ws,']]))).toThrow(
      /got "http:\/\/127\.0\.0\.1:2\/ws"[\s\S]*got ""/,
    );
  });
});

const REMOTE = 'ws://sut:8080/ws';

describe('token sources', () => {
  it('reads tokens from a file of lines or a JSON object', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'lines'), 'u1 t1\nu2  t2\n');
    fs.writeFileSync(path.join(dir, 'map.json'), JSON.stringify({ u3: 't3' }));
    expect(await tokenProvider({ kind: 'file', path: path.join(dir, 'lines') })('u2')).toBe('t2');
    expect(await tokenProvider({ kind: 'file', path: path.join(dir, 'map.json') })('u3')).toBe('t3');
    await expect(tokenProvider({ kind: 'file', path: path.join(dir, 'lines') })('u9')).rejects.toThrow(/no token for u9/);
  });

  it('refuses ambiguous or incomplete token flags', () => {
    expect(() => tokenSourceFrom(new Map([['secret', 's'], ['token-file', 'f']]), REMOTE, {})).toThrow(/give one of --secret, --token-file, --token-url, got --secret and --token-file/);
    expect(() => tokenSourceFrom(new Map([['token-url', 'https://idp/token']]), REMOTE, {})).toThrow(/--token-url must contain \{user\}/);
    expect(() => tokenSourceFrom(new Map(), REMOTE, {})).toThrow(/simulated users need tokens for the remote node ws:\/\/sut:8080\/ws: give --secret/);
    expect(tokenSourceFrom(new Map(), REMOTE, { PARLEY_SECRET: 'abc' })).toEqual({ kind: 'secret', secret: 'abc' });
  });

  it('reads a loopback node\'s secret from --data-dir, then PARLEY_DATA_DIR, on 127.0.0.1, localhost and ::1', () => {
    const flagDir = tempDir();
    const envDir = tempDir();
    fs.writeFileSync(path.join(flagDir, 'secret'), 'from-flag\n');
    fs.writeFileSync(path.join(envDir, 'secret'), 'from-env');
    for (const target of ['ws://127.0.0.1:8080/ws', 'ws://localhost:8080/ws', 'ws://[::1]:8080/ws']) {
      expect(tokenSourceFrom(new Map([['data-dir', flagDir]]), target, { PARLEY_DATA_DIR: envDir })).toEqual({ kind: 'secret', secret: 'from-flag' });
      expect(tokenSourceFrom(new Map(), target, { PARLEY_DATA_DIR: envDir })).toEqual({ kind: 'secret', secret: 'from-env' });
    }
    expect(() => tokenSourceFrom(new Map([['data-dir', envDir]]), REMOTE, {})).toThrow(/remote node/);
  });

  it('treats a --target list as loopback only when every node in it is', () => {
    expect(isLoopback('ws://127.0.0.1:1/ws,ws://localhost:2/ws')).toBe(true);
    expect(isLoopback(`ws://127.0.0.1:1/ws,${REMOTE}`)).toBe(false);
  });

  it('never generates a secret for a loopback node that has none', () => {
    const dir = tempDir();
    expect(() => tokenSourceFrom(new Map([['data-dir', dir]]), 'ws://127.0.0.1:8080/ws', {})).toThrow(`no secret for the local node at ws://127.0.0.1:8080/ws: PARLEY_SECRET is unset and ${path.join(dir, 'secret')} does not exist`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('result validator', () => {
  it('names every missing or malformed field', () => {
    const problems = validateResult({ schemaVersion: 1, tool: 'parley-load', scenario: 'x', metrics: { ack_ms: { summary: { count: 1 }, hdr: 'x' } }, exitCode: 5 });
    expect(problems).toEqual(expect.arrayContaining([
      'target must be a string',
      'exitCode must be one of 0, 2, 97, 98, 99',
      'metrics.ack_ms.summary.p99 must be a number',
      'slices must be {sliceMs, items[]}',
      'validity must be {valid: boolean, reasons: string[]}',
    ]));
  });
});

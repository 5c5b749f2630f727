/** Options, token sources and the result validator answer bad input with every problem at once. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../core/test/helpers.ts';
import { resolveOptions } from '../options.ts';
import { validateResult } from '../result.ts';
import { tokenProvider, tokenSourceFrom } from '../tokens.ts';

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
});

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
    expect(() => tokenSourceFrom(new Map([['secret', 's'], ['token-file', 'f']]), {})).toThrow(/give one of --secret, --token-file, --token-url, got --secret and --token-file/);
    expect(() => tokenSourceFrom(new Map([['token-url', 'https://idp/token']]), {})).toThrow(/--token-url must contain \{user\}/);
    expect(() => tokenSourceFrom(new Map(), {})).toThrow(/simulated users need tokens/);
    expect(tokenSourceFrom(new Map(), { PARLEY_SECRET: 'abc' })).toEqual({ kind: 'secret', secret: 'abc' });
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

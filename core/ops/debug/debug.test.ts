import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DebugLog, redact } from './debug.ts';

function setup(ringSize = 1000, lineBudget?: number) {
  const sinkLines: Record<string, unknown>[] = [];
  const auditLines: Record<string, unknown>[] = [];
  const into = (arr: Record<string, unknown>[]) => new Writable({ write(c: Buffer, _e, cb) { arr.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } });
  const debug = new DebugLog({ log: pino({ level: 'info' }, into(auditLines)), sink: pino({ level: 'debug' }, into(sinkLines)), ringSize, maxMinutes: 60, lineBudget });
  return { debug, sinkLines, auditLines };
}

afterEach(() => { vi.useRealTimers(); });

describe('the debug log', () => {
  it('switches a user off by itself when the bound passes, and logs who switched it on and off', () => {
    vi.useFakeTimers();
    const { debug, auditLines } = setup();
    const slot = debug.attach('s1', 'alice');
    debug.enable('user', 'alice', 15, 'oncall-jane');
    expect(slot.on).toBe(true);
    vi.advanceTimersByTime(15 * 60_000 - 1);
    expect(slot.on).toBe(true);
    vi.advanceTimersByTime(1);
    expect(slot.on).toBe(false);
    expect(auditLines.map((l) => [l.msg, l.by])).toEqual([['debug logging switched on', 'oncall-jane'], ['debug logging switched off', 'expiry']]);
  });

  it('bounds a requested period by maxMinutes', () => {
    const { debug } = setup();
    const t = debug.enable('session', 's9', 600, 'x');
    expect(t.until - Date.now()).toBeLessThanOrEqual(60 * 60_000);
    debug.close();
  });

  it('keeps only the last N entries of a session in its ring buffer, oldest first', () => {
    const { debug, sinkLines } = setup(10);
    const slot = debug.attach('s1', 'alice');
    debug.enable('session', 's1', 1, 'x');
    for (let i = 0; i < 25; i++) slot.event('tick', { i });
    expect(slot.entries().map((e) => e.i)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(sinkLines).toHaveLength(26);
    debug.close();
  });

  it('stops writing a session to the sink at its line budget, says so once, and keeps filling the ring', () => {
    const { debug, sinkLines } = setup(100, 5);
    const slot = debug.attach('s1', 'alice');
    debug.enable('session', 's1', 1, 'x');
    for (let i = 0; i < 20; i++) slot.event('tick', { i });
    expect(sinkLines.map((l) => l.msg)).toEqual(['debug_on', 'tick', 'tick', 'tick', 'tick', 'debug line budget exhausted; the ring buffer keeps the latest entries']);
    expect(slot.entries()).toHaveLength(21);
    debug.close();
  });

  it('keeps the ring of a closed session readable', () => {
    const { debug } = setup();
    const slot = debug.attach('s1', 'alice');
    debug.enable('user', 'alice', 1, 'x');
    slot.event('tick');
    debug.detach(slot);
    expect(debug.ring('s1')!.map((e) => e.kind)).toEqual(['debug_on', 'tick']);
    debug.close();
  });

  it('redacts tokens and roster notes at any depth and leaves the rest', () => {
    expect(redact({ op: 'note.set', user: 'bob', note: 'likes cats', nested: [{ token: 't', accessToken: 'a' }], body: 'hi' }))
      .toEqual({ op: 'note.set', user: 'bob', note: '[redacted]', nested: [{ token: '[redacted]', accessToken: '[redacted]' }], body: 'hi' });
  });
});

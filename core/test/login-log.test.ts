import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { TokenAuthority } from '../edge/auth.ts';
import { loadConfig } from '../config.ts';
import { LoginAccessLog } from '../ops/access-log.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { tempDir, TEST_SECRET, until } from './helpers.ts';

let server: ParleyServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

/** A WebSocket upgrade with `token`, answered by the node's refusal: resolves with the HTTP status. */
function upgrade(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url.replace('ws:', 'http:'), {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101); });
    req.on('error', reject);
    req.end();
  });
}

const sample = (text: string, series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1));

describe('the access log of refused logins', () => {
  it('keeps 1,000 bad-token upgrades to a bounded number of lines while parley_logins_total counts each by reason', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
    const config = loadConfig(new Map(), {}, { port: 0, opsPort: 0, host: '127.0.0.1', dataDir: tempDir(), secret: TEST_SECRET, sqliteSync: 'normal' });
    server = await startServer(config, { log: pino({ level: 'info' }, sink) });
    const forger = new TokenAuthority(new TextEncoder().encode('another-secret-that-is-at-least-32-characters'));
    const forged = await forger.mint('mallory', 3600);
    const expired = await server.auth.mint('alice', -60);
    const tokens = [...Array<string>(600).fill(forged), ...Array<string>(300).fill('not-a-token'), ...Array<string>(100).fill(expired)];
    const t0 = Date.now();
    for (let i = 0; i < tokens.length; i += 100) {
      const statuses = await Promise.all(tokens.slice(i, i + 100).map((t) => upgrade(server!.wsUrl, t)));
      expect(new Set(statuses)).toEqual(new Set([401]));
    }
    const seconds = Math.ceil((Date.now() - t0) / 1000) + 1;

    const text = await server.ops.metrics.appText();
    expect(sample(text, 'parley_logins_total{reason="bad_signature"}')).toBe(600);
    expect(sample(text, 'parley_logins_total{reason="malformed"}')).toBe(300);
    expect(sample(text, 'parley_logins_total{reason="expired"}')).toBe(100);
    expect(sample(text, 'parley_logins_total{reason="ok"}')).toBe(0);

    // Every refusal is either a line or counted in a summary line, written when its second ends.
    const refused = () => lines.filter((l) => l.event === 'login_refused');
    const suppressed = () => lines.filter((l) => l.event === 'login_refused_suppressed').reduce((n, l) => n + (l.suppressed as number), 0);
    await until(() => refused().length + suppressed() === 1000, 'the suppressed lines to be summarised', 3000);
    expect(refused().length).toBeLessThanOrEqual(20 * seconds);
    expect(lines.filter((l) => l.event === 'login_refused_suppressed').length).toBeLessThanOrEqual(seconds + 1);
    expect(refused()[0]).toMatchObject({ level: 40, msg: 'login refused', reason: 'bad_signature', remote: '127.0.0.1' });
    // A forged token's subject is never trusted; an expired token's signature held, so its user is named.
    expect(refused().some((l) => l.user === 'mallory')).toBe(false);
    expect(sample(text, 'parley_access_log_lines_total{kind="written"}') + sample(await server.ops.metrics.appText(), 'parley_access_log_lines_total{kind="suppressed"}')).toBe(1000);
  }, 60_000);

  it('writes at most perSecond lines a second and one summary of the rest when the second ends', () => {
    let now = 0;
    const out: Record<string, unknown>[] = [];
    const access = new LoginAccessLog({ log: { warn: (o: Record<string, unknown>) => out.push(o) } as never, perSecond: 3, now: () => now });
    for (let i = 0; i < 10; i++) access.refused({ reason: 'expired', remote: '10.0.0.1', user: 'alice', forwardedFor: '198.51.100.7, 10.0.0.2' });
    expect(out).toHaveLength(3);
    expect(out[0]).toEqual({ event: 'login_refused', reason: 'expired', remote: '10.0.0.1', forwardedFor: '198.51.100.7', user: 'alice' });
    now = 1000;
    access.refused({ reason: 'missing', remote: undefined });
    expect(out.slice(3)).toEqual([
      { event: 'login_refused_suppressed', suppressed: 7, perSecond: 3 },
      { event: 'login_refused', reason: 'missing', remote: 'unknown' },
    ]);
    access.flush();
    expect(out).toHaveLength(5);
  });
});

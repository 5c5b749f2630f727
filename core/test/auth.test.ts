import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClient } from '../client/index.ts';
import { loadConfig } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { ROOT, TEST_SECRET, tempDir, testServer } from './helpers.ts';
import { rawConnect, refusal } from './raw.ts';

let server: ParleyServer;
beforeAll(async () => {
  server = await testServer();
});
afterAll(async () => {
  await server.close();
});

const key = (secret: string) => new TextEncoder().encode(secret);
/** A token with chosen claims, signed with the given secret. */
function forge(claims: { sub?: string; iss?: string; exp?: number }, secret = TEST_SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 10).setExpirationTime(claims.exp ?? now + 60);
  if (claims.sub) jwt.setSubject(claims.sub);
  if (claims.iss) jwt.setIssuer(claims.iss);
  return jwt.sign(key(secret));
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function rest(method: string, route: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.httpUrl}/api/v1${route}`, {
    method, headers: { ...(token ? bearer(token) : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

describe('upgrade refusals', () => {
  it('refuses an upgrade without a token with HTTP 401 unauthorized', async () => {
    expect(await refusal(server.wsUrl)).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'expected a bearer token (Authorization header or ?token=)' } } });
  });

  it('refuses a token signed with another secret with 401', async () => {
    const token = await forge({ sub: 'alice', iss: 'parley' }, 'another-secret-that-is-at-least-32-chars!!');
    expect(await refusal(server.wsUrl, { headers: bearer(token) })).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'token signature invalid' } } });
  });

  it('refuses a token from another issuer with 401', async () => {
    const token = await forge({ sub: 'alice', iss: 'someone-else' });
    expect(await refusal(server.wsUrl, { headers: bearer(token) })).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
  });

  it('refuses an expired token with 401 saying it expired', async () => {
    const token = await forge({ sub: 'alice', iss: 'parley', exp: Math.floor(Date.now() / 1000) - 5 });
    expect(await refusal(server.wsUrl, { headers: bearer(token) })).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'token expired' } } });
  });

  it('refuses a token without a subject, and garbage, with 401', async () => {
    expect(await refusal(server.wsUrl, { headers: bearer(await forge({ iss: 'parley' })) })).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'token lacks a valid subject or expiry' } } });
    expect(await refusal(`${server.wsUrl}?token=not.a.jwt`)).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
  });

  it('refuses a client offering only other subprotocols with 400 unsupported_protocol', async () => {
    const token = await server.auth.mint('alice', 60);
    expect(await refusal(server.wsUrl, { protocols: ['parley.v2', 'chat'], headers: bearer(token) })).toEqual({
      status: 400, body: { error: { code: 'unsupported_protocol', message: 'expected subprotocol parley.v1, got "parley.v2,chat"' } },
    });
  });

  it('serves a client that offers no subprotocol as parley.v1', async () => {
    const token = await server.auth.mint('noproto', 60);
    const sock = new WebSocket(server.wsUrl, { headers: bearer(token) });
    const welcome = await new Promise<any>((resolve, reject) => { sock.once('message', (d) => resolve(JSON.parse(d.toString()))); sock.once('error', reject); });
    expect(welcome).toMatchObject({ op: 'welcome', user: 'noproto', protocol: 1 });
    expect(sock.protocol).toBe('');
    sock.close();
  });

  it('refuses an upgrade on another path with 404 not_found', async () => {
    const token = await server.auth.mint('alice', 60);
    expect(await refusal(`${server.httpUrl.replace('http', 'ws')}/other`, { headers: bearer(token) })).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('accepts a token in the ?token= query parameter', async () => {
    const token = await server.auth.mint('qalice', 60);
    const sock = new WebSocket(`${server.wsUrl}?token=${token}`, 'parley.v1');
    const welcome = await new Promise<any>((resolve, reject) => { sock.once('message', (d) => resolve(JSON.parse(d.toString()))); sock.once('error', reject); });
    expect(welcome).toMatchObject({ op: 'welcome', user: 'qalice', protocol: 1 });
    sock.close();
  });
});

describe('token expiry on a live session', () => {
  it('closes a session whose token expires with 4500 token_expired', async () => {
    const token = await server.auth.mint('brief', 2);
    const expiresAt = (decodeJwt(token).exp ?? 0) * 1000;
    const c = await rawConnect(server, 'brief', { token });
    expect(await c.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    expect(await c.closed).toBe(4500);
    const closedAt = Date.now();
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(closedAt - expiresAt).toBeLessThan(1500);
  });

  it('lets the client library give up on 4500 instead of reconnecting with the dead token', async () => {
    const client = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint('brief2', 1), backoffMinMs: 10 });
    const gone = new Promise<{ code: number; willReconnect: boolean }>((resolve) => client.on('disconnect', resolve));
    await client.connect();
    expect(await gone).toMatchObject({ code: 4500, willReconnect: false });
    await client.close();
  });
});

describe('REST auth and membership', () => {
  it('answers REST without a token with 401 unauthorized', async () => {
    expect(await rest('GET', '/chats', undefined)).toEqual({ status: 401, json: { error: { code: 'unauthorized', message: 'expected a bearer token (Authorization header or ?token=)' } } });
    expect(await rest('POST', '/chats/d:a:b/messages', undefined, { cmid: 'c', body: 'x' })).toMatchObject({ status: 401, json: { error: { code: 'unauthorized' } } });
    expect(await rest('GET', '/chats', 'garbage')).toMatchObject({ status: 401, json: { error: { code: 'unauthorized' } } });
  });

  it('refuses reading or posting to a conversation the user is not in, over the socket and REST', async () => {
    const alice = await rawConnect(server, 'm-alice');
    await alice.request({ op: 'send', id: 1, to: 'm-bob', cmid: 'c', body: 'secret' });
    const room = (await alice.request({ op: 'room.create', id: 2, name: 'private' })).result as { chat: string };
    const eve = await rawConnect(server, 'm-eve');
    const eveToken = await server.auth.mint('m-eve', 60);
    for (const chat of ['d:m-alice:m-bob', room.chat]) {
      expect(await eve.request({ op: 'history', id: 'h', chat })).toMatchObject({ op: 'error', id: 'h', code: 'not_member' });
      expect(await eve.request({ op: 'send', id: 's', chat, cmid: `x${chat}`, body: 'hi' })).toMatchObject({ op: 'error', id: 's', code: 'not_member' });
      const notMember = { error: { code: 'not_member', message: `you are not a member of ${chat}`, details: { chat } } };
      expect(await rest('GET', `/chats/${chat}/messages`, eveToken)).toEqual({ status: 403, json: notMember });
      expect(await rest('GET', `/chats/${chat}/messages?after=0`, eveToken)).toEqual({ status: 403, json: notMember });
      expect(await rest('POST', `/chats/${chat}/messages`, eveToken, { cmid: `y${chat}`, body: 'hi' })).toEqual({ status: 403, json: notMember });
      expect(await rest('GET', `/chats/${chat}/members`, eveToken)).toEqual({ status: 403, json: notMember });
    }
    expect(await rest('POST', `/chats/${room.chat}/members`, eveToken, { user: 'm-eve' })).toMatchObject({ status: 403, json: { error: { code: 'not_member' } } });
    const page = await alice.request({ op: 'history', id: 'h', chat: 'd:m-alice:m-bob' });
    expect((page.result as { messages: { body: string }[] }).messages.map((m) => m.body)).toEqual(['secret']);
    await alice.close();
    await eve.close();
  });
});

describe('parley token', () => {
  it('prints a token that a server on the same data dir accepts', async () => {
    const dataDir = tempDir();
    const env = { ...process.env };
    delete env.PARLEY_SECRET;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/run.ts'), 'token', 'cli-alice', '--data-dir', dataDir], { cwd: ROOT, env });
    const token = stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const node = await startServer(loadConfig(new Map(), {}, { port: 0, opsPort: 0, host: '127.0.0.1', dataDir, logLevel: 'silent' }));
    try {
      const c = await rawConnect(node, 'cli-alice', { token });
      expect(c.frames[0]).toMatchObject({ op: 'welcome', user: 'cli-alice' });
      await c.close();
      // The same token is worthless against a node with another secret.
      expect(await refusal(server.wsUrl, { headers: bearer(token) })).toMatchObject({ status: 401 });
    } finally {
      await node.close();
    }
  });
});

describe('token verification', () => {
  it('refuses tampered claims, another algorithm and a token that is not yet valid', async () => {
    const { TokenAuthority } = await import('../edge/auth.ts');
    const authority = new TokenAuthority(new TextEncoder().encode('k'.repeat(40)));
    const good = await authority.mint('alice', 60);
    expect(authority.verifySync(good).user).toBe('alice');
    const [h, b, s] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(b, 'base64url').toString()) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
    expect(() => authority.verifySync(`${h}.${tampered}.${s}`)).toThrow('token signature invalid');
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(() => authority.verifySync(`${none}.${b}.`)).toThrow('token signature invalid');
    expect(() => authority.verifySync('a.b')).toThrow('not a JWS');
    expect(() => authority.verifySync(undefined)).toThrow('expected a bearer token');
  });
});

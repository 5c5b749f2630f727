/**
 * Shared pieces of the k6 scripts: HS256 tokens minted in-script from PARLEY_SECRET (k6/crypto),
 * the target URL, deterministic pairing of VUs, and the message stamp the parley load generator
 * uses too ({s, q, t}), so both tools measure send→deliver the same way.
 */
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

export const TARGET: string = __ENV.PARLEY_TARGET ?? 'ws://127.0.0.1:8080/ws';
export const PREFIX: string = __ENV.PARLEY_USER_PREFIX ?? 'k6-';

/** The HTTP origin of the target (REST scenarios). */
export function origin(): string {
  return TARGET.replace(/^ws/, 'http').replace(/\/ws.*$/, '');
}

/** An HS256 access token for `user`, signed with the node's secret (same claims as `parley token`). */
export function token(user: string, ttlSec = 3600): string {
  const secret = __ENV.PARLEY_SECRET;
  if (!secret) throw new Error('set PARLEY_SECRET to the node secret (k6 run -e PARLEY_SECRET=...)');
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: object) => encoding.b64encode(JSON.stringify(o), 'rawurl');
  const unsigned = `${enc({ alg: 'HS256' })}.${enc({ sub: user, iss: 'parley', iat: now, exp: now + ttlSec })}`;
  const sig = crypto.hmac('sha256', secret, unsigned, 'base64rawurl');
  return `${unsigned}.${sig}`;
}

/** VU n (1-based) talks with its pair partner: 1↔2, 3↔4, ... */
export function partnerOf(vu: number): number {
  return vu % 2 === 1 ? vu + 1 : vu - 1;
}

/** The canonical 1:1 chat id of two users. */
export function directChat(a: string, b: string): string {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

export interface Stamp { s: number; q: number; t: number }

export interface Frame { op: string; id?: number | string; chat?: string; seq?: number; body?: string; code?: string; cmid?: string; result?: unknown }

/** Parses a server frame; undefined for anything that is not JSON. */
export function parse(data: string): Frame | undefined {
  try { return JSON.parse(data) as Frame; } catch { return undefined; }
}

/**
 * Access tokens: HS256 JWTs (jose) naming the user in `sub` with an expiry. The secret comes from
 * configuration or is generated once into the data dir (mode 0600) and reused on every start.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { ParleyError } from '../errors.ts';
import { isUserId } from '../protocol.ts';

export interface Identity {
  readonly user: string;
  /** Expiry in epoch milliseconds. */
  readonly expiresAt: number;
}

const ISSUER = 'parley';
/** A 32-byte HMAC-SHA256 in unpadded base64url: 43 characters, the last carrying 2 spare zero bits. */
const BASE64URL_SHA256 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * Returns the configured secret, or the one generated into dataDir on first use; `onGenerated`
 * hears of a new one (a token signed with it is accepted only by a node started on that data dir).
 */
export function resolveSecret(configured: string | undefined, dataDir: string, onGenerated?: (file: string) => void): Uint8Array {
  if (configured) return new TextEncoder().encode(configured);
  const file = path.join(dataDir, 'secret');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
    onGenerated?.(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return new TextEncoder().encode(fs.readFileSync(file, 'utf8').trim());
}

export class TokenAuthority {
  readonly #key: Uint8Array;
  constructor(secret: Uint8Array) {
    this.#key = secret;
  }

  /** Mints a token for `user` valid for `ttlSec` seconds. */
  async mint(user: string, ttlSec: number): Promise<string> {
    if (!isUserId(user)) throw new ParleyError('bad_field', `user id must be 1-64 of A-Z a-z 0-9 _ . @ -, got "${user}"`, { field: 'user' });
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuer(ISSUER)
      .setIssuedAt(now).setExpirationTime(now + ttlSec).sign(this.#key);
  }

  /**
   * Verifies a token; throws ParleyError('unauthorized') saying why. HS256 is checked with
   * node:crypto directly: a reconnect storm verifies thousands of tokens a second, and the
   * generic JOSE path costs milliseconds each on a loaded machine.
   */
  async verify(token: string | undefined): Promise<Identity> {
    return this.verifySync(token);
  }

  verifySync(token: string | undefined): Identity {
    if (!token) throw new ParleyError('unauthorized', 'expected a bearer token (Authorization header or ?token=)');
    const parts = token.split('.');
    if (parts.length !== 3) throw invalid('token is not a JWS compact serialization', 'malformed');
    const [head, body, sig] = parts as [string, string, string];
    const expected = createHmac('sha256', this.#key).update(`${head}.${body}`).digest();
    // Node's base64url decoder skips padding and accepts +/; a signature must be canonical base64url.
    if (!BASE64URL_SHA256.test(sig)) throw invalid('token signature invalid', 'bad_signature');
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('token signature invalid', 'bad_signature');
    const header = parseJson(head);
    if (header?.alg !== 'HS256' || header.crit !== undefined) throw invalid('token algorithm must be HS256', 'malformed');
    const claims = parseJson(body);
    if (!claims || claims.iss !== ISSUER) throw invalid('token issuer invalid');
    if (!isUserId(claims.sub) || typeof claims.exp !== 'number') throw invalid('token lacks a valid subject or expiry');
    const expiresAt = claims.exp * 1000;
    // The signature held, so the subject is the real user's: the access log may name them.
    if (expiresAt <= Date.now()) throw new ParleyError('unauthorized', 'token expired', { reason: 'expired', user: claims.sub });
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > Date.now()) throw invalid('token not yet valid');
    return { user: claims.sub, expiresAt };
  }
}

/** Why a token was refused, as `details.reason` (the `reason` label of parley_logins_total); no token at all carries none. */
export type TokenRefusal = 'missing' | 'malformed' | 'bad_signature' | 'invalid_claims' | 'expired';

function invalid(message: string, reason: TokenRefusal = 'invalid_claims'): ParleyError {
  return new ParleyError('unauthorized', message, { reason });
}

function parseJson(segment: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the bearer token from an Authorization header or a `token` query parameter. */
export function bearerFrom(headers: { authorization?: string | undefined }, url: URL): string | undefined {
  const h = headers.authorization;
  // RFC 9110: the auth scheme is case-insensitive.
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  return url.searchParams.get('token') ?? undefined;
}

/**
 * Access tokens: HS256 JWTs (jose) naming the user in `sub` with an expiry. The secret comes from
 * configuration or is generated once into the data dir (mode 0600) and reused on every start.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { ParleyError } from './errors.ts';
import { isUserId } from './protocol.ts';

export interface Identity {
  readonly user: string;
  /** Expiry in epoch milliseconds. */
  readonly expiresAt: number;
}

const ISSUER = 'parley';

/** Returns the configured secret, or the one generated into dataDir on first use. */
export function resolveSecret(configured: string | undefined, dataDir: string): Uint8Array {
  if (configured) return new TextEncoder().encode(configured);
  const file = path.join(dataDir, 'secret');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
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

  /** Verifies a token; throws ParleyError('unauthorized') saying why. */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) throw new ParleyError('unauthorized', 'expected a bearer token (Authorization header or ?token=)');
    try {
      const { payload } = await jwtVerify(token, this.#key, { issuer: ISSUER, algorithms: ['HS256'] });
      if (!isUserId(payload.sub) || typeof payload.exp !== 'number') throw new ParleyError('unauthorized', 'token lacks a valid subject or expiry');
      return { user: payload.sub, expiresAt: payload.exp * 1000 };
    } catch (err) {
      if (err instanceof ParleyError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new ParleyError('unauthorized', 'token expired', { reason: 'expired' });
      throw new ParleyError('unauthorized', 'token signature or claims invalid', { reason: 'invalid' });
    }
  }
}

/** Reads the bearer token from an Authorization header or a `token` query parameter. */
export function bearerFrom(headers: { authorization?: string | undefined }, url: URL): string | undefined {
  const h = headers.authorization;
  if (h?.startsWith('Bearer ')) return h.slice(7).trim();
  return url.searchParams.get('token') ?? undefined;
}

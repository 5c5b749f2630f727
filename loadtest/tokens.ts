/**
 * Access tokens for simulated users against any server: mint locally with the server's HMAC secret
 * (given, or a local node's secret file), read them from a file, or fetch each from a URL (`{user}`
 * is replaced by the user id).
 */
import fs from 'node:fs';
import path from 'node:path';
import { TokenAuthority } from '../core/edge/auth.ts';
import { UsageError } from '../core/args.ts';
import { targetsOf } from './options.ts';

export type TokenSource =
  | { kind: 'secret'; secret: string }
  | { kind: 'file'; path: string }
  | { kind: 'url'; template: string };

export type TokenProvider = (user: string) => Promise<string>;

/** Builds the provider; a file is read once, every problem reported as UsageError. */
export function tokenProvider(source: TokenSource, ttlSec = 86_400): TokenProvider {
  switch (source.kind) {
    case 'secret': {
      const authority = new TokenAuthority(new TextEncoder().encode(source.secret));
      return (user) => authority.mint(user, ttlSec);
    }
    case 'file': {
      let text: string;
      try { text = fs.readFileSync(source.path, 'utf8'); } catch (err) { throw new UsageError([`--token-file ${source.path}: ${(err as Error).message}`]); }
      const map = new Map<string, string>();
      if (text.trimStart().startsWith('{')) {
        for (const [u, t] of Object.entries(JSON.parse(text) as Record<string, string>)) map.set(u, t);
      } else {
        for (const line of text.split('\n')) {
          const [u, t] = line.trim().split(/\s+/);
          if (u && t) map.set(u, t);
        }
      }
      return async (user) => {
        const t = map.get(user);
        if (!t) throw new Error(`no token for ${user} in ${source.path}`);
        return t;
      };
    }
    case 'url':
      return async (user) => {
        const res = await fetch(source.template.replace('{user}', encodeURIComponent(user)));
        const body = (await res.text()).trim();
        if (!res.ok) throw new Error(`token URL answered ${res.status} for ${user}`);
        return body.startsWith('{') ? (JSON.parse(body) as { token: string }).token : body;
      };
  }
}

/** Remembers each user's token once fetched (failures are not remembered, so a retry refetches). */
export function cachedTokens(provider: TokenProvider): TokenProvider {
  const cache = new Map<string, string>();
  return async (user) => {
    const cached = cache.get(user);
    if (cached) return cached;
    const t = await provider(user);
    cache.set(user, t);
    return t;
  };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a target URL names this machine (127.0.0.1, localhost or ::1). */
export function isLoopback(target: string): boolean {
  try { return targetsOf(target).every((t) => LOOPBACK_HOSTS.has(new URL(t).hostname)); } catch { return false; }
}

/** The secret file of the local node, as `parley serve` and `parley token` find it: --data-dir, PARLEY_DATA_DIR, ./data. */
export function localSecretFile(flags: Map<string, string>, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.resolve(flags.get('data-dir') || env.PARLEY_DATA_DIR || './data'), 'secret');
}

/**
 * Picks the token source: --secret, --token-file, --token-url or PARLEY_SECRET; against a loopback
 * target without any of them, the local node's secret file (never generated here: a fresh secret
 * would match no running node).
 */
export function tokenSourceFrom(flags: Map<string, string>, target: string, env: NodeJS.ProcessEnv = process.env): TokenSource {
  const given = ['secret', 'token-file', 'token-url'].filter((f) => flags.has(f));
  if (given.length > 1) throw new UsageError([`give one of --secret, --token-file, --token-url, got ${given.map((g) => `--${g}`).join(' and ')}`]);
  if (flags.has('token-file')) return { kind: 'file', path: flags.get('token-file')! };
  if (flags.has('token-url')) {
    const template = flags.get('token-url')!;
    if (!template.includes('{user}')) throw new UsageError([`--token-url must contain {user}, got "${template}"`]);
    return { kind: 'url', template };
  }
  const secret = flags.get('secret') || env.PARLEY_SECRET;
  if (secret) return { kind: 'secret', secret };
  if (!isLoopback(target)) throw new UsageError([`simulated users need tokens for the remote node ${target}: give --secret (the node's PARLEY_SECRET), --token-file or --token-url`]);
  const file = localSecretFile(flags, env);
  let text: string;
  try { text = fs.readFileSync(file, 'utf8').trim(); } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UsageError([`no secret for the local node at ${target}: PARLEY_SECRET is unset and ${file} ${missing ? 'does not exist' : `cannot be read (${(err as Error).message})`}; start the node once with that data dir (npm start), point --data-dir at it, or give --secret, --token-file or --token-url`]);
  }
  if (!text) throw new UsageError([`no secret for the local node at ${target}: ${file} is empty; give --secret, --token-file or --token-url`]);
  return { kind: 'secret', secret: text };
}

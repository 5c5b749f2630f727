/**
 * Development sign-in (setting devLogin, off by default, loopback hosts only): POST /dev/token
 * {"user"} answers a token for that user, so the chat page needs only a name. Never in
 * production: whoever reaches the port can be anyone. The token is answered, never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenAuthority } from './auth.ts';
import { ParleyError } from '../errors.ts';
import { readJson, sendError, sendJson } from './rest.ts';

export const DEV_TOKEN_PATH = '/dev/token';

/** The handler of POST /dev/token; false for other paths. */
export function devTokenRoute(auth: TokenAuthority, ttlSec: number): (req: IncomingMessage, res: ServerResponse, url: URL) => boolean {
  return (req, res, url) => {
    if (url.pathname !== DEV_TOKEN_PATH) return false;
    if (req.method !== 'POST') { sendError(res, new ParleyError('not_found', `${DEV_TOKEN_PATH} takes POST {"user": "<id>"}`)); return true; }
    readJson(req)
      .then(async (body) => {
        if (typeof body.user !== 'string') throw new ParleyError('bad_field', `expected {"user": "<id>"}, got ${JSON.stringify(body.user)?.slice(0, 80)}`, { field: 'user' });
        const token = await auth.mint(body.user, ttlSec);
        res.setHeader('cache-control', 'no-store');
        sendJson(res, 200, { user: body.user, token, expiresInSec: ttlSec });
      })
      .catch((err: unknown) => sendError(res, err instanceof ParleyError ? err : new ParleyError('internal', 'token could not be minted')));
    return true;
  };
}

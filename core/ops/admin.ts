/**
 * The ops port's operability routes: GET /metrics, GET /alerts, and the admin API under /admin,
 * where every route requires `Authorization: Bearer <adminToken>` (401 without it, and 401 for
 * every admin route when no admin token is configured).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AlertEvaluator } from './alerts/evaluator.ts';
import type { Bus } from '../bus/types.ts';
import type { DebugLog } from './debug/debug.ts';
import { ParleyError } from '../errors.ts';
import type { Flags } from './flags/flags.ts';
import type { Hub } from '../chat/hub.ts';
import type { Metrics } from './registry.ts';
import { USER_ID_RE } from '../protocol.ts';
import { decodePart, readJson, sendError, sendJson } from '../edge/rest.ts';

export interface OpsDeps {
  metrics: Metrics;
  alerts: AlertEvaluator;
  debug: DebugLog;
  flags: Flags;
  hub: Hub;
  bus: Bus;
  log: Logger;
  adminToken: string | undefined;
  debugMinutes: number;
  debugMaxMinutes: number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Exactly one of `user` or `session`, validated. */
function targetOf(o: Record<string, unknown>): { kind: 'user' | 'session'; id: string } {
  const { user, session } = o;
  if ((user === undefined) === (session === undefined)) throw new ParleyError('bad_field', 'expected exactly one of "user" or "session"');
  if (user !== undefined) {
    if (typeof user !== 'string' || !USER_ID_RE.test(user)) throw new ParleyError('bad_field', `"user" must be a user id, got ${JSON.stringify(user)?.slice(0, 80)}`, { field: 'user' });
    return { kind: 'user', id: user };
  }
  if (typeof session !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(session)) throw new ParleyError('bad_field', `"session" must be a session id, got ${JSON.stringify(session)?.slice(0, 80)}`, { field: 'session' });
  return { kind: 'session', id: session };
}

/** Builds the handler; it returns false for paths it does not serve. */
export function opsRoutes(deps: OpsDeps): (req: IncomingMessage, res: ServerResponse, url: URL) => boolean {
  const expected = deps.adminToken === undefined ? undefined : digest(deps.adminToken);

  function authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (!expected || !h?.startsWith('Bearer ')) return false;
    return timingSafeEqual(digest(h.slice(7)), expected);
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodePart);
    const route = `${req.method} /${parts.slice(1).join('/')}`;
    const { debug, hub } = deps;
    if (route === 'POST /debug') {
      const body = await readJson(req);
      const { kind, id } = targetOf(body);
      const minutes = body.minutes ?? deps.debugMinutes;
      if (!Number.isSafeInteger(minutes) || (minutes as number) < 1 || (minutes as number) > deps.debugMaxMinutes) {
        throw new ParleyError('bad_field', `"minutes" must be an integer in [1, ${deps.debugMaxMinutes}], got ${JSON.stringify(minutes)}`, { field: 'minutes' });
      }
      const by = typeof body.by === 'string' && body.by ? body.by.slice(0, 100) : `admin@${req.socket.remoteAddress ?? 'unknown'}`;
      const target = debug.enable(kind, id, minutes as number, by);
      const sessions = kind === 'user' ? [...hub.sessionsOf(id)].map((s) => s.id) : hub.session(id) ? [id] : [];
      return sendJson(res, 200, { debug: { ...target, until: new Date(target.until).toISOString() }, sessions });
    }
    if (route === 'DELETE /debug') {
      const { kind, id } = targetOf(Object.fromEntries(url.searchParams));
      if (!debug.disable(kind, id, `admin@${req.socket.remoteAddress ?? 'unknown'}`)) throw new ParleyError('not_found', `debug mode is not on for ${kind} ${id}`);
      return sendJson(res, 200, { disabled: { kind, id } });
    }
    if (route === 'GET /debug') {
      return sendJson(res, 200, { targets: debug.targets().map((t) => ({ ...t, until: new Date(t.until).toISOString() })) });
    }
    if (req.method === 'GET' && parts.length === 3 && parts[1] === 'debug') {
      const entries = debug.ring(parts[2]!);
      if (!entries) throw new ParleyError('not_found', `no debug log for session ${parts[2]}; switch debug mode on first`);
      return sendJson(res, 200, { session: parts[2], debug: debug.slot(parts[2]!)?.on ?? false, entries });
    }
    if (parts.length === 4 && parts[1] === 'users') {
      const user = parts[2]!;
      if (!USER_ID_RE.test(user)) throw new ParleyError('bad_field', `expected a user id in the path, got "${user.slice(0, 80)}"`, { field: 'user' });
      if (route === `GET /users/${user}/sessions`) {
        return sendJson(res, 200, { user, sessions: [...hub.sessionsOf(user)].map((s) => ({ id: s.id, debug: debug.slot(s.id)?.on ?? false })) });
      }
      if (route === `POST /users/${user}/disconnect`) {
        const count = hub.sessionsOf(user).size;
        deps.bus.publish({ kind: 'kick', user });
        deps.log.info({ user, by: `admin@${req.socket.remoteAddress ?? 'unknown'}` }, 'user disconnected by an operator');
        return sendJson(res, 200, { user, disconnected: count });
      }
    }
    if (route === 'POST /flags/reload') {
      try {
        await deps.flags.reload();
      } catch (err) {
        throw new ParleyError('bad_field', `flags were not reloaded: ${(err as Error).message}`);
      }
      return sendJson(res, 200, { reloaded: true });
    }
    if (route === 'GET /alerts') return sendJson(res, 200, { alerts: deps.alerts.status() });
    throw new ParleyError('not_found', `no admin route ${req.method} ${url.pathname}`);
  }

  return (req, res, url) => {
    if (url.pathname === '/metrics' && req.method === 'GET') {
      deps.metrics.exposition().then(
        (text) => { res.writeHead(200, { 'content-type': deps.metrics.contentType }); res.end(text); },
        (err: unknown) => sendError(res, new ParleyError('internal', `metrics collection failed: ${(err as Error).message}`)),
      );
      return true;
    }
    if (url.pathname === '/alerts' && req.method === 'GET') {
      sendJson(res, 200, { alerts: deps.alerts.status() });
      return true;
    }
    if (url.pathname !== '/admin' && !url.pathname.startsWith('/admin/')) return false;
    if (!authorized(req)) {
      deps.metrics.inc('parley_admin_requests_total', { result: 'unauthorized' });
      const why = expected ? 'expected Authorization: Bearer <admin token>' : 'the admin API is disabled; start the node with --admin-token';
      sendError(res, new ParleyError('unauthorized', why));
      return true;
    }
    admin(req, res, url).then(
      () => deps.metrics.inc('parley_admin_requests_total', { result: 'ok' }),
      (err: unknown) => {
        deps.metrics.inc('parley_admin_requests_total', { result: 'error' });
        if (err instanceof ParleyError) return sendError(res, err);
        deps.log.error({ err }, 'admin request failed');
        sendError(res, new ParleyError('internal', 'the admin request failed'));
      },
    );
    return true;
  };
}

/**
 * The ops port's operability routes: GET /metrics, GET /alerts, and the admin API under /admin,
 * where every route requires `Authorization: Bearer <adminToken>` (401 without it, and 401 for
 * every admin route when no admin token is configured).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AlertEvaluator } from './alerts/evaluator.ts';
import { userChannel, type Bus } from '../bus/types.ts';
import type { DebugLog } from './debug/debug.ts';
import { ParleyError } from '../errors.ts';
import { readFeatures, type Flags } from './flags/flags.ts';
import type { Hub } from '../chat/hub.ts';
import type { Metrics, Sample } from './registry.ts';
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
  /** The flags file (the source of flags unless `unleashUrl` is set). */
  flagsFile?: string;
  /** With an Unleash server, rollouts are changed there and the console links to it. */
  unleashUrl?: string;
}

/** Strategies whose parameter holds a rollout percentage, and that parameter. */
const ROLLOUT_PARAM: Record<string, string> = {
  flexibleRollout: 'rollout', gradualRolloutUserId: 'percentage', gradualRolloutSessionId: 'percentage', gradualRolloutRandom: 'percentage',
};

type Strategy = { name: string; parameters?: Record<string, string> };
type Feature = { name: string; enabled?: boolean; description?: string; strategies: Strategy[]; variants?: { name: string; weight?: number }[] };

/** A flag as the console shows it: where it comes from, its rollout, its variants, its evaluations. */
function flagView(f: Feature, evaluations: Record<string, number>): Record<string, unknown> {
  const rollout = f.strategies.find((s) => s.name in ROLLOUT_PARAM);
  const pct = rollout ? Number(rollout.parameters?.[ROLLOUT_PARAM[rollout.name]!]) : undefined;
  return {
    name: f.name, enabled: f.enabled !== false, description: f.description,
    strategies: f.strategies.map((s) => s.name),
    rollout: pct === undefined || Number.isNaN(pct) ? null : pct,
    variants: (f.variants ?? []).map((v) => ({ name: v.name, weight: v.weight ?? null })),
    evaluations,
  };
}

/** Cumulative bucket counts of a histogram summed over its other labels, ascending by bound. */
function buckets(samples: readonly Sample[], name: string): { le: number; count: number }[] {
  const by = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    by.set(le, (by.get(le) ?? 0) + s.value);
  }
  return [...by].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

const sum = (samples: readonly Sample[], name: string, match: (l: Readonly<Record<string, string>>) => boolean = () => true): number =>
  samples.reduce((n, s) => (s.name === name && match(s.labels) ? n + s.value : n), 0);

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
        await deps.bus.publish(userChannel(user), { kind: 'kick', user });
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
    if (route === 'GET /overview') return sendJson(res, 200, await overview());
    if (route === 'GET /sessions') {
      return sendJson(res, 200, { sessions: [...hub.all()].map((s) => ({ id: s.id, user: s.user, debug: debug.slot(s.id)?.on ?? false })) });
    }
    if (parts.length === 4 && parts[1] === 'sessions' && route === `POST /sessions/${parts[2]}/disconnect`) {
      const session = hub.session(parts[2]!);
      if (!session) throw new ParleyError('not_found', `no session ${parts[2]!.slice(0, 64)} on this node`);
      session.close('kicked');
      deps.log.info({ session: session.id, user: session.user, by: `admin@${req.socket.remoteAddress ?? 'unknown'}` }, 'session disconnected by an operator');
      return sendJson(res, 200, { session: session.id, user: session.user, disconnected: 1 });
    }
    if (parts.length === 4 && parts[1] === 'flags' && route === `PUT /flags/${parts[2]}/rollout`) {
      const body = await readJson(req);
      return sendJson(res, 200, await setRollout(parts[2]!, body.percent));
    }
    throw new ParleyError('not_found', `no admin route ${req.method} ${url.pathname}`);
  }

  /** One snapshot for the console: counters it turns into rates, histogram buckets, alerts, flags, sessions. */
  async function overview(): Promise<Record<string, unknown>> {
    const samples = await deps.metrics.samples();
    const errors: Record<string, number> = {};
    for (const s of samples) if (s.name === 'parley_errors_total' && s.value > 0) errors[s.labels.code!] = s.value;
    const evaluations = new Map<string, Record<string, number>>();
    for (const s of samples) {
      if (s.name !== 'parley_flag_evaluations_total') continue;
      const e = evaluations.get(s.labels.flag!) ?? {};
      e[s.labels.result!] = s.value;
      evaluations.set(s.labels.flag!, e);
    }
    let flags: Record<string, unknown>[] = [];
    let flagsError: string | undefined;
    if (deps.flagsFile) {
      try {
        flags = (readFeatures(deps.flagsFile).features as unknown as Feature[]).map((f) => flagView(f, evaluations.get(f.name) ?? {}));
      } catch (err) {
        flagsError = (err as Error).message;
      }
    }
    const { hub, debug } = deps;
    return {
      at: new Date().toISOString(),
      connections: sum(samples, 'parley_connections'),
      sessions: sum(samples, 'parley_sessions'),
      // Logins that passed the token check, whichever label the counter carries the outcome in.
      logins: sum(samples, 'parley_logins_total', (l) => l.result === 'ok' || l.reason === 'ok'),
      messages: sum(samples, 'parley_messages_stored_total'),
      deliveries: sum(samples, 'parley_messages_delivered_total'),
      delivery: buckets(samples, 'parley_delivery_latency_seconds').map((b) => ({ le: Number.isFinite(b.le) ? b.le : '+Inf', count: b.count })),
      errors,
      alerts: deps.alerts.status(),
      flags: { source: deps.unleashUrl ? 'unleash' : 'file', file: deps.flagsFile, unleashUrl: deps.unleashUrl, error: flagsError, items: flags },
      debug: debug.targets().map((t) => ({ ...t, until: new Date(t.until).toISOString() })),
      sessionList: [...hub.all()].slice(0, 500).map((s) => ({ id: s.id, user: s.user, debug: debug.slot(s.id)?.on ?? false })),
    };
  }

  /** Sets a flag's rollout percentage in the flags file and reloads; refused when a server is the source. */
  async function setRollout(name: string, percent: unknown): Promise<Record<string, unknown>> {
    if (deps.unleashUrl) throw new ParleyError('forbidden', `flags come from the Unleash server at ${deps.unleashUrl}; change the rollout there`, { unleashUrl: deps.unleashUrl });
    if (!deps.flagsFile) throw new ParleyError('not_found', 'this node has no flags file');
    if (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new ParleyError('bad_field', `"percent" must be an integer in [0, 100], got ${JSON.stringify(percent)?.slice(0, 40)}`, { field: 'percent' });
    }
    const state = readFeatures(deps.flagsFile);
    const feature = (state.features as unknown as Feature[]).find((f) => f.name === name);
    if (!feature) throw new ParleyError('not_found', `flag "${name.slice(0, 80)}" is not in ${deps.flagsFile}`);
    const strategy = feature.strategies.find((s) => s.name in ROLLOUT_PARAM);
    if (!strategy) throw new ParleyError('bad_field', `flag "${name}" has no flexibleRollout or gradualRollout strategy (it has: ${feature.strategies.map((s) => s.name).join(', ') || 'none'})`, { field: 'flag' });
    strategy.parameters = { ...strategy.parameters, [ROLLOUT_PARAM[strategy.name]!]: String(percent) };
    // Written beside and renamed over: the file watcher never sees half a file.
    const tmp = `${deps.flagsFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    fs.renameSync(tmp, deps.flagsFile);
    await deps.flags.reload();
    deps.log.info({ flag: name, percent, file: deps.flagsFile }, 'flag rollout changed by an operator');
    return { flag: name, rollout: percent, file: deps.flagsFile };
  }

  return (req, res, url) => {
    if (url.pathname === '/metrics' && req.method === 'GET') {
      const t0 = performance.now();
      deps.metrics.exposition().then(
        (text) => {
          // Observed after rendering: the scrape shows the previous one's time, as a scrape cannot time itself.
          deps.metrics.observe('parley_metrics_scrape_seconds', (performance.now() - t0) / 1000);
          res.writeHead(200, { 'content-type': deps.metrics.contentType }); res.end(text);
        },
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

/**
 * Composition at the edge: the node is assembled from subsystems passed in (store, bus, log) and
 * exposes the public port (WebSocket + REST) and the ops port (health, readiness).
 * `close()` drains: stop accepting, tell clients to reconnect, finish in-flight commits.
 */
import http from 'node:http';
import v8 from 'node:v8';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { resolveSecret, TokenAuthority, bearerFrom } from './edge/auth.ts';
import { LocalBus } from './bus/local.ts';
import { CONTROL_CHANNEL, type Bus } from './bus/types.ts';
import { RedisBus } from './bus/redis.ts';
import { ChatService } from './chat/chat.ts';
import { keepNodeId, type Config } from './config.ts';
import { ERRORS, ParleyError, type ErrorCode } from './errors.ts';
import { createLogger, logLines } from './log.ts';
import { Fanout } from './chat/fanout.ts';
import { Hub } from './chat/hub.ts';
import type { AlertRule } from './ops/alerts/rules.ts';
import { startOps, type Ops } from './ops/ops.ts';
import { LIMITS, SUBPROTOCOL } from './protocol.ts';
import { API_PREFIX, RestApi, sendError, sendJson } from './edge/rest.ts';
import { observeRest } from './edge/rest-probe.ts';
import { watchStorage } from './ops/storage.ts';
import { NodeBudget, OVERLOAD_RETRY_MS, overloadedError } from './edge/budget.ts';
import { Session } from './edge/session.ts';
import { staticSite } from './edge/static.ts';
import { devTokenRoute } from './edge/dev-login.ts';
import { PACKAGE_ROOT } from './paths.ts';
import { privateFile, secureDataDir } from './datadir.ts';
import { Social } from './social/social.ts';
import { socialRoutes } from './edge/social-rest.ts';
import { SqliteStore } from './store/sqlite.ts';
import { HistoryCache } from './chat/history-cache.ts';
import { RedisHistoryCache } from './chat/redis-history-cache.ts';
import { ChatExpiry } from './chat/expiry.ts';
import { PostgresStore } from './store/postgres.ts';
import type { AttachmentStore } from './store/attachments.ts';
import { FsAttachments } from './store/attachments-fs.ts';
import { PostgresAttachments } from './store/attachments-postgres.ts';
import { Attachments } from './attachments/attachments.ts';
import { attachmentRoutes } from './edge/attachments-rest.ts';
import type { Store, StoreFault } from './store/types.ts';

export interface ServerParts {
  store?: Store;
  bus?: Bus;
  log?: Logger;
  /** Alert rules of the embedded evaluator; defaults to core/ops/alerts/rules.ts. */
  alertRules?: readonly AlertRule[];
}

export interface ParleyServer {
  readonly config: Config;
  readonly port: number;
  readonly opsPort: number;
  /** ws://host:port/ws */
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly opsUrl: string;
  readonly auth: TokenAuthority;
  readonly hub: Hub;
  readonly chat: ChatService;
  readonly log: Logger;
  /** Metrics, flags, debug logging and alerts of this node. */
  readonly ops: Ops;
  /** Friends, blocks, presence, typing, receipts. */
  readonly social: Social;
  /** Photos and files (core/attachments). */
  readonly attachments: Attachments;
  /** Graceful drain; idempotent. Resolves when every connection is closed and the store is closed. */
  close(): Promise<void>;
}

/**
 * An upgrade socket's error listener, declared outside the upgrade handler: a closure in it would
 * share the handler's scope and keep the request (headers, URL, token) alive as long as the session.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function rejectUpgrade(socket: Duplex, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const status = ERRORS[code].status;
  const retry = code === 'overloaded' ? `Retry-After: ${Math.ceil(OVERLOAD_RETRY_MS / 1000)}\r\n` : '';
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`);
}

/** The heap bound in MiB from the setting: -1 means 85% of V8's heap limit, 0 no bound. */
function heapWatermarkMb(setting: number): number {
  if (setting >= 0) return setting;
  return Math.floor((v8.getHeapStatistics().heap_size_limit * 0.85) / (1024 * 1024));
}

/**
 * A port that could not be bound, said in one line: which setting, what is wrong, what to do.
 * `code` is the system's (EADDRINUSE, EADDRNOTAVAIL, EACCES, ENOTFOUND, ...).
 */
export class BindError extends Error {
  readonly code: string;
  constructor(setting: 'port' | 'opsPort', host: string, port: number, cause: NodeJS.ErrnoException) {
    const flag = setting === 'port' ? '--port' : '--ops-port';
    const hostFlag = setting === 'port' ? '--host' : '--ops-host';
    const what = setting === 'port' ? 'port' : 'ops port';
    const code = cause.code ?? 'unknown';
    const reason: Record<string, string> = {
      EADDRINUSE: `${what} ${port} is in use: another process listens on ${host}:${port}; stop it or choose another ${flag}`,
      EACCES: `${what} ${port} needs privileges on ${host} (EACCES): choose a port above 1023 with ${flag}`,
      EADDRNOTAVAIL: `cannot bind ${hostFlag} ${host}: the address is not one of this machine's (EADDRNOTAVAIL)`,
      ENOTFOUND: `cannot bind ${hostFlag} ${host}: the name does not resolve (ENOTFOUND)`,
      EAI_AGAIN: `cannot bind ${hostFlag} ${host}: the name does not resolve right now (EAI_AGAIN)`,
    };
    super(reason[code] ?? `cannot listen on ${host}:${port} (${hostFlag}, ${flag}): ${cause.message}`, { cause });
    this.name = 'BindError';
    this.code = code;
  }
}

function listen(server: http.Server, setting: 'port' | 'opsPort', port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new BindError(setting, host, port, err));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startServer(config: Config, parts: ServerParts = {}): Promise<ParleyServer> {
  const log = parts.log ?? createLogger({ level: config.logLevel, nodeId: config.nodeId, format: config.logFormat });
  // The ports are bound before anything else starts: a port in use or an address that is not this
  // machine's fails in one line, with no store, secret or debug log created. Until the node is
  // assembled, both ports answer 503.
  let started = false;
  let draining = false;
  /** Upgrades whose token check has not finished. */
  let upgradesPending = 0;
  const publicServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!started) return sendError(res, new ParleyError('shutting_down', 'the node is starting; retry shortly'));
    if (draining) return sendError(res, new ParleyError('shutting_down', 'the node is draining; retry on another node'));
    if (url.pathname.startsWith(`${API_PREFIX}/`)) {
      observeRest(metrics, res, url.pathname);
      const over = budget.admit();
      if (over) {
        metrics.inc('parley_requests_refused_total', { reason: `overloaded_${over}` });
        return sendError(res, overloadedError(over));
      }
      return void rest.handle(req, res, url).finally(() => budget.release());
    }
    if (devToken?.(req, res, url) || chatSite.handle(req, res, url)) return;
    sendError(res, new ParleyError('not_found', `no route ${req.method} ${url.pathname}`));
  });
  publicServer.keepAliveTimeout = 5_000;

  publicServer.on('upgrade', (req, socket, head) => {
    const t0 = performance.now();
    socket.on('error', destroyOnError);
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Every refused upgrade is counted by reason and written to the (rate-limited) access log.
    const reject = (code: ErrorCode, message: string, reason: string = code, user?: string) => {
      metrics.inc('parley_logins_total', { reason });
      const fwd = req.headers['x-forwarded-for'];
      ops.logins.refused({ reason, remote: req.socket.remoteAddress, forwardedFor: Array.isArray(fwd) ? fwd[0] : fwd, user });
      rejectUpgrade(socket, code, message);
    };
    if (!started) return rejectUpgrade(socket, 'shutting_down', 'the node is starting; retry shortly');
    if (url.pathname !== config.wsPath) return reject('not_found', `WebSocket endpoint is ${config.wsPath}`, 'wrong_path');
    if (draining) return reject('shutting_down', 'the node is draining; reconnect to another node', 'draining');
    const over = budget.overloaded;
    if (over) {
      budget.refuse(over);
      metrics.inc('parley_requests_refused_total', { reason: `overloaded_${over}` });
      return reject('overloaded', overloadedError(over).message);
    }
    const offered = req.headers['sec-websocket-protocol'];
    if (offered && !offered.split(',').map((p) => p.trim()).includes(SUBPROTOCOL)) {
      return reject('unsupported_protocol', `expected subprotocol ${SUBPROTOCOL}, got "${offered.slice(0, 80)}"`);
    }
    upgradesPending++;
    auth.verify(bearerFrom(req.headers, url)).then(
      (identity) => {
        upgradesPending--;
        if (draining) return reject('shutting_down', 'the node is draining; reconnect to another node', 'draining');
        metrics.inc('parley_logins_total', { reason: 'ok' });
        wss.handleUpgrade(req, socket, head, (ws) => {
          new Session(ws, identity.user, identity.expiresAt, { chat, hub, config, log, ops, social, budget });
          metrics.observe('parley_login_seconds', (performance.now() - t0) / 1000);
        });
      },
      (err: unknown) => {
        upgradesPending--;
        const details = err instanceof ParleyError ? err.details as { reason?: string; user?: string } | undefined : undefined;
        reject('unauthorized', err instanceof ParleyError ? err.message : 'invalid token', details?.reason ?? 'missing', details?.user);
      },
    );
  });

  const opsServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!started) return sendJson(res, 503, { status: 'starting' });
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok', node: config.nodeId });
    if (url.pathname === '/readyz') {
      if (draining) return sendJson(res, 503, { status: 'draining' });
      const fault = store.fault?.();
      if (fault) return sendJson(res, 503, { status: 'store_unavailable', reason: fault.kind, since: new Date(fault.since).toISOString(), message: fault.message });
      const over = budget.overloaded;
      if (over) return sendJson(res, 503, { status: 'overloaded', reason: over, inflight: budget.inflight, queuedBytes: budget.queuedBytes });
      const busStatus = bus.status();
      if (!busStatus.ready) return sendJson(res, 503, { status: 'bus_down', reason: busStatus.reason });
      // Stale flags do not make a node unready: it serves its last known flags (docs/operations.md).
      return sendJson(res, 200, { status: 'ready', sessions: hub.size, flags: ops.flags.status() });
    }
    if (consoleSite.handle(req, res, url) || opsRoutes(req, res, url)) return;
    sendError(res, new ParleyError('not_found', `no route ${req.method} ${url.pathname}`));
  });

  const port = await listen(publicServer, 'port', config.port, config.host);
  const opsPort = await listen(opsServer, 'opsPort', config.opsPort, config.opsHost).catch((err: unknown) => {
    publicServer.close();
    throw err;
  });

  secureDataDir(config.dataDir, log);
  keepNodeId(config.dataDir, config.nodeId!);
  const ops = await startOps(config, log, parts.alertRules);
  const { metrics } = ops;
  metrics.read('parley_upgrades_pending', () => upgradesPending);
  const lines = logLines(log);
  if (lines) for (const level of Object.keys(lines) as (keyof typeof lines)[]) metrics.mirror('parley_log_lines_total', { level }, () => lines[level]);
  const budget = new NodeBudget({ maxInflight: config.nodeMaxInflight, maxQueuedBytes: config.nodeMaxQueuedBytes, heapWatermarkMb: heapWatermarkMb(config.heapWatermarkMb) });
  metrics.read('parley_inflight_requests', () => budget.inflight);
  metrics.read('parley_overloaded', () => (budget.overloaded ? 1 : 0));
  const onCommit = (n: number, ms: number) => { metrics.observe('parley_store_commit_seconds', ms / 1000); metrics.observe('parley_store_batch_operations', n); };
  const onStoreFault = (fault: StoreFault | undefined) => (fault ? log.error({ fault }, 'the store stopped writing; writes answer store_unavailable') : log.info('the store writes again'));
  const sqliteFile = path.join(config.dataDir, 'parley.db');
  const store: Store = parts.store ?? (config.store === 'sqlite'
    ? new SqliteStore({
      file: privateFile(sqliteFile), sync: config.sqliteSync, batchMax: config.batchMax, onCommit,
      onError: (kind) => metrics.inc('parley_store_errors_total', { kind }), onFault: onStoreFault,
    })
    : await openPostgres(config, metrics, log, onCommit).catch(async (err: unknown) => {
      publicServer.close();
      opsServer.close();
      await ops.close();
      throw err;
    }));
  metrics.read('parley_store_unavailable', () => (store.fault?.() ? 1 : 0));
  watchStorage(metrics, config.dataDir, !parts.store && config.store === 'sqlite' ? sqliteFile : undefined);
  const bus = parts.bus ?? (config.redis !== undefined
    ? new RedisBus({ url: config.redis, node: config.nodeId!, prefix: config.redisPrefix, meter: metrics, log })
    : new LocalBus());
  const auth = new TokenAuthority(resolveSecret(config.secret, config.dataDir));
  // A committed change whose publish failed reaches its receivers late, through their gap repair.
  const publishFailed = (err: unknown, event: { kind: string }) => {
    metrics.inc('parley_fanout_failures_total', { kind: event.kind });
    log.error({ err, kind: event.kind }, 'publishing a committed change to the bus failed; receivers repair from the store');
  };
  // In memory the hot cache sees this node's commits only: with several nodes it lives in Redis.
  const historyCache = redisHistoryCache(config, bus, store, log)
    ?? new HistoryCache({ perChat: config.redis === undefined ? config.historyCacheMessages : 0, maxBytes: config.historyCacheBytes });
  const chat = new ChatService(store, bus, { fanoutFailed: publishFailed }, historyCache);
  metrics.mirror('parley_history_cache_lookups_total', { result: 'hit' }, () => historyCache.stats.hits);
  metrics.mirror('parley_history_cache_lookups_total', { result: 'miss' }, () => historyCache.stats.misses);
  metrics.mirror('parley_history_cache_evictions_total', undefined, () => historyCache.stats.evictions);
  metrics.read('parley_history_cache_bytes', () => historyCache.stats.bytes);
  metrics.read('parley_history_cache_chats', () => historyCache.stats.chats);
  chat.ephemeral = { defaultMs: config.ephemeralLifetimeMs, minMs: config.ephemeralMinLifetimeMs, maxMs: config.ephemeralMaxLifetimeMs };
  const expiry = new ChatExpiry(chat, { intervalMs: config.expiryCheckMs, batch: 100 });
  expiry.onError = (err) => {
    metrics.inc('parley_expiry_errors_total');
    log.error({ err }, 'deleting lapsed ephemeral chats failed; the next check retries');
  };
  expiry.start();
  chat.faultDelayMs = config.faultDelayMs;
  // Uploads live beside the messages: files under the data dir with SQLite, tables with PostgreSQL.
  const attachmentStore: AttachmentStore = config.store === 'sqlite'
    ? new FsAttachments(path.join(config.dataDir, 'attachments'))
    : await PostgresAttachments.open(config.store);
  const attachments = new Attachments(attachmentStore, chat, Attachments.limitsOf(config), metrics);
  chat.attachments = attachments;
  const attachmentSweep = config.attachmentSweepMs > 0
    ? setInterval(() => void attachments.sweep().catch((err: unknown) => log.error({ err }, 'collecting unreferenced attachments failed; the next sweep retries')), config.attachmentSweepMs)
    : undefined;
  attachmentSweep?.unref();
  const hub = new Hub(bus);
  hub.onSubscribeFailed = (err, user) => log.warn({ err, user }, 'subscribing to a user channel failed; retried when the bus recovers');
  hub.onGapRepair = (trigger) => metrics.inc('parley_gap_repairs_total', { trigger });
  hub.excludes = (user, c) => chat.leftRecently(user, c);
  metrics.read('parley_bus_up', () => (bus.status().ready ? 1 : 0));
  metrics.read('parley_bus_down_seconds', () => { const st = bus.status(); return st.ready ? 0 : (Date.now() - st.since) / 1000; });
  const social = new Social({
    store, bus, hub, chat, config, log,
    typingEnabled: (user) => config.typing && ops.flags.isEnabled('typing-indicators', { userId: user }),
    readReceipts: (user) => ops.flags.isEnabled('read-receipts', { userId: user }),
    presenceCoalescing: () => ops.flags.isEnabled('presence-coalescing'),
    publishFailed,
  });
  ops.mirrorSocial(() => social.stats());
  chat.hooks.beforeDirect = social.beforeDirect;
  // The chat page on the public port, the console on the ops port (built by npm run build:web).
  const chatSite = staticSite(path.join(PACKAGE_ROOT, 'dist/web/chat'), '/');
  const consoleSite = staticSite(path.join(PACKAGE_ROOT, 'dist/web/console'), '/console');
  const devToken = config.devLogin ? devTokenRoute(auth, config.tokenTtlSec) : undefined;
  const socialRest = socialRoutes(social);
  const attachmentRest = attachmentRoutes(attachments);
  const rest = new RestApi(chat, auth, async (...args) => (await attachmentRest(...args)) || socialRest(...args), config);
  const unsubscribeSocial = bus.onEvent((event) => { chat.apply(event); social.dispatch(event); });
  // How a message reaches a socket: bus → fan-out → hub → session.
  const fanout = new Fanout(hub, metrics);
  fanout.faultDelayMs = config.faultVariantDelayMs;
  const unsubscribe = bus.onEvent(fanout.dispatch);
  // Events may have been missed while the bus was away: drop what they fed, listen again, check cursors.
  const checkCursors = async (): Promise<void> => {
    const t0 = performance.now();
    await hub.checkCursors();
    metrics.observe('parley_cursor_check_seconds', (performance.now() - t0) / 1000);
  };
  const unsubscribeResync = bus.onResync(() => { chat.resync(); hub.resubscribe(); void checkCursors(); });
  await bus.subscribe(CONTROL_CHANNEL).catch((err: unknown) => log.warn({ err }, 'subscribing to the control channel failed; retried when the bus recovers'));
  const gapCheck = config.gapCheckMs > 0 && bus.lossy ? setInterval(() => void checkCursors(), config.gapCheckMs) : undefined;
  gapCheck?.unref();
  const opsRoutes = ops.attach({ hub, bus, fanout });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.maxPayloadBytes,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  metrics.read('parley_connections', () => wss.clients.size);

  const heartbeat = setInterval(() => hub.sweep(), config.pingIntervalMs);
  heartbeat.unref();

  started = true;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  log.info({ port, opsPort, wsPath: config.wsPath, dataDir: config.dataDir, chat: `http://${host}:${port}/`, console: `http://${config.opsHost}:${opsPort}/console` }, 'parley listening');
  if (devToken) log.warn({ devLogin: true, host: config.host }, 'DEVELOPMENT SIGN-IN IS ON: anyone who reaches this port can sign in as any user (POST /dev/token); never use --dev-login in production');

  let closing: Promise<void> | undefined;
  async function drain(): Promise<void> {
    draining = true;
    const deadline = Date.now() + config.drainTimeoutMs;
    publicServer.close();
    publicServer.closeIdleConnections();
    // Commits already started finish and are acknowledged before clients are told to leave;
    // new sends are refused with shutting_down and retried by clients on their next node.
    chat.stopAccepting();
    await Promise.race([chat.idle(), sleep(config.drainTimeoutMs)]);
    for (const s of hub.all()) s.close('shutdown');
    while (hub.size > 0 && Date.now() < deadline) await sleep(20);
    for (const client of wss.clients) client.terminate();
    await Promise.race([chat.idle(), sleep(Math.max(0, deadline - Date.now()))]);
    unsubscribeSocial();
    await social.close();
    await expiry.stop();
    clearInterval(attachmentSweep);
    await store.close();
    await attachmentStore.close();
    clearInterval(heartbeat);
    unsubscribe();
    unsubscribeResync();
    clearInterval(gapCheck);
    await bus.close();
    publicServer.closeAllConnections();
    await new Promise<void>((resolve) => opsServer.close(() => resolve()));
    opsServer.closeAllConnections();
    await ops.close();
    budget.close();
    log.info('parley drained');
  }

  return {
    config, port, opsPort, auth, hub, chat, log, ops, social, attachments,
    wsUrl: `ws://${host}:${port}${config.wsPath}`,
    httpUrl: `http://${host}:${port}`,
    opsUrl: `http://${config.opsHost}:${opsPort}`,
    close: () => (closing ??= drain()),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The cluster's hot cache in Redis, on a node whose bus is Redis; a Redis error is logged at most every 5 s. */
function redisHistoryCache(config: Config, bus: Bus, store: Store, log: Logger): RedisHistoryCache | undefined {
  if (!(bus instanceof RedisBus)) return undefined;
  let loggedAt = 0;
  return new RedisHistoryCache({
    bus, perChat: config.historyCacheMessages, ttlMs: config.historyCacheTtlMs,
    lastSeq: async (chat) => (await store.chatInfo(chat))?.lastSeq,
    onError: (err) => {
      if (Date.now() - loggedAt < 5000) return;
      loggedAt = Date.now();
      log.warn({ err }, 'a Redis command of the hot cache failed; history is read from the store');
    },
  });
}

/** The PostgreSQL store of `config.store` with its pool, query and error metrics; a failure logged at most every 5 s. */
async function openPostgres(config: Config, metrics: Ops['metrics'], log: Logger, onCommit: (n: number, ms: number) => void): Promise<PostgresStore> {
  let loggedAt = 0;
  const store = await PostgresStore.open({
    url: config.store, batchMax: config.batchMax, onCommit,
    onQuery: (ms) => metrics.observe('parley_pg_query_seconds', ms / 1000),
    onError: (kind, err) => {
      metrics.inc('parley_pg_errors_total', { kind });
      if (kind !== 'retried' && Date.now() - loggedAt > 5000) {
        loggedAt = Date.now();
        log.error({ err, kind }, kind === 'unavailable' ? 'PostgreSQL is unavailable; writes answer store_unavailable until it returns' : 'a PostgreSQL statement failed');
      }
    },
  });
  metrics.read('parley_pg_pool_connections', () => store.poolStats().total);
  metrics.read('parley_pg_pool_idle_connections', () => store.poolStats().idle);
  metrics.read('parley_pg_pool_waiting_requests', () => store.poolStats().waiting);
  return store;
}

/**
 * Operability assembled for one node from its configuration: the metrics layer, feature flags,
 * per-session debug logging, the embedded alert evaluator (with its optional webhook), and the
 * ops-port routes. It observes the delivery path (and picks the fan-out's canary variant); it carries no message.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import pino, { type Logger } from 'pino';
import { opsRoutes } from './admin.ts';
import { AlertEvaluator } from './alerts/evaluator.ts';
import { ALERTS, type AlertRule } from './alerts/rules.ts';
import { AlertWebhook } from './alerts/webhook.ts';
import { LoginAccessLog } from './access-log.ts';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config.ts';
import { DebugLog, type DebugSlot } from './debug/debug.ts';
import type { Fanout } from '../chat/fanout.ts';
import { FlagLayer, type FlagContext } from './flags/flags.ts';
import type { Hub } from '../chat/hub.ts';
import { Metrics } from './registry.ts';
import { privateFile } from '../datadir.ts';
import { PACKAGE_VERSION } from '../paths.ts';
import type { PresenceStats } from '../social/presence.ts';
import type { TypingStats } from '../social/typing.ts';

/** The social layer's plain counters (core/social/social.ts `stats()`). */
export interface SocialStats { presence: PresenceStats; typing: TypingStats }


export interface Ops {
  readonly metrics: Metrics;
  readonly flags: FlagLayer;
  readonly debug: DebugLog;
  readonly alerts: AlertEvaluator;
  /** The rate-limited access log of refused logins. */
  readonly logins: LoginAccessLog;
  readonly version: string;
  /** Evaluation context of a session (node id and version are added as properties by the flag layer). */
  context(user: string, session: string): FlagContext;
  /**
   * Observes the node's delivery parts: the `fanout-batched` flag picks the fan-out's variant, the
   * `debug-session` flag follows live sessions, the admin routes act on the hub and bus. Returns the ops-route handler.
   */
  attach(parts: { hub: Hub; bus: Bus; fanout: Fanout }): ReturnType<typeof opsRoutes>;
  /** Mirrors the social layer's counters (presence, typing) into the registry. */
  mirrorSocial(stats: () => SocialStats): void;
  /** Called by a new session: switches debug on when the `debug-session` flag lists its user. */
  sessionStarted(slot: DebugSlot): void;
  close(): Promise<void>;
}

/** Builds the node's operability layer; resolves once the flags are loaded. */
export async function startOps(config: Config, log: Logger, rules: readonly AlertRule[] = ALERTS): Promise<Ops> {
  const ver = PACKAGE_VERSION;
  const metrics = new Metrics({ version: ver });
  const sinkFile = config.debugLogFile ?? path.join(config.dataDir, 'debug.log');
  // Debug lines hold message bodies: the file is created private, like the database.
  const sinkStream = pino.destination({ dest: privateFile(sinkFile), sync: false });
  const sink = pino({ level: 'debug', base: { node: config.nodeId } }, sinkStream);
  const debug = new DebugLog({ log, sink, ringSize: config.debugRingSize, maxMinutes: config.debugMaxMinutes, lineBudget: config.debugLineBudget, meter: metrics });

  const flagSource = config.unleashUrl ?? process.env.UNLEASH_URL;
  const flags = await FlagLayer.open({
    file: path.resolve(config.flagsFile),
    unleashUrl: flagSource || undefined,
    apiToken: config.unleashApiToken ?? process.env.UNLEASH_API_TOKEN,
    properties: { nodeId: config.nodeId!, version: ver },
    backupDir: config.dataDir,
    refreshMs: config.unleashRefreshMs,
    watch: true,
    pollMs: config.flagsPollMs,
    meter: metrics,
    log,
    onEvaluate(name, ctx, result) {
      if (debug.active === 0 || !ctx) return;
      if (ctx.sessionId !== undefined) {
        const slot = debug.slot(ctx.sessionId);
        if (slot?.on) slot.event('flag', { flag: name, result });
      } else if (ctx.userId !== undefined) {
        // Per-user evaluations (typing, receipts) show in every traced session of the user.
        for (const slot of debug.slotsOf(ctx.userId)) if (slot.on) slot.event('flag', { flag: name, result });
      }
    },
  });

  const webhook = config.alertWebhookUrl
    ? new AlertWebhook({ url: config.alertWebhookUrl, labels: { service: 'parley', instance: config.nodeId! }, generatorURL: `http://${config.opsHost}:${config.opsPort}/alerts`, log, meter: metrics })
    : undefined;
  const alerts = new AlertEvaluator({
    rules, source: () => metrics.samples(), intervalMs: config.alertIntervalMs, meter: metrics, log, notify: webhook?.notify,
  });
  alerts.start();
  const logins = new LoginAccessLog({ log, meter: metrics });
  // The configured bounds, so dashboards draw the overload thresholds next to the live values.
  metrics.set('parley_node_max_inflight', config.nodeMaxInflight);
  metrics.set('parley_node_max_queued_bytes', config.nodeMaxQueuedBytes);
  const heapMb = config.heapWatermarkMb >= 0 ? config.heapWatermarkMb : Math.floor((v8.getHeapStatistics().heap_size_limit * 0.85) / (1024 * 1024));
  metrics.set('parley_heap_watermark_bytes', heapMb * 1024 * 1024);
  metrics.set('parley_session_max_queue_bytes', config.maxQueueBytes);
  metrics.set('parley_rate_limit_per_second', config.sendRatePerSec, { action: 'send' });
  metrics.set('parley_rate_limit_per_second', config.readRatePerSec, { action: 'read' });
  // Staleness in seconds: since the Unleash server's last answer, or since start before the first.
  const startedAt = Date.now();
  metrics.read('parley_flags_age_seconds', () => {
    if (!flagSource) return 0;
    const { fetchedAt } = flags.status();
    return (Date.now() - (fetchedAt ? Date.parse(fetchedAt) : startedAt)) / 1000;
  });
  let elu = performance.eventLoopUtilization();
  metrics.read('parley_event_loop_utilization', () => {
    const delta = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    return delta.utilization;
  });

  const context = (user: string, session: string): FlagContext => ({ userId: user, sessionId: session });
  const flagDebug = (slot: DebugSlot): boolean => flags.isEnabled('debug-session', context(slot.user, slot.session));
  let unsubscribe = (): void => {};

  return {
    metrics, flags, debug, alerts, logins, version: ver, context,
    attach({ hub, bus, fanout }) {
      metrics.read('parley_sessions', () => hub.size);
      metrics.read('parley_users', () => hub.users);
      const nodeCtx: FlagContext = {};
      const refresh = () => {
        fanout.variant = flags.isEnabled('fanout-batched', nodeCtx) ? 'batched' : 'control';
        metrics.set('parley_fanout_variant', fanout.variant === 'batched' ? 1 : 0, { variant: 'batched' });
        metrics.set('parley_fanout_variant', fanout.variant === 'batched' ? 0 : 1, { variant: 'control' });
        // The flag is re-read for every live session: newly listed users start, unlisted ones stop.
        for (const s of hub.all()) {
          const slot = debug.slot(s.id);
          if (!slot) continue;
          const want = flagDebug(slot);
          const bySession = debug.target('session', s.id);
          if (want && !bySession) debug.enable('session', s.id, config.debugMinutes, 'flag:debug-session', 'flag');
          else if (!want && bySession?.source === 'flag') debug.disable('session', s.id, 'flag:debug-session');
        }
      };
      refresh();
      unsubscribe = flags.onChange(refresh);
      return opsRoutes({
        metrics, alerts, debug, flags, hub, bus, log, adminToken: config.adminToken, debugMinutes: config.debugMinutes, debugMaxMinutes: config.debugMaxMinutes,
        flagsFile: path.resolve(config.flagsFile), unleashUrl: flagSource || undefined,
      });
    },
    mirrorSocial(stats) {
      const m = metrics;
      m.mirror('parley_presence_updates_total', { outcome: 'published' }, () => stats().presence.published);
      m.mirror('parley_presence_updates_total', { outcome: 'suppressed' }, () => stats().presence.suppressed);
      m.mirror('parley_presence_frames_total', { kind: 'batch' }, () => stats().presence.frames);
      m.mirror('parley_presence_frames_total', { kind: 'bulk' }, () => stats().presence.bulkFrames);
      m.mirror('parley_presence_items_total', undefined, () => stats().presence.items);
      m.mirror('parley_presence_expired_total', undefined, () => stats().presence.expired);
      const typing = { relayed: 'relayed', droppedDisabled: 'dropped_disabled', droppedPrivacy: 'dropped_privacy', droppedThrottled: 'dropped_throttled', droppedIdle: 'dropped_idle', filtered: 'filtered', expired: 'expired' } as const;
      for (const [field, outcome] of Object.entries(typing) as [keyof TypingStats, string][]) {
        m.mirror('parley_typing_events_total', { outcome }, () => stats().typing[field]);
      }
    },
    sessionStarted(slot) {
      if (!slot.on && flagDebug(slot)) debug.enable('session', slot.session, config.debugMinutes, 'flag:debug-session', 'flag');
    },
    async close() {
      unsubscribe();
      logins.flush();
      await alerts.stop();
      await flags.close();
      debug.close();
      try { sinkStream.flushSync(); } catch { /* not opened yet: nothing written */ }
      // Wait for the file to close: a process that exits first can crash in the stream's late open.
      const closed = new Promise<void>((resolve) => { sinkStream.once('close', () => resolve()); sinkStream.once('error', () => resolve()); });
      sinkStream.end();
      await Promise.race([closed, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    },
  };
}

/**
 * Every metric parley exports, defined once: name, type, help, unit, and the closed set of values
 * of each label. Code, alert rules, dashboards and docs/operations.md read this table; the
 * registry pre-creates every label combination so a series exists before its first event.
 */
import { CLOSES, ERRORS } from './errors.ts';
import { ALERT_NAMES } from './ops/alerts/rules.ts';
import { FLAG_NAMES } from './ops/flags/names.ts';
import { SERVER_OPS } from './protocol.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  readonly type: MetricType;
  readonly help: string;
  /** Base unit (Prometheus naming): seconds, bytes, or a count noun. */
  readonly unit: string;
  /** Label name → every value it can take; values outside the set are counted as "other". */
  readonly labels?: Readonly<Record<string, readonly string[]>>;
  readonly buckets?: readonly number[];
}

/** Request ops of the protocol, plus the ones the roster/presence layer adds, plus "invalid" for frames that failed to decode. */
/** Why a request was refused before it ran (see core/edge/budget.ts). */
export const REFUSAL_REASONS = ['busy', 'overloaded_inflight', 'overloaded_queued_bytes', 'overloaded_heap'] as const;

export const FRAME_IN_OPS = [
  'send', 'sync', 'history', 'chats', 'recv', 'room.create', 'room.join', 'room.leave', 'room.invite', 'room.members', 'ping',
  'friend.request', 'friend.accept', 'friend.decline', 'friend.cancel', 'friend.remove', 'roster', 'note.set', 'block', 'unblock', 'blocks',
  'presence', 'typing', 'read', 'readby', 'settings', 'search', 'invalid', 'other',
] as const;
/** Every server frame op of the protocol, plus "other" for a text the probe cannot read an op from. */
export const FRAME_OUT_OPS = [...SERVER_OPS, 'other'] as const;
/** Close reasons: the catalog's close names plus what the peer or the network did. */
export const CLOSE_REASONS = [...Object.keys(CLOSES), 'normal', 'going_away', 'abnormal', 'too_large', 'other'] as const;
/** Outcomes of a WebSocket upgrade: ok, the token check's refusals (core/edge/auth.ts), and the node's (core/server.ts). */
export const LOGIN_REASONS = ['ok', 'missing', 'malformed', 'bad_signature', 'invalid_claims', 'expired', 'unsupported_protocol', 'wrong_path', 'draining', 'overloaded', 'other'] as const;
/** Variants of the guarded fan-out path (flag `fanout-batched`). */
export const FANOUT_VARIANTS = ['control', 'batched'] as const;

/** How a session was put on its cursors: a sync with the client's cursors, a sync without (from the server's delivered cursors), or implicitly (no sync first). */
export const RESUME_KINDS = ['cursors', 'full', 'implicit'] as const;
/** REST resources under /api/v1, as `parley_rest_requests_total{route}` names them (core/edge/rest-probe.ts). */
export const REST_ROUTES = ['chats', 'chats.messages', 'chats.members', 'chats.read', 'chats.attachments', 'search', 'roster', 'blocks', 'settings', 'other'] as const;
/** How an attachment upload ended: stored, or the catalog code it was refused with (core/attachments). */
export const ATTACHMENT_RESULTS = ['stored', 'attachment_too_large', 'attachment_type', 'attachment_invalid', 'attachment_dimensions', 'attachment_stalled', 'not_member', 'blocked', 'overloaded', 'other'] as const;
/** Why attachments were deleted: never referenced within the grace period, their ephemeral chat lapsed, or their chat was gone. */
export const ATTACHMENT_DELETE_REASONS = ['unreferenced', 'expired', 'orphaned'] as const;
/** How a REST request ended: its status class, or aborted (the client left before the answer was written). */
export const REST_STATUSES = ['2xx', '3xx', '4xx', '5xx', 'aborted'] as const;
/** pino's levels, as `parley_log_lines_total{level}` counts them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** Coarser buckets for the per-op histogram: 28 ops × 11 series stays bounded. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const FANOUT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** Six buckets for the timings of a node's own chores (fan-out passes, catch-ups, probes, logins). */
const CHORE_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5];

export const METRICS = {
  parley_build_info: { type: 'gauge', unit: 'info', help: 'Constant 1, labelled with the running version.', labels: { version: ['current'] } },
  parley_connections: { type: 'gauge', unit: 'connections', help: 'Open WebSocket connections (upgraded, including ones still closing).' },
  parley_sessions: { type: 'gauge', unit: 'sessions', help: 'Live authenticated sessions registered in the hub.' },
  parley_logins_total: { type: 'counter', unit: 'logins', help: 'WebSocket upgrades by outcome: ok; refused by the token check (missing, malformed, bad_signature, invalid_claims, expired); refused by the node (unsupported_protocol, wrong_path, draining, overloaded).', labels: { reason: LOGIN_REASONS } },
  parley_access_log_lines_total: { type: 'counter', unit: 'lines', help: 'Refused-login access-log lines: written, or suppressed over the per-second budget (counted in one summary line a second).', labels: { kind: ['written', 'suppressed'] } },
  parley_frames_in_total: { type: 'counter', unit: 'frames', help: 'Frames received from clients, by op ("invalid": failed to decode).', labels: { op: FRAME_IN_OPS } },
  parley_frames_out_total: { type: 'counter', unit: 'frames', help: 'Frames written to clients, by op.', labels: { op: FRAME_OUT_OPS } },
  parley_errors_total: { type: 'counter', unit: 'errors', help: 'Error frames sent to WebSocket clients, by catalog code.', labels: { code: Object.keys(ERRORS) } },
  parley_closes_total: { type: 'counter', unit: 'closes', help: 'Closed WebSocket connections by reason (catalog close name or RFC 6455 class).', labels: { reason: CLOSE_REASONS } },
  parley_slow_consumer_closes_total: { type: 'counter', unit: 'closes', help: 'Connections closed with 4008 because the outbound queue exceeded maxQueueBytes.' },
  parley_rate_limited_total: { type: 'counter', unit: 'requests', help: 'Requests refused by a rate limit, by limited action.', labels: { action: ['send', 'read', 'typing', 'presence'] } },
  parley_requests_refused_total: { type: 'counter', unit: 'requests', help: 'Requests refused to bound work: busy (too many in flight on one connection) or overloaded (the node over its budget of in-flight requests, queued bytes or heap).', labels: { reason: REFUSAL_REASONS } },
  parley_inflight_requests: { type: 'gauge', unit: 'requests', help: 'Requests received and not yet answered, across every session of the node.' },
  parley_overloaded: { type: 'gauge', unit: 'boolean', help: '1 while the node refuses new work (over its budget) and /readyz reports not ready.' },
  parley_queue_bytes: { type: 'gauge', unit: 'bytes', help: 'Bytes waiting in outbound session queues (above the socket high-water mark).' },
  parley_messages_stored_total: { type: 'counter', unit: 'messages', help: 'Messages committed to the store (retried sends excluded).' },
  parley_messages_duplicate_total: { type: 'counter', unit: 'messages', help: 'Sends answered from the store because their cmid was already committed.' },
  parley_messages_delivered_total: { type: 'counter', unit: 'messages', help: 'Live message deliveries handed to sessions, by fan-out variant.', labels: { variant: FANOUT_VARIANTS } },
  parley_fanout_recipients: { type: 'histogram', unit: 'sessions', help: 'Local sessions one bus event reached, by fan-out variant.', labels: { variant: FANOUT_VARIANTS }, buckets: FANOUT_BUCKETS },
  parley_delivery_latency_seconds: { type: 'histogram', unit: 'seconds', help: 'Server-side latency from receiving a send to writing the message to a recipient socket, by fan-out variant.', labels: { variant: FANOUT_VARIANTS }, buckets: LATENCY_BUCKETS },
  parley_history_cache_lookups_total: { type: 'counter', unit: 'lookups', help: 'History pages and catch-ups asked of the hot cache, by result: hit (answered from the cache, in memory or in Redis) or miss (read from the store).', labels: { result: ['hit', 'miss'] } },
  parley_history_cache_evictions_total: { type: 'counter', unit: 'chats', help: 'Chats evicted from the in-memory hot cache to keep it within historyCacheBytes (0 with the cache in Redis: there the per-chat cap and historyCacheTtlMs bound it).' },
  parley_history_cache_bytes: { type: 'gauge', unit: 'bytes', help: 'Estimated bytes of the messages in the in-memory hot cache (0 with the cache in Redis: Redis reports its memory).' },
  parley_history_cache_chats: { type: 'gauge', unit: 'chats', help: 'Chats with messages in the in-memory hot cache (0 with the cache in Redis).' },
  parley_store_commit_seconds: { type: 'histogram', unit: 'seconds', help: 'Duration of one store transaction (group commit).', buckets: LATENCY_BUCKETS },
  parley_store_unavailable: { type: 'gauge', unit: 'boolean', help: '1 while the store refuses writes (disk full, I/O error, failed WAL flush): writes answer store_unavailable and /readyz reports not ready.' },
  parley_store_errors_total: { type: 'counter', unit: 'errors', help: 'Failed store transactions by kind: full (no space), io (I/O error, read-only disk), other; flush: a WAL fdatasync failed (counted once, a restart is needed).', labels: { kind: ['full', 'io', 'flush', 'other'] } },
  parley_store_batch_operations: { type: 'histogram', unit: 'operations', help: 'Operations applied in one store transaction.', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
  parley_pg_pool_connections: { type: 'gauge', unit: 'connections', help: 'PostgreSQL store: connections the pool holds open (busy and idle).' },
  parley_pg_pool_idle_connections: { type: 'gauge', unit: 'connections', help: 'PostgreSQL store: pooled connections waiting for work.' },
  parley_pg_pool_waiting_requests: { type: 'gauge', unit: 'requests', help: 'PostgreSQL store: requests waiting for a free pooled connection (above zero: the pool is the bottleneck).' },
  parley_pg_query_seconds: { type: 'histogram', unit: 'seconds', help: 'PostgreSQL store: duration of one statement, from sending it to its result.', buckets: LATENCY_BUCKETS },
  parley_pg_errors_total: { type: 'counter', unit: 'errors', help: 'PostgreSQL store failures by kind: unavailable (database unreachable or restarting: answered store_unavailable), retried (a deadlock or a cmid race, run again), other.', labels: { kind: ['unavailable', 'retried', 'other'] } },
  parley_bus_events_total: { type: 'counter', unit: 'events', help: 'Events received from the bus, by kind.', labels: { kind: ['msg', 'member', 'kick', 'presence', 'typing', 'read', 'friend', 'other'] } },
  parley_bus_up: { type: 'gauge', unit: 'boolean', help: '1 while the bus carries events (always 1 for the local bus); 0 while Redis is unreachable and /readyz reports bus_down.' },
  parley_bus_down_seconds: { type: 'gauge', unit: 'seconds', help: 'How long the bus has been unreachable (0 while it carries events): the node serves its local users and repairs from the store meanwhile.' },
  parley_bus_publishes_total: { type: 'counter', unit: 'publishes', help: 'Publishes to Redis by outcome (one per channel: a room message to 10 users is 10).', labels: { result: ['ok', 'error'] } },
  parley_bus_publish_seconds: { type: 'histogram', unit: 'seconds', help: 'Time from a publish to its reply from Redis.', buckets: LATENCY_BUCKETS },
  parley_bus_subscribes_total: { type: 'counter', unit: 'commands', help: 'Channel subscribe and unsubscribe commands sent to Redis, by outcome.', labels: { result: ['ok', 'error'] } },
  parley_bus_subscriptions: { type: 'gauge', unit: 'channels', help: 'Redis channels this node listens to (its local users plus the control channel).' },
  parley_bus_received_total: { type: 'counter', unit: 'events', help: 'Events received from Redis, by outcome: ok, or bad (not decodable, dropped).', labels: { result: ['ok', 'bad'] } },
  parley_bus_resyncs_total: { type: 'counter', unit: 'resyncs', help: 'Reconnections to Redis after which caches were dropped, channels resubscribed and cursors checked.' },
  parley_fanout_failures_total: { type: 'counter', unit: 'events', help: 'Committed changes whose publish to the bus failed, by event kind: never un-acked, receivers repair them from the store.', labels: { kind: ['msg', 'member', 'members', 'kick', 'roster', 'block', 'privacy', 'presence', 'node', 'typing', 'read', 'readby'] } },
  parley_gap_repairs_total: { type: 'counter', unit: 'repairs', help: 'Gaps in a live session filled from the store, by what revealed them: a seq that skipped, or the cursor check (a dropped last message).', labels: { trigger: ['seq', 'cursor_check'] } },
  parley_presence_updates_total: { type: 'counter', unit: 'updates', help: 'Presence changes of local users: published to the bus, or suppressed as no net change (a reconnect within the grace period).', labels: { outcome: ['published', 'suppressed'] } },
  parley_presence_frames_total: { type: 'counter', unit: 'frames', help: 'Presence frames pushed to observers: coalesced batches, and bulk frames on connect.', labels: { kind: ['batch', 'bulk'] } },
  parley_presence_items_total: { type: 'counter', unit: 'items', help: 'User entries carried by presence batch frames.' },
  parley_typing_events_total: { type: 'counter', unit: 'events', help: 'Typing indicators by outcome: relayed, dropped (flag or setting off, privacy, throttle, idle stop), receivers filtered, starts expired.', labels: { outcome: ['relayed', 'dropped_disabled', 'dropped_privacy', 'dropped_throttled', 'dropped_idle', 'filtered', 'expired'] } },
  parley_flag_evaluations_total: { type: 'counter', unit: 'evaluations', help: 'Feature-flag evaluations by flag and result.', labels: { flag: [...FLAG_NAMES, 'other'], result: ['enabled', 'disabled'] } },
  parley_flag_reloads_total: { type: 'counter', unit: 'reloads', help: 'Flag definition reloads by outcome.', labels: { result: ['ok', 'error'] } },
  parley_flags_stale: { type: 'gauge', unit: 'boolean', help: '1 while the Unleash server cannot be reached (or has not answered yet) and the node evaluates its last known flags (backup in the data dir, or the flags file).' },
  parley_debug_sessions: { type: 'gauge', unit: 'sessions', help: 'Sessions with debug logging switched on.' },
  parley_debug_log_lines_total: { type: 'counter', unit: 'lines', help: 'Debug log lines written for sessions in debug mode.' },
  parley_admin_requests_total: { type: 'counter', unit: 'requests', help: 'Admin API requests by outcome.', labels: { result: ['ok', 'unauthorized', 'error'] } },
  parley_alerts_firing: { type: 'gauge', unit: 'alerts', help: 'Alerts of the embedded evaluator currently firing (1) or not (0), by alert name.', labels: { alertname: ALERT_NAMES } },
  parley_alert_evaluations_total: { type: 'counter', unit: 'evaluations', help: 'Rounds of the embedded alert evaluator.' },
  parley_alerts_pending: { type: 'gauge', unit: 'alerts', help: 'Alerts of the embedded evaluator whose condition holds but not yet for their `for` duration (1) or not (0), by alert name.', labels: { alertname: ALERT_NAMES } },
  parley_alert_evaluation_seconds: { type: 'histogram', unit: 'seconds', help: 'Duration of one round of the embedded alert evaluator (snapshot and every rule).', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5] },
  parley_alert_notifications_total: { type: 'counter', unit: 'posts', help: 'Posts of the embedded evaluator to its alert webhook, by outcome.', labels: { result: ['ok', 'error'] } },
  parley_request_duration_seconds: { type: 'histogram', unit: 'seconds', help: 'Time from receiving a request frame to its answer (or error frame), by op.', labels: { op: FRAME_IN_OPS }, buckets: REQUEST_BUCKETS },
  parley_received_bytes_total: { type: 'counter', unit: 'bytes', help: 'Bytes of WebSocket frames received from clients.' },
  parley_sent_bytes_total: { type: 'counter', unit: 'bytes', help: 'Bytes of WebSocket frames written (or queued) to clients.' },
  parley_session_duration_seconds: { type: 'histogram', unit: 'seconds', help: 'Lifetime of a WebSocket session, from login to close.', buckets: [1, 10, 60, 300, 900, 3600, 14_400, 86_400] },
  parley_token_remaining_seconds: { type: 'histogram', unit: 'seconds', help: 'Remaining lifetime of the access token at login (short ones mean clients that will soon be closed with 4500).', buckets: [60, 300, 900, 3600, 14_400, 86_400, 604_800] },
  parley_resumes_total: { type: 'counter', unit: 'resumes', help: 'Sessions put on their cursors: cursors (a sync with the client\'s cursors), full (a sync without cursors: from the server\'s delivered cursors), implicit (no sync first).', labels: { kind: RESUME_KINDS } },
  parley_resume_chats: { type: 'histogram', unit: 'chats', help: 'Conversations one resume put on a cursor.', buckets: [0, 1, 2, 5, 10, 20, 50, 100, 500] },
  parley_fill_messages_total: { type: 'counter', unit: 'messages', help: 'Messages a session was sent from the store (catch-up after a resume or a gap) rather than live.' },
  parley_event_loop_utilization: { type: 'gauge', unit: 'ratio', help: 'Share of time the event loop was busy since the previous scrape (0..1): saturation before lag shows.' },
  parley_node_max_inflight: { type: 'gauge', unit: 'requests', help: 'Configured node budget of requests in flight (--node-max-inflight; 0: no bound): the overload threshold.' },
  parley_node_max_queued_bytes: { type: 'gauge', unit: 'bytes', help: 'Configured node budget of queued outbound bytes (--node-max-queued-bytes; 0: no bound).' },
  parley_heap_watermark_bytes: { type: 'gauge', unit: 'bytes', help: 'Heap used beyond which the node refuses new work (--heap-watermark-mb resolved; 0: no bound).' },
  parley_session_max_queue_bytes: { type: 'gauge', unit: 'bytes', help: 'Configured per-connection outbound queue bound (--max-queue-bytes): beyond it 4008 slow.' },
  parley_rate_limit_per_second: { type: 'gauge', unit: 'requests', help: 'Configured per-session token-bucket refill by action (--send-rate-per-sec; --read-rate-per-sec in cost units).', labels: { action: ['send', 'read'] } },
  parley_fanout_variant: { type: 'gauge', unit: 'info', help: '1 for the fan-out variant this node runs now (the fanout-batched flag), 0 for the other.', labels: { variant: FANOUT_VARIANTS } },
  parley_users: { type: 'gauge', unit: 'users', help: 'Users with at least one session on this node (parley_sessions counts their devices).' },
  parley_upgrades_pending: { type: 'gauge', unit: 'upgrades', help: 'WebSocket upgrades whose token check has not finished: climbing means token verification is the bottleneck of logins.' },
  parley_login_seconds: { type: 'histogram', unit: 'seconds', help: 'Time from a WebSocket upgrade request to its session\'s welcome frame (token check and handshake) for logins that succeeded.', buckets: CHORE_BUCKETS },
  parley_ping_rtt_seconds: { type: 'histogram', unit: 'seconds', help: 'Heartbeat round trip: the server\'s ping to the client\'s pong (network and client event loop).', buckets: [0.01, 0.05, 0.25, 1, 5] },
  parley_send_frame_bytes: { type: 'histogram', unit: 'bytes', help: 'Size of send frames received (the message body plus about 60 bytes of envelope).', buckets: [256, 1024, 4096, 16_384, 65_536] },
  parley_session_queue_peak_bytes: { type: 'histogram', unit: 'bytes', help: 'Largest outbound queue of a session over its life, observed at close: how near sessions come to the 4008 bound (parley_session_max_queue_bytes).', buckets: [0, 65_536, 262_144, 524_288, 1_048_576, 4_194_304] },
  parley_read_pauses_total: { type: 'counter', unit: 'pauses', help: 'Times a session stopped reading its socket for 100 ms after a refusal for overload.' },
  parley_close_timeouts_total: { type: 'counter', unit: 'closes', help: 'Sockets cut off because the peer did not answer the close handshake within 5 s.' },
  parley_fill_seconds: { type: 'histogram', unit: 'seconds', help: 'Duration of one catch-up of one chat from the store (after a resume or a gap), paced by the session\'s socket.', buckets: CHORE_BUCKETS },
  parley_fanout_dispatch_seconds: { type: 'histogram', unit: 'seconds', help: 'Time to hand bus events to local sessions, by fan-out variant: one message event (control) or one batched pass (batched).', labels: { variant: FANOUT_VARIANTS }, buckets: CHORE_BUCKETS },
  parley_cursor_check_seconds: { type: 'histogram', unit: 'seconds', help: 'Duration of one cursor check over every session (one store read each; cluster mode, every gapCheckMs and after a bus resync).', buckets: CHORE_BUCKETS },
  parley_presence_expired_total: { type: 'counter', unit: 'users', help: 'Remote users shown offline because their node stopped announcing them (a node died or lost the bus).' },
  parley_expiry_errors_total: { type: 'counter', unit: 'errors', help: 'Failed checks for lapsed ephemeral chats (their messages stay until a later check succeeds).' },
  parley_rest_requests_total: { type: 'counter', unit: 'requests', help: 'REST requests under /api/v1 by resource and outcome (status class, or aborted by the client).', labels: { route: REST_ROUTES, status: REST_STATUSES } },
  parley_rest_request_seconds: { type: 'histogram', unit: 'seconds', help: 'Time from a REST request to its answer being written, by resource.', labels: { route: REST_ROUTES }, buckets: [0.01, 0.1, 1, 5] },
  parley_attachment_uploads_total: { type: 'counter', unit: 'uploads', help: 'Attachment uploads by outcome: stored, or the code they were refused with (nothing is stored then).', labels: { result: ATTACHMENT_RESULTS } },
  parley_attachment_stored_bytes_total: { type: 'counter', unit: 'bytes', help: 'Bytes of attachments stored (after images were re-encoded; a content already stored under its hash counts again).' },
  parley_attachments_deleted_total: { type: 'counter', unit: 'attachments', help: 'Attachments deleted, by reason: unreferenced after attachmentGraceMs, with their lapsed ephemeral chat, or orphaned (their chat was gone).', labels: { reason: ATTACHMENT_DELETE_REASONS } },
  parley_sqlite_db_bytes: { type: 'gauge', unit: 'bytes', help: 'SQLite store: size of the database file, read at scrape.' },
  parley_sqlite_wal_bytes: { type: 'gauge', unit: 'bytes', help: 'SQLite store: size of the write-ahead log (the -wal file), read at scrape. It should stay near its checkpoint size; one that grows without end fills the disk.' },
  parley_data_dir_free_bytes: { type: 'gauge', unit: 'bytes', help: 'Free bytes (available to the node) on the filesystem of the data directory, read at scrape.' },
  parley_data_dir_size_bytes: { type: 'gauge', unit: 'bytes', help: 'Size of the filesystem of the data directory, read at scrape.' },
  parley_bus_outages_total: { type: 'counter', unit: 'outages', help: 'Times the Redis bus went down (a failed probe, publish or subscribe after it was up).' },
  parley_bus_probe_seconds: { type: 'histogram', unit: 'seconds', help: 'Round trip of the bus health probe (PING; CLUSTER INFO and a PING per master on a cluster), successful probes only.', buckets: CHORE_BUCKETS },
  parley_bus_published_bytes_total: { type: 'counter', unit: 'bytes', help: 'Bytes of events published to Redis (successful publishes).' },
  parley_bus_received_bytes_total: { type: 'counter', unit: 'bytes', help: 'Bytes of events received from Redis on channels this node listens to.' },
  parley_flag_fetches_total: { type: 'counter', unit: 'fetches', help: 'Unleash server answers by outcome: ok (new or unchanged definitions) or error (unreachable, 5xx, 404, 429).', labels: { result: ['ok', 'error'] } },
  parley_flags_age_seconds: { type: 'gauge', unit: 'seconds', help: 'With an Unleash server: seconds since its last answer (since start when none came yet); grows while the node serves stale flags. 0 with a flags file.' },
  parley_log_lines_total: { type: 'counter', unit: 'lines', help: 'Lines written by the node\'s main log, by level (lines below the configured level are not written and not counted).', labels: { level: LOG_LEVELS } },
  parley_metrics_scrape_seconds: { type: 'histogram', unit: 'seconds', help: 'Time to render GET /metrics.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25] },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
type Defs = typeof METRICS;
type LabelsOf<N extends MetricName> = Defs[N] extends { labels: infer L } ? { [K in keyof L]?: string } : Record<string, never>;
export type CounterName = { [N in MetricName]: Defs[N]['type'] extends 'counter' ? N : never }[MetricName];
export type GaugeName = { [N in MetricName]: Defs[N]['type'] extends 'gauge' ? N : never }[MetricName];
export type HistogramName = { [N in MetricName]: Defs[N]['type'] extends 'histogram' ? N : never }[MetricName];
export type Labels<N extends MetricName> = LabelsOf<N>;

/** What subsystems see of the metrics layer: bump, set, observe by catalog name. */
export interface Meter {
  inc<N extends CounterName>(name: N, labels?: Labels<N>, by?: number): void;
  add<N extends GaugeName>(name: N, delta: number, labels?: Labels<N>): void;
  set<N extends GaugeName>(name: N, value: number, labels?: Labels<N>): void;
  observe<N extends HistogramName>(name: N, value: number, labels?: Labels<N>): void;
}

/** A meter that records nothing: for subsystems built without a metrics layer (unit tests). */
export const NOOP_METER: Meter = { inc() {}, add() {}, set() {}, observe() {} };

/** Error codes the load generator counts besides the server's catalog codes (loadtest/requests.ts, runtime.ts, user.ts). */
export const LOAD_ERROR_CODES = [...Object.keys(ERRORS), 'timeout', 'user_connect_failed', 'user_failed', 'bad_json_from_server', 'other'] as const;
/** Phases of a load run, as `parley_load_phase{phase}` reports them. */
export const LOAD_PHASES = ['starting', 'running', 'aborting', 'done'] as const;
const LOAD_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const loadHist = (help: string): MetricDef => ({ type: 'histogram', unit: 'seconds', help, buckets: LOAD_LATENCY_BUCKETS });
const loadCount = (unit: string, help: string): MetricDef => ({ type: 'counter', unit, help });

/**
 * What a running `parley load --metrics-port` serves (loadtest/metrics-server.ts), defined here so
 * the docs and dashboards read one table. Every series also carries `scenario` (one value per run).
 * Latencies are the generator's HDR histograms, merged across workers, read into buckets at scrape.
 */
export const LOAD_METRICS = {
  parley_load_info: { type: 'gauge', unit: 'info', help: 'Constant 1 while a load generator runs, labelled with its scenario.' },
  parley_load_phase: { type: 'gauge', unit: 'boolean', help: '1 for the phase the run is in: starting (workers forked, users preparing), running, aborting (Ctrl-C or an abortOnFail threshold), done.', labels: { phase: LOAD_PHASES } },
  parley_load_workers: { type: 'gauge', unit: 'workers', help: 'Worker processes of this generator.' },
  parley_load_users: { type: 'gauge', unit: 'users', help: 'Simulated users planned for this generator (its segment).' },
  parley_load_elapsed_seconds: { type: 'gauge', unit: 'seconds', help: 'Time since the common start of the workers (0 before it).' },
  parley_load_connects_total: loadCount('connections', 'Successful connections (first connects and reconnects).'),
  parley_load_connect_failures_total: loadCount('connections', 'Connection attempts that failed (refused, HTTP error, timeout).'),
  parley_load_reconnects_total: loadCount('connections', 'Reconnections after a dropped connection.'),
  parley_load_scheduled_total: loadCount('sends', 'Sends the schedule asked for.'),
  parley_load_sent_total: loadCount('sends', 'Sends written to a socket.'),
  parley_load_acked_total: loadCount('sends', 'Sends acknowledged by the server.'),
  parley_load_refused_total: loadCount('sends', 'Sends the server answered with an error frame (code in parley_load_errors_total).'),
  parley_load_late_sends_total: loadCount('sends', 'Sends made later than the late tolerance after their intended time.'),
  parley_load_missed_sends_total: loadCount('sends', 'Scheduled sends never made (user disconnected for good, or the run ended first).'),
  parley_load_unacked_total: loadCount('sends', 'Sends without an ack at the end of the run (counted when the workers finish).'),
  parley_load_expected_total: loadCount('deliveries', 'Deliveries expected: acked sends times recipients.'),
  parley_load_delivered_total: loadCount('messages', 'Distinct messages received by their intended recipients.'),
  parley_load_delivered_unacked_total: loadCount('messages', 'Of delivered: messages whose send was never acked.'),
  parley_load_lost_total: loadCount('deliveries', 'Expected deliveries that never arrived (counted when the workers finish).'),
  parley_load_duplicated_total: loadCount('messages', 'Messages a recipient received more than once.'),
  parley_load_reordered_total: loadCount('messages', 'Messages that arrived after a later message of the same sender stream.'),
  parley_load_signals_total: loadCount('signals', 'Presence and typing signals sent.'),
  parley_load_signals_received_total: loadCount('signals', 'Presence and typing signals received by watchers.'),
  parley_load_signal_frames_total: loadCount('frames', 'Presence and typing frames received by watchers (a batched frame carries several signals).'),
  parley_load_signal_bytes_total: loadCount('bytes', 'Bytes of those frames.'),
  parley_load_requests_total: loadCount('requests', 'Other requests made (room.create, sync, REST calls).'),
  parley_load_errors_total: { type: 'counter', unit: 'errors', help: 'Error frames and failed operations by code (server catalog codes and the generator\'s own).', labels: { code: LOAD_ERROR_CODES } },
  parley_load_connect_seconds: loadHist('Intended arrival to welcome frame (TCP, upgrade, auth).'),
  parley_load_sync_seconds: loadHist('Sync sent to synced received.'),
  parley_load_first_msg_seconds: loadHist('Intended arrival (or reconnect) to the first msg frame received.'),
  parley_load_ack_seconds: loadHist('Intended send time to ack (response time, no coordinated omission; ack_ms of the result).'),
  parley_load_ack_actual_seconds: loadHist('Actual send time to ack (service time).'),
  parley_load_deliver_seconds: loadHist('Intended send time to the msg frame at each recipient (deliver_ms of the result).'),
  parley_load_deliver_actual_seconds: loadHist('Actual send time to the msg frame at each recipient.'),
  parley_load_catchup_seconds: loadHist('Reconnect to every missed message received (offline catch-up).'),
  parley_load_reconnect_seconds: loadHist('Connection dropped to welcome on the new connection.'),
  parley_load_presence_seconds: loadHist('Intended presence update to the event at each watcher.'),
  parley_load_typing_seconds: loadHist('Intended typing signal to the event at the peer.'),
  parley_load_http_seconds: loadHist('REST request to response.'),
  parley_load_schedule_lag_seconds: loadHist('How late the generator ran each scheduled action (generator health: a run whose p99 passes --max-lag is invalid).'),
} as const satisfies Record<string, MetricDef>;

export type LoadMetricName = keyof typeof LOAD_METRICS;

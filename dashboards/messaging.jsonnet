// parley messaging: the message path end to end. Per-op rates and latency, logins, fan-out,
// resumes and catch-up, the store, queues and slow consumers, the bus, and the overload budget.
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

local when(name, panels) = if q.has(name) then panels else [];

dashboard.new('messaging', 'parley / messaging', 'Requests by op, logins, fan-out, resumes, store, queues and the bus of parley nodes.', [
  p.row('Requests'),
  p.timeseries('Requests by op', [[q.rate('parley_frames_in_total', by=['op']), '{{op}}']], 'reqps', stack=true),
  p.timeseries('Request latency p99 by op', [[q.quantile('0.99', 'parley_request_duration_seconds', by=['op']), '{{op}}']], 's'),
  p.timeseries('Frames out by op', [[q.rate('parley_frames_out_total', by=['op']), '{{op}}']], 'reqps', stack=true),
  p.timeseries('Bytes in and out', [
    [q.rate('parley_received_bytes_total', by=['instance']), 'in {{instance}}'],
    [q.rate('parley_sent_bytes_total', by=['instance']), 'out {{instance}}'],
  ], 'Bps'),
  p.timeseries('REST requests by route and outcome', [[q.rate('parley_rest_requests_total', by=['route', 'status']), '{{route}} {{status}}']], 'reqps', stack=true),
  p.timeseries('REST latency p99 by route', [[q.quantile('0.99', 'parley_rest_request_seconds', by=['route']), '{{route}}']], 's'),

  p.row('Logins and sessions'),
  p.timeseries('Logins by reason', [[q.rate('parley_logins_total', by=['reason']), '{{reason}}']], 'reqps', threshold=q.threshold('ParleyLoginFailuresHigh')),
  p.timeseries('Refused-login log lines', [[q.rate('parley_access_log_lines_total', by=['kind']), '{{kind}}']], 'reqps'),
  p.timeseries('Session lifetime', [
    [q.quantile('0.5', 'parley_session_duration_seconds'), 'p50'],
    [q.quantile('0.99', 'parley_session_duration_seconds'), 'p99'],
  ], 's'),
  p.timeseries('Token lifetime left at login', [[q.quantile('0.1', 'parley_token_remaining_seconds'), 'p10']], 's'),
  p.timeseries('Login time (upgrade to welcome) and token checks in flight', [
    [q.quantile('0.5', 'parley_login_seconds'), 'p50 (s)'],
    [q.quantile('0.99', 'parley_login_seconds'), 'p99 (s)'],
    [q.gauge('parley_upgrades_pending', by=['instance']), 'pending {{instance}}'],
  ], 'short'),
  p.timeseries('Users and their sessions per node', [
    [q.gauge('parley_users', by=['instance']), 'users {{instance}}'],
    [q.gauge('parley_sessions', by=['instance']), 'sessions {{instance}}'],
  ], 'short'),
  p.timeseries('Heartbeat round trip (ping to pong)', [
    [q.quantile('0.5', 'parley_ping_rtt_seconds'), 'p50'],
    [q.quantile('0.99', 'parley_ping_rtt_seconds'), 'p99'],
  ], 's'),
  p.timeseries('Send frame size', [
    [q.quantile('0.5', 'parley_send_frame_bytes'), 'p50'],
    [q.quantile('0.99', 'parley_send_frame_bytes'), 'p99'],
  ], 'bytes'),

  p.row('Delivery'),
  p.timeseries('Delivered and stored', [
    [q.rate('parley_messages_stored_total'), 'stored'],
    [q.rate('parley_messages_delivered_total', by=['variant']), 'delivered {{variant}}'],
  ], 'reqps'),
  p.timeseries('Delivery latency p99 per node', [[q.quantile('0.99', 'parley_delivery_latency_seconds', by=['instance']), '{{instance}}']], 's', threshold=q.threshold('ParleyDeliveryLatencyHigh')),
  p.timeseries('Resumes by kind and catch-up from the store', [
    [q.rate('parley_resumes_total', by=['kind']), 'resume {{kind}}'],
    [q.rate('parley_fill_messages_total'), 'messages from the store'],
    [q.rate('parley_gap_repairs_total', by=['trigger']), 'gap repaired ({{trigger}})'],
  ], 'reqps'),
  p.timeseries('Chats per resume', [[q.quantile('0.99', 'parley_resume_chats'), 'p99']], 'short'),
  p.timeseries('Catch-up time per chat and cursor-check rounds', [
    [q.quantile('0.5', 'parley_fill_seconds'), 'catch-up p50'],
    [q.quantile('0.99', 'parley_fill_seconds'), 'catch-up p99'],
    [q.quantile('0.99', 'parley_cursor_check_seconds'), 'cursor check round p99'],
  ], 's'),
  p.timeseries('Fan-out pass time p99 by variant', [[q.quantile('0.99', 'parley_fanout_dispatch_seconds', by=['variant']), '{{variant}}']], 's'),

  p.row('Store'),
  p.timeseries('Commit time p99 per node', [[q.quantile('0.99', 'parley_store_commit_seconds', by=['instance']), '{{instance}}']], 's', threshold=q.threshold('ParleyStoreCommitSlow')),
] + when('parley_store_errors_total', [
  p.timeseries('Store errors by kind', [[q.rate('parley_store_errors_total', by=['kind']), '{{kind}}']], 'reqps'),
]) + when('parley_store_unavailable', [
  p.timeseries('Store refusing writes', [[q.gauge('parley_store_unavailable', 'max', by=['instance']), '{{instance}}']], 'short', threshold=0.5),
]) + when('parley_history_cache_lookups_total', [
  p.timeseries('Hot cache: hit ratio and evictions', [
    [q.rate('parley_history_cache_lookups_total', where='result="hit"') + ' / ' + q.rate('parley_history_cache_lookups_total'), 'hit ratio'],
    [q.rate('parley_history_cache_evictions_total'), 'evictions/s'],
  ], 'short'),
  p.timeseries('Hot cache size per node', [
    [q.gauge('parley_history_cache_bytes', by=['instance']), 'bytes {{instance}}'],
    [q.gauge('parley_history_cache_chats', by=['instance']), 'chats {{instance}}'],
  ], 'short'),
]) + [
  p.timeseries('SQLite database and write-ahead log', [
    [q.gauge('parley_sqlite_db_bytes', 'max', by=['instance']), 'database {{instance}}'],
    [q.gauge('parley_sqlite_wal_bytes', 'max', by=['instance']), 'WAL {{instance}}'],
  ], 'bytes', threshold=q.threshold('ParleySqliteWalLarge')),
  p.timeseries('Data directory disk: free of total', [
    [q.gauge('parley_data_dir_free_bytes', 'min', by=['instance']) + ' / ' + q.gauge('parley_data_dir_size_bytes', 'max', by=['instance']), 'free {{instance}}'],
  ], 'percentunit'),
  p.timeseries('Ephemeral-chat expiry check failures', [[q.rate('parley_expiry_errors_total', by=['instance']), '{{instance}}']], 'reqps'),

  p.row('Attachments'),
  p.timeseries('Attachment uploads by outcome', [[q.rate('parley_attachment_uploads_total', by=['result']), '{{result}}']], 'reqps', stack=true),
  p.timeseries('Attachment bytes stored and attachments deleted', [
    [q.rate('parley_attachment_stored_bytes_total', by=['instance']), 'stored B/s {{instance}}'],
    [q.rate('parley_attachments_deleted_total', by=['reason']), 'deleted/s {{reason}}'],
  ], 'short'),

  p.row('Queues and overload'),
  p.timeseries('Outbound queue bytes vs the node budget', [
    [q.gauge('parley_queue_bytes', by=['instance']), 'queued {{instance}}'],
    [q.gauge('parley_node_max_queued_bytes', 'max', by=['instance']), 'budget {{instance}}'],
    [q.gauge('parley_session_max_queue_bytes', 'max'), 'per-connection bound'],
  ], 'bytes'),
  p.timeseries('Slow-consumer closes', [[q.rate('parley_slow_consumer_closes_total', by=['instance']), '{{instance}}']], 'reqps', threshold=q.threshold('ParleySlowConsumerCloses')),
  p.timeseries('Largest session queue at close vs the per-connection bound', [
    [q.quantile('0.99', 'parley_session_queue_peak_bytes'), 'p99 peak'],
    [q.gauge('parley_session_max_queue_bytes', 'max'), 'bound'],
  ], 'bytes'),
  p.timeseries('Sockets cut off and reads paused', [
    [q.rate('parley_close_timeouts_total', by=['instance']), 'close handshake timed out {{instance}}'],
    [q.rate('parley_read_pauses_total', by=['instance']), 'reads paused for overload {{instance}}'],
  ], 'reqps'),
  p.timeseries('In-flight requests vs the node budget', [
    [q.gauge('parley_inflight_requests', by=['instance']), 'in flight {{instance}}'],
    [q.gauge('parley_node_max_inflight', 'max', by=['instance']), 'budget {{instance}}'],
    [q.gauge('parley_overloaded', 'max', by=['instance']), 'overloaded {{instance}}'],
  ], 'short'),
  p.timeseries('Refused and rate-limited requests', [
    [q.rate('parley_requests_refused_total', by=['reason']), 'refused {{reason}}'],
    [q.rate('parley_rate_limited_total', by=['action']), 'rate-limited {{action}}'],
    [q.gauge('parley_rate_limit_per_second', 'max', by=['action']), 'limit {{action}}/s'],
  ], 'reqps', threshold=q.threshold('ParleyRateLimitHitsHigh')),

  p.row('Bus'),
  p.timeseries('Bus events by kind', [[q.rate('parley_bus_events_total', by=['kind']), '{{kind}}']], 'reqps', stack=true),
  p.timeseries('Bus publishes and subscriptions', [
    [q.rate('parley_bus_publishes_total', by=['result']), 'publish {{result}}'],
    [q.rate('parley_bus_subscribes_total', by=['result']), 'subscribe {{result}}'],
    [q.rate('parley_bus_received_total', by=['result']), 'received {{result}}'],
    [q.rate('parley_bus_resyncs_total'), 'resyncs'],
    [q.rate('parley_fanout_failures_total', by=['kind']), 'fan-out failed {{kind}}'],
  ], 'reqps'),
  p.timeseries('Bus publish time p99', [[q.quantile('0.99', 'parley_bus_publish_seconds'), 'p99']], 's'),
  p.timeseries('Bus bytes out and in', [
    [q.rate('parley_bus_published_bytes_total', by=['instance']), 'published {{instance}}'],
    [q.rate('parley_bus_received_bytes_total', by=['instance']), 'received {{instance}}'],
  ], 'Bps'),
  p.timeseries('Bus probe round trip and outages', [
    [q.quantile('0.99', 'parley_bus_probe_seconds', by=['instance']), 'probe p99 (s) {{instance}}'],
    [q.rate('parley_bus_outages_total', by=['instance']), 'outages/s {{instance}}'],
  ], 'short'),
  p.timeseries('Bus up and channels', [
    [q.gauge('parley_bus_up', 'min', by=['instance']), 'up {{instance}}'],
    [q.gauge('parley_bus_subscriptions', by=['instance']), 'channels {{instance}}'],
  ], 'short'),
])

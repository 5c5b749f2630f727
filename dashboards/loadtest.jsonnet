// parley load test: the live figures of a running `parley load --metrics-port` (scraped as job
// parley-load by `parley ops up --load`): sends and acks, deliveries and losses, latency from the
// intended time, connections, signals, and the generator's own health (a lagging generator is invalid).
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

// p50 and p99 of a latency histogram, per scenario.
local latency(title, name, description='', threshold=null) = p.timeseries(title, [
  [q.quantile('0.5', name, by=['scenario']), 'p50 {{scenario}}'],
  [q.quantile('0.99', name, by=['scenario']), 'p99 {{scenario}}'],
], 's', description, threshold=threshold);

dashboard.new('loadtest', 'parley / load test', 'Live figures of running parley load generators. The nightly history is a JSONL file (nightly/history.ts), not a Prometheus source: its primary metrics are on the nightly report page.', [
  p.stat('Generators by scenario', q.gauge('parley_load_info', 'count', by=['scenario']), 'short'),
  p.stat('Running generators', q.gauge('parley_load_phase', 'sum', where='phase="running"'), 'short', 'Generators in their running phase (others: starting, aborting, done).'),
  p.stat('Workers', q.gauge('parley_load_workers'), 'short'),
  p.stat('Users planned', q.gauge('parley_load_users'), 'short'),

  p.row('Sends'),
  p.timeseries('Sends per second', [
    [q.rate('parley_load_scheduled_total', by=['scenario']), 'scheduled {{scenario}}'],
    [q.rate('parley_load_sent_total', by=['scenario']), 'sent {{scenario}}'],
    [q.rate('parley_load_acked_total', by=['scenario']), 'acked {{scenario}}'],
    [q.rate('parley_load_refused_total', by=['scenario']), 'refused {{scenario}}'],
  ], 'reqps'),
  p.timeseries('Sends late, missed and never acked', [
    [q.rate('parley_load_late_sends_total', by=['scenario']), 'late {{scenario}}'],
    [q.rate('parley_load_missed_sends_total', by=['scenario']), 'missed {{scenario}}'],
    [q.gauge('parley_load_unacked_total', 'sum', by=['scenario']), 'unacked at the end {{scenario}}'],
  ], 'short', 'Late: after the late tolerance; missed: never made; unacked: counted when the workers finish.'),
  latency('Ack latency (from the intended send time)', 'parley_load_ack_seconds', 'Response time without coordinated omission: ack_ms of the result.'),
  latency('Ack service time (from the actual send)', 'parley_load_ack_actual_seconds'),

  p.row('Deliveries'),
  p.timeseries('Deliveries per second', [
    [q.rate('parley_load_expected_total', by=['scenario']), 'expected {{scenario}}'],
    [q.rate('parley_load_delivered_total', by=['scenario']), 'delivered {{scenario}}'],
    [q.rate('parley_load_delivered_unacked_total', by=['scenario']), 'delivered, never acked {{scenario}}'],
  ], 'reqps'),
  p.timeseries('Lost, duplicated and reordered', [
    [q.gauge('parley_load_lost_total', 'sum', by=['scenario']), 'lost {{scenario}}'],
    [q.gauge('parley_load_duplicated_total', 'sum', by=['scenario']), 'duplicated {{scenario}}'],
    [q.gauge('parley_load_reordered_total', 'sum', by=['scenario']), 'reordered {{scenario}}'],
  ], 'short', 'Totals of the run: anything above zero breaks the delivery promise (lost is counted when the workers finish).', threshold=0.5),
  latency('Delivery latency (from the intended send time)', 'parley_load_deliver_seconds', 'deliver_ms of the result: at each recipient.'),
  latency('Delivery latency (from the actual send)', 'parley_load_deliver_actual_seconds'),
  p.timeseries('Errors by code', [[q.rate('parley_load_errors_total', by=['code']), '{{code}}']], 'reqps'),
  latency('First message after arrival', 'parley_load_first_msg_seconds'),

  p.row('Connections'),
  p.timeseries('Connects, failures and reconnects', [
    [q.rate('parley_load_connects_total', by=['scenario']), 'connects {{scenario}}'],
    [q.rate('parley_load_connect_failures_total', by=['scenario']), 'failures {{scenario}}'],
    [q.rate('parley_load_reconnects_total', by=['scenario']), 'reconnects {{scenario}}'],
  ], 'reqps'),
  latency('Connect (arrival to welcome)', 'parley_load_connect_seconds'),
  latency('Sync (handshake after welcome)', 'parley_load_sync_seconds'),
  latency('Reconnect (drop to welcome)', 'parley_load_reconnect_seconds'),
  latency('Offline catch-up', 'parley_load_catchup_seconds'),

  p.row('Presence, typing and REST'),
  p.timeseries('Signals sent and received', [
    [q.rate('parley_load_signals_total', by=['scenario']), 'sent {{scenario}}'],
    [q.rate('parley_load_signals_received_total', by=['scenario']), 'received {{scenario}}'],
    [q.rate('parley_load_signal_frames_total', by=['scenario']), 'frames {{scenario}}'],
  ], 'reqps'),
  p.timeseries('Signal bytes per second at watchers', [[q.rate('parley_load_signal_bytes_total', by=['scenario']), '{{scenario}}']], 'Bps'),
  latency('Presence (update to each watcher)', 'parley_load_presence_seconds'),
  latency('Typing (signal to the peer)', 'parley_load_typing_seconds'),
  latency('REST requests', 'parley_load_http_seconds'),
  p.timeseries('Other requests per second', [[q.rate('parley_load_requests_total', by=['scenario']), '{{scenario}}']], 'reqps'),

  p.row('Generator health'),
  latency('Schedule lag', 'parley_load_schedule_lag_seconds', 'How late the generator ran its actions: a p99 over --max-lag (default 25 ms, the line) makes the run invalid.', threshold=0.025),
  p.timeseries('Elapsed since the start', [[q.gauge('parley_load_elapsed_seconds', 'max', by=['instance', 'scenario']), '{{scenario}} {{instance}}']], 's'),
], info='parley_load_info')

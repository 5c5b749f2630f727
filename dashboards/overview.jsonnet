// parley overview: what on-call opens first. Traffic, errors and latency (RED), then the store,
// connections, chatter (presence/typing next to messages) and the runtime.
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

dashboard.new('overview', 'parley / overview', 'Traffic, errors, latency, store, connections and runtime of parley nodes.', [
  p.stat('Sessions', q.gauge('parley_sessions'), 'short', 'Live authenticated sessions.'),
  p.stat('Messages/s', q.rate('parley_messages_stored_total'), 'reqps', 'Messages committed per second.'),
  p.stat('Alerts firing', q.gauge('parley_alerts_firing'), 'short', 'Alerts of the embedded evaluator now firing.', threshold=1),
  p.stat('Delivery p99', q.quantile('0.99', 'parley_delivery_latency_seconds'), 's', 'Server-side receive to socket write.', threshold=0.5),

  p.row('Messages'),
  p.timeseries('Messages stored and delivered', [
    [q.rate('parley_messages_stored_total'), 'stored'],
    [q.rate('parley_messages_duplicate_total'), 'retries answered from the store'],
    [q.rate('parley_messages_delivered_total'), 'delivered'],
  ], 'reqps'),
  p.timeseries('Delivery latency (receive → socket write)', [
    [q.quantile('0.5', 'parley_delivery_latency_seconds'), 'p50'],
    [q.quantile('0.99', 'parley_delivery_latency_seconds'), 'p99'],
  ], 's', threshold=0.5),
  p.timeseries('Fan-out size', [
    [q.quantile('0.5', 'parley_fanout_recipients'), 'p50'],
    [q.quantile('0.99', 'parley_fanout_recipients'), 'p99'],
  ], 'short'),
  p.timeseries('Frames in by op', [[q.rate('parley_frames_in_total', by=['op']), '{{op}}']], 'reqps', stack=true),

  p.row('Errors'),
  p.timeseries('Error frames by code', [[q.rate('parley_errors_total', by=['code']), '{{code}}']], 'reqps', stack=true),
  p.timeseries('Closes by reason', [[q.rate('parley_closes_total', by=['reason']), '{{reason}}']], 'reqps', stack=true),
  p.timeseries('Rate-limit refusals', [[q.rate('parley_rate_limited_total', by=['action']), '{{action}}']], 'reqps'),
  p.timeseries('Logins by reason', [[q.rate('parley_logins_total', by=['reason']), '{{reason}}']], 'reqps'),

  p.row('Store'),
  p.timeseries('Commit time', [
    [q.quantile('0.5', 'parley_store_commit_seconds'), 'p50'],
    [q.quantile('0.99', 'parley_store_commit_seconds'), 'p99'],
  ], 's', threshold=0.25),
  p.timeseries('Operations per commit (group commit)', [
    [q.quantile('0.5', 'parley_store_batch_operations'), 'p50'],
    [q.quantile('0.99', 'parley_store_batch_operations'), 'p99'],
  ], 'short'),

  p.row('Connections'),
  p.timeseries('Sessions and connections', [
    [q.gauge('parley_sessions', by=['instance']), 'sessions {{instance}}'],
    [q.gauge('parley_connections', by=['instance']), 'connections {{instance}}'],
  ], 'short'),
  p.timeseries('Outbound queue bytes and slow-consumer closes', [
    [q.gauge('parley_queue_bytes', by=['instance']), 'queued {{instance}}'],
    [q.rate('parley_slow_consumer_closes_total'), 'slow closes/s'],
  ], 'short'),

  p.row('Chatter'),
  p.timeseries('Presence and typing next to messages', [
    [q.rate('parley_frames_in_total', 'op="presence"'), 'presence in'],
    [q.rate('parley_frames_in_total', 'op="typing"'), 'typing in'],
    [q.rate('parley_presence_frames_total'), 'presence frames out'],
    [q.rate('parley_messages_stored_total'), 'messages'],
  ], 'reqps'),
  p.timeseries('Presence coalescing and typing outcomes', [
    [q.rate('parley_presence_updates_total', by=['outcome']), 'presence {{outcome}}'],
    [q.rate('parley_typing_events_total', by=['outcome']), 'typing {{outcome}}'],
  ], 'reqps'),

  p.row('Runtime'),
  p.timeseries('Event-loop lag p99', [[q.runtime('nodejs_eventloop_lag_p99_seconds'), '{{instance}}']], 's', threshold=0.2),
  p.timeseries('Resident memory', [[q.runtime('process_resident_memory_bytes'), '{{instance}}']], 'bytes'),
])

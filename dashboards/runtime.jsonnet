// parley runtime: each node's process. Event loop, GC, heap against the overload watermark, CPU,
// handles, and the operability layer's own cost (scrapes, alert rounds, debug logging, admin).
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

local when(name, panels) = if q.has(name) then panels else [];

dashboard.new('runtime', 'parley / runtime', 'Event loop, GC, heap, CPU and handles per parley node, and the cost of its operability layer.', [
  p.stat('Nodes by version', q.gauge('parley_build_info', 'count', by=['version']), 'short', 'Nodes reporting each version: a deploy in progress shows two.'),
  p.row('Event loop'),
  p.timeseries('Event-loop lag', [
    [q.runtime('nodejs_eventloop_lag_p50_seconds'), 'p50 {{instance}}'],
    [q.runtime('nodejs_eventloop_lag_p99_seconds'), 'p99 {{instance}}'],
    [q.runtime('nodejs_eventloop_lag_max_seconds'), 'max {{instance}}'],
  ], 's', threshold=q.threshold('ParleyEventLoopLagHigh')),
  p.timeseries('Event-loop utilisation', [[q.gauge('parley_event_loop_utilization', 'max', by=['instance']), '{{instance}}']], 'percentunit', threshold=0.9),

  p.row('Memory and GC'),
  p.timeseries('Heap used vs the overload watermark', [
    [q.runtime('nodejs_heap_size_used_bytes'), 'used {{instance}}'],
    [q.runtime('nodejs_heap_size_total_bytes'), 'total {{instance}}'],
    [q.gauge('parley_heap_watermark_bytes', 'max', by=['instance']), 'watermark {{instance}}'],
  ], 'bytes'),
  p.timeseries('Resident and external memory', [
    [q.runtime('process_resident_memory_bytes'), 'rss {{instance}}'],
    [q.runtime('nodejs_external_memory_bytes'), 'external {{instance}}'],
  ], 'bytes'),
  p.timeseries('GC time per second by kind', [[q.runtimeRate('nodejs_gc_duration_seconds_sum', by=['instance', 'kind']), '{{kind}} {{instance}}']], 's'),
  p.timeseries('GC pauses per second', [[q.runtimeRate('nodejs_gc_duration_seconds_count'), '{{instance}}']], 'short'),

  p.row('CPU and handles'),
  p.timeseries('CPU', [[q.runtimeRate('process_cpu_seconds_total'), '{{instance}}']], 'percentunit'),
  p.timeseries('Active handles and open file descriptors', [
    [q.runtime('nodejs_active_handles_total'), 'handles {{instance}}'],
    [q.runtime('process_open_fds'), 'fds {{instance}}'],
  ], 'short'),

  p.row('Operability layer'),
  p.timeseries('/metrics render time p99', [[q.quantile('0.99', 'parley_metrics_scrape_seconds', by=['instance']), '{{instance}}']], 's'),
  p.timeseries('Embedded alert evaluator', [
    [q.rate('parley_alert_evaluations_total', by=['instance']), 'rounds/s {{instance}}'],
    [q.quantile('0.99', 'parley_alert_evaluation_seconds'), 'round p99 (s)'],
    [q.rate('parley_alert_notifications_total', by=['result']), 'webhook posts {{result}}/s'],
  ], 'short'),
  p.timeseries('Alerts pending and firing (embedded evaluator)', [
    [q.gauge('parley_alerts_pending', by=['alertname']), 'pending {{alertname}}'],
    [q.gauge('parley_alerts_firing', by=['alertname']), 'firing {{alertname}}'],
  ], 'short'),
  p.timeseries('Log lines by level', [[q.rate('parley_log_lines_total', by=['level']), '{{level}}']], 'reqps', stack=true),
  p.timeseries('Debug logging and admin API', [
    [q.gauge('parley_debug_sessions', by=['instance']), 'sessions in debug {{instance}}'],
    [q.rate('parley_debug_log_lines_total'), 'debug lines/s'],
    [q.rate('parley_admin_requests_total', by=['result']), 'admin {{result}}/s'],
  ], 'short'),
] + when('parley_flags_stale', [
  p.timeseries('Flags stale (Unleash unreachable)', [[q.gauge('parley_flags_stale', 'max', by=['instance']), '{{instance}}']], 'short', threshold=0.5),
  p.timeseries('Flags age and Unleash answers', [
    [q.gauge('parley_flags_age_seconds', 'max', by=['instance']), 'age (s) {{instance}}'],
    [q.rate('parley_flag_fetches_total', by=['result']), 'answers {{result}}/s'],
  ], 'short'),
]) + when('parley_pg_query_seconds', [
  p.row('PostgreSQL store'),
  p.timeseries('Query time p99', [[q.quantile('0.99', 'parley_pg_query_seconds'), 'p99']], 's'),
  p.timeseries('Pool', [
    [q.gauge('parley_pg_pool_connections', by=['instance']), 'connections {{instance}}'],
    [q.gauge('parley_pg_pool_idle_connections', by=['instance']), 'idle {{instance}}'],
    [q.gauge('parley_pg_pool_waiting_requests', by=['instance']), 'waiting {{instance}}'],
  ], 'short'),
  p.timeseries('PostgreSQL errors by kind', [[q.rate('parley_pg_errors_total', by=['kind']), '{{kind}}']], 'reqps'),
]))

// parley canary: the guarded hot path's variants side by side, and what the flags decided.
// Product engineers widen a rollout when "batched" matches or beats "control" here.
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';
local q = import 'lib/queries.libsonnet';

dashboard.new('canary', 'parley / canary', 'Fan-out variants (flag fanout-batched) compared, and flag evaluations.', [
  p.row('Fan-out: control vs batched'),
  p.timeseries('Delivery latency p99 by variant', [[q.quantile('0.99', 'parley_delivery_latency_seconds', by=['variant']), '{{variant}}']], 's'),
  p.timeseries('Delivery latency p50 by variant', [[q.quantile('0.5', 'parley_delivery_latency_seconds', by=['variant']), '{{variant}}']], 's'),
  p.timeseries('Deliveries by variant', [[q.rate('parley_messages_delivered_total', by=['variant']), '{{variant}}']], 'reqps'),
  p.timeseries('Fan-out size p99 by variant', [[q.quantile('0.99', 'parley_fanout_recipients', by=['variant']), '{{variant}}']], 'short'),

  p.row('Flags'),
  p.timeseries('Evaluations by flag and result', [[q.rate('parley_flag_evaluations_total', by=['flag', 'result']), '{{flag}} {{result}}']], 'reqps', stack=true),
  p.timeseries('Flag reloads', [[q.rate('parley_flag_reloads_total', by=['result']), '{{result}}']], 'reqps'),
  p.timeseries('Fan-out variant per node', [[q.gauge('parley_fanout_variant', 'max', 'variant="batched"', by=['instance']), 'batched {{instance}}']], 'short'),
  p.timeseries('Sessions in debug mode', [[q.gauge('parley_debug_sessions'), 'sessions']], 'short'),
  p.timeseries('Error frames during the rollout', [[q.rate('parley_errors_total', 'code!="rate_limited"', by=['code']), '{{code}}']], 'reqps', stack=true),
])

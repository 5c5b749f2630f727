// parley alerts: one panel per alert rule, drawn from the same definitions the embedded evaluator
// and the Prometheus rules use (core/ops/alerts/rules.ts), with the threshold as a line.
local catalog = import 'lib/catalog.json';
local dashboard = import 'lib/dashboard.libsonnet';
local p = import 'lib/panels.libsonnet';

local unitOf(rule) = if std.endsWith(rule.name, 'LatencyHigh') || std.endsWith(rule.name, 'Slow') || std.endsWith(rule.name, 'LagHigh') then 's' else 'short';

dashboard.new('alerts', 'parley / alerts', 'Every alert rule with its threshold; firing state from parley_alerts_firing.', [
  p.timeseries('Alerts firing', [['max by (alertname) (parley_alerts_firing{job=~"$job", instance=~"$instance"}) > 0', '{{alertname}}']], 'short'),
  p.row('Rules'),
] + [
  p.timeseries(
    rule.name + ' (' + rule.severity + ')',
    [[rule.query, rule.name]],
    unitOf(rule),
    rule.summary + ' Fires above ' + rule.threshold + ' for ' + rule['for'] + '. Runbook: ' + rule.runbook,
    threshold=rule.threshold,
  )
  for rule in catalog.alerts
])

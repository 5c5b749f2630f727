// PromQL builders. Every metric name is checked against the catalog generated from
// core/metrics.ts, so a dashboard cannot query a metric the server does not export.
local catalog = import 'catalog.json';
local config = import '../config.libsonnet';

local known(name) =
  assert std.objectHas(catalog.metrics, name) : 'dashboard queries unknown metric ' + name;
  name;

local sel(extra) = '{' + config.selector + (if extra == '' then '' else ', ' + extra) + '}';

{
  known:: known,
  sel:: sel,
  // Per-second rate of a counter, summed (optionally by labels).
  rate(name, where='', by=[]):: (
    local agg = if std.length(by) == 0 then 'sum' else 'sum by (' + std.join(', ', by) + ')';
    agg + '(rate(' + known(name) + sel(where) + '[' + config.rateWindow + ']))'
  ),
  // Quantile q of a histogram family, optionally split by labels.
  quantile(q, name, where='', by=[]):: (
    assert catalog.metrics[known(name)].type == 'histogram' : name + ' is not a histogram';
    'histogram_quantile(' + (if std.isString(q) then q else std.toString(q)) + ', sum by (' + std.join(', ', ['le'] + by) + ') (rate(' + name + '_bucket' + sel(where) + '[' + config.rateWindow + '])))'
  ),
  // A gauge aggregated across instances.
  gauge(name, agg='sum', where='', by=[]):: (
    local head = if std.length(by) == 0 then agg else agg + ' by (' + std.join(', ', by) + ')';
    head + '(' + known(name) + sel(where) + ')'
  ),
  // A runtime metric from prom-client's default collectors (not in the application catalog).
  runtime(name, agg='max', where=''):: agg + ' by (instance) (' + name + sel(where) + ')',
  // Per-second rate of a runtime counter, per node.
  runtimeRate(name, where='', by=['instance']):: 'sum by (' + std.join(', ', by) + ') (rate(' + name + sel(where) + '[' + config.rateWindow + ']))',
  // Whether the catalog defines a metric: panels of metrics another subsystem has not shipped yet are left out.
  has(name):: std.objectHas(catalog.metrics, name),
  // The threshold of an alert rule, so a panel draws the line the page fires at.
  threshold(alert):: (
    local found = [a.threshold for a in catalog.alerts if a.name == alert];
    assert std.length(found) == 1 : 'dashboard names unknown alert ' + alert;
    found[0]
  ),
}

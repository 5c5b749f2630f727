// Panel builders in the shape Grafana 10+ imports: time series, stat, and rows.
local config = import '../config.libsonnet';

local ds = { type: 'prometheus', uid: '${datasource}' };

local target(expr, legend='', i=0) = {
  datasource: ds,
  expr: expr,
  legendFormat: legend,
  refId: std.char(65 + i),
};

local thresholdSteps(threshold) =
  if threshold == null then [{ color: 'green', value: null }]
  else [{ color: 'green', value: null }, { color: 'red', value: threshold }];

{
  // targets: [[expr, legend], ...]
  timeseries(title, targets, unit='short', description='', threshold=null, stack=false):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: ds,
    targets: [target(targets[i][0], targets[i][1], i) for i in std.range(0, std.length(targets) - 1)],
    fieldConfig: {
      defaults: {
        unit: unit,
        thresholds: { mode: 'absolute', steps: thresholdSteps(threshold) },
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: if stack then 20 else 0,
          stacking: { mode: if stack then 'normal' else 'none' },
          thresholdsStyle: { mode: if threshold == null then 'off' else 'line+area' },
        },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi', sort: 'desc' } },
  },

  stat(title, expr, unit='short', description='', threshold=null):: {
    type: 'stat',
    title: title,
    description: description,
    datasource: ds,
    targets: [target(expr, '', 0)],
    fieldConfig: { defaults: { unit: unit, thresholds: { mode: 'absolute', steps: thresholdSteps(threshold) } }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value', graphMode: 'area' },
  },

  row(title):: { type: 'row', title: title, collapsed: false, panels: [] },
}

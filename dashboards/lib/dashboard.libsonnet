// Dashboard assembly: variables, and a layout that places panels left to right in rows so that
// main files list panels without coordinates.
local config = import '../config.libsonnet';

local width(p) = if p.type == 'row' then 24 else if p.type == 'stat' then 6 else 12;
local height(p) = if p.type == 'row' then 1 else if p.type == 'stat' then 4 else 8;

// Folds panels into positions: a row starts a new line; other panels wrap at 24 columns.
local layout(panels) =
  local step(acc, p) =
    local w = width(p);
    local h = height(p);
    local wrap = p.type == 'row' || acc.x + w > 24;
    local x = if wrap then 0 else acc.x;
    local y = if wrap then acc.y + acc.h else acc.y;
    {
      x: if p.type == 'row' then 24 else x + w,
      y: y,
      h: if wrap then h else std.max(acc.h, h),
      out: acc.out + [p { id: std.length(acc.out) + 1, gridPos: { x: x, y: y, w: w, h: h } }],
    };
  std.foldl(step, panels, { x: 0, y: 0, h: 0, out: [] }).out;

{
  // info: the metric whose job/instance labels fill the variables (a load generator has its own).
  new(uid, title, description, panels, info='parley_build_info'):: {
    uid: config.uidPrefix + uid,
    title: title,
    description: description,
    tags: config.tags,
    editable: true,
    schemaVersion: 39,
    refresh: config.refresh,
    time: { from: config.timeFrom, to: 'now' },
    timezone: 'utc',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: config.datasource, label: 'Data source' },
        {
          name: 'job', type: 'query', label: 'Job', datasource: { type: 'prometheus', uid: '${datasource}' },
          query: 'label_values(' + info + ', job)', includeAll: true, multi: true, allValue: '.*', refresh: 2,
        },
        {
          name: 'instance', type: 'query', label: 'Node', datasource: { type: 'prometheus', uid: '${datasource}' },
          query: 'label_values(' + info + '{job=~"$job"}, instance)', includeAll: true, multi: true, allValue: '.*', refresh: 2,
        },
      ],
    },
    // Alert transitions (Prometheus' ALERTS series) and deployments (a node's process restarted).
    // The query sits in target, where Grafana's Prometheus datasource moves a top-level expr/step.
    annotations: {
      list: [
        {
          name: 'Alerts', enable: true, iconColor: 'red', datasource: { type: 'prometheus', uid: '${datasource}' },
          target: { refId: 'Alerts', expr: 'ALERTS{alertstate="firing", job=~"$job", instance=~"$instance"}', interval: '30s' },
          titleFormat: '{{alertname}}', textFormat: '{{instance}}', useValueForTime: false,
        },
        {
          name: 'Deployments', enable: true, iconColor: 'blue', datasource: { type: 'prometheus', uid: '${datasource}' },
          target: { refId: 'Deployments', expr: 'changes(process_start_time_seconds{job=~"$job", instance=~"$instance"}[2m]) > 0', interval: '60s' },
          titleFormat: 'restart', textFormat: '{{instance}} ({{job}})',
        },
      ],
    },
    // Every parley dashboard links to the others (Grafana lists dashboards by tag).
    links: [{ type: 'dashboards', title: 'parley', tags: config.tags, asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '' }],
    panels: layout(panels),
  },
}

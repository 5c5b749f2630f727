/**
 * The rules for a parley dashboard that Grafana's Dashboard type cannot express. The field types,
 * required fields and enumerations of the model (variable, link and cursor-sync kinds, threshold
 * modes, unknown fields) are checked against @grafana/schema itself, by type-checking each rendered
 * JSON (grafana-types.test.ts). What the types leave as plain strings and numbers is checked here:
 * uid shape (1-40 characters of A-Z a-z 0-9 _ -), schemaVersion of at least 36, no fixed id, panel
 * types among the plugins Grafana ships, panel ids unique, gridPos inside the 24-column grid,
 * threshold steps starting with the base step, at least one target per panel with a unique refId
 * and a PromQL expr, and a datasource and query on every query variable. A few checks overlap the
 * types (title, time, graphTooltip, link type) so this one reads on its own.
 */

const PANEL_TYPES = new Set(['timeseries', 'stat', 'gauge', 'table', 'row', 'text', 'bargauge', 'heatmap', 'logs', 'alertlist']);
const VARIABLE_TYPES = ['query', 'custom', 'textbox', 'constant', 'datasource', 'interval', 'adhoc'];
const LINK_TYPES = new Set(['link', 'dashboards']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Every structural problem of `d`, each as "path: what is required"; empty when it conforms. */
export function dashboardProblems(d: unknown): string[] {
  const out: string[] = [];
  if (!isObj(d)) return ['dashboard: an object is required'];
  if (!isStr(d.title) || d.title === '') out.push('title: a non-empty string is required');
  if (!isStr(d.uid) || d.uid.length < 1 || d.uid.length > 40 || !/^[A-Za-z0-9_-]+$/.test(d.uid)) out.push('uid: 1-40 characters of A-Z a-z 0-9 _ - are required');
  if (!isNum(d.schemaVersion) || d.schemaVersion < 36) out.push('schemaVersion: a number of at least 36 is required');
  if (!isObj(d.time) || !isStr(d.time.from) || !isStr(d.time.to)) out.push('time: {from, to} strings are required');
  if (d.refresh !== undefined && d.refresh !== false && !isStr(d.refresh)) out.push('refresh: a string or false');
  if (d.graphTooltip !== undefined && ![0, 1, 2].includes(d.graphTooltip as number)) out.push('graphTooltip: 0, 1 or 2');
  if (d.tags !== undefined && !(Array.isArray(d.tags) && d.tags.every(isStr))) out.push('tags: an array of strings');
  if ('id' in d && d.id !== null) out.push('id: must be omitted or null (Grafana assigns it)');

  const vars = isObj(d.templating) && Array.isArray(d.templating.list) ? d.templating.list : undefined;
  if (!vars) out.push('templating.list: an array is required');
  vars?.forEach((v: unknown, i) => {
    if (!isObj(v) || !isStr(v.name) || v.name === '') out.push(`templating.list[${i}]: name is required`);
    else if (!VARIABLE_TYPES.includes(v.type as string)) out.push(`templating.list[${i}]: type must be one of ${VARIABLE_TYPES.join(', ')}`);
    else if (v.type === 'query' && (!isStr(v.query) || !isObj(v.datasource))) out.push(`templating.list[${i}]: a query variable needs query and datasource`);
  });

  const anns = isObj(d.annotations) && Array.isArray(d.annotations.list) ? d.annotations.list : undefined;
  if (!anns) out.push('annotations.list: an array is required');
  anns?.forEach((a: unknown, i) => {
    if (!isObj(a) || !isStr(a.name) || typeof a.enable !== 'boolean' || !isStr(a.iconColor) || !isObj(a.datasource)) out.push(`annotations.list[${i}]: name, enable, iconColor and datasource are required`);
  });

  if (d.links !== undefined && !Array.isArray(d.links)) out.push('links: an array');
  (Array.isArray(d.links) ? d.links : []).forEach((l: unknown, i) => {
    if (!isObj(l) || !isStr(l.title) || !LINK_TYPES.has(l.type as string)) out.push(`links[${i}]: title and type (link or dashboards) are required`);
  });

  if (!Array.isArray(d.panels)) return [...out, 'panels: an array is required'];
  const ids = new Set<number>();
  d.panels.forEach((p: unknown, i) => {
    const at = `panels[${i}]`;
    if (!isObj(p)) { out.push(`${at}: an object is required`); return; }
    if (!PANEL_TYPES.has(p.type as string)) out.push(`${at}: type must be a panel plugin id (${[...PANEL_TYPES].join(', ')})`);
    if (!isNum(p.id) || ids.has(p.id)) out.push(`${at}: id must be a number unique in the dashboard`);
    else ids.add(p.id);
    const g = p.gridPos;
    if (!isObj(g) || ![g.x, g.y, g.w, g.h].every(isNum)) out.push(`${at}: gridPos {x, y, w, h} of numbers is required`);
    else if ((g.w as number) < 1 || (g.x as number) + (g.w as number) > 24 || (g.h as number) < 1) out.push(`${at}: gridPos must fit the 24-column grid`);
    if (!isStr(p.title)) out.push(`${at}: title is required`);
    if (p.type === 'row') { if (!Array.isArray(p.panels)) out.push(`${at}: a row needs panels (an array)`); return; }
    if (!isObj(p.fieldConfig) || !isObj(p.fieldConfig.defaults) || !Array.isArray(p.fieldConfig.overrides)) out.push(`${at}: fieldConfig {defaults, overrides} is required`);
    const steps = isObj(p.fieldConfig) && isObj(p.fieldConfig.defaults) && isObj(p.fieldConfig.defaults.thresholds) ? p.fieldConfig.defaults.thresholds.steps : undefined;
    if (steps !== undefined && (!Array.isArray(steps) || (steps[0] as Json | undefined)?.value !== null)) out.push(`${at}: thresholds.steps must start with the base step (value null)`);
    if (!Array.isArray(p.targets) || p.targets.length === 0) { out.push(`${at}: targets (at least one) are required`); return; }
    const refs = new Set<string>();
    p.targets.forEach((t: unknown, j) => {
      if (!isObj(t) || !isStr(t.refId) || t.refId === '' || refs.has(t.refId)) out.push(`${at}.targets[${j}]: refId must be a non-empty string unique in its panel`);
      else refs.add(t.refId);
      if (!isObj(t) || !isStr(t.expr) || t.expr === '') out.push(`${at}.targets[${j}]: expr (PromQL) is required`);
    });
  });
  return out;
}

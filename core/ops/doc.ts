/**
 * The generated parts of docs/operations.md: the metric, alert, flag and ops-setting tables are
 * rendered from their one definition each, between `<!-- generated:NAME -->` and
 * `<!-- /generated:NAME -->`, so the on-call guide cannot drift from the code.
 *
 *   node --import tsx core/ops/doc.ts           exits 1 when docs/operations.md is stale
 *   node --import tsx core/ops/doc.ts --write   regenerates it (npm run docs:operations)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { conditionQL } from './alerts/expr.ts';
import { ALERTS } from './alerts/rules.ts';
import { SETTINGS } from '../config.ts';
import { FLAGS } from './flags/names.ts';
import { LOAD_METRICS, METRICS, type MetricDef } from '../metrics.ts';

export const OPERATIONS_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/operations.md');

const OPS_SETTINGS = ['opsHost', 'opsPort', 'adminToken', 'flagsFile', 'flagsPollMs', 'unleashUrl', 'unleashApiToken', 'alertIntervalMs', 'alertWebhookUrl', 'debugMinutes', 'debugMaxMinutes', 'debugRingSize', 'debugLineBudget', 'debugLogFile', 'logLevel'] as const;

const cell = (s: string) => s.replace(/\|/g, '\\|');
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function metricsTable(metrics: Record<string, MetricDef> = METRICS): string {
  const rows = Object.entries(metrics).map(([name, d]) => {
    const labels = Object.entries(d.labels ?? {}).map(([k, v]) => `\`${k}\` (${v.length})`).join(', ') || '-';
    const series = Object.values(d.labels ?? {}).reduce((n, v) => n * v.length, 1) * (d.type === 'histogram' ? (d.buckets?.length ?? 0) + 3 : 1);
    return `| \`${name}\` | ${d.type} | ${d.unit} | ${labels} | ${series} | ${cell(d.help)} |`;
  });
  return ['| metric | type | unit | labels (values) | series | meaning |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

function alertsTable(): string {
  const rows = ALERTS.map((a) => `| ${a.name} | ${a.severity} | \`${cell(conditionQL(a))}\` | ${a.for} | ${a.keepFiringFor} | ${cell(a.summary)} |`);
  return ['| alert | severity | condition (PromQL) | for | keep firing for | summary |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

function flagsTable(): string {
  const rows = Object.entries(FLAGS).map(([name, f]) => `| \`${name}\` | ${f.default ? 'on' : 'off'} | ${cell(f.doc)} |`);
  return ['| flag | default (when missing) | what it does |', '| --- | --- | --- |', ...rows].join('\n');
}

function settingsTable(): string {
  const rows = OPS_SETTINGS.map((name) => {
    const s = SETTINGS[name] as { default: unknown; doc: string };
    const env = `PARLEY_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    return `| \`--${kebab(name)}\` | \`${env}\` | ${s.default === undefined ? '-' : `\`${String(s.default)}\``} | ${cell(s.doc)} |`;
  });
  return ['| flag | variable | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export const GENERATED: Record<string, () => string> = { metrics: () => metricsTable(), 'load-metrics': () => metricsTable(LOAD_METRICS), alerts: alertsTable, flags: flagsTable, settings: settingsTable };

/** The document with every generated block replaced by its current rendering. */
export function render(doc: string): string {
  let out = doc;
  for (const [name, fn] of Object.entries(GENERATED)) {
    const re = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`docs/operations.md has no generated:${name} block`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}${fn()}\n${b}`);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
  const fresh = render(doc);
  if (process.argv.includes('--write')) fs.writeFileSync(OPERATIONS_DOC, fresh);
  else if (fresh !== doc) { console.error('docs/operations.md is stale: run npm run docs:operations'); process.exit(1); }
}

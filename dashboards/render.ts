/**
 * Dashboards as code: the metric catalog and alert rules are exported as `lib/catalog.json`, the
 * jsonnet main files (`*.jsonnet` here) are rendered with the jsonnet binary into `rendered/`,
 * and `--check` fails when the committed JSON drifted from its sources.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ALERTS } from '../core/ops/alerts/rules.ts';
import { exprQL } from '../core/ops/alerts/expr.ts';
import { LOAD_METRICS, METRICS, type MetricDef } from '../core/metrics.ts';

const run = promisify(execFile);

/** The repository's dashboards/ folder, from source or from the compiled dist/. */
export function dashboardsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dashboards');
}

/** What the jsonnet sources may know of the server and the load generator: metric names, types, units, labels, and alert rules. */
export function catalogJson(): string {
  const metrics = Object.fromEntries(Object.entries({ ...METRICS, ...LOAD_METRICS } as Record<string, MetricDef>).map(([name, def]) => [
    name, { type: def.type, unit: def.unit, help: def.help, labels: Object.keys(def.labels ?? {}) },
  ]));
  const alerts = ALERTS.map((r) => ({
    name: r.name, severity: r.severity, query: exprQL(r.expr), threshold: r.threshold, for: r.for, summary: r.summary, runbook: r.runbook,
  }));
  return `${JSON.stringify({ generatedBy: 'parley dashboards render', metrics, alerts }, null, 2)}\n`;
}

export interface RenderResult {
  /** Rendered file name → JSON text. */
  files: Map<string, string>;
  /** Files whose committed copy differs (only when checking). */
  drifted: string[];
}

/** Renders every dashboard; writes them (and the catalog) unless `check`, which only compares. */
export async function renderDashboards(opts: { check?: boolean; dir?: string; jsonnet?: string } = {}): Promise<RenderResult> {
  const dir = opts.dir ?? dashboardsDir();
  const catalogFile = path.join(dir, 'lib', 'catalog.json');
  const catalog = catalogJson();
  const drifted: string[] = [];
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined);
  if (read(catalogFile) !== catalog) {
    if (opts.check) drifted.push('lib/catalog.json');
  }
  // jsonnet reads the catalog from disk: render from a scratch copy when only checking.
  const work = opts.check ? fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'parley-dash-')) : dir;
  if (opts.check) fs.cpSync(dir, work, { recursive: true });
  fs.mkdirSync(path.join(work, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(work, 'lib', 'catalog.json'), catalog);
  const files = new Map<string, string>();
  try {
    for (const main of fs.readdirSync(work).filter((f) => f.endsWith('.jsonnet')).sort()) {
      const { stdout } = await run(opts.jsonnet ?? 'jsonnet', ['-J', work, path.join(work, main)], { maxBuffer: 64 * 1024 * 1024 });
      const name = main.replace(/\.jsonnet$/, '.json');
      const text = `${JSON.stringify(JSON.parse(stdout), null, 2)}\n`;
      files.set(name, text);
      const target = path.join(dir, 'rendered', name);
      if (opts.check) { if (read(target) !== text) drifted.push(`rendered/${name}`); }
      else { fs.mkdirSync(path.dirname(target), { recursive: true }); fs.writeFileSync(target, text); }
    }
  } finally {
    if (opts.check) fs.rmSync(work, { recursive: true, force: true });
  }
  return { files, drifted };
}

export const DASHBOARDS_HELP = `usage: parley dashboards render [--check]

Renders the Grafana dashboards in dashboards/*.jsonnet (jsonnet binary required) into
dashboards/rendered/*.json, after exporting the metric catalog and alert rules to
dashboards/lib/catalog.json. --check writes nothing and exits 1 when a committed file drifted.`;

export async function dashboardsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'render' || rest.some((a) => a !== '--check')) {
    console.error(DASHBOARDS_HELP);
    return 2;
  }
  const check = rest.includes('--check');
  let result: RenderResult;
  try {
    result = await renderDashboards({ check });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    console.error(e.code === 'ENOENT' ? 'parley dashboards: the jsonnet binary is not installed (Debian: apt-get install jsonnet)' : `parley dashboards: ${e.stderr ?? e.message}`);
    return 1;
  }
  if (check && result.drifted.length) {
    console.error(`dashboards drifted from their sources: ${result.drifted.join(', ')}; run \`parley dashboards render\``);
    return 1;
  }
  console.log(`${check ? 'checked' : 'rendered'} ${[...result.files.keys()].join(', ')}`);
  return 0;
}

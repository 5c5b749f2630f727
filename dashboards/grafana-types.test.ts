// Every rendered dashboard type-checked against the Dashboard type of Grafana's own schema package
// (@grafana/schema, the classic dashboard JSON model), in-process with the TypeScript compiler:
// one virtual `const d: Dashboard = <json>;` per dashboard, strict, unknown fields reported.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { dashboardsDir } from './render.ts';

const OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts'],
  types: [],
};

// Two adjustments, no more: JSON carries a string enum's value, never its member (ThresholdsMode is
// "absolute" on the wire), and an annotation's target and display options belong to its datasource,
// which the schema leaves open through AnnotationQuery's type parameter: Prometheus' are declared here.
const PRELUDE = `import type { AnnotationQuery, Dashboard, DataQuery } from '@grafana/schema';
type Json<T> = T extends string ? \`\${T}\` : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
interface PromQuery extends DataQuery { expr: string; interval?: string }
interface PromAnnotation extends AnnotationQuery<PromQuery> { titleFormat?: string; textFormat?: string; tagKeys?: string; useValueForTime?: boolean }
type Checked = Json<Omit<Dashboard, 'annotations'> & { annotations?: { list?: PromAnnotation[] } }>;
`;

/** The diagnostics text of type-checking each `name → JSON text` as a Grafana Dashboard; '' per file that conforms. */
function typeErrors(dashboards: Map<string, string>): Map<string, string> {
  // Virtual files sit in dashboards/ so that '@grafana/schema' resolves from the repository's node_modules.
  const virtual = new Map([...dashboards].map(([name, json]) => [
    path.join(dashboardsDir(), `${name}.grafana-check.ts`),
    `${PRELUDE}const d: Checked = ${json.trim()};\nexport default d;\n`,
  ]));
  const host = ts.createCompilerHost(OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (file, lang, ...rest) => {
    const text = virtual.get(file);
    return text === undefined ? getSourceFile.call(host, file, lang, ...rest) : ts.createSourceFile(file, text, lang, true);
  };
  host.fileExists = (file) => virtual.has(file) || fileExists.call(host, file);
  host.readFile = (file) => virtual.get(file) ?? readFile.call(host, file);
  const program = ts.createProgram([...virtual.keys()], OPTIONS, host);
  const format: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dashboardsDir(), getNewLine: () => '\n' };
  const out = new Map<string, string>();
  const global = ts.formatDiagnostics([...program.getGlobalDiagnostics(), ...program.getOptionsDiagnostics()], format);
  [...dashboards.keys()].forEach((name, i) => {
    const file = program.getSourceFile([...virtual.keys()][i]!)!;
    out.set(name, global + ts.formatDiagnostics([...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)], format));
  });
  return out;
}

const renderedDir = path.join(dashboardsDir(), 'rendered');
const RENDERED = new Map(fs.readdirSync(renderedDir).filter((f) => f.endsWith('.json')).sort().map((f) => [f, fs.readFileSync(path.join(renderedDir, f), 'utf8')]));

describe("the rendered dashboards against @grafana/schema's Dashboard type", () => {
  it('type-check every rendered dashboard without a diagnostic', () => {
    expect(RENDERED.size).toBeGreaterThanOrEqual(7);
    const errors = typeErrors(RENDERED);
    for (const [name, text] of errors) expect(text, name).toBe('');
  });

  const broken = (change: (d: { panels: Record<string, unknown>[]; templating: { list: Record<string, unknown>[] }; [k: string]: unknown }) => void) => {
    const d = JSON.parse(RENDERED.get('overview.json')!);
    change(d);
    return typeErrors(new Map([['broken.json', JSON.stringify(d, null, 2)]])).get('broken.json')!;
  };

  it('report a panel whose gridPos is a string', () => {
    expect(broken((d) => { d.panels[1]!.gridPos = 'x'; })).toContain("error TS2322: Type 'string' is not assignable to type '{ h: number; static?: boolean | undefined; w: number; x: number; y: number; }'");
  });

  it('report a variable of a type Grafana does not have', () => {
    expect(broken((d) => { d.templating.list[0]!.type = 'nonsense'; })).toContain('error TS2322: Type \'"nonsense"\' is not assignable to type \'VariableType\'');
  });

  it('report a field the dashboard model does not have, at the top and in a panel', () => {
    expect(broken((d) => { d.refreshEvery = '30s'; })).toContain("known properties, and '\"refreshEvery\"' does not exist");
    expect(broken((d) => { d.panels[1]!.gridpos = d.panels[1]!.gridPos; })).toContain("known properties, and '\"gridpos\"' does not exist");
  });

  it('report a threshold mode outside the enumeration', () => {
    expect(broken((d) => { (d.panels[1]!.fieldConfig as { defaults: { thresholds: { mode: string } } }).defaults.thresholds.mode = 'relative'; })).toContain('"relative"');
  });
});

/**
 * The generator's module layout: dependencies among loadtest/*.ts point one way (no import cycle,
 * type-only imports included), and bundled scenarios speak only the scenario API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LOADTEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm;

/** The relative specifiers a file imports or re-exports statically. */
function relativeImports(file: string): string[] {
  return [...fs.readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1]!);
}

/** loadtest/*.ts → the loadtest/*.ts files it imports (imports leaving the folder are ignored). */
function graph(): Map<string, string[]> {
  const files = fs.readdirSync(LOADTEST).filter((f) => f.endsWith('.ts'));
  return new Map(files.map((f) => [f, relativeImports(path.join(LOADTEST, f))
    .map((spec) => path.relative(LOADTEST, path.resolve(LOADTEST, spec)))
    .filter((target) => files.includes(target))]));
}

/** Every cycle found by a depth-first walk, each as the path that closes it (a → b → a). */
function cycles(g: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of g.get(f) ?? []) {
      if (state.get(t) === 'open') found.push([...stack.slice(stack.indexOf(t)), t].join(' → '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...g.keys()].sort()) if (!state.has(f)) visit(f);
  return found;
}

describe('loadtest module layout', () => {
  it('finds a cycle when there is one (the walker itself works)', () => {
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual(['a.ts → b.ts → c.ts → a.ts']);
  });

  it('has no import cycle among loadtest/*.ts', () => {
    const g = graph();
    expect(g.get('runtime.ts')?.length).toBeGreaterThan(0);
    expect(cycles(g)).toEqual([]);
  });

  it('lets bundled scenarios import only the scenario API from the generator', () => {
    const dir = path.join(LOADTEST, 'scenarios');
    const reached = fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).flatMap((f) => relativeImports(path.join(dir, f)).map((spec) => `${f}: ${spec}`));
    expect(reached.filter((r) => !r.endsWith(': ../api.ts'))).toEqual([]);
  });
});

/**
 * Finding and loading scenario files: the bundled ones by name, any other by path. What a scenario
 * may do is declared in api.ts.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import { UsageError } from '../core/args.ts';
import type { Scenario } from './api.ts';

export { defineScenario, type Scenario } from './api.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SCENARIO_DIR = path.join(HERE, 'scenarios');
const EXT = path.extname(fileURLToPath(import.meta.url));

/** Names of the bundled scenarios. */
export function scenarioNames(): string[] {
  return fs.readdirSync(SCENARIO_DIR).filter((f) => f.endsWith(EXT) && !f.endsWith(`.test${EXT}`) && !f.endsWith('.d.ts')).map((f) => f.slice(0, -EXT.length)).sort();
}

/** A bundled scenario name or a path to a scenario file → its absolute file. */
export function scenarioFile(nameOrPath: string): string {
  if (/^[a-z0-9-]+$/.test(nameOrPath)) {
    const file = path.join(SCENARIO_DIR, `${nameOrPath}${EXT}`);
    if (fs.existsSync(file)) return file;
    throw new UsageError([`unknown scenario "${nameOrPath}"; expected one of ${scenarioNames().join(', ')} or a path to a scenario file`]);
  }
  const file = path.resolve(nameOrPath);
  if (!fs.existsSync(file)) throw new UsageError([`scenario file ${file} does not exist`]);
  return file;
}

/** Imports a scenario file and checks that it exports a scenario. */
export async function loadScenario(file: string): Promise<Scenario> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: Scenario };
  const s = mod.default;
  if (!s || typeof s.name !== 'string' || (!s.user && !s.worker)) throw new UsageError([`${file} must export default defineScenario({ name, story, options, user | worker })`]);
  return s;
}

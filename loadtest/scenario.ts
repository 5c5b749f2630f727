/**
 * What a scenario file is: a short user story, its load shape and thresholds as data, and one plain
 * async function per simulated user (or, for non-socket load such as REST, one per worker).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import { UsageError } from '../core/args.ts';
import type { ScenarioOptions } from './options.ts';
import type { Runtime } from './runtime.ts';
import type { SimUser } from './user.ts';

export interface Scenario {
  name: string;
  /** Three lines: who the users are and what real traffic this models. */
  story: string;
  options: ScenarioOptions;
  /** Behaviour of one simulated user; `run` offers barriers, schedules and rooms. */
  user?: (u: SimUser, run: Runtime) => Promise<void>;
  /** Behaviour of a whole worker (load that is not made of socket users). */
  worker?: (run: Runtime) => Promise<void>;
}

/** Identity function that gives scenario files their types. */
export function defineScenario(s: Scenario): Scenario {
  return s;
}

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

export async function loadScenario(file: string): Promise<Scenario> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: Scenario };
  const s = mod.default;
  if (!s || typeof s.name !== 'string' || (!s.user && !s.worker)) throw new UsageError([`${file} must export default defineScenario({ name, story, options, user | worker })`]);
  return s;
}

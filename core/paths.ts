/**
 * Where this installation lives, the same from the TypeScript sources (core/) and from the build
 * (dist/core/): the package root is the nearest folder up with parley's package.json. Commands that
 * spawn parley again (the nightly, the profiler, benches) start it through `selfCommand()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** True when this module runs from TypeScript sources (tsx), false from the compiled dist/. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

function findRoot(): string {
  for (let dir = HERE; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'parley') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`no parley package.json above ${HERE}`);
  }
}

/** The package root: the folder with package.json, bin/, core/ and dist/. */
export const PACKAGE_ROOT = findRoot();

/** The package version from package.json. */
export const PACKAGE_VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The compiled CLI entry point that users run. */
export const BIN = path.join(PACKAGE_ROOT, 'bin/parley.js');
const COMPILED_MAIN = path.join(PACKAGE_ROOT, 'dist/cli/main.js');
const SOURCE_RUN = path.join(PACKAGE_ROOT, 'cli/run.ts');

/** The source folders whose changes make the compiled CLI stale. */
const SOURCE_DIRS = ['cli', 'core', 'loadtest', 'nightly', 'dashboards'];

/**
 * A TypeScript source the compiled CLI is built from: not a test, and not a declaration file the
 * build itself writes (the client package's dist/*.d.ts are emitted after dist/cli/main.js, so
 * counting them made every fresh build look stale).
 */
export function isSource(relative: string): boolean {
  return relative.endsWith('.ts') && !relative.endsWith('.test.ts') && !relative.endsWith('.d.ts')
    && !relative.split(path.sep).some((part) => part === 'dist' || part === 'node_modules');
}

/** True when dist/cli/main.js is at least as new as every source file. */
function compiledIsFresh(): boolean {
  if (!fs.existsSync(COMPILED_MAIN)) return false;
  const builtAt = fs.statSync(COMPILED_MAIN).mtimeMs;
  for (const dir of SOURCE_DIRS) {
    const abs = path.join(PACKAGE_ROOT, dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs, { recursive: true }) as string[]) {
      if (isSource(f) && fs.statSync(path.join(abs, f)).mtimeMs > builtAt) return false;
    }
  }
  return true;
}

/**
 * The argv prefix that runs this installation's `parley` CLI in a child process. From the build it
 * is always the compiled entry; from sources (tests, development) the compiled entry when it is at
 * least as new as every source file (it starts seconds faster), tsx on the sources otherwise.
 */
export function selfCommand(): string[] {
  if (!FROM_SOURCE || compiledIsFresh()) return [process.execPath, BIN];
  return [process.execPath, '--import', 'tsx', SOURCE_RUN];
}

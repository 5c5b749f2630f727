/**
 * A private compiled installation of this checkout's sources, laid out as users run it:
 * package.json, bin/parley.js, dist/ (tsc -p tsconfig.build.json) and node_modules (linked). Tests
 * run `node <tree>/bin/parley.js` in it, so the compiled path is what they exercise, without
 * touching the shared dist/ of the checkout.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../core/test/helpers.ts';

export interface CompiledTree {
  dir: string;
  /** argv prefix of this tree's CLI: [node, <dir>/bin/parley.js]. */
  parley: string[];
  remove(): void;
}

/** Compiles the current sources into a temporary package (about 6 s on two cores). */
export async function compiledTree(): Promise<CompiledTree> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-compiled-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(ROOT, 'bin/parley.js'), path.join(dir, 'bin/parley.js'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  try {
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', path.join(dir, 'dist')], { cwd: ROOT, maxBuffer: 64 << 20 });
  } catch (err) {
    // Type errors elsewhere in the tree still emit; only a missing entry point is fatal.
    if (!fs.existsSync(path.join(dir, 'dist/cli/main.js'))) throw new Error(`tsc emitted no dist/cli/main.js: ${String((err as { stdout?: string }).stdout ?? err).slice(0, 2000)}`);
  }
  return { dir, parley: [process.execPath, path.join(dir, 'bin/parley.js')], remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface Exited { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs a command to completion, collecting its output. */
export function runToEnd(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Exited> {
  const started = Date.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=nightly-test', '-c', 'user.email=nightly@localhost', ...args], { cwd, encoding: 'utf8' }).trim();

/**
 * A two-commit repository: a shared clone of this repository's HEAD in `<tmp>/repo`, plus one
 * commit made by `change(repo)` with `subject`. Returns the clone's path.
 */
export function cloneWithCommit(tmp: string, change: (repo: string) => void, subject: string): string {
  const repo = path.join(tmp, 'repo');
  git(ROOT, 'clone', '--quiet', '--shared', ROOT, repo);
  change(repo);
  git(repo, 'commit', '--quiet', '-am', subject);
  return repo;
}

export { git };

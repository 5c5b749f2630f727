/**
 * Builds a ref: a git worktree per commit under the cache, dependencies installed once per
 * lockfile hash and linked into every worktree with that lockfile, then `tsc -p tsconfig.build.json`.
 * A finished build leaves a marker; the same commit with the same lockfile is never built twice.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Build {
  ref: string;
  commit: string;
  subject: string;
  dir: string;
  lockHash: string;
  cached: boolean;
  /** Type errors do not stop a build that emitted its entry point, but the report shows them. */
  warnings: string[];
  buildMs: number;
}

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

export interface BuildOptions {
  repo: string;
  cacheDir: string;
  /** A checkout whose node_modules may be reused when its lockfile hash matches (saves an install). */
  depsFrom?: string;
  log?: (line: string) => void;
  /** How to call the ref in logs and errors (default: the ref itself). */
  name?: string;
}

async function git(repo: string, ...args: string[]): Promise<string> {
  try {
    return (await run('git', ['-C', repo, ...args], { maxBuffer: 16 << 20 })).stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new BuildError(`git ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** The full commit id of a ref, or BuildError naming the ref. */
export async function resolveRef(repo: string, ref: string): Promise<{ commit: string; subject: string }> {
  const commit = await git(repo, 'rev-parse', '--verify', `${ref}^{commit}`).catch(() => {
    throw new BuildError(`unknown ref "${ref}" in ${repo}`);
  });
  return { commit, subject: await git(repo, 'log', '-1', '--format=%s', commit) };
}

export function lockHash(dir: string): string {
  const file = path.join(dir, 'package-lock.json');
  if (!fs.existsSync(file)) throw new BuildError(`${file} is missing: builds install from the lockfile`);
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

/** Checks out, installs and compiles `ref`; reuses the cached build of the same commit and lockfile. */
export async function buildRef(rev: string, opts: BuildOptions): Promise<Build> {
  const started = Date.now();
  const ref = opts.name ?? rev;
  const log = opts.log ?? (() => {});
  const { commit, subject } = await resolveRef(opts.repo, rev);
  const dir = path.join(opts.cacheDir, 'builds', commit);
  const marker = path.join(dir, '.parley-build.json');
  if (fs.existsSync(marker)) {
    const done = JSON.parse(fs.readFileSync(marker, 'utf8')) as { lockHash: string; warnings: string[] };
    log(`build ${ref} (${commit.slice(0, 10)}): cached`);
    return { ref, commit, subject, dir, lockHash: done.lockHash, cached: true, warnings: done.warnings, buildMs: Date.now() - started };
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  if (fs.existsSync(dir)) {
    // A half-made build from an interrupted night: remove it and start over.
    await git(opts.repo, 'worktree', 'remove', '--force', dir).catch(() => fs.rmSync(dir, { recursive: true, force: true }));
    await git(opts.repo, 'worktree', 'prune');
  }
  log(`build ${ref} (${commit.slice(0, 10)}): worktree`);
  await git(opts.repo, 'worktree', 'add', '--detach', '--force', dir, commit);
  const hash = lockHash(dir);
  await linkDependencies(dir, hash, opts, log);
  log(`build ${ref}: compile`);
  const warnings: string[] = [];
  try {
    await run(process.execPath, [path.join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, maxBuffer: 64 << 20 });
  } catch (err) {
    const out = String((err as { stdout?: string; stderr?: string }).stdout || (err as { stderr?: string }).stderr || (err as Error).message).trim();
    const logFile = `${dir}.build.log`;
    fs.writeFileSync(logFile, `${out}\n`);
    const lines = out.split('\n').filter((l) => l.trim());
    if (!fs.existsSync(entryPoint(dir))) {
      throw new BuildError(`compiling ${ref} (${commit.slice(0, 10)}) failed: ${lines[0] ?? 'tsc emitted no entry point'}${lines.length > 1 ? ` (+${lines.length - 1} more lines in ${logFile})` : ''}`);
    }
    warnings.push(`type errors (${lines.length} lines, ${logFile}); the build emitted its entry point and is used`);
  }
  fs.writeFileSync(marker, JSON.stringify({ commit, lockHash: hash, warnings, builtAt: new Date().toISOString() }));
  return { ref, commit, subject, dir, lockHash: hash, cached: false, warnings, buildMs: Date.now() - started };
}

/** node_modules of the worktree: a link to the cache entry for its lockfile hash, installed on first use. */
async function linkDependencies(dir: string, hash: string, opts: BuildOptions, log: (line: string) => void): Promise<void> {
  const deps = path.join(opts.cacheDir, 'deps', hash);
  const modules = path.join(deps, 'node_modules');
  if (!fs.existsSync(modules)) {
    fs.mkdirSync(deps, { recursive: true });
    if (opts.depsFrom && fs.existsSync(path.join(opts.depsFrom, 'node_modules')) && lockHash(opts.depsFrom) === hash) {
      log(`deps ${hash}: linked from ${opts.depsFrom}`);
      fs.symlinkSync(path.resolve(opts.depsFrom, 'node_modules'), modules, 'dir');
    } else {
      log(`deps ${hash}: npm ci`);
      try {
        await run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, maxBuffer: 64 << 20 });
        await run('npm', ['rebuild', 'better-sqlite3'], { cwd: dir, maxBuffer: 64 << 20 });
      } catch (err) {
        throw new BuildError(`npm ci in ${dir} failed: ${String((err as { stderr?: string }).stderr ?? err).slice(-2000)}`);
      }
      fs.renameSync(path.join(dir, 'node_modules'), modules);
    }
  }
  const link = path.join(dir, 'node_modules');
  if (!fs.existsSync(link)) fs.symlinkSync(modules, link, 'dir');
}

/** The compiled file a worktree's bin/parley.js runs (its layout may differ from this tree's). */
function entryPoint(dir: string): string {
  const file = path.join(dir, 'bin/parley.js');
  if (!fs.existsSync(file)) return file;
  const bin = fs.readFileSync(file, 'utf8');
  const target = /from '(\.\.\/dist\/[^']+)'/.exec(bin)?.[1] ?? '../dist/core/cli.js';
  return path.resolve(dir, 'bin', target);
}

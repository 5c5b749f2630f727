/**
 * Before anything is built or written: both refs resolve to commits of --repo, the default base
 * comes from the history (or, on the first night, there is none and the head becomes the
 * baseline), and a dirty worktree is refused when it would be mistaken for what is measured.
 * Every problem is a usage error (exit 2) listed at once; nothing reaches the history.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UsageError } from '../core/args.ts';
import { BuildError, resolveRef } from './build.ts';
import type { BuildRef } from './history.ts';

const run = promisify(execFile);

export interface RefPlan {
  base: BuildRef;
  head: BuildRef;
  /** No --base and no previous build: the head is measured against itself and recorded as the baseline. */
  baseline: boolean;
  /** Tracked files of --repo changed since HEAD (only reported with --allow-dirty). */
  dirty: string[];
}

export interface PreflightOptions {
  repo: string;
  base?: string;
  head: string;
  /** The head of the previous built night in the history, the default base. */
  previous?: BuildRef;
  allowDirty: boolean;
}

async function git(repo: string, ...args: string[]): Promise<string | undefined> {
  try {
    return (await run('git', ['-C', repo, ...args], { maxBuffer: 16 << 20 })).stdout.trim();
  } catch {
    return undefined;
  }
}

async function resolve(repo: string, ref: string, what: string, problems: string[]): Promise<BuildRef | undefined> {
  try {
    return { ref, ...(await resolveRef(repo, ref)) };
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    problems.push(what);
    return undefined;
  }
}

/** Resolves both refs and checks the worktree; throws UsageError listing every problem. */
export async function preflight(opts: PreflightOptions): Promise<RefPlan> {
  const { repo } = opts;
  if ((await git(repo, 'rev-parse', '--git-dir')) === undefined) throw new UsageError([`--repo ${repo} is not a git repository`]);
  const problems: string[] = [];
  const head = await resolve(repo, opts.head, `--head: unknown ref "${opts.head}" in ${repo}`, problems);
  let base: BuildRef | undefined;
  if (opts.base !== undefined) base = await resolve(repo, opts.base, `--base: unknown ref "${opts.base}" in ${repo}`, problems);
  else if (opts.previous) {
    const p = opts.previous;
    base = await resolve(repo, p.commit, `the previous night's head ${p.commit.slice(0, 10)} (${p.ref}, from the history) is not in ${repo} (a shallow clone or rewritten history?); pass --base`, problems);
    if (base) base.ref = p.ref;
  }
  const baseline = opts.base === undefined && !opts.previous;
  let dirty: string[] = [];
  const current = await git(repo, 'rev-parse', 'HEAD');
  if (head && (head.commit === current || base?.commit === current)) {
    dirty = ((await git(repo, 'diff', '--name-only', 'HEAD')) ?? '').split('\n').filter(Boolean);
    if (dirty.length && !opts.allowDirty) {
      problems.push(`${repo} has uncommitted changes to ${dirty.length} tracked file(s) (${dirty.slice(0, 3).join(', ')}${dirty.length > 3 ? ', ...' : ''}): `
        + 'the gate builds commits, so they would not be measured; commit or stash them, or pass --allow-dirty to measure HEAD as committed');
    }
  }
  if (problems.length) throw new UsageError(problems);
  return { base: baseline ? { ...head! } : base!, head: head!, baseline, dirty };
}

/**
 * `--keep-nights N`: the output keeps the files of the newest N nights (nights/<id>/: report,
 * summary, result, runs) and the build worktrees those nights used; older ones are deleted. The
 * history keeps every night (one line each): change points, calibration and the default --base
 * read it, and the index lists pruned nights without a link.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { NightRecord } from './history.ts';

export interface Pruned {
  nights: string[];
  builds: string[];
}

/** Deletes all but the newest `keep` night folders, and builds no kept night refers to. */
export function pruneOutput(outDir: string, keep: number, history: readonly NightRecord[], opts: { cacheDir: string; repo: string }): Pruned {
  const nightsDir = path.join(outDir, 'nights');
  // Night ids are UTC timestamps, so name order is time order.
  const ids = fs.existsSync(nightsDir) ? fs.readdirSync(nightsDir).filter((f) => fs.statSync(path.join(nightsDir, f)).isDirectory()).sort() : [];
  const gone = ids.slice(0, Math.max(0, ids.length - keep));
  for (const id of gone) fs.rmSync(path.join(nightsDir, id), { recursive: true, force: true });
  const kept = new Set(ids.slice(gone.length));
  const used = new Set(history.filter((n) => kept.has(n.id)).flatMap((n) => [n.base.commit, n.head.commit]));
  const buildsDir = path.join(opts.cacheDir, 'builds');
  const builds = fs.existsSync(buildsDir) ? fs.readdirSync(buildsDir).filter((f) => /^[0-9a-f]{40}$/.test(f) && !used.has(f)) : [];
  for (const commit of builds) {
    const dir = path.join(buildsDir, commit);
    try {
      execFileSync('git', ['-C', opts.repo, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    fs.rmSync(`${dir}.build.log`, { force: true });
  }
  if (builds.length) {
    try { execFileSync('git', ['-C', opts.repo, 'worktree', 'prune'], { stdio: 'ignore' }); } catch { /* the worktrees are gone either way */ }
  }
  return { nights: gone, builds };
}

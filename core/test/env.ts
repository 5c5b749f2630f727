/**
 * Real external components for tests. Where one is missing on a laptop the test is reported as
 * skipped, with the reason, in vitest's summary; in CI (CI=true) a missing component fails the
 * test instead, so nothing skips there.
 */
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'vitest';

export const IN_CI = process.env.CI === 'true';

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends the test as skipped when the component is missing (outside CI), or fails it (in CI).
 * Returns normally when it is present.
 */
export function requires(ctx: Pick<TestContext, 'skip'>, what: string, present: boolean): void {
  if (present) return;
  const reason = `${what} is not available on this machine`;
  if (IN_CI) throw new Error(`${reason}; CI must install it (.ci/run)`);
  ctx.skip(reason);
}

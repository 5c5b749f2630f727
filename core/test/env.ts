/**
 * Real external components for tests. Where one is missing on a laptop the test skips with a loud
 * reason; in CI (CI=true) a missing component fails the test instead, so nothing skips there.
 */
import { execFileSync } from 'node:child_process';

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
 * Returns true when the component is present. Outside CI a missing component logs why the test
 * skips; in CI it throws so the run fails.
 */
export function available(what: string, present: boolean): boolean {
  if (present) return true;
  const reason = `${what} is not available on this machine`;
  if (IN_CI) throw new Error(`${reason}; CI must install it (.ci/run)`);
  console.warn(`SKIPPING: ${reason}`);
  return false;
}

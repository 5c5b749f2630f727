/**
 * One clock for every process on this machine: CLOCK_MONOTONIC in fractional milliseconds.
 * `performance.now()` counts from each process's own start, so it is shifted once by hrtime (which
 * is system-wide on Linux); a sender in one worker and a receiver in another then agree.
 */
const OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** Monotonic milliseconds shared by all processes of this machine. */
export function now(): number {
  return performance.now() + OFFSET_MS;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((r) => setTimeout(r, ms));
}

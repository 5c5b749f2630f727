/** Effect sizes that do not assume a distribution shape. */
import { median } from './describe.ts';

/**
 * Cliff's delta of head against base: P(head > base) - P(head < base), in [-1, 1].
 * 0 means the runs overlap completely; +1 means every head run is above every base run.
 */
export function cliffsDelta(base: readonly number[], head: readonly number[]): number {
  if (!base.length || !head.length) return NaN;
  let more = 0;
  let less = 0;
  for (const h of head) for (const b of base) {
    if (h > b) more++;
    else if (h < b) less++;
  }
  return (more - less) / (base.length * head.length);
}

/** Hodges-Lehmann shift: the median of all pairwise differences head - base (the estimate that pairs with MWU). */
export function hodgesLehmann(base: readonly number[], head: readonly number[]): number {
  const diffs: number[] = [];
  for (const h of head) for (const b of base) diffs.push(h - b);
  return median(diffs);
}

/**
 * A seeded pseudo-random generator (mulberry32) and the seeds derived from text, so that a verdict
 * computed from the same runs and commits is the same every time it is computed.
 */

import { prng } from '../../loadtest/random.ts';

export type Random = () => number;

/** Uniform [0, 1) from a 32-bit seed: the same mulberry32 that seeds load plans. */
export function mulberry32(seed: number): Random {
  return prng(seed);
}

/** A 32-bit seed from text (FNV-1a), e.g. from the two commit ids and the metric name. */
export function seedFrom(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Standard normal deviates by Box-Muller. */
export function normal(rand: Random): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

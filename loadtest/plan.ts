/**
 * The run plan, derived from the seed alone: users grouped into conversations (pairs for 1:1, rooms
 * for groups), arrival times, and the split of groups over segments and workers. Groups are the
 * unit of distribution, so every sender and its recipients share one worker (and one clock).
 */
import { deriveSeed, exponential, prng, shuffle } from './random.ts';

export interface Group {
  index: number;
  /** User indexes, in join order; members[0] leads (creates the room). */
  members: number[];
}

export interface PlanInput {
  users: number;
  /** 1 = solo users, 2 = 1:1 pairs, more = rooms of that size. */
  groupSize: number;
  /** Users per second; 0 = all at once. */
  arrivalRate: number;
  arrival: 'poisson' | 'fixed';
  seed: number;
}

export interface Plan {
  users: number;
  groups: Group[];
  /** Intended arrival offset (ms from the run start) of each user index. */
  arrivalsMs: Float64Array;
}

export interface Segment {
  /** 1-based. */
  index: number;
  count: number;
}

/** Parses `i/n` (1 <= i <= n). */
export function parseSegment(text: string): Segment | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return index >= 1 && index <= count ? { index, count } : undefined;
}

/** Users rounded up to whole groups. */
export function plannedUsers(users: number, groupSize: number): number {
  return Math.ceil(users / groupSize) * groupSize;
}

export function buildPlan(input: PlanInput): Plan {
  const users = plannedUsers(input.users, input.groupSize);
  const order = shuffle(Array.from({ length: users }, (_, i) => i), prng(deriveSeed(input.seed, 'pairing')));
  const groups: Group[] = [];
  for (let g = 0; g * input.groupSize < users; g++) groups.push({ index: g, members: order.slice(g * input.groupSize, (g + 1) * input.groupSize) });
  const arrivalsMs = new Float64Array(users);
  if (input.arrivalRate > 0) {
    const rand = prng(deriveSeed(input.seed, 'arrivals'));
    const mean = 1000 / input.arrivalRate;
    let t = 0;
    for (let i = 0; i < users; i++) {
      arrivalsMs[i] = t;
      t += input.arrival === 'poisson' ? exponential(rand, mean) : mean;
    }
  }
  return { users, groups, arrivalsMs };
}

/** The groups a segment runs: contiguous ranges, so segments 1..n together are exactly the plan. */
export function segmentGroups(groups: readonly Group[], seg: Segment): Group[] {
  const n = groups.length;
  const from = Math.floor(((seg.index - 1) * n) / seg.count);
  const to = Math.floor((seg.index * n) / seg.count);
  return groups.slice(from, to);
}

/** The groups one worker runs: round-robin over the segment's groups. */
export function workerGroups(groups: readonly Group[], worker: number, workers: number): Group[] {
  return groups.filter((_, i) => i % workers === worker);
}

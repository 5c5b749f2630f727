/**
 * The adaptive part of a session: run the first blocks, compare, and while a gating metric is
 * inconclusive add one block at a time up to the cap. A block is one A B B A quartet (two runs per
 * side), alternating with B A A B, so linear drift within a block cancels.
 */
import type { Row } from './compare.ts';

export interface SessionPlan {
  /** Blocks before the first comparison (2 runs per side each). */
  initialBlocks: number;
  /** Most blocks in one session. */
  maxBlocks: number;
}

export type Side = 'base' | 'head';

/** Run order of block `b` (0-based): A B B A, then B A A B, and so on. */
export function blockOrder(b: number): Side[] {
  return b % 2 === 0 ? ['base', 'head', 'head', 'base'] : ['head', 'base', 'base', 'head'];
}

/** Pairs in one block of a paired battery (base and head measured at once). */
export const PAIRS_PER_BLOCK = 2;

/**
 * The start order of the two servers of each pair of block `b`: base first, then head first; the
 * next block the other way round, so neither side always gets the first start.
 */
export function pairOrder(b: number): Side[][] {
  const ab: Side[] = ['base', 'head'];
  const ba: Side[] = ['head', 'base'];
  return b % 2 === 0 ? [ab, ba] : [ba, ab];
}

/** Whether another block could change a verdict that the gate cares about. */
export function needsMoreRuns(rows: readonly Row[]): boolean {
  return rows.some((r) => r.gate && r.verdict === 'inconclusive');
}

/**
 * Drives a session: `runBlock(b)` performs block b's four runs, `evaluate()` compares everything
 * measured so far. Returns the final rows and the number of blocks run.
 */
export async function adaptiveSession(
  plan: SessionPlan,
  runBlock: (block: number) => Promise<void> | void,
  evaluate: () => Row[],
  onRound?: (block: number, rows: Row[]) => void,
): Promise<{ rows: Row[]; blocks: number }> {
  let blocks = 0;
  for (; blocks < plan.initialBlocks; blocks++) await runBlock(blocks);
  let rows = evaluate();
  onRound?.(blocks, rows);
  while (needsMoreRuns(rows) && blocks < plan.maxBlocks) {
    await runBlock(blocks++);
    rows = evaluate();
    onRound?.(blocks, rows);
  }
  return { rows, blocks };
}

/** Corrections for testing many scenario x metric pairs in one night. */

/**
 * Benjamini-Hochberg adjusted p-values (q-values), in input order. Rejecting q <= alpha controls
 * the false discovery rate at alpha for independent or positively dependent tests.
 */
export function benjaminiHochberg(p: readonly number[]): number[] {
  const m = p.length;
  const order = p.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const q = new Array<number>(m);
  let running = 1;
  for (let k = m - 1; k >= 0; k--) {
    const [pv, i] = order[k]!;
    running = Math.min(running, (pv * m) / (k + 1));
    q[i] = Math.min(1, running);
  }
  return q;
}

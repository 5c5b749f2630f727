/** A shift of one printed MDE in one metric of the simulated battery is caught in most sessions. */
import { describe, expect, it } from 'vitest';
import { median } from '../stats/describe.ts';
import { METRICS, session } from './simulate.ts';

describe('a shift of one printed minimum detectable effect', () => {
  for (const key of ['p50', 'cpu', 'p99', 'ack99', 'lag']) {
    const m = METRICS.find((x) => x.spec.key === key)!;
    it(`is caught in ${key} (${m.shape}) in at least 80% of 150 sessions`, async () => {
      // The MDE the report prints for this metric in A/A sessions.
      const mdes: number[] = [];
      for (let s = 0; s < 40; s++) mdes.push((await session(100_000 + s)).rows.find((r) => r.scenario === 'chat' && r.metric === key)!.mde);
      const mde = median(mdes);
      let caught = 0;
      for (let s = 0; s < 150; s++) {
        const rows = (await session(200_000 + s, { key, shift: mde })).rows;
        if (rows.find((r) => r.scenario === 'chat' && r.metric === key)!.verdict === 'regression') caught++;
      }
      console.log(`${key}: printed MDE ${(mde * 100).toFixed(1)}%, caught ${caught}/150`);
      expect(caught / 150).toBeGreaterThanOrEqual(0.8);
    });
  }
});

/** A/A sessions of the whole simulated battery must almost never report a regression. */
import { expect, it } from 'vitest';
import { session } from './simulate.ts';

it('reports a regression in at most 1% of 2000 simulated A/A sessions of a 20-metric battery', async () => {
  let alarms = 0;
  for (let s = 0; s < 2000; s++) if ((await session(s)).rows.some((r) => r.verdict === 'regression')) alarms++;
  console.log(`A/A false-alarm rate: ${alarms}/2000 sessions`);
  expect(alarms / 2000).toBeLessThanOrEqual(0.01);
}, 120_000);

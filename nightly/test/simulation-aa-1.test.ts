/**
 * A/A sessions of the whole simulated battery must almost never report a regression. The 2,000
 * sessions are split over two files (sessions 0-999 here) so each stays short on two cores.
 */
import { expect, it } from 'vitest';
import { aaAlarms } from './simulate.ts';

it('reports a regression in at most 1% of 1000 simulated A/A sessions of a 20-metric battery (seeds 0-999)', async () => {
  const alarms = await aaAlarms(0, 1000);
  console.log(`A/A false-alarm rate: ${alarms}/1000 sessions`);
  expect(alarms / 1000).toBeLessThanOrEqual(0.01);
}, 120_000);

/**
 * Named batteries: which `parley load` scenarios run, with which load, for how many blocks.
 * `smoke` is about a minute of load for CI; `nightly` about fifteen minutes on two cores.
 */
import type { SessionPlan } from './session.ts';

export interface BatteryScenario {
  /** Name of the scenario in the battery (a scenario may appear twice with different load). */
  name: string;
  /** `parley load` scenario name or file. */
  scenario: string;
  /** Extra `parley load` flags (load shape). */
  args: string[];
}

export interface Battery {
  name: string;
  description: string;
  scenarios: BatteryScenario[];
  plan: SessionPlan;
  /** Runs are redone at most this many times before the night counts as an infrastructure failure. */
  maxRedos: number;
}

export const BATTERIES: Record<string, Battery> = {
  smoke: {
    name: 'smoke',
    description: 'one short 1:1 chat scenario, 6-8 runs a side (about a minute of load; CI)',
    scenarios: [
      { name: 'dm', scenario: 'dm-steady', args: ['--users', '20', '--arrival-rate', '100', '--duration', '2s', '--rate', '5', '--drain', '500ms', '--max-lag', '100ms'] },
    ],
    plan: { initialBlocks: 3, maxBlocks: 4 },
    maxRedos: 8,
  },
  nightly: {
    name: 'nightly',
    description: 'steady 1:1 chat at two loads, 8-12 runs a side (about 15 minutes)',
    scenarios: [
      { name: 'dm', scenario: 'dm-steady', args: ['--users', '200', '--arrival-rate', '200', '--duration', '20s', '--rate', '1'] },
      { name: 'dm-busy', scenario: 'dm-steady', args: ['--users', '100', '--arrival-rate', '200', '--duration', '20s', '--rate', '5'] },
    ],
    plan: { initialBlocks: 4, maxBlocks: 6 },
    maxRedos: 6,
  },
};

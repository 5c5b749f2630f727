/**
 * Named batteries: which `parley load` scenarios run, with which load, for how many blocks, and
 * which metrics each compares. `smoke` is about three minutes for CI; `nightly` covers every
 * scenario in about twenty minutes on two cores.
 */
import type { WorkUnit } from './metrics.ts';
import type { SessionPlan } from './session.ts';

export interface BatteryScenario {
  /** Name of the scenario in the battery (a scenario may appear twice with different load). */
  name: string;
  /** `parley load` scenario name or file. */
  scenario: string;
  /** Extra `parley load` flags (load shape). */
  args: string[];
  /**
   * Flags of an unmeasured warm-up load run against the same fresh server first, so the measured
   * run sees a JIT-compiled server. Costs one more `parley load` start per run.
   */
  warmup?: string[];
  /** What CPU and GC are counted per (default: acknowledged sends). */
  unit?: WorkUnit;
  /** Gating metrics (one BH family across the battery); unset: the catalog's defaults. */
  primary?: string[];
  /** Reported metrics (their own BH family). */
  secondary?: string[];
  /** Practical thresholds for this battery, by metric key (over the catalog's). */
  thresholds?: Record<string, number>;
}

export interface Battery {
  name: string;
  description: string;
  scenarios: BatteryScenario[];
  plan: SessionPlan;
  /** Runs are redone at most this many times before the night counts as an infrastructure failure. */
  maxRedos: number;
  /**
   * How each run's server is deployed (default `single`): one `parley serve` on SQLite, or
   * `cluster`: two nodes on a fresh PostgreSQL database and Redis (nightly/cluster.ts).
   * `parley nightly --deploy` overrides it.
   */
  deploy?: Deploy;
  /** Serial runs or pairs (default `serial`); `parley nightly --design` overrides it. */
  design?: Design;
}

/**
 * How base and head are measured: `serial`, one run at a time in A B B A blocks; `paired`, both at
 * once (both servers on one CPU, each with its own generator on the same fixed schedule), compared
 * pair by pair, so that the machine's speed of the moment cancels.
 */
export const DESIGNS = ['serial', 'paired'] as const;
export type Design = (typeof DESIGNS)[number];

/** Deployment modes of a run: one node, or a two-node cluster. */
export const DEPLOYS = ['single', 'cluster'] as const;
export type Deploy = (typeof DEPLOYS)[number];

const LATENCY = ['ack_ms.p50', 'ack_ms.p99', 'deliver_ms.p50', 'deliver_ms.p99'];
const SERVER = ['server.cpu_percent', 'server.gc_ms_per_1k', 'server.rss_peak_mb', 'server.eventloop_lag_p99_ms'];
// Fixed schedules and a fixed seed: every run of a scenario does the same work, so CPU per unit
// varies only with the server's own cost.
const FIXED = ['--schedule', 'fixed', '--arrival', 'fixed', '--seed', '1'];
// In a pair two generators share the generator's CPU: a bound on their schedule lag of 100 ms (the
// load's default is 25 ms) still discards a stalled run without discarding every busy minute.
const PAIRED_LAG = ['--max-lag', '100ms'];
const DM_WARMUP = ['--users', '20', '--arrival-rate', '0', '--duration', '1s', '--rate', '20', '--drain', '200ms', '--max-lag', '1s', '--max-slice-lag', '1s'];

export const BATTERIES: Record<string, Battery> = {
  smoke: {
    name: 'smoke',
    description: 'one 1:1 chat scenario, 10-12 pairs of base and head run at once, gated on server CPU per message (about three minutes; CI)',
    scenarios: [
      {
        name: 'dm', scenario: 'dm-steady', args: ['--users', '20', '--arrival-rate', '100', '--duration', '5s', '--rate', '40', '--drain', '500ms', '--max-lag', '100ms', ...FIXED],
        warmup: DM_WARMUP, primary: ['server.cpu_ms_per_1k'], secondary: [...LATENCY, 'connect_ms.p50', ...SERVER], thresholds: { 'server.cpu_ms_per_1k': 0.10 },
      },
    ],
    // Ten pairs (five blocks of two): nine are the fewest at which the exact signed-rank test can
    // also decide the nine secondary metrics (2 / 2^9 below 0.05 / 9); six decide the primary.
    plan: { initialBlocks: 5, maxBlocks: 6 },
    maxRedos: 8,
    design: 'paired',
  },
  nightly: {
    name: 'nightly',
    description: 'every scenario (1:1, a closed-loop capacity phase, rooms, presence, typing, churn, catch-up, logins, REST), 10-12 pairs of base and head run at once (about 20 minutes)',
    scenarios: [
      {
        name: 'dm', scenario: 'dm-steady', args: ['--users', '20', '--arrival-rate', '200', '--duration', '6s', '--rate', '40', ...FIXED, ...PAIRED_LAG],
        warmup: DM_WARMUP, primary: ['server.cpu_ms_per_1k'], secondary: [...LATENCY, ...SERVER], thresholds: { 'server.cpu_ms_per_1k': 0.03 },
      },
      {
        // Closed loop, no think time: throughput is what the pair sustains, a measurement.
        name: 'dm-capacity', scenario: 'dm-steady', args: ['--users', '20', '--arrival-rate', '0', '--duration', '3s', '--mode', 'closed', '--think', '0ms', '--max-cpu-percent', '100', '--max-lag', '1s', '--max-slice-lag', '1s', ...FIXED],
        warmup: DM_WARMUP, primary: ['acked_per_s'], secondary: ['server.cpu_ms_per_1k', 'server.cpu_percent', 'ack_ms.p50'], thresholds: { acked_per_s: 0.08 },
      },
      {
        name: 'rooms', scenario: 'room-fanout', args: ['--users', '50', '--arrival-rate', '200', '--duration', '5s', '--rate', '0.5', ...FIXED, ...PAIRED_LAG],
        primary: ['server.cpu_ms_per_1k'], secondary: [...LATENCY, ...SERVER], thresholds: { 'server.cpu_ms_per_1k': 0.05 },
      },
      {
        name: 'presence', scenario: 'presence-storm', unit: 'signals', args: ['--users', '100', '--arrival-rate', '400', '--duration', '5s', '--rate', '1', ...FIXED, ...PAIRED_LAG],
        primary: ['signal_frames_per_user', 'signal_bytes_per_user'], secondary: ['presence_ms.p50', 'presence_ms.p99', 'server.cpu_ms_per_1k', ...SERVER],
        thresholds: { signal_frames_per_user: 0.05, signal_bytes_per_user: 0.05 },
      },
      {
        name: 'typing', scenario: 'typing-flood', unit: 'signals', args: ['--users', '100', '--arrival-rate', '400', '--duration', '5s', '--rate', '1', ...FIXED, ...PAIRED_LAG],
        primary: ['signal_frames_per_user'], secondary: ['typing_ms.p50', 'typing_ms.p99', 'server.cpu_ms_per_1k', ...SERVER], thresholds: { signal_frames_per_user: 0.10 },
      },
      {
        name: 'churn', scenario: 'reconnect-churn', args: ['--users', '50', '--arrival-rate', '200', '--duration', '6s', '--rate', '2', '--drain', '3s', '--param-dropsPerMinute', '20', ...FIXED, ...PAIRED_LAG],
        primary: ['reconnect_ms.p50'], secondary: ['reconnect_ms.p99', 'ack_ms.p50', 'deliver_ms.p99', 'server.cpu_ms_per_1k', ...SERVER], thresholds: { 'reconnect_ms.p50': 0.15 },
      },
      {
        name: 'catchup', scenario: 'offline-catchup', args: ['--users', '50', '--arrival-rate', '200', '--duration', '10s', '--rate', '20', '--drain', '3s', '--param-backlog', '50', ...FIXED, ...PAIRED_LAG],
        primary: ['server.cpu_ms_per_1k'], secondary: ['catchup_ms.p50', 'catchup_ms.p99', ...SERVER], thresholds: { 'server.cpu_ms_per_1k': 0.05 },
      },
      {
        // Everyone at once: logins/s is how fast the node admits a crowd (the generator opening 150
        // sockets at one instant lags by design, hence the loose lag bounds).
        name: 'logins', scenario: 'login-storm', unit: 'connects', args: ['--users', '150', '--arrival-rate', '0', '--duration', '3s', '--param-holdMs', '1000', '--max-lag', '5s', '--max-slice-lag', '5s', ...FIXED],
        primary: ['logins_per_s'], secondary: ['connect_ms.p50', 'connect_ms.p99', 'sync_ms.p50', 'server.cpu_ms_per_1k', ...SERVER], thresholds: { logins_per_s: 0.25 },
      },
      {
        // No REST figure is precise enough to gate at a useful threshold on this machine (docs/nightly.md).
        name: 'rest', scenario: 'http-api', unit: 'requests', args: ['--users', '6', '--arrival-rate', '100', '--duration', '4s', ...FIXED, ...PAIRED_LAG],
        secondary: ['http_per_s', 'http_ms.p50', 'http_ms.p99', 'server.cpu_ms_per_1k', ...SERVER],
      },
    ],
    plan: { initialBlocks: 5, maxBlocks: 6 },
    maxRedos: 12,
    design: 'paired',
  },
};

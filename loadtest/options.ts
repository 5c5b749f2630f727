/**
 * Run options as data: defaults with units in the names, scenario overrides, then flags; validated
 * once, every problem reported together, the result frozen.
 */
import os from 'node:os';
import { UsageError } from '../core/args.ts';
import { parseDuration } from './duration.ts';
import { parseSegment, type Segment } from './plan.ts';
import type { ThresholdSpec } from './thresholds.ts';

export interface LoadOptions {
  /** One node's WebSocket URL, or several, comma-separated (targetsOf). */
  target: string;
  users: number;
  /** Users arriving per second (0 = all at once). */
  arrivalRate: number;
  arrival: 'poisson' | 'fixed';
  /** Length of the steady phase (after the connect barrier, if the scenario waits for one). */
  durationMs: number;
  /** Messages per second per sending user. */
  messageRate: number;
  schedule: 'poisson' | 'fixed';
  /** open: sends follow the schedule; closed: the next send waits for the ack, then thinkMs. */
  mode: 'open' | 'closed';
  thinkMs: number;
  /** Unacknowledged sends one user keeps in flight before later sends wait (and turn late). */
  window: number;
  groupSize: number;
  lateToleranceMs: number;
  drainMs: number;
  sliceMs: number;
  barrierTimeoutMs: number;
  /** Generator health gate: worker schedule-lag p99 above this marks the run invalid. */
  maxLagMs: number;
  /** Generator health gate: a worker's schedule-lag p99 within any one slice above this marks the run invalid (a stall). */
  maxSliceLagMs: number;
  /** Generator health gate: a worker's mean CPU (percent of one core) above this marks the run invalid. */
  maxCpuPercent: number;
  workers: number;
  seed: number;
  segment: Segment;
  userPrefix: string;
  /** Scenario-specific knobs (numbers or strings), e.g. churnMs, backlog. */
  params: Record<string, number | string>;
  thresholds: Record<string, ThresholdSpec[]>;
}

export const DEFAULTS: Omit<LoadOptions, 'target' | 'userPrefix' | 'segment' | 'params' | 'thresholds'> = {
  users: 100,
  arrivalRate: 200,
  arrival: 'poisson',
  durationMs: 30_000,
  messageRate: 1,
  schedule: 'poisson',
  mode: 'open',
  thinkMs: 1000,
  window: 16,
  groupSize: 2,
  lateToleranceMs: 10,
  drainMs: 2000,
  sliceMs: 1000,
  barrierTimeoutMs: 30_000,
  maxLagMs: 25,
  maxSliceLagMs: 100,
  maxCpuPercent: 90,
  workers: Math.max(1, Math.min(os.availableParallelism(), 8)),
  seed: 1,
};

/** Options a scenario file may set (durations as strings like '30s'). */
export interface ScenarioOptions {
  users?: number;
  arrivalRate?: number;
  arrival?: 'poisson' | 'fixed';
  duration?: string;
  messageRate?: number;
  schedule?: 'poisson' | 'fixed';
  mode?: 'open' | 'closed';
  think?: string;
  window?: number;
  groupSize?: number;
  lateTolerance?: string;
  drain?: string;
  slice?: string;
  barrierTimeout?: string;
  maxLag?: string;
  maxSliceLag?: string;
  maxCpuPercent?: number;
  params?: Record<string, number | string>;
  thresholds?: Record<string, ThresholdSpec[]>;
}

/** Flags that map to options: flag → [key, kind]. */
const FLAGS: Record<string, [keyof ScenarioOptions | 'workers' | 'seed' | 'segment' | 'userPrefix' | 'target', 'int' | 'num' | 'dur' | 'enum' | 'str']> = {
  target: ['target', 'str'],
  users: ['users', 'int'],
  'arrival-rate': ['arrivalRate', 'num'],
  arrival: ['arrival', 'enum'],
  duration: ['duration', 'dur'],
  rate: ['messageRate', 'num'],
  schedule: ['schedule', 'enum'],
  mode: ['mode', 'enum'],
  think: ['think', 'dur'],
  window: ['window', 'int'],
  'group-size': ['groupSize', 'int'],
  'late-tolerance': ['lateTolerance', 'dur'],
  drain: ['drain', 'dur'],
  slice: ['slice', 'dur'],
  'barrier-timeout': ['barrierTimeout', 'dur'],
  'max-lag': ['maxLag', 'dur'],
  'max-slice-lag': ['maxSliceLag', 'dur'],
  'max-cpu-percent': ['maxCpuPercent', 'num'],
  workers: ['workers', 'int'],
  seed: ['seed', 'int'],
  segment: ['segment', 'str'],
  'user-prefix': ['userPrefix', 'str'],
};

export const OPTION_FLAGS = Object.keys(FLAGS);

/**
 * The nodes of a `--target` list (comma-separated): user i connects to the (i mod n)-th, so the
 * same seed puts every user on the same node in every run and a 1:1 pair may span two nodes.
 */
export function targetsOf(target: string): string[] {
  return target.split(',');
}

const ENUMS: Record<string, readonly string[]> = { arrival: ['poisson', 'fixed'], schedule: ['poisson', 'fixed'], mode: ['open', 'closed'] };

/**
 * Resolves scenario options, then flags (flags win; `--param-<name>` sets params). Throws
 * UsageError with every problem at once.
 */
export function resolveOptions(scenario: ScenarioOptions, flags: Map<string, string>): LoadOptions {
  const problems: string[] = [];
  const raw: Record<string, unknown> = { ...scenario };
  const params: Record<string, number | string> = { ...scenario.params };
  for (const [flag, value] of flags) {
    if (flag.startsWith('param-')) { params[flag.slice(6)] = Number.isFinite(Number(value)) ? Number(value) : value; continue; }
    const spec = FLAGS[flag];
    if (!spec) continue;
    const [key, kind] = spec;
    if (kind === 'int' || kind === 'num') {
      const n = Number(value);
      if (!Number.isFinite(n) || (kind === 'int' && !Number.isSafeInteger(n))) problems.push(`--${flag} must be ${kind === 'int' ? 'an integer' : 'a number'}, got "${value}"`);
      raw[key] = n;
    } else raw[key] = value;
  }
  const dur = (key: keyof ScenarioOptions, fallback: number): number => {
    const v = raw[key];
    if (v === undefined) return fallback;
    try { return parseDuration(v as string, key); } catch (err) { problems.push(...(err as UsageError).problems); return fallback; }
  };
  const num = (key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) { problems.push(`${key} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`); return fallback; }
    return v;
  };
  const enumOf = <T extends string>(key: string, fallback: T): T => {
    const v = (raw[key] ?? fallback) as string;
    if (!ENUMS[key]!.includes(v)) { problems.push(`${key} must be one of ${ENUMS[key]!.join(', ')}, got "${v}"`); return fallback; }
    return v as T;
  };
  const target = typeof raw.target === 'string' ? raw.target : '';
  for (const t of targetsOf(target)) if (!/^wss?:\/\/[^\s,]+$/.test(t)) problems.push(`--target must be a ws:// or wss:// URL of a parley node's WebSocket endpoint (e.g. ws://127.0.0.1:8080/ws), got "${t}"`);
  const segText = typeof raw.segment === 'string' ? raw.segment : '1/1';
  const segment = parseSegment(segText);
  if (!segment) problems.push(`--segment must be i/n with 1 <= i <= n (e.g. 1/3), got "${segText}"`);
  const prefix = typeof raw.userPrefix === 'string' ? raw.userPrefix : `lt${Date.now().toString(36)}-`;
  if (!/^[A-Za-z0-9_.@-]{1,40}$/.test(prefix)) problems.push(`--user-prefix must be 1-40 of A-Z a-z 0-9 _ . @ -, got "${prefix}"`);
  const opts: LoadOptions = {
    target,
    users: num('users', DEFAULTS.users, 1, 1_000_000),
    arrivalRate: num('arrivalRate', DEFAULTS.arrivalRate, 0),
    arrival: enumOf('arrival', DEFAULTS.arrival),
    durationMs: dur('duration', DEFAULTS.durationMs),
    messageRate: num('messageRate', DEFAULTS.messageRate, 0),
    schedule: enumOf('schedule', DEFAULTS.schedule),
    mode: enumOf('mode', DEFAULTS.mode),
    thinkMs: dur('think', DEFAULTS.thinkMs),
    window: num('window', DEFAULTS.window, 1, 10_000),
    groupSize: num('groupSize', DEFAULTS.groupSize, 1, 500),
    lateToleranceMs: dur('lateTolerance', DEFAULTS.lateToleranceMs),
    drainMs: dur('drain', DEFAULTS.drainMs),
    sliceMs: dur('slice', DEFAULTS.sliceMs),
    barrierTimeoutMs: dur('barrierTimeout', DEFAULTS.barrierTimeoutMs),
    maxLagMs: dur('maxLag', DEFAULTS.maxLagMs),
    maxSliceLagMs: dur('maxSliceLag', DEFAULTS.maxSliceLagMs),
    maxCpuPercent: num('maxCpuPercent', DEFAULTS.maxCpuPercent, 1, 100),
    workers: num('workers', DEFAULTS.workers, 1, 256),
    seed: num('seed', DEFAULTS.seed, 0, 2 ** 32 - 1),
    segment: segment ?? { index: 1, count: 1 },
    userPrefix: prefix,
    params,
    thresholds: scenario.thresholds ?? {},
  };
  if (opts.sliceMs < 100) problems.push(`slice must be at least 100ms, got ${opts.sliceMs}ms`);
  if (problems.length) throw new UsageError(problems);
  return Object.freeze(opts);
}

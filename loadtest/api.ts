/**
 * The scenario API: everything a scenario file may touch. A scenario is a short user story, its
 * load shape and thresholds as data, and one plain async function per simulated user (or, for
 * load that is not made of socket users such as REST, one per worker). The engine stays behind it.
 */
import type { LoadOptions, ScenarioOptions } from './options.ts';
import type { MetricName } from './result.ts';

/** The WebSocket URLs of `run.options.target`: one, or the nodes of a cluster (`--target A,B,...`). */
export { targetsOf } from './options.ts';

/** One simulated user as a scenario sees it: its identity, its connection and raw requests. */
export interface User {
  /** The user id on the server (the run's --user-prefix plus the user's index). */
  readonly id: string;
  /** The first other member of the conversation: the 1:1 partner (in a room, the next member). */
  readonly peer: string;
  /** The first member of the group: it creates the room, and in offline-catchup goes offline. */
  readonly isLeader: boolean;
  /** Connects and syncs; resolves when ready. Counts connect_ms, sync_ms, connects or connect_failures. */
  connect(): Promise<void>;
  /** Closes for good (no reconnect). */
  close(): Promise<void>;
  /** Drops the connection abruptly (network loss); the user reconnects with backoff and resends. */
  drop(): void;
  /** Reconnects after close(), resuming from the cursor; resolves when synced. */
  reconnect(): Promise<void>;
  /** Sends one raw request and resolves with its reply; `unknown_op` ends the run with exit 98. */
  request<T = unknown>(op: string, fields?: Record<string, unknown>): Promise<T>;
}

export interface ConverseOptions {
  /** Messages per second (default: options.messageRate). */
  rate?: number;
  /** Stop after this many sends (default: until the phase ends). */
  count?: number;
  /** Stop scheduling at this time (default: the phase end). */
  until?: number;
}

/** What a scenario may ask of the run: coordination, schedules, conversations and measurements. */
export interface Run {
  /** The resolved run options; `params` holds the scenario's `--param-<name>` knobs. */
  readonly options: LoadOptions;
  /** This worker's share of the users, not yet connected (for worker-level scenarios). */
  readonly users: readonly User[];
  /** A user's access token (fetched before the start, so connect_ms never includes minting). */
  token(user: string): Promise<string>;
  /** Waits until every user of the run reached `name` (or ended), across workers. */
  barrier(name: string): Promise<void>;
  /**
   * Sends on the user's schedule until the phase ends: open model (intended times from the
   * schedule, never waiting on responses) or closed model (next send after the ack plus think time).
   */
  converse(u: User, opts?: ConverseOptions): Promise<void>;
  /** Runs `fn` at each intended time of a schedule at `rate` per second until the phase ends. */
  every(rate: number, fn: (intended: number) => void, until?: number): Promise<void>;
  /** Sends a presence or typing signal at its intended time (fire and forget; errors are counted). */
  signal(u: User, op: 'presence' | 'typing', fields: Record<string, unknown>, intended: number): void;
  /** The room of the user's group: the leader creates it with every member; the others wait for its id. */
  room(u: User): Promise<string>;
  /** The canonical 1:1 chat id of the user and its peer. */
  directChat(u: User): string;
  /** Resolves when the user has no send in flight or waiting (all acked or failed). */
  idle(u: User, timeoutMs?: number): Promise<void>;
  /** Resolves once the user has received every message its peers had acknowledged at the call. */
  caughtUp(u: User): Promise<void>;
  sleep(ms: number): Promise<void>;
  /** Records one latency sample in milliseconds. */
  record(metric: MetricName, ms: number): void;
  /** Adds to a counter of the result. */
  count(name: string, n?: number): void;
  /** Counts an error under `errors` and `errors.<code>`. */
  error(code: string): void;
  /** Runs `fn` and records how long it took under `metric`. */
  measure<T>(metric: MetricName, fn: () => Promise<T>): Promise<T>;
}

export interface Scenario {
  name: string;
  /** Three lines: who the users are and what real traffic this models. */
  story: string;
  options: ScenarioOptions;
  /** Behaviour of one simulated user; `run` offers barriers, schedules and rooms. */
  user?: (u: User, run: Run) => Promise<void>;
  /** Behaviour of a whole worker (load that is not made of socket users). */
  worker?: (run: Run) => Promise<void>;
}

/** Identity function that gives scenario files their types. */
export function defineScenario(s: Scenario): Scenario {
  return s;
}

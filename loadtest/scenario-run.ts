/**
 * The Run a scenario receives (api.ts): a thin face over the worker's parts. It hands scenarios
 * barriers, schedules, rooms, sends and measurements, and nothing of the engine behind them.
 */
import type { ConverseOptions, Run, User } from './api.ts';
import type { Barriers } from './barriers.ts';
import { now, sleep } from './clock.ts';
import type { Inbox } from './inbox.ts';
import type { LoadOptions } from './options.ts';
import type { Outbox } from './outbox.ts';
import { exponential } from './random.ts';
import type { Meter } from './recorder.ts';
import type { MetricName } from './result.ts';
import type { Phase, Scheduler } from './scheduler.ts';
import type { Signals } from './signals.ts';
import type { TokenProvider } from './tokens.ts';
import { SimUser } from './user.ts';

/** The worker's parts a Run speaks for. */
export interface RunParts {
  options: LoadOptions;
  users: ReadonlyMap<number, SimUser>;
  userId: (index: number) => string;
  token: TokenProvider;
  meter: Meter;
  barriers: Barriers;
  outbox: Outbox;
  inbox: Inbox;
  signals: Signals;
  scheduler: Scheduler;
  phase: Phase;
  rand: () => number;
}

/** Users reach the engine's parts only as the SimUsers the engine made. */
function sim(u: User): SimUser {
  if (!(u instanceof SimUser)) throw new TypeError(`expected a user handed to the scenario by the run, got ${String(u)}`);
  return u;
}

export class ScenarioRun implements Run {
  readonly options: LoadOptions;
  readonly users: readonly User[];
  readonly #p: RunParts;
  /** Resolved room ids by group index. */
  readonly #rooms = new Map<number, Promise<string>>();

  constructor(parts: RunParts) {
    this.#p = parts;
    this.options = parts.options;
    this.users = [...parts.users.values()];
  }

  token(user: string): Promise<string> {
    return this.#p.token(user);
  }

  barrier(name: string): Promise<void> {
    return this.#p.barriers.reach(name);
  }

  converse(u: User, opts?: ConverseOptions): Promise<void> {
    return this.#p.outbox.converse(sim(u), opts);
  }

  every(rate: number, fn: (intended: number) => void, until = this.#p.phase.end): Promise<void> {
    const { scheduler, phase, rand } = this.#p;
    const mean = 1000 / rate;
    return new Promise<void>((resolve) => {
      const next = (t: number) => {
        if (t > Math.min(until, phase.end)) return resolve();
        scheduler.at(t, (intended) => { fn(intended); next(intended + (this.options.schedule === 'poisson' ? exponential(rand, mean) : mean)); });
      };
      next(now() + rand() * mean);
    });
  }

  signal(u: User, op: 'presence' | 'typing', fields: Record<string, unknown>, intended: number): void {
    this.#p.signals.send(sim(u), op, fields, intended);
  }

  room(u: User): Promise<string> {
    const s = sim(u);
    let p = this.#rooms.get(s.group.index);
    if (!p) {
      const leader = this.#p.users.get(s.group.members[0]!)!;
      p = leader.request<{ chat: string }>('room.create', { name: `load ${s.group.index}`, members: s.group.members.map(this.#p.userId) }).then((r) => r.chat);
      this.#rooms.set(s.group.index, p);
    }
    return p.then((chat) => (s.chat = chat));
  }

  directChat(u: User): string {
    const [a, b] = [u.id, u.peer].sort();
    return `d:${a}:${b}`;
  }

  idle(u: User, timeoutMs?: number): Promise<void> {
    return this.#p.outbox.idle(sim(u), timeoutMs);
  }

  caughtUp(u: User): Promise<void> {
    return this.#p.inbox.caughtUp(sim(u));
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }

  record(metric: MetricName, ms: number): void {
    this.#p.meter.record(metric, ms);
  }

  count(name: string, n?: number): void {
    this.#p.meter.count(name, n);
  }

  error(code: string): void {
    this.#p.meter.error(code);
  }

  async measure<T>(metric: MetricName, fn: () => Promise<T>): Promise<T> {
    const started = now();
    const result = await fn();
    this.#p.meter.record(metric, now() - started);
    return result;
  }
}

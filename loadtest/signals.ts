/**
 * Presence and typing signals: each is sent at its intended time (fire and forget) and timed when
 * it reaches a watcher, from the sender's last intended signal (typing_ms, presence_ms).
 */
import { now } from './clock.ts';
import type { LoadOptions } from './options.ts';
import type { Meter } from './recorder.ts';
import type { SimUser } from './user.ts';

export class Signals {
  readonly #o: LoadOptions;
  readonly #meter: Meter;
  /** Last intended time of a presence/typing signal per sender. */
  readonly #lastSent = new Map<number, number>();

  constructor(o: LoadOptions, meter: Meter) {
    this.#o = o;
    this.#meter = meter;
  }

  /** Sends a presence or typing signal at its intended time (errors are counted). */
  send(u: SimUser, op: 'presence' | 'typing', fields: Record<string, unknown>, intended: number): void {
    this.#lastSent.set(u.index, intended);
    this.#meter.count('scheduled');
    if (now() - intended > this.#o.lateToleranceMs) this.#meter.count('late_sends');
    if (u.write(JSON.stringify({ op, ...fields }))) this.#meter.count('signals'); else this.#meter.count('missed_sends');
  }

  /** A push the user does not interpret: presence and typing events feed the signal metrics. */
  event(f: Record<string, any>, t: number): void {
    if (f.op === 'typing') return this.#received('typing_ms', f.user, t);
    // Presence arrives batched per observer: one frame, one entry per friend that changed.
    if (f.op === 'presence' && Array.isArray(f.users) && !f.bulk) for (const e of f.users as { user?: unknown }[]) this.#received('presence_ms', e.user, t);
  }

  #received(metric: 'typing_ms' | 'presence_ms', user: unknown, t: number): void {
    const prefix = this.#o.userPrefix;
    if (typeof user !== 'string' || !user.startsWith(prefix)) return;
    this.#meter.count('signals_received');
    const sent = this.#lastSent.get(Number(user.slice(prefix.length)));
    if (sent !== undefined) this.#meter.record(metric, t - sent);
  }
}

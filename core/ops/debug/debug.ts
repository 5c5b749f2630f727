/**
 * Per-session debug logging. Each session holds a `DebugSlot`; while its `on` is false the hot
 * path pays one boolean check per frame. Switching a user or a session on (admin API or the
 * `debug-session` flag) arms a time bound; until then the slot records every frame in and out
 * (secrets redacted) and internal events into a per-session ring buffer and a separate sink.
 */
import type { Logger } from 'pino';
import type { Meter } from '../../metrics.ts';

/** Keys whose values never reach a debug log: credentials and private roster notes. */
export const REDACTED_KEYS = new Set(['token', 'accessToken', 'refreshToken', 'password', 'secret', 'authorization', 'note', 'notes']);

/** Copies a parsed frame with every redacted key's value replaced. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACTED_KEYS.has(k) ? '[redacted]' : redact(v);
  return out;
}

function parseFrame(text: string): unknown {
  try {
    return redact(JSON.parse(text));
  } catch {
    return { unparsed: `${text.slice(0, 200)}${text.length > 200 ? '…' : ''}`, bytes: text.length };
  }
}

export interface DebugEntry {
  readonly t: string;
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** Who asked for debug mode, for whom, and until when. */
export interface DebugTarget {
  readonly kind: 'user' | 'session';
  readonly id: string;
  readonly until: number;
  readonly by: string;
  readonly source: 'admin' | 'flag';
}

/** One session's switch and ring buffer. */
export class DebugSlot {
  on = false;
  readonly session: string;
  readonly user: string;
  readonly #owner: DebugLog;
  #ring: DebugEntry[] = [];
  #next = 0;
  /** Lines written to the sink in the current debug period. */
  written = 0;

  constructor(owner: DebugLog, session: string, user: string) {
    this.#owner = owner;
    this.session = session;
    this.user = user;
  }

  /** A frame in or out (parsed, redacted). Call only when `on`. */
  frame(dir: 'in' | 'out', text: string): void {
    this.#record({ t: new Date().toISOString(), kind: 'frame', dir, frame: parseFrame(text) });
  }

  /** An internal event (auth, ack, deliver, flag, rate_limit, close) with its fields. Call only when `on`. */
  event(kind: string, fields: Record<string, unknown> = {}): void {
    this.#record({ t: new Date().toISOString(), kind, ...fields });
  }

  #record(e: DebugEntry): void {
    const size = this.#owner.ringSize;
    if (this.#ring.length < size) this.#ring.push(e);
    else { this.#ring[this.#next] = e; this.#next = (this.#next + 1) % size; }
    this.#owner.write(this, e);
  }

  /** The ring buffer's entries, oldest first. */
  entries(): DebugEntry[] {
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}

export interface DebugOptions {
  /** The main log: switching on and off is audited here. */
  log: Logger;
  /** The separate destination of debug lines (a file in the data dir by default). */
  sink: Logger;
  ringSize?: number;
  /** Upper bound of any debug period, in minutes. */
  maxMinutes?: number;
  /** Ring buffers of closed sessions kept readable, most recent first. */
  keepClosed?: number;
  /** Lines one session may write to the sink per debug period; the ring buffer keeps recording past it. */
  lineBudget?: number;
  meter?: Meter;
}

export class DebugLog {
  readonly ringSize: number;
  readonly #opts: DebugOptions;
  readonly #slots = new Map<string, DebugSlot>();
  readonly #byUser = new Map<string, Set<DebugSlot>>();
  readonly #closed = new Map<string, DebugSlot>();
  readonly #targets = new Map<string, { target: DebugTarget; timer: NodeJS.Timeout }>();
  /** Slots switched on right now: lets callers skip per-user lookups when nobody is traced. */
  active = 0;

  constructor(opts: DebugOptions) {
    this.#opts = opts;
    this.ringSize = opts.ringSize ?? 1000;
  }

  /** Registers a new session; its slot is on when a live target names its user or id. */
  attach(session: string, user: string): DebugSlot {
    const slot = new DebugSlot(this, session, user);
    this.#slots.set(session, slot);
    let set = this.#byUser.get(user);
    if (!set) this.#byUser.set(user, (set = new Set()));
    set.add(slot);
    if (this.#targets.has(`user:${user}`) || this.#targets.has(`session:${session}`)) this.#switch(slot, true);
    return slot;
  }

  /** Unregisters a closed session; its ring stays readable among the last `keepClosed`. */
  detach(slot: DebugSlot): void {
    this.#switch(slot, false);
    this.#slots.delete(slot.session);
    const set = this.#byUser.get(slot.user);
    if (set?.delete(slot) && set.size === 0) this.#byUser.delete(slot.user);
    if (slot.entries().length === 0) return;
    this.#closed.set(slot.session, slot);
    for (const k of this.#closed.keys()) { if (this.#closed.size <= (this.#opts.keepClosed ?? 100)) break; this.#closed.delete(k); }
  }

  #switch(slot: DebugSlot, on: boolean): void {
    if (slot.on === on) return;
    slot.on = on;
    slot.written = 0;
    this.active += on ? 1 : -1;
    this.#opts.meter?.add('parley_debug_sessions', on ? 1 : -1);
    if (on) slot.event('debug_on', { user: slot.user });
  }

  /** Switches debug mode on for a user's or a session's sessions, for `minutes` (bounded by maxMinutes). */
  enable(kind: 'user' | 'session', id: string, minutes: number, by: string, source: DebugTarget['source'] = 'admin'): DebugTarget {
    const bounded = Math.min(minutes, this.#opts.maxMinutes ?? 60);
    const key = `${kind}:${id}`;
    clearTimeout(this.#targets.get(key)?.timer);
    const target: DebugTarget = { kind, id, until: Date.now() + bounded * 60_000, by, source };
    const timer = setTimeout(() => this.disable(kind, id, 'expiry'), bounded * 60_000);
    timer.unref();
    this.#targets.set(key, { target, timer });
    for (const slot of this.#slotsOf(kind, id)) this.#switch(slot, true);
    this.#opts.log.info({ debug: kind, id, minutes: bounded, by, source, until: new Date(target.until).toISOString() }, 'debug logging switched on');
    return target;
  }

  /** Switches a target off; returns whether there was one. */
  disable(kind: 'user' | 'session', id: string, by: string): boolean {
    const key = `${kind}:${id}`;
    const entry = this.#targets.get(key);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.#targets.delete(key);
    for (const slot of this.#slotsOf(kind, id)) {
      const still = this.#targets.has(`user:${slot.user}`) || this.#targets.has(`session:${slot.session}`);
      if (!still) { slot.event('debug_off', { by }); this.#switch(slot, false); }
    }
    this.#opts.log.info({ debug: kind, id, by }, 'debug logging switched off');
    return true;
  }

  #slotsOf(kind: 'user' | 'session', id: string): DebugSlot[] {
    if (kind === 'user') return [...(this.#byUser.get(id) ?? [])];
    const s = this.#slots.get(id);
    return s ? [s] : [];
  }

  target(kind: 'user' | 'session', id: string): DebugTarget | undefined {
    return this.#targets.get(`${kind}:${id}`)?.target;
  }

  targets(): DebugTarget[] {
    return [...this.#targets.values()].map((e) => e.target);
  }

  /** The live slots of a user's sessions. */
  slotsOf(user: string): ReadonlySet<DebugSlot> {
    return this.#byUser.get(user) ?? new Set();
  }

  /** The live slot of a session, if it is connected. */
  slot(session: string): DebugSlot | undefined {
    return this.#slots.get(session);
  }

  /** A session's ring buffer (live or recently closed), or undefined when it has none. */
  ring(session: string): DebugEntry[] | undefined {
    const s = this.#slots.get(session) ?? this.#closed.get(session);
    if (!s || (!s.on && s.entries().length === 0)) return undefined;
    return s.entries();
  }

  /** Writes one entry to the sink. */
  write(slot: DebugSlot, e: DebugEntry): void {
    const budget = this.#opts.lineBudget ?? 100_000;
    if (slot.written > budget) return;
    slot.written++;
    this.#opts.meter?.inc('parley_debug_log_lines_total');
    if (slot.written > budget) {
      this.#opts.sink.warn({ session: slot.session, user: slot.user, budget }, 'debug line budget exhausted; the ring buffer keeps the latest entries');
      return;
    }
    this.#opts.sink.debug({ session: slot.session, user: slot.user, ...e }, e.kind);
  }

  close(): void {
    for (const { timer } of this.#targets.values()) clearTimeout(timer);
    this.#targets.clear();
  }
}

/**
 * The node's registry of live sessions, and the receiving end of the bus: each event is encoded
 * once and handed to every local session of every recipient. The hub tells the bus which users are
 * local: it subscribes to a user's channel with their first session here and unsubscribes with the last.
 */
import { userChannel, type Bus, type BusEvent } from '../bus/types.ts';
import type { CloseName } from '../errors.ts';
import { encode, type ChatId, type Message } from '../protocol.ts';

/** What the hub needs from a session. */
export interface HubSession {
  readonly id: string;
  readonly user: string;
  /**
   * A committed message of one of the user's chats. `own` marks the session that sent it: it gets
   * no frame (its ack tells the client) but advances its cursor here, in commit order.
   */
  deliver(message: Message, text: string, own?: boolean): void;
  /** Sends an already encoded event frame. */
  push(text: string): void;
  close(name: CloseName): void;
  /** Heartbeat: returns false when the peer missed its pong and was reaped. */
  heartbeat(): boolean;
  /** Fills from the store every chat whose last message (older than graceMs) this session was not sent. */
  checkCursors?(graceMs: number): Promise<void>;
}

/** What revealed a gap repaired from the store: a seq that skipped, or the periodic cursor check. */
export type GapTrigger = 'seq' | 'cursor_check';

/** Observes sessions arriving and leaving (presence, social caches). */
export interface HubWatcher {
  added(s: HubSession): void;
  removed(s: HubSession): void;
}

/** One encoding per message object: a node receiving one copy per local recipient's channel encodes it once. */
const encoded = new WeakMap<Message, string>();

/** The `msg` frame of a message, encoded once per message object. */
export function msgFrame(message: Message): string {
  let text = encoded.get(message);
  if (text === undefined) encoded.set(message, (text = encode({ op: 'msg', ...message })));
  return text;
}

export class Hub {
  readonly #byUser = new Map<string, Set<HubSession>>();
  readonly #byId = new Map<string, HubSession>();
  readonly #watchers = new Set<HubWatcher>();
  readonly #bus: Bus | undefined;
  /** Local user → their channel's subscription (settles when active; a failure is retried on resync). */
  readonly #subscribed = new Map<string, Promise<void>>();
  /** Called when subscribing to a user's channel failed (the node is not ready until the bus recovers). */
  onSubscribeFailed: (err: unknown, user: string) => void = () => undefined;
  /** Recipients a message is not delivered to although the sender's node listed them (they just left the chat). */
  excludes: (user: string, chat: ChatId) => boolean = () => false;
  /** Counts gap repairs (the node's metrics plug in here). */
  onGapRepair: (trigger: GapTrigger) => void = () => undefined;
  /** A message older than this and past a session's cursor counts as dropped by the cursor check. */
  gapGraceMs = 2_000;

  constructor(bus?: Bus) {
    this.#bus = bus;
  }

  /**
   * Resolves once the user's channel is subscribed (immediately without a bus, or when it failed:
   * the session then catches up from the store, and the periodic cursor check covers the rest).
   */
  subscribed(user: string): Promise<void> {
    return this.#subscribed.get(user) ?? Promise.resolve();
  }

  gapRepaired(trigger: GapTrigger): void {
    this.onGapRepair(trigger);
  }

  /**
   * Runs the cursor check of every session, a few at a time (each is one store read); a failed
   * check is retried by the next round.
   */
  async checkCursors(): Promise<void> {
    const sessions = [...this.#byId.values()];
    for (let i = 0; i < sessions.length; i += 32) {
      await Promise.all(sessions.slice(i, i + 32).map((s) => s.checkCursors?.(this.gapGraceMs).catch(() => undefined)));
    }
  }

  /** Subscribes again to every local user's channel (after the bus reconnected). */
  resubscribe(): void {
    for (const user of this.#byUser.keys()) this.#subscribe(user);
  }

  #subscribe(user: string): void {
    if (!this.#bus) return;
    const p = this.#bus.subscribe(userChannel(user)).catch((err: unknown) => this.onSubscribeFailed(err, user));
    this.#subscribed.set(user, p);
  }

  /** Registers a watcher; returns a function that removes it. */
  watch(w: HubWatcher): () => void {
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  add(s: HubSession): void {
    this.#byId.set(s.id, s);
    let set = this.#byUser.get(s.user);
    if (!set) {
      this.#byUser.set(s.user, (set = new Set()));
      this.#subscribe(s.user);
    }
    set.add(s);
    for (const w of this.#watchers) w.added(s);
  }

  remove(s: HubSession): void {
    if (!this.#byId.delete(s.id)) return;
    const set = this.#byUser.get(s.user);
    if (set?.delete(s) && set.size === 0) {
      this.#byUser.delete(s.user);
      this.#subscribed.delete(s.user);
      this.#bus?.unsubscribe(userChannel(s.user)).catch(() => undefined);
    }
    for (const w of this.#watchers) w.removed(s);
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Users with at least one session here. */
  get users(): number {
    return this.#byUser.size;
  }

  sessionsOf(user: string): ReadonlySet<HubSession> {
    return this.#byUser.get(user) ?? new Set();
  }

  session(id: string): HubSession | undefined {
    return this.#byId.get(id);
  }

  all(): IterableIterator<HubSession> {
    return this.#byId.values();
  }

  /** Handles one bus event; returns how many sessions it reached. */
  dispatch(event: BusEvent): number {
    let reached = 0;
    switch (event.kind) {
      case 'msg': {
        const text = msgFrame(event.message);
        this.recipients(event, (s, own) => {
          s.deliver(event.message, text, own);
          if (!own) reached++;
        });
        break;
      }
      case 'member': {
        const text = encode({ op: 'member', chat: event.chat, user: event.user, event: event.event });
        for (const user of event.to) for (const s of this.#byUser.get(user) ?? []) { s.push(text); reached++; }
        break;
      }
      case 'kick':
        for (const s of [...(this.#byUser.get(event.user) ?? [])]) { s.close('kicked'); reached++; }
        break;
      case 'expired': {
        const text = encode({ op: 'chat.expired', chat: event.chat });
        for (const user of event.to) for (const s of this.#byUser.get(user) ?? []) { s.push(text); reached++; }
        break;
      }
    }
    return reached;
  }

  /**
   * Every local session a message event reaches, in order. The sending session is included with
   * `own` set: it takes its own message in commit order to advance its cursor, without a frame.
   */
  recipients(event: Extract<BusEvent, { kind: 'msg' }>, visit: (s: HubSession, own: boolean) => void): void {
    for (const user of event.to) {
      const set = this.#byUser.get(user);
      if (set && !this.excludes(user, event.message.chat)) for (const s of set) visit(s, s.id === event.origin);
    }
  }

  /** One sweep of the heartbeat over every session; returns how many were reaped. */
  sweep(): number {
    let reaped = 0;
    for (const s of [...this.#byId.values()]) if (!s.heartbeat()) reaped++;
    return reaped;
  }
}

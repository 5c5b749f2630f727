/**
 * The node's registry of live sessions, and the receiving end of the bus: each event is encoded
 * once and handed to every local session of every recipient.
 */
import type { BusEvent } from '../bus/types.ts';
import type { CloseName } from '../errors.ts';
import { encode, type Message } from '../protocol.ts';

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
}

/** Observes sessions arriving and leaving (presence, social caches). */
export interface HubWatcher {
  added(s: HubSession): void;
  removed(s: HubSession): void;
}

export class Hub {
  readonly #byUser = new Map<string, Set<HubSession>>();
  readonly #byId = new Map<string, HubSession>();
  readonly #watchers = new Set<HubWatcher>();

  /** Registers a watcher; returns a function that removes it. */
  watch(w: HubWatcher): () => void {
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  add(s: HubSession): void {
    this.#byId.set(s.id, s);
    let set = this.#byUser.get(s.user);
    if (!set) this.#byUser.set(s.user, (set = new Set()));
    set.add(s);
    for (const w of this.#watchers) w.added(s);
  }

  remove(s: HubSession): void {
    if (!this.#byId.delete(s.id)) return;
    const set = this.#byUser.get(s.user);
    if (set?.delete(s) && set.size === 0) this.#byUser.delete(s.user);
    for (const w of this.#watchers) w.removed(s);
  }

  get size(): number {
    return this.#byId.size;
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
        const text = encode({ op: 'msg', ...event.message });
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
      if (set) for (const s of set) visit(s, s.id === event.origin);
    }
  }

  /** One sweep of the heartbeat over every session; returns how many were reaped. */
  sweep(): number {
    let reaped = 0;
    for (const s of [...this.#byId.values()]) if (!s.heartbeat()) reaped++;
    return reaped;
  }
}

/**
 * The fan-out bus: how a committed event reaches the sessions of its recipients on every node.
 * Shaped like a broker: a node subscribes only to the channels its connected users need (one per
 * user, plus the cluster control channel), and `publish` resolves when the event left this node or
 * rejects when it could not. The local bus serves one process; the Redis bus carries the same
 * events between nodes, at most once: receivers repair gaps from the store.
 */
import type { ChatId, Message, PresenceState } from '../protocol.ts';
import type { Privacy } from '../store/social.ts';

/** A roster row as it travels: the note stays sealed (base64) until the owner's node opens it. */
export interface RosterEventItem { user: string; state: 'friend' | 'out' | 'in' | 'none'; note?: { kid: string; iv: string; ct: string } }

export type BusEvent =
  | { kind: 'msg'; message: Message; to: readonly string[]; origin?: string }
  | { kind: 'member'; chat: ChatId; user: string; event: 'joined' | 'left'; to: readonly string[] }
  | { kind: 'expired'; chat: ChatId; to: readonly string[] }
  /** A chat's member list changed (control channel): every node drops its cached list. */
  | { kind: 'members'; chat: ChatId; user: string; event: 'joined' | 'left' }
  | { kind: 'kick'; user: string }
  // Social events (core/social/social.ts): state changes every node applies to its caches, and ephemeral pushes.
  | { kind: 'roster'; user: string; ver: number; item: RosterEventItem }
  | { kind: 'block'; user: string; target: string; blocked: boolean }
  | { kind: 'privacy'; user: string; settings: Privacy }
  /** One node's aggregate for a user; receivers take the most available state across nodes. */
  | { kind: 'presence'; user: string; node: string; state: PresenceState; status?: string; ts: number }
  /** A node's presence heartbeat: the announcements of a node silent for presenceNodeTtlMs expire. */
  | { kind: 'node'; node: string; ts: number }
  | { kind: 'typing'; chat: ChatId; user: string; state: 'start' | 'stop'; ttlMs: number; to: readonly string[] }
  | { kind: 'read'; chat: ChatId; user: string; seq: number; to: readonly string[]; origin?: string }
  | { kind: 'readby'; chat: ChatId; counts: Record<number, number>; to: readonly string[] };

/** The channel every node subscribes to: membership invalidations and node heartbeats (rare, small). */
export const CONTROL_CHANNEL = 'ctl';

/** The channel of one user's events; the node of each of the user's sessions subscribes to it. */
export function userChannel(user: string): string {
  return `u:${user}`;
}

/** Whether the bus carries events right now, and why not. */
export type BusStatus = { ready: true } | { ready: false; reason: string; since: number };

export interface Bus {
  /** Publishes one event to one channel; rejects when it could not be published (the event is then lost for live delivery). */
  publish(channel: string, event: BusEvent): Promise<void>;
  /** This node starts receiving a channel. Calls are applied in order per channel; resolves once active. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Registers the node's handler of every subscribed channel's events; returns a function that removes it. */
  onEvent(handler: (event: BusEvent, channel: string) => void): () => void;
  /**
   * Called when events may have been missed (the bus reconnected): caches fed by the bus must be
   * dropped and live sessions must check their cursors against the store.
   */
  onResync(handler: () => void): () => void;
  status(): BusStatus;
  /** Whether events can be lost in transit (at most once): the node then runs the periodic cursor check. */
  readonly lossy: boolean;
  /** A node's presence directory, shared by every node of the bus. */
  readonly directory: PresenceDirectory;
  close(): Promise<void>;
}

/** One node's aggregate presence of a user, as stored in the directory. */
export interface DirectoryEntry { state: PresenceState; status?: string; ts: number }

/**
 * Where a node looks up the presence of users whose announcements it never received (it had no
 * watcher subscribed then). Entries of a node that stopped heartbeating read as absent.
 */
export interface PresenceDirectory {
  /** Records (or with undefined, removes) `node`'s aggregate for `user`. */
  put(user: string, node: string, entry: DirectoryEntry | undefined): Promise<void>;
  /** Every live node's aggregate of each user asked for. */
  get(users: readonly string[]): Promise<Map<string, Map<string, DirectoryEntry>>>;
  /** `node` is alive for the next `ttlMs`. */
  alive(node: string, ttlMs: number): Promise<void>;
}

/** The user a channel belongs to, or undefined for the control channel. */
export function channelUser(channel: string): string | undefined {
  return channel.startsWith('u:') ? channel.slice(2) : undefined;
}

/**
 * The event as seen on one user's channel: its recipient list narrowed to that user, so a node
 * hosting several recipients, which receives one copy per channel, delivers each copy once.
 */
export function scoped(event: BusEvent, channel: string): BusEvent {
  const user = channelUser(channel);
  if (user === undefined || !('to' in event)) return event;
  return { ...event, to: [user] };
}

/**
 * Publishes one event to several channels; resolves when all are out and rejects with the first
 * failure (every channel is still attempted).
 */
export async function publishAll(bus: Bus, channels: Iterable<string>, event: BusEvent): Promise<void> {
  const results = await Promise.allSettled([...new Set(channels)].map((ch) => bus.publish(ch, event)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * A publisher for code that must not fail after a commit: failures are handed to `onFailed`
 * (counted and logged by the node) and never reach the caller.
 */
export class Outbox {
  readonly bus: Bus;
  readonly #onFailed: (err: unknown, event: BusEvent) => void;

  constructor(bus: Bus, onFailed: (err: unknown, event: BusEvent) => void) {
    this.bus = bus;
    this.#onFailed = onFailed;
  }

  /** Publishes to each user's channel; resolves to false when some channel failed. */
  toUsers(users: Iterable<string>, event: BusEvent): Promise<boolean> {
    return this.#settle(publishAll(this.bus, [...users].map(userChannel), event), event);
  }

  toChannel(channel: string, event: BusEvent): Promise<boolean> {
    return this.#settle(this.bus.publish(channel, event), event);
  }

  #settle(p: Promise<void>, event: BusEvent): Promise<boolean> {
    return p.then(() => true, (err: unknown) => {
      try { this.#onFailed(err, event); } catch { /* a failing reporter must not turn into an unhandled rejection */ }
      return false;
    });
  }
}

/**
 * The fan-out bus: how a committed event reaches the sessions of its recipients on every node.
 * The local bus serves one process; a Redis bus carries the same events between nodes.
 */
import type { ChatId, Message, PresenceState } from '../protocol.ts';
import type { Privacy } from '../store/social.ts';

/** A roster row as it travels: the note stays sealed (base64) until the owner's node opens it. */
export interface RosterEventItem { user: string; state: 'friend' | 'out' | 'in' | 'none'; note?: { kid: string; iv: string; ct: string } }

export type BusEvent =
  | { kind: 'msg'; message: Message; to: readonly string[]; origin?: string }
  | { kind: 'member'; chat: ChatId; user: string; event: 'joined' | 'left'; to: readonly string[] }
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

export interface Bus {
  publish(event: BusEvent): void;
  /** Registers the node's handler; returns an unsubscribe function. */
  subscribe(handler: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

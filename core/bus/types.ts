/**
 * The fan-out bus: how a committed event reaches the sessions of its recipients on every node.
 * The local bus serves one process; a Redis bus carries the same events between nodes.
 */
import type { ChatId, Message } from '../protocol.ts';

export type BusEvent =
  | { kind: 'msg'; message: Message; to: readonly string[]; origin?: string }
  | { kind: 'member'; chat: ChatId; user: string; event: 'joined' | 'left'; to: readonly string[] }
  | { kind: 'kick'; user: string };

export interface Bus {
  publish(event: BusEvent): void;
  /** Registers the node's handler; returns an unsubscribe function. */
  subscribe(handler: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

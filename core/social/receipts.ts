/**
 * Read receipts: a per-user read marker per conversation that only moves forward and never past
 * the last seq. In a 1:1 a move notifies the other member; in a room it feeds an aggregate "read
 * by" count per message, pushed at most once per room per window. The user's own other sessions
 * always learn the marker (unread counts follow from it); others only when the user shares receipts.
 */
import type { Outbox } from '../bus/types.ts';
import type { ChatService } from '../chat/chat.ts';
import { ParleyError } from '../errors.ts';
import type { PrivacySettings } from './privacy.ts';
import { directMembers, LIMITS, type ChatId } from '../protocol.ts';
import type { SocialStore } from '../store/social.ts';

export class Receipts {
  readonly #store: SocialStore;
  readonly #out: Outbox;
  readonly #chat: ChatService;
  readonly #privacy: PrivacySettings;
  readonly #windowMs: number;
  readonly #relay: (user: string) => boolean;
  /** Rooms whose counts changed: the seq range that changed, flushed once per window. */
  readonly #dirty = new Map<ChatId, { from: number; to: number; timer: NodeJS.Timeout }>();

  /** `relay` is the `read-receipts` flag: while it is off for a user, their reads are not shared with others. */
  constructor(store: SocialStore, out: Outbox, chat: ChatService, privacy: PrivacySettings, windowMs: number, relay: (user: string) => boolean = () => true) {
    this.#store = store;
    this.#out = out;
    this.#chat = chat;
    this.#privacy = privacy;
    this.#windowMs = windowMs;
    this.#relay = relay;
  }

  async read(user: string, chat: ChatId, seq: number, origin?: string): Promise<{ chat: ChatId; seq: number; unread: number }> {
    const share = (await this.#privacy.get(user)).receipts && this.#relay(user);
    const move = await this.#store.markRead(user, chat, seq, share);
    if (move.read > move.prev) void this.#out.toUsers([user], { kind: 'read', chat, user, seq: move.read, to: [user], origin });
    if (move.shared > move.prevShared) {
      const members = [...((await this.#chat.membersOf(chat)) ?? [])].filter((m) => m !== user);
      if (directMembers(chat)) void this.#out.toUsers(members, { kind: 'read', chat, user, seq: move.shared, to: members });
      else this.#touch(chat, move.prevShared + 1, move.shared);
    }
    return { chat, seq: move.read, unread: move.last - move.read };
  }

  /** "Read by" counts for [from, to] of a conversation the user belongs to. */
  async readBy(user: string, chat: ChatId, from: number, to: number): Promise<{ chat: ChatId; counts: Record<number, number> }> {
    if (!(await this.#chat.isMember(user, chat))) throw new ParleyError('not_member', `you are not a member of ${chat}`, { chat });
    return { chat, counts: await this.#store.readCounts(chat, from, to) };
  }

  #touch(chat: ChatId, from: number, to: number): void {
    const d = this.#dirty.get(chat);
    if (d) { d.from = Math.min(d.from, from); d.to = Math.max(d.to, to); return; }
    // A flush racing the store's close loses only an ephemeral push; the counts stay queryable.
    const timer = setTimeout(() => void this.#flush(chat).catch(() => undefined), this.#windowMs);
    timer.unref();
    this.#dirty.set(chat, { from, to, timer });
  }

  /** Pushes the counts of the changed range, newest first, at most maxReadByRange seqs (clients fetch older ones with `readby`). */
  async #flush(chat: ChatId): Promise<void> {
    const d = this.#dirty.get(chat);
    this.#dirty.delete(chat);
    if (!d) return;
    const from = Math.max(d.from, d.to - LIMITS.maxReadByRange + 1);
    const [counts, members] = await Promise.all([this.#store.readCounts(chat, from, d.to), this.#chat.membersOf(chat)]);
    if (members) void this.#out.toUsers(members, { kind: 'readby', chat, counts, to: [...members] });
  }

  close(): void {
    for (const d of this.#dirty.values()) clearTimeout(d.timer);
    this.#dirty.clear();
  }
}

/**
 * The node's cache of chat member lists, kept honest across nodes: every membership change (local,
 * or heard on the bus from another node) drops the cached list, and changes heard in the last few
 * seconds are laid over every list read from the store. That covers both races: a read that
 * started before the change committed, and an event that arrived before the write was visible here.
 */
import type { ChatId } from '../protocol.ts';

/** How many chats' member lists stay cached. */
const MAX_CHATS = 100_000;
/** How long a change is laid over store reads: longer than any commit-to-visibility delay. */
export const RECENT_CHANGE_MS = 5_000;

interface Change { user: string; joined: boolean; at: number }

export class MemberCache {
  readonly #lists = new Map<ChatId, Set<string>>();
  readonly #recent = new Map<ChatId, Change[]>();

  has(chat: ChatId): boolean {
    return this.#lists.has(chat);
  }

  /** The cached list, or the store's (through `load`) with recent changes applied; undefined for an unknown chat. */
  async get(chat: ChatId, load: () => Promise<readonly string[] | undefined>): Promise<Set<string> | undefined> {
    const hit = this.#lists.get(chat);
    if (hit) return hit;
    const list = await load();
    if (!list) return undefined;
    // Another read may have cached the chat meanwhile: one list per chat, so every caller sees the same changes.
    const again = this.#lists.get(chat);
    if (again) return again;
    const members = new Set(list);
    this.#overlay(chat, members);
    this.set(chat, members);
    return members;
  }

  set(chat: ChatId, members: Set<string>): void {
    if (this.#lists.size >= MAX_CHATS) this.#lists.delete(this.#lists.keys().next().value!);
    this.#lists.set(chat, members);
  }

  /** A member joined or left (on any node): the cached list is dropped and the change remembered. */
  changed(chat: ChatId, user: string, joined: boolean): void {
    const now = Date.now();
    const list = (this.#recent.get(chat) ?? []).filter((c) => now - c.at < RECENT_CHANGE_MS);
    list.push({ user, joined, at: now });
    this.#recent.set(chat, list);
    this.#lists.delete(chat);
    if (this.#recent.size > 1024) this.#prune(now);
  }

  /** Whether the user's last change in the chat, within the recent window, was leaving it. */
  leftRecently(chat: ChatId, user: string): boolean {
    const list = this.#recent.get(chat);
    if (!list) return false;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i]!;
      if (c.user !== user) continue;
      return !c.joined && Date.now() - c.at < RECENT_CHANGE_MS;
    }
    return false;
  }

  /** Drops one chat's list, so the next read goes to the store. */
  forget(chat: ChatId): void {
    this.#lists.delete(chat);
  }

  /** Forgets every list (the bus may have missed changes); recent changes stay. */
  clear(): void {
    this.#lists.clear();
  }

  #overlay(chat: ChatId, members: Set<string>): void {
    const list = this.#recent.get(chat);
    if (!list) return;
    const now = Date.now();
    for (const c of list) {
      if (now - c.at >= RECENT_CHANGE_MS) continue;
      if (c.joined) members.add(c.user); else members.delete(c.user);
    }
  }

  #prune(now: number): void {
    for (const [chat, list] of this.#recent) if (list.every((c) => now - c.at >= RECENT_CHANGE_MS)) this.#recent.delete(chat);
  }
}

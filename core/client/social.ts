/**
 * Client side of the social layer: friends, blocks, presence, typing, receipts and privacy
 * settings over a ParleyClient. Keeps the views a UI renders (roster with its version, friends'
 * presence, who is typing where) current from the server's push frames. Attach it before
 * `connect()` so the bulk presence frame sent on login is not missed.
 */
import type { ChatId, PresenceItem, PresenceState, Privacy, RosterItem } from '../protocol.ts';
import { Emitter } from './emitter.ts';
import type { ParleyClient } from './index.ts';

export type { PresenceItem, Privacy, RosterItem } from '../protocol.ts';

export interface SocialEvents {
  presence: [{ users: PresenceItem[]; bulk: boolean }];
  roster: [{ ver: number; item: RosterItem }];
  block: [{ user: string; blocked: boolean }];
  typing: [{ chat: ChatId; user: string; state: 'start' | 'stop'; ttlMs: number }];
  read: [{ chat: ChatId; user: string; seq: number }];
  readby: [{ chat: ChatId; counts: Record<string, number> }];
  settings: [Privacy];
}

export class SocialClient extends Emitter<SocialEvents> {
  readonly client: ParleyClient;
  /** Friends' presence as last pushed. */
  readonly presence = new Map<string, PresenceItem>();
  /** The roster as fetched and pushed; persist `rosterVer` with it to fetch only changes next time. */
  readonly roster = new Map<string, RosterItem>();
  rosterVer: number | undefined;
  /** chat → user → when their indicator expires (epoch ms). */
  readonly #typing = new Map<ChatId, Map<string, number>>();
  presenceFrames = 0;
  bulkFrames = 0;

  constructor(client: ParleyClient) {
    super();
    this.client = client;
    client.on('event', (f) => this.#on(f as { op: string } & Record<string, any>));
    // A message from a typer ends their indicator; the server relays no separate "stop".
    client.on('message', (m) => this.#typing.get(m.chat)?.delete(m.from));
  }

  #on(f: { op: string } & Record<string, any>): void {
    switch (f.op) {
      case 'presence':
        if (f.bulk) this.bulkFrames++; else this.presenceFrames++;
        for (const p of f.users as PresenceItem[]) this.presence.set(p.user, p);
        this.emit('presence', { users: f.users, bulk: f.bulk === true });
        return;
      case 'roster.push':
        this.#applyRoster(f.item as RosterItem);
        if (this.rosterVer !== undefined && f.ver === this.rosterVer + 1) this.rosterVer = f.ver;
        this.emit('roster', { ver: f.ver, item: f.item });
        return;
      case 'block.push': this.emit('block', { user: f.user, blocked: f.blocked }); return;
      case 'typing': {
        let users = this.#typing.get(f.chat);
        if (!users) this.#typing.set(f.chat, (users = new Map()));
        if (f.state === 'start') users.set(f.user, Date.now() + f.ttlMs); else users.delete(f.user);
        this.emit('typing', f as never);
        return;
      }
      case 'read': this.emit('read', f as never); return;
      case 'readby': this.emit('readby', f as never); return;
      case 'settings.push': this.emit('settings', f.settings); return;
    }
  }

  #applyRoster(item: RosterItem): void {
    if (item.state === 'none') this.roster.delete(item.user); else this.roster.set(item.user, item);
  }

  /** Who is typing in a chat now (indicators expire by themselves after their TTL). */
  typingIn(chat: ChatId): string[] {
    const now = Date.now();
    return [...(this.#typing.get(chat) ?? [])].filter(([, until]) => until > now).map(([u]) => u).sort();
  }

  async #item(op: string, user: string): Promise<RosterItem> {
    return (await this.client.request<{ item: RosterItem }>(op, { user })).item;
  }

  requestFriend(user: string): Promise<RosterItem> { return this.#item('friend.request', user); }
  accept(user: string): Promise<RosterItem> { return this.#item('friend.accept', user); }
  decline(user: string): Promise<RosterItem> { return this.#item('friend.decline', user); }
  cancel(user: string): Promise<RosterItem> { return this.#item('friend.cancel', user); }
  removeFriend(user: string): Promise<RosterItem> { return this.#item('friend.remove', user); }

  /** Fetches the roster: only the changes since the version held, or the whole roster. */
  async fetchRoster(): Promise<{ ver: number; full: boolean; items: RosterItem[] }> {
    const page = await this.client.request<{ ver: number; full: boolean; items: RosterItem[] }>('roster', this.rosterVer === undefined ? {} : { ver: this.rosterVer });
    if (page.full) this.roster.clear();
    for (const item of page.items) this.#applyRoster(item);
    this.rosterVer = page.ver;
    return page;
  }

  setNote(user: string, note: string | null): Promise<RosterItem> {
    return this.client.request<{ item: RosterItem }>('note.set', { user, note }).then((r) => r.item);
  }

  block(user: string): Promise<{ user: string; blocked: boolean; changed: boolean }> { return this.client.request('block', { user }); }
  unblock(user: string): Promise<{ user: string; blocked: boolean; changed: boolean }> { return this.client.request('unblock', { user }); }
  blocks(after?: string, limit?: number): Promise<{ users: string[]; next?: string }> {
    return this.client.request('blocks', { ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
  }

  setPresence(state: Exclude<PresenceState, 'offline'>, status?: string): Promise<PresenceItem> {
    return this.client.request('presence', { state, ...(status !== undefined ? { status } : {}) });
  }

  /** Sends a typing indicator; resolves with whether the server relayed it. */
  typing(chat: ChatId, state: 'start' | 'stop'): Promise<{ sent: boolean; reason?: string }> {
    return this.client.request('typing', { chat, state });
  }

  read(chat: ChatId, seq: number): Promise<{ chat: ChatId; seq: number; unread: number }> {
    return this.client.request('read', { chat, seq });
  }

  readBy(chat: ChatId, from: number, to: number): Promise<{ chat: ChatId; counts: Record<string, number> }> {
    return this.client.request('readby', { chat, from, to });
  }

  settings(patch: Partial<Privacy> = {}): Promise<Privacy> {
    return this.client.request('settings', patch);
  }
}

/**
 * Conversations and messages, independent of transport: the socket sessions and the REST API
 * both call this. Persist, then ack, then fan out: `send` resolves only after the store committed,
 * and starts the publish to each member's channel before resolving so fan-out order is commit
 * order. A publish that fails after the commit is reported (hooks.fanoutFailed), never un-acked:
 * receivers repair the gap from the store.
 */
import { randomBytes } from 'node:crypto';
import { CONTROL_CHANNEL, Outbox, type Bus, type BusEvent } from '../bus/types.ts';
import { MemberCache } from './members.ts';
import { HistoryCache, type RecentCache } from './history-cache.ts';
import { searchMessages, type SearchInput } from './search.ts';
import { ParleyError } from '../errors.ts';
import { directChatId, directMembers, LIMITS, type ChatId, type ChatSummary, type Message, type RoomPolicy, type SearchResult } from '../protocol.ts';
import type { Store } from '../store/types.ts';
import type { AttachmentStore } from '../store/attachments.ts';

export interface SendInput {
  chat?: ChatId;
  to?: string;
  cmid: string;
  body: string;
  /** Ids of the sender's own uploads to this chat (core/attachments). */
  attachments?: readonly string[];
}

export interface SendResult {
  message: Message;
  dup: boolean;
}

/** Policy hooks other subsystems plug in (core/social/social.ts: blocks). */
export interface ChatHooks {
  /** Called before a 1:1 conversation is opened or posted to; throws to refuse. */
  beforeDirect?: (user: string, peer: string) => Promise<void>;
  /** Called when a publish of a committed change failed: the send still succeeds (it is stored). */
  fanoutFailed?: (err: unknown, event: BusEvent) => void;
}

/** Cached member sets are replaced, never changed, once cached: each is listed once for every publish to it. */
const lists = new WeakMap<ReadonlySet<string>, readonly string[]>();
function listOf(members: ReadonlySet<string>): readonly string[] {
  let list = lists.get(members);
  if (!list) lists.set(members, (list = Object.freeze([...members])));
  return list;
}

export class ChatService {
  readonly #store: Store;
  readonly #out: Outbox;
  /** chat → members, for membership checks and fan-out without a store read per message. */
  readonly #members = new MemberCache();
  #inFlight = 0;
  #draining = false;
  #idle: (() => void)[] = [];

  /** Set once at assembly, before the node accepts connections. */
  hooks: ChatHooks;
  /** Lifetimes an ephemeral room may ask for, and the one it gets when it names none (settings ephemeral*). */
  ephemeral = { defaultMs: 86_400_000, minMs: 60_000, maxMs: 30 * 86_400_000 };
  /** Where uploads live; set once at assembly. Without it a message cannot reference attachments. */
  attachments: Pick<AttachmentStore, 'claim' | 'deleteChat' | 'purge'> | undefined;
  /** Fault injection (setting faultDelayMs): extra delay before each commit, to prove the release gate catches it. */
  faultDelayMs = 0;

  /** The last messages of active chats (chat/history-cache.ts, or in Redis for a cluster); disabled unless the node passes one. */
  readonly historyCache: RecentCache;

  constructor(store: Store, bus: Bus, hooks: ChatHooks = {}, historyCache: RecentCache = new HistoryCache({ perChat: 0, maxBytes: 0 })) {
    this.#store = store;
    this.historyCache = historyCache;
    this.hooks = hooks;
    this.#out = new Outbox(bus, (err, event) => this.hooks.fanoutFailed?.(err, event));
  }

  get store(): Store {
    return this.#store;
  }

  /** Refuses new sends with shutting_down; those already started finish. */
  stopAccepting(): void {
    this.#draining = true;
  }

  /** Sends currently between receipt and commit. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves when no send is between receipt and commit. */
  async idle(): Promise<void> {
    if (this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  async send(user: string, input: SendInput, origin?: string): Promise<SendResult> {
    if (this.#draining) throw new ParleyError('shutting_down', 'the node is draining; reconnect and retry with the same cmid');
    this.#inFlight++;
    try {
      const chat = input.chat ?? (await this.openDirect(user, input.to!));
      // A 1:1 chat addressed by id is created by its first message, like one addressed by user.
      const pair = directMembers(chat);
      if (pair && !this.#members.has(chat) && pair.includes(user)) await this.openDirect(user, pair[0] === user ? pair[1] : pair[0]);
      const members = await this.#requireMember(user, chat);
      if (pair && input.chat !== undefined) await this.hooks.beforeDirect?.(user, pair[0] === user ? pair[1] : pair[0]);
      if (input.attachments?.length) await this.#claim(user, chat, input.attachments);
      if (this.faultDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.faultDelayMs));
      const item = { chat, from: user, cmid: input.cmid, body: input.body, ts: Date.now() };
      const [result] = await this.#store.append([input.attachments?.length ? { ...item, attachments: input.attachments } : item]);
      if (!result!.ok) throw new ParleyError(result!.code, result!.message);
      // A retried send was delivered the first time; fan out only new messages.
      if (!result!.dup) {
        this.historyCache.append(result!.message);
        // The message is committed: a fan-out failure must not turn it into an error the client retries.
        void this.#out.toUsers(members, { kind: 'msg', message: result!.message, to: listOf(members), origin });
      }
      return { message: result!.message, dup: result!.dup };
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * Marks the uploads a message references as referenced, before the message is stored: a message
   * never names an upload the collector could take. A failed append leaves them claimed (kept with
   * the chat), never dangling.
   */
  async #claim(user: string, chat: ChatId, ids: readonly string[]): Promise<void> {
    const claimed = new Set(this.attachments ? await this.attachments.claim(chat, user, ids) : []);
    const missing = ids.filter((id) => !claimed.has(id));
    if (missing.length) {
      throw new ParleyError('attachment_not_found', `a message may reference only your own uploads to ${chat}; not found there: ${missing.join(', ')}`, { attachments: missing });
    }
  }

  /** The 1:1 chat of `user` and `to`, created on first use. */
  async openDirect(user: string, to: string): Promise<ChatId> {
    if (to === user) throw new ParleyError('self_chat', `a 1:1 conversation needs two different users, got "${to}" twice`);
    await this.hooks.beforeDirect?.(user, to);
    const chat = directChatId(user, to);
    if (!this.#members.has(chat)) {
      await this.#store.ensureDirect(chat, user, to);
      this.#cache(chat, new Set([user, to]));
    }
    return chat;
  }

  /** The members of a chat the user belongs to; not_member otherwise (also for unknown chats). */
  async #requireMember(user: string, chat: ChatId): Promise<Set<string>> {
    let members = await this.membersOf(chat);
    // A join made through another node may not have reached this cache yet: ask the store before refusing.
    if (members && !members.has(user) && !directMembers(chat)) {
      this.#members.forget(chat);
      members = await this.membersOf(chat);
    }
    if (!members?.has(user)) throw new ParleyError('not_member', `you are not a member of ${chat}`, { chat });
    return members;
  }

  membersOf(chat: ChatId): Promise<Set<string> | undefined> {
    return this.#members.get(chat, () => this.#store.members(chat));
  }

  #cache(chat: ChatId, members: Set<string>): void {
    this.#members.set(chat, members);
  }

  /** A membership change of any node (the control channel): this node's cached list is dropped. */
  apply(event: BusEvent): void {
    if (event.kind === 'members') this.#members.changed(event.chat, event.user, event.event === 'joined');
  }

  /**
   * Whether `user` left `chat` moments ago (on any node): a message another node fanned out from a
   * member list that still had them is not delivered to them.
   */
  leftRecently(user: string, chat: ChatId): boolean {
    return this.#members.leftRecently(chat, user);
  }

  /** The bus may have missed membership changes (it reconnected): every cached list is dropped. */
  resync(): void {
    this.#members.clear();
  }

  /** Records a committed membership change here, tells every node, and pushes `member` to the members. */
  #changed(chat: ChatId, user: string, event: 'joined' | 'left', to: readonly string[]): void {
    this.#members.changed(chat, user, event === 'joined');
    void this.#out.toChannel(CONTROL_CHANNEL, { kind: 'members', chat, user, event });
    void this.#out.toUsers(to, { kind: 'member', chat, user, event, to });
  }

  async isMember(user: string, chat: ChatId): Promise<boolean> {
    return (await this.membersOf(chat))?.has(user) ?? false;
  }

  async history(user: string, chat: ChatId, before: number | undefined, limit: number = LIMITS.defaultHistoryLimit): Promise<{ messages: Message[]; more: boolean }> {
    await this.#requireMember(user, chat);
    const page = (await this.historyCache.before(chat, before, limit)) ?? await this.#readBefore(chat, before, limit);
    const more = page.length > limit;
    return { messages: more ? page.slice(1) : page, more };
  }

  /** Full-text search of the user's chats (chat/search.ts); a named chat must be one of theirs (not_member). */
  async search(user: string, input: SearchInput): Promise<SearchResult> {
    if (input.chat !== undefined) await this.#requireMember(user, input.chat);
    return searchMessages(this.#store, user, input);
  }

  /** A first page the cache missed fills it from one store read, then answers from it when it can. */
  async #readBefore(chat: ChatId, before: number | undefined, limit: number): Promise<Message[]> {
    if (before === undefined && this.historyCache.enabled) {
      let asked = 0;
      const read = await this.historyCache.fill(chat, (n) => this.#store.before(chat, undefined, (asked = n)));
      // The fill's own store read answers when it holds the page, or the whole chat.
      if (read && (read.length > limit || read.length < asked)) return read.slice(-(limit + 1));
      const page = await this.historyCache.before(chat, undefined, limit, false);
      if (page) return page;
    }
    return this.#store.before(chat, before, limit + 1);
  }

  /** Messages after `seq` for a member, ascending. */
  async after(user: string, chat: ChatId, seq: number, limit: number): Promise<Message[]> {
    await this.#requireMember(user, chat);
    return this.catchUp(chat, seq, limit);
  }

  /** Messages after `seq`, ascending, from the hot cache when it reaches back that far (a resume's catch-up). */
  async catchUp(chat: ChatId, seq: number, limit: number): Promise<Message[]> {
    return (await this.historyCache.after(chat, seq, limit)) ?? this.#store.after(chat, seq, limit);
  }

  chats(user: string): Promise<ChatSummary[]> {
    return this.#store.userChats(user);
  }

  /** The cursor to resume each of the user's chats from: the client's where given, else the server's delivered cursor. */
  async resumePlan(user: string, cursors: Record<ChatId, number> | undefined): Promise<Map<ChatId, number>> {
    const plan = await this.#store.deliveredCursors(user);
    for (const [chat, seq] of Object.entries(cursors ?? {})) {
      // A cursor of a conversation the user left is stale client state, not an error: failing the
      // whole sync would keep the client from ever resuming. Its absence from `synced` says so.
      if (plan.has(chat)) plan.set(chat, seq);
    }
    // A cursor past the end (a client ahead of a restored store) would swallow every later
    // message up to it: resume from the last seq instead.
    for (const { chat, lastSeq } of await this.#store.userChats(user)) {
      if ((plan.get(chat) ?? 0) > lastSeq) plan.set(chat, lastSeq);
    }
    return plan;
  }

  async markDelivered(user: string, chat: ChatId, seq: number): Promise<void> {
    await this.#requireMember(user, chat);
    const lastSeq = (await this.#store.chatInfo(chat))?.lastSeq ?? 0;
    if (seq > lastSeq) throw new ParleyError('cursor_past_end', `the delivered cursor must be at most the last seq ${lastSeq} of ${chat}, got ${seq}`, { chat, lastSeq });
    await this.#store.advanceCursor(user, chat, 'delivered', seq);
  }

  async createRoom(user: string, name: string | undefined, invited: readonly string[] = [], policy: RoomPolicy = 'invite', ephemeral?: { lifetimeMs?: number }): Promise<{ chat: ChatId; members: string[]; policy: RoomPolicy; lifetimeMs?: number }> {
    const lifetimeMs = ephemeral ? ephemeral.lifetimeMs ?? this.ephemeral.defaultMs : undefined;
    if (lifetimeMs !== undefined && (lifetimeMs < this.ephemeral.minMs || lifetimeMs > this.ephemeral.maxMs)) {
      throw new ParleyError('bad_field', `"lifetimeMs" must be in [${this.ephemeral.minMs}, ${this.ephemeral.maxMs}] on this node, got ${lifetimeMs}`, { field: 'lifetimeMs' });
    }
    const chat = `r:${randomBytes(10).toString('hex')}`;
    await this.#store.createRoom(chat, name, user, invited, policy, lifetimeMs);
    const members = new Set([user, ...invited]);
    this.#cache(chat, members);
    // A new room is in no node's cache: the members hear of it, no invalidation is needed.
    for (const u of members) if (u !== user) void this.#out.toUsers(members, { kind: 'member', chat, user: u, event: 'joined', to: [...members] });
    return lifetimeMs === undefined ? { chat, members: [...members].sort(), policy } : { chat, members: [...members].sort(), policy, lifetimeMs };
  }

  /**
   * Deletes a lapsed ephemeral chat (chat/expiry.ts) if it is still lapsed at `now`: the store's
   * rows, the hot cache and the member cache; its members get chat.expired. False when a message
   * renewed it meanwhile.
   */
  async expire(chat: ChatId, now: number): Promise<boolean> {
    const members = await this.#store.deleteChat(chat, now);
    await this.historyCache.clear(chat);
    if (!members.length) return false;
    await this.attachments?.deleteChat(chat);
    this.#members.forget(chat);
    void this.#out.toUsers(members, { kind: 'expired', chat, to: members });
    return true;
  }

  /** Open rooms are joinable by id; invite-only rooms only through a member's invite; 1:1 chats never change members. */
  async join(user: string, chat: ChatId): Promise<void> {
    if (directMembers(chat)) throw new ParleyError('forbidden', `1:1 conversations have fixed members; ${chat} cannot be joined`);
    const members = await this.membersOf(chat);
    if (!members) throw new ParleyError('not_found', `no room ${chat}`, { chat });
    if (members.has(user)) throw new ParleyError('already_member', `you are already a member of ${chat}`, { chat });
    if ((await this.#store.chatInfo(chat))?.policy !== 'open') throw new ParleyError('invite_only', `${chat} is invite-only: a member must invite you (room.invite)`, { chat });
    await this.#store.addMember(chat, user);
    this.#changed(chat, user, 'joined', [...members, user]);
  }

  async invite(user: string, chat: ChatId, target: string): Promise<void> {
    if (directMembers(chat)) throw new ParleyError('forbidden', `1:1 conversations have fixed members; nobody can be invited to ${chat}`);
    const members = await this.#requireMember(user, chat);
    if (members.has(target)) throw new ParleyError('already_member', `${target} is already a member of ${chat}`, { chat });
    await this.#store.addMember(chat, target);
    this.#changed(chat, target, 'joined', [...members, target]);
  }

  async leave(user: string, chat: ChatId): Promise<void> {
    if (directMembers(chat)) throw new ParleyError('forbidden', `1:1 conversations have fixed members; ${chat} cannot be left`);
    const members = await this.#requireMember(user, chat);
    await this.#store.removeMember(chat, user);
    this.#changed(chat, user, 'left', [...members]);
  }

  async members(user: string, chat: ChatId): Promise<string[]> {
    return [...(await this.#requireMember(user, chat))].sort();
  }
}

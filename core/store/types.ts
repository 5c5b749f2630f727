/**
 * The store interface: everything messaging needs from durable storage. SQLite implements it for
 * one machine; another engine (PostgreSQL) implements the same contract for many.
 */
import type { ChatId, ChatSummary, Message, RoomPolicy } from '../protocol.ts';
import type { SocialStore } from './social.ts';
import type { SearchQuery, SearchRow } from './search.ts';

export interface AppendItem {
  chat: ChatId;
  from: string;
  cmid: string;
  body: string;
  ts: number;
  /** Attachment ids the message references, already checked against the attachment store. */
  attachments?: readonly string[];
}

/** The committed message; `dup` when (from, cmid) already existed and nothing new was written. */
export type AppendResult =
  | { ok: true; message: Message; dup: boolean }
  | { ok: false; code: 'cmid_conflict' | 'not_member'; message: string };

export interface ChatInfo {
  chat: ChatId;
  kind: 'direct' | 'room';
  name?: string;
  /** Rooms only: who may join by id. */
  policy?: RoomPolicy;
  /** Ephemeral chats: how long after the last message (or the creation) they expire. */
  lifetimeMs?: number;
  lastSeq: number;
}

export type CursorKind = 'delivered' | 'read';

/**
 * Why a store refuses writes. 'full' (no space) and 'io' (I/O error, read-only disk) clear by
 * themselves once the disk takes writes again; 'flush' (a failed WAL fdatasync) needs a restart.
 */
export interface StoreFault {
  /** full, io, flush: the embedded store's disk; unreachable: the PostgreSQL store's database. */
  readonly kind: 'full' | 'io' | 'flush' | 'unreachable';
  readonly message: string;
  /** When the store stopped writing, ms since the epoch. */
  readonly since: number;
}

export interface Store {
  /** Rosters, notes, blocks, privacy settings and read markers (store/social.ts). */
  readonly social: SocialStore;
  /** Creates the 1:1 chat of `a` and `b` if it does not exist. Idempotent. */
  ensureDirect(chat: ChatId, a: string, b: string): Promise<void>;
  /** `lifetimeMs` makes the room ephemeral: it expires that long after its last message (or its creation). */
  createRoom(chat: ChatId, name: string | undefined, creator: string, members: readonly string[], policy: RoomPolicy, lifetimeMs?: number): Promise<void>;
  /** Adds a member; false when already a member. */
  addMember(chat: ChatId, user: string): Promise<boolean>;
  /** Removes a member; false when not a member. */
  removeMember(chat: ChatId, user: string): Promise<boolean>;
  /** Members of a chat, or undefined when it does not exist. */
  members(chat: ChatId): Promise<string[] | undefined>;
  chatInfo(chat: ChatId): Promise<ChatInfo | undefined>;
  /**
   * Commits a batch in one transaction, assigning each new message the next seq of its chat.
   * Results are in input order. A repeated (from, cmid) returns the original message with dup.
   */
  append(items: readonly AppendItem[]): Promise<AppendResult[]>;
  /** Messages with seq > after, ascending, at most limit. */
  after(chat: ChatId, after: number, limit: number): Promise<Message[]>;
  /** Messages with seq < before (or the newest), ascending, at most limit. */
  before(chat: ChatId, before: number | undefined, limit: number): Promise<Message[]>;
  /** Every chat of a user with its last message and unread count, newest activity first. */
  userChats(user: string): Promise<ChatSummary[]>;
  /** Moves a cursor forward (never back); returns the cursor after the move. */
  advanceCursor(user: string, chat: ChatId, kind: CursorKind, seq: number): Promise<number>;
  /** The user's delivered cursor of every chat. */
  deliveredCursors(user: string): Promise<Map<ChatId, number>>;
  /**
   * Full-text search over the messages of the chats `q.user` belongs to now, best first, without
   * senders they block (store/search.ts). Every acknowledged message is findable.
   */
  search(q: SearchQuery): Promise<SearchRow[]>;
  /** Rebuilds the search index from the stored messages; resolves with how many it indexed. */
  reindexSearch(): Promise<number>;
  /** Ephemeral chats whose lifetime since their last activity has passed at `now`, at most `limit`, in id order. */
  expiredChats(now: number, limit: number): Promise<ChatId[]>;
  /**
   * Deletes a chat and every trace of it: messages, search entries, members with their read
   * markers, the chat itself. Resolves with the members it had ([] when it did not exist, or,
   * given `ifLapsedAt`, when it is not an ephemeral chat lapsed at that time: nothing is deleted).
   */
  deleteChat(chat: ChatId, ifLapsedAt?: number): Promise<string[]>;
  /** Makes deleted data unrecoverable from the files (a store whose deletes already are may omit it). */
  purge?(): Promise<void>;
  /** Why writes are refused right now, or undefined while the store writes. A store without it always writes. */
  fault?(): StoreFault | undefined;
  /** Resolves once everything written so far is durable; the store stays open. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

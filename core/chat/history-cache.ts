/**
 * The hot cache: the last N messages of recently active chats, in memory, so opening a
 * conversation (the first history page) and a resume's catch-up need no store read. Only messages
 * whose commit the store reported enter it (after the append resolved, so never an uncommitted
 * one), and only in seq order: a gap drops the chat's entry instead of serving around it. A fill
 * from the store that races with appends keeps the appends that arrived meanwhile. Bounded by
 * bytes across chats, least recently used evicted first. One node only: with several nodes
 * writing the same chats, another node's commits would never reach this cache: a cluster keeps
 * its hot cache in Redis instead (chat/redis-history-cache.ts), behind the same RecentCache.
 */
import type { ChatId, Message } from '../protocol.ts';

export interface HistoryCacheOptions {
  /** Messages kept per chat (0 disables the cache). */
  perChat: number;
  /** Bound on the estimated bytes of every cached message together. */
  maxBytes: number;
}

/** Counters the metrics layer reads. */
export interface HistoryCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  bytes: number;
  chats: number;
}

/**
 * What ChatService asks of a hot cache, in this process (HistoryCache) or in Redis
 * (RedisHistoryCache). A lookup answers only when it can vouch for the page; undefined sends the
 * caller to the store.
 */
export interface RecentCache {
  readonly enabled: boolean;
  readonly stats: HistoryCacheStats;
  /** A committed message; never waited for by a send. */
  append(m: Message): void;
  /** Messages with seq < `before` (or the newest), at most `limit` + 1, ascending; `count` false for a lookup right after a fill. */
  before(chat: ChatId, before: number | undefined, limit: number, count?: boolean): Message[] | undefined | Promise<Message[] | undefined>;
  /** Messages with seq > `after`, ascending, at most `limit`. */
  after(chat: ChatId, after: number, limit: number): Message[] | undefined | Promise<Message[] | undefined>;
  /** Fills a chat from a store read of its newest messages; resolves with that read, or undefined when it made none. */
  fill(chat: ChatId, read: (limit: number) => Promise<Message[]>): Promise<Message[] | undefined>;
  /** Drops a chat (an expired or deleted chat). */
  clear(chat: ChatId): void | Promise<void>;
  /** Whether a chat has an entry (tests and the expiry check). */
  has(chat: ChatId): boolean | Promise<boolean>;
}

interface Entry {
  /** Ascending, contiguous seqs; the last is the chat's last committed seq. */
  messages: Message[];
  /** True when messages[0] is seq 1: the chat has nothing older. */
  complete: boolean;
  bytes: number;
}

/** Estimated heap bytes of one cached message: UTF-16 strings plus the object around them. */
const sizeOf = (m: Message): number => 2 * (m.body.length + m.chat.length + m.from.length + m.cmid.length) + 120;

export class HistoryCache implements RecentCache {
  readonly #opts: HistoryCacheOptions;
  /** Least recently used first (Map keeps insertion order; a use re-inserts). */
  readonly #entries = new Map<ChatId, Entry>();
  /** Fills in flight: appends that arrive meanwhile wait here, to be laid over the page read. */
  readonly #filling = new Map<ChatId, Message[]>();
  readonly stats: HistoryCacheStats = { hits: 0, misses: 0, evictions: 0, bytes: 0, chats: 0 };

  constructor(opts: HistoryCacheOptions) {
    this.#opts = opts;
  }

  get enabled(): boolean {
    return this.#opts.perChat > 0;
  }

  /** A committed message, in the order commits were reported. */
  append(m: Message): void {
    if (!this.enabled) return;
    this.#filling.get(m.chat)?.push(m);
    const e = this.#entries.get(m.chat);
    if (!e) return;
    const last = e.messages.at(-1)!.seq;
    if (m.seq <= last) return;
    // A seq this cache never saw committed: it cannot vouch for the page any more.
    if (m.seq !== last + 1) return this.clear(m.chat);
    e.messages.push(m);
    e.bytes += sizeOf(m);
    this.stats.bytes += sizeOf(m);
    this.#trim(e);
    this.#bound();
  }

  /**
   * Messages with seq < `before` (or the newest), at most `limit` + 1 of them so the caller can
   * tell whether there are more; undefined when the cache cannot answer for sure.
   */
  before(chat: ChatId, before: number | undefined, limit: number, count = true): Message[] | undefined {
    const e = this.#use(chat);
    if (!e) return count ? this.#miss() : undefined;
    const m = e.messages;
    const end = before === undefined ? m.length : Math.min(m.length, Math.max(0, before - m[0]!.seq));
    const start = end - (limit + 1);
    if (start < 0 && !e.complete) return count ? this.#miss() : undefined;
    if (count) this.stats.hits++;
    return m.slice(Math.max(0, start), end);
  }

  /** Messages with seq > `after`, ascending, at most `limit`; undefined when the cache does not reach back to `after`. */
  after(chat: ChatId, after: number, limit: number): Message[] | undefined {
    const e = this.#use(chat);
    if (!e) return this.#miss();
    const first = e.messages[0]!.seq;
    if (after < first - 1 && !(e.complete && after >= 0)) return this.#miss();
    this.stats.hits++;
    const from = Math.max(0, after - first + 1);
    return e.messages.slice(from, from + limit);
  }

  /**
   * Fills a chat's entry from a store read (the newest messages, ascending, at most perChat):
   * `read` runs while appends are collected, so one committed during the read is not lost.
   */
  async fill(chat: ChatId, read: (limit: number) => Promise<Message[]>): Promise<Message[] | undefined> {
    if (!this.enabled || this.#entries.has(chat) || this.#filling.has(chat)) return undefined;
    const arrived: Message[] = [];
    this.#filling.set(chat, arrived);
    let page: Message[];
    try {
      page = await read(this.#opts.perChat);
    } finally {
      this.#filling.delete(chat);
    }
    if (this.#entries.has(chat)) return page;
    const messages = [...page];
    for (const m of arrived) {
      const last = messages.at(-1)?.seq ?? 0;
      if (m.seq <= last) continue;
      // An append that did not follow on: the read and the commits disagree; cache nothing.
      if (m.seq !== last + 1) return page;
      messages.push(m);
    }
    // An empty chat has nothing to serve; its first message creates no entry until the next fill.
    if (!messages.length) return page;
    const e: Entry = { messages, complete: messages[0]!.seq === 1, bytes: messages.reduce((n, m) => n + sizeOf(m), 0) };
    this.#entries.set(chat, e);
    this.stats.bytes += e.bytes;
    this.stats.chats = this.#entries.size;
    this.#trim(e);
    this.#bound();
    return page;
  }

  /** Drops a chat's entry (an expired or deleted chat). */
  clear(chat: ChatId): void {
    const e = this.#entries.get(chat);
    if (!e) return;
    this.#entries.delete(chat);
    this.stats.bytes -= e.bytes;
    this.stats.chats = this.#entries.size;
  }

  /** Whether a chat has an entry (tests and the expiry check). */
  has(chat: ChatId): boolean {
    return this.#entries.has(chat);
  }

  #use(chat: ChatId): Entry | undefined {
    const e = this.#entries.get(chat);
    if (e) {
      this.#entries.delete(chat);
      this.#entries.set(chat, e);
    }
    return e;
  }

  #miss(): undefined {
    if (this.enabled) this.stats.misses++;
    return undefined;
  }

  /** Keeps the newest perChat messages of an entry. */
  #trim(e: Entry): void {
    const over = e.messages.length - this.#opts.perChat;
    if (over <= 0) return;
    for (const m of e.messages.splice(0, over)) {
      e.bytes -= sizeOf(m);
      this.stats.bytes -= sizeOf(m);
    }
    e.complete = false;
  }

  /** Evicts least recently used chats until the byte bound holds. */
  #bound(): void {
    for (const [chat] of this.#entries) {
      if (this.stats.bytes <= this.#opts.maxBytes) break;
      this.clear(chat);
      this.stats.evictions++;
    }
  }
}

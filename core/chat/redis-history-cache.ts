/**
 * The hot cache of a cluster: the last N committed messages of each chat in Redis, written by every
 * node that commits to the chat, so any node answers the first history page and a resume's
 * catch-up without reading the messages from the store.
 *
 * One sorted set per chat, `<prefix>:{c:<chat>}:recent` (the chat's hash tag puts it on one slot),
 * scored by seq, each member the message's canonical JSON, so a fill and an append of the same
 * message are one member. A node adds a message after its commit, in whatever order the commits of
 * several nodes finish: the set orders by seq whatever the arrival order, is trimmed to the newest
 * N after each add, and expires historyCacheTtlMs after the last write.
 *
 * The set is never trusted to be complete: a node may crash between commit and add, Redis may be
 * away, a member may be trimmed or expired. A lookup serves only a run it can prove: contiguous
 * seqs with nothing missing in between, starting where the page starts (seq before-1, or after+1),
 * and ending at the chat's last committed seq (read from the store's chat row, one primary-key
 * read, in parallel) unless the page is full or reaches seq 1. Everything else is a miss: the store
 * answers, and a missed first page refills the set from that read. A Redis error is a miss (reads)
 * or dropped (adds); a send never waits for the cache.
 */
import type { RedisBus, RedisClient } from '../bus/redis.ts';
import type { ChatId, Message } from '../protocol.ts';
import type { HistoryCacheStats, RecentCache } from './history-cache.ts';

export interface RedisHistoryCacheOptions {
  bus: Pick<RedisBus, 'commands' | 'key'>;
  /** Messages kept per chat (0 disables the cache). */
  perChat: number;
  /** A chat's set expires this long after its last write. */
  ttlMs: number;
  /** The chat's last committed seq, from the store; undefined when there is no such chat. */
  lastSeq: (chat: ChatId) => Promise<number | undefined>;
  /** A Redis command failed (counted, never thrown). */
  onError?: (err: unknown) => void;
}

/** One encoding per message, fields in a fixed order: the same message is the same member. */
function encode(m: Message): string {
  const base = { chat: m.chat, seq: m.seq, from: m.from, cmid: m.cmid, body: m.body, ts: m.ts };
  return JSON.stringify(m.attachments?.length ? { ...base, attachments: m.attachments } : base);
}

/** Whether `ms` (ascending) are consecutive seqs. */
function contiguous(ms: readonly Message[]): boolean {
  return ms.every((m, i) => i === 0 || m.seq === ms[i - 1]!.seq + 1);
}

export class RedisHistoryCache implements RecentCache {
  readonly #opts: RedisHistoryCacheOptions;
  /** Fills this node has in flight: one store read per chat at a time. */
  readonly #filling = new Set<ChatId>();
  /** Hits and misses of this node; Redis holds the entries, so bytes, chats and evictions stay 0 here. */
  readonly stats: HistoryCacheStats = { hits: 0, misses: 0, evictions: 0, bytes: 0, chats: 0 };

  constructor(opts: RedisHistoryCacheOptions) {
    this.#opts = opts;
  }

  get enabled(): boolean {
    return this.#opts.perChat > 0;
  }

  #key(chat: ChatId): string {
    return this.#opts.bus.key(`c:${chat}`, 'recent');
  }

  #redis(): RedisClient | undefined {
    return this.enabled ? this.#opts.bus.commands() : undefined;
  }

  append(m: Message): void {
    void this.#add(m.chat, [m]);
  }

  /** Adds committed messages to a chat's set, trims it to the newest perChat and renews its TTL. */
  async #add(chat: ChatId, messages: readonly Message[]): Promise<void> {
    const redis = this.#redis();
    if (!redis || !messages.length) return;
    const key = this.#key(chat);
    try {
      // A pipeline, not MULTI: no reader needs the three at once (a set briefly over the cap, or
      // before its TTL is renewed, serves the same pages), and MULTI/EXEC were two more commands
      // per message for redis-server and the node.
      const replies = await redis.pipeline()
        .zadd(key, ...messages.flatMap((m) => [m.seq, encode(m)]))
        .zremrangebyrank(key, 0, -(this.#opts.perChat + 1))
        .pexpire(key, this.#opts.ttlMs)
        .exec();
      const failed = replies?.find(([err]) => err)?.[0];
      if (failed) throw failed;
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  async before(chat: ChatId, before: number | undefined, limit: number, count = true): Promise<Message[] | undefined> {
    const page = await this.#lookup(chat, before === undefined, async (redis, key) => {
      const top = before === undefined ? '+inf' : `(${before}`;
      return (await redis.zrevrangebyscore(key, top, '-inf', 'LIMIT', 0, limit + 1)).reverse();
    }, async (run, lastSeq) => {
      // The page must end where the chat does below `before`: at before-1 (a cached seq is a
      // committed one, so it proves itself), or at the chat's last seq.
      const end = run.at(-1)!.seq;
      return (before !== undefined && end === before - 1) || end >= await lastSeq();
    }, (run) => run.length > 0 && (run.length === limit + 1 || run[0]!.seq === 1));
    return this.#count(count, page);
  }

  async after(chat: ChatId, after: number, limit: number): Promise<Message[] | undefined> {
    const page = await this.#lookup(chat, true, async (redis, key) => redis.zrangebyscore(key, `(${after}`, '+inf', 'LIMIT', 0, limit), async (run, lastSeq) => {
      // A full page needs no end: the caller asks again from its last seq.
      if (run.length === limit) return true;
      return (run.at(-1)?.seq ?? after) >= await lastSeq();
    }, (run) => run.length === 0 || run[0]!.seq === after + 1);
    return this.#count(true, page);
  }

  /**
   * One lookup: the run from Redis, proved or refused. `start` says whether the run begins where
   * the page must; `end` whether it ends where the chat does, asking the store for the last seq
   * at most once (at once when `eager`; a store that cannot say, or no such chat, refuses).
   */
  async #lookup(
    chat: ChatId, eager: boolean,
    range: (redis: RedisClient, key: string) => Promise<string[]>,
    end: (run: Message[], lastSeq: () => Promise<number>) => Promise<boolean>,
    start: (run: Message[]) => boolean,
  ): Promise<Message[] | undefined> {
    const redis = this.#redis();
    if (!redis) return undefined;
    let last: Promise<number> | undefined;
    const lastSeq = () => (last ??= this.#opts.lastSeq(chat).then((seq) => seq ?? Infinity, () => Infinity));
    if (eager) void lastSeq();
    try {
      const run = (await range(redis, this.#key(chat))).map((json) => JSON.parse(json) as Message);
      return contiguous(run) && start(run) && (await end(run, lastSeq)) ? run : undefined;
    } catch (err) {
      this.#opts.onError?.(err);
      return undefined;
    }
  }

  #count(count: boolean, page: Message[] | undefined): Message[] | undefined {
    if (count && this.enabled) {
      if (page) this.stats.hits++;
      else this.stats.misses++;
    }
    return page;
  }

  async fill(chat: ChatId, read: (limit: number) => Promise<Message[]>): Promise<Message[] | undefined> {
    if (!this.#redis() || this.#filling.has(chat)) return undefined;
    this.#filling.add(chat);
    try {
      const page = await read(this.#opts.perChat);
      // A union with what other nodes added meanwhile: every member is a committed message.
      await this.#add(chat, page);
      return page;
    } finally {
      this.#filling.delete(chat);
    }
  }

  async clear(chat: ChatId): Promise<void> {
    const redis = this.#redis();
    if (!redis) return;
    // A set left behind (Redis away) is never served for a chat the store no longer has, and expires.
    await redis.del(this.#key(chat)).catch((err: unknown) => this.#opts.onError?.(err));
  }

  async has(chat: ChatId): Promise<boolean> {
    const redis = this.#redis();
    return redis ? (await redis.exists(this.#key(chat))) === 1 : false;
  }
}

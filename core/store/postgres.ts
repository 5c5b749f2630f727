/**
 * PostgreSQL store: the Store contract for many nodes sharing one database. Appends queued during
 * one event-loop turn (and while the previous commit runs) go into one transaction (group commit).
 * A batch is one call of parley_append: seqs come from chats.last_seq under row locks taken in id
 * order, so nodes writing the same chat at once get unique, gap-free seqs; a repeated (sender,
 * cmid) returns the original message, and one committed by another node meanwhile reruns the call.
 */
import type { ChatId, ChatSummary, Message, RoomPolicy } from '../protocol.ts';
import { PgDb, type PgDbOptions, type Query } from './postgres-db.ts';
import { openMigrated } from './postgres-migrations.ts';
import { PostgresSocial } from './postgres-social.ts';
import type { AppendItem, AppendResult, ChatInfo, CursorKind, Store, StoreFault } from './types.ts';
import { searchDoc, type SearchQuery, type SearchRow } from './search.ts';
import { searchPostgres } from './search-postgres.ts';

export interface PostgresOptions extends PgDbOptions {
  /** Most appends in one transaction. */
  batchMax?: number;
}

interface Pending {
  item: AppendItem;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface MessageRow { chat: string; seq: number; sender: string; cmid: string; body: Buffer; ts: number; attachments: string | null }
function toMessage(r: MessageRow): Message {
  const m: Message = { chat: r.chat, seq: r.seq, from: r.sender, cmid: r.cmid, body: r.body.toString('utf8'), ts: r.ts };
  if (r.attachments !== null) m.attachments = JSON.parse(r.attachments) as string[];
  return m;
}
const MSG_COLS = 'chat, seq, sender, cmid, body, ts, attachments';

export class PostgresStore implements Store {
  readonly #db: PgDb;
  readonly #batchMax: number;
  readonly #onCommit: PostgresOptions['onCommit'];
  #queue: Pending[] = [];
  #scheduled = false;
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  readonly social: PostgresSocial;

  private constructor(db: PgDb, opts: PostgresOptions) {
    this.#db = db;
    this.#batchMax = opts.batchMax ?? 512;
    this.#onCommit = opts.onCommit;
    this.social = new PostgresSocial(db);
  }

  /** Connects, migrates the schema (safe when several nodes start together) and returns the store. */
  static async open(opts: PostgresOptions): Promise<PostgresStore> {
    const db = await openMigrated(opts, 'the PostgreSQL store');
    return new PostgresStore(db, opts);
  }

  /** Pool usage: connections open, idle, and requests waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number } {
    return this.#db.stats();
  }

  ensureDirect(chat: ChatId, a: string, b: string): Promise<void> {
    return this.#write(() => this.#db.tx(async (t) => {
      const now = Date.now();
      const created = await t("INSERT INTO chats(id, kind, name, created_by, created_at, policy) VALUES ($1, 'direct', NULL, $2, $3, 'invite') ON CONFLICT DO NOTHING RETURNING id", [chat, a, now]);
      if (created.length) await t('INSERT INTO members(chat, user_id, joined_at) VALUES ($1, $2, $4), ($1, $3, $4) ON CONFLICT DO NOTHING', [chat, a, b, now]);
    }));
  }

  createRoom(chat: ChatId, name: string | undefined, creator: string, members: readonly string[], policy: RoomPolicy, lifetimeMs?: number): Promise<void> {
    return this.#write(() => this.#db.tx(async (t) => {
      const now = Date.now();
      await t("INSERT INTO chats(id, kind, name, created_by, created_at, policy, lifetime_ms) VALUES ($1, 'room', $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [chat, name === undefined ? null : Buffer.from(name, 'utf8'), creator, now, policy, lifetimeMs ?? null]);
      const users = [...new Set([creator, ...members])];
      await t('INSERT INTO members(chat, user_id, joined_at) SELECT $1, u, $3 FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING', [chat, users, now]);
    }));
  }

  addMember(chat: ChatId, user: string): Promise<boolean> {
    return this.#write(async (q) => (await q('INSERT INTO members(chat, user_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1', [chat, user, Date.now()])).length > 0);
  }

  removeMember(chat: ChatId, user: string): Promise<boolean> {
    return this.#write(async (q) => (await q('DELETE FROM members WHERE chat = $1 AND user_id = $2 RETURNING 1', [chat, user])).length > 0);
  }

  async members(chat: ChatId): Promise<string[] | undefined> {
    const rows = await this.#db.query<{ user_id: string | null }>(
      'SELECT m.user_id FROM chats c LEFT JOIN members m ON m.chat = c.id WHERE c.id = $1 ORDER BY m.user_id', [chat]);
    if (!rows.length) return undefined;
    return rows.flatMap((r) => (r.user_id === null ? [] : [r.user_id]));
  }

  async chatInfo(chat: ChatId): Promise<ChatInfo | undefined> {
    const [row] = await this.#db.query<{ id: string; kind: 'direct' | 'room'; name: Buffer | null; policy: RoomPolicy; last_seq: number; lifetime_ms: number | null }>(
      'SELECT id, kind, name, policy, last_seq, lifetime_ms FROM chats WHERE id = $1', [chat]);
    if (!row) return undefined;
    const info: ChatInfo = { chat: row.id, kind: row.kind, lastSeq: row.last_seq };
    if (row.lifetime_ms !== null) info.lifetimeMs = row.lifetime_ms;
    if (row.name !== null) info.name = row.name.toString('utf8');
    if (row.kind === 'room') info.policy = row.policy;
    return info;
  }

  append(items: readonly AppendItem[]): Promise<AppendResult[]> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    return this.#db.ordered(Promise.all(items.map((item) => new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#kick();
    }))));
  }

  #kick(): void {
    if (this.#running || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => void this.#drain());
  }

  /** One commit at a time: appends that arrive meanwhile wait and go into the next batch together. */
  async #drain(): Promise<void> {
    this.#scheduled = false;
    this.#running = true;
    try {
      while (this.#queue.length) await this.#commit(this.#queue.splice(0, this.#batchMax));
    } finally {
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    const t0 = performance.now();
    try {
      const results = await appendBatch(this.#db, batch.map((p) => p.item));
      this.#onCommit?.(batch.length, performance.now() - t0);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1 || (err as { code?: string }).code === 'store_unavailable') return batch.forEach((p) => p.reject(err));
      // One bad item failed the whole transaction: commit each alone so it fails by itself.
      for (const p of batch) {
        try {
          p.resolve((await appendBatch(this.#db, [p.item]))[0]!);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }

  async after(chat: ChatId, after: number, limit: number): Promise<Message[]> {
    return (await this.#db.query<MessageRow>(`SELECT ${MSG_COLS} FROM messages WHERE chat = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [chat, after, limit])).map(toMessage);
  }

  async before(chat: ChatId, before: number | undefined, limit: number): Promise<Message[]> {
    const rows = await this.#db.query<MessageRow>(`SELECT ${MSG_COLS} FROM messages WHERE chat = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
      [chat, before ?? Number.MAX_SAFE_INTEGER, limit]);
    return rows.reverse().map(toMessage);
  }

  async userChats(user: string): Promise<ChatSummary[]> {
    type Row = { id: string; kind: 'direct' | 'room'; name: Buffer | null; last_seq: number; read_seq: number; lifetime_ms: number | null; active_ts: number; g_seq: number | null; g_sender: string; g_cmid: string; g_body: Buffer; g_ts: number; g_attachments: string | null };
    const rows = await this.#db.query<Row>(`
      SELECT c.id, c.kind, c.name, c.last_seq, m.read_seq, c.lifetime_ms, coalesce(c.last_ts, c.created_at) AS active_ts,
             g.seq AS g_seq, g.sender AS g_sender, g.cmid AS g_cmid, g.body AS g_body, g.ts AS g_ts, g.attachments AS g_attachments
      FROM members m JOIN chats c ON c.id = m.chat
      LEFT JOIN messages g ON g.chat = c.id AND g.seq = c.last_seq
      WHERE m.user_id = $1 ORDER BY coalesce(c.last_ts, c.created_at) DESC, c.id`, [user]);
    return rows.map((r) => {
      const s: ChatSummary = { chat: r.id, kind: r.kind, lastSeq: r.last_seq, readSeq: r.read_seq, unread: Math.max(0, r.last_seq - r.read_seq) };
      if (r.name !== null) s.name = r.name.toString('utf8');
      if (r.lifetime_ms !== null) s.expiresAt = r.active_ts + r.lifetime_ms;
      if (r.g_seq !== null) s.last = toMessage({ chat: r.id, seq: r.g_seq, sender: r.g_sender, cmid: r.g_cmid, body: r.g_body, ts: r.g_ts, attachments: r.g_attachments });
      return s;
    });
  }

  advanceCursor(user: string, chat: ChatId, kind: CursorKind, seq: number): Promise<number> {
    const col = kind === 'read' ? 'read_seq' : 'delivered_seq';
    return this.#write(async (q) => {
      const [row] = await q<{ v: number }>(`UPDATE members SET ${col} = greatest(${col}, $1) WHERE chat = $2 AND user_id = $3 RETURNING ${col} AS v`, [seq, chat, user]);
      return row?.v ?? 0;
    });
  }

  async deliveredCursors(user: string): Promise<Map<ChatId, number>> {
    const rows = await this.#db.query<{ chat: string; delivered_seq: number }>('SELECT chat, delivered_seq FROM members WHERE user_id = $1', [user]);
    return new Map(rows.map((r) => [r.chat, r.delivered_seq]));
  }

  search(q: SearchQuery): Promise<SearchRow[]> {
    return searchPostgres(this.#db.query, q);
  }

  /** Rebuilds message_search in one transaction, reading messages in key order by pages of 2000. */
  reindexSearch(): Promise<number> {
    return this.#db.tx(async (t) => {
      await t('DELETE FROM message_search');
      let n = 0;
      let from: [string, number] = ['', -1];
      for (;;) {
        const page = await t<{ chat: string; seq: number; sender: string; ts: number; body: Buffer }>(
          'SELECT chat, seq, sender, ts, body FROM messages WHERE (chat, seq) > ($1, $2) ORDER BY chat, seq LIMIT 2000', from);
        if (!page.length) return n;
        await t("INSERT INTO message_search(chat, seq, sender, ts, doc) SELECT c, s, f, t, to_tsvector('simple', d) FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS u(c, s, f, t, d)",
          [page.map((r) => r.chat), page.map((r) => r.seq), page.map((r) => r.sender), page.map((r) => r.ts), page.map((r) => searchDoc(r.body.toString('utf8')))]);
        n += page.length;
        from = [page.at(-1)!.chat, page.at(-1)!.seq];
      }
    });
  }

  async expiredChats(now: number, limit: number): Promise<ChatId[]> {
    const rows = await this.#db.query<{ id: string }>('SELECT id FROM chats WHERE lifetime_ms IS NOT NULL AND coalesce(last_ts, created_at) + lifetime_ms <= $1 ORDER BY id LIMIT $2', [now, limit]);
    return rows.map((r) => r.id);
  }

  /** One transaction; the chat row is locked first so an append racing with the delete waits, then finds no member. */
  deleteChat(chat: ChatId, ifLapsedAt?: number): Promise<string[]> {
    return this.#db.tx(async (t) => {
      const lapsed = ifLapsedAt === undefined ? '' : ' AND lifetime_ms IS NOT NULL AND coalesce(last_ts, created_at) + lifetime_ms <= $2';
      if (!(await t(`SELECT 1 FROM chats WHERE id = $1${lapsed} FOR UPDATE`, ifLapsedAt === undefined ? [chat] : [chat, ifLapsedAt])).length) return [];
      const members = (await t<{ user_id: string }>('DELETE FROM members WHERE chat = $1 RETURNING user_id', [chat])).map((r) => r.user_id).sort();
      await t('DELETE FROM message_search WHERE chat = $1', [chat]);
      await t('DELETE FROM messages WHERE chat = $1', [chat]);
      await t('DELETE FROM chats WHERE id = $1', [chat]);
      return members;
    });
  }

  /** Resolves when every append queued so far is committed (PostgreSQL commits are durable). */
  async flush(): Promise<void> {
    if (!this.#running && !this.#scheduled && !this.#queue.length) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
    if (this.#queue.length) await this.flush();
  }

  /** The database cannot be reached (see PgDb.fault): writes answer store_unavailable until it answers again. */
  fault(): StoreFault | undefined {
    const down = this.#db.fault();
    return down && { kind: 'unreachable', since: down.since, message: down.message };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    await this.#db.end();
  }

  /** Writes other than appends: one statement or transaction each, refused once closed. */
  #write<T>(run: (q: Query) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    return run(this.#db.query);
  }
}

/** One row of parley_append per item, in input order (postgres-migrations.ts, migrations 2 and 5). */
interface AppendRow { status: 'new' | 'dup' | 'conflict' | 'not_member'; m_chat: string | null; m_seq: number | null; m_body: Buffer | null; m_ts: number | null }

/** Appends a batch in one statement (its own transaction): seqs, cmid checks and cursors run inside the database. */
async function appendBatch(db: PgDb, items: readonly AppendItem[]): Promise<AppendResult[]> {
  // The search entries of the new messages are inserted by the same statement (migration 3): one transaction.
  const rows = await db.statement<AppendRow>(`WITH a AS (SELECT * FROM parley_append($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $7::text[]) WITH ORDINALITY AS r(status, m_chat, m_seq, m_body, m_ts, k)),
    s AS (INSERT INTO message_search(chat, seq, sender, ts, doc) SELECT a.m_chat, a.m_seq, ($2::text[])[a.k], ($5::bigint[])[a.k], to_tsvector('simple', ($6::text[])[a.k]) FROM a WHERE a.status = 'new')
    SELECT status, m_chat, m_seq, m_body, m_ts FROM a ORDER BY k`, [
    items.map((i) => i.chat), items.map((i) => i.from), items.map((i) => i.cmid), items.map((i) => Buffer.from(i.body, 'utf8')), items.map((i) => i.ts),
    items.map((i) => searchDoc(i.body)),
    items.map((i) => (i.attachments?.length ? JSON.stringify(i.attachments) : null)),
  ]);
  return items.map((item, k): AppendResult => {
    const r = rows[k]!;
    switch (r.status) {
      case 'new': {
        const message: Message = { chat: item.chat, seq: r.m_seq!, from: item.from, cmid: item.cmid, body: item.body, ts: item.ts };
        if (item.attachments?.length) message.attachments = [...item.attachments];
        return { ok: true, dup: false, message };
      }
      case 'dup':
        return { ok: true, dup: true, message: { chat: r.m_chat!, seq: r.m_seq!, from: item.from, cmid: item.cmid, body: r.m_body!.toString('utf8'), ts: r.m_ts! } };
      case 'conflict':
        return { ok: false, code: 'cmid_conflict', message: `cmid "${item.cmid}" was already used in ${r.m_chat}` };
      default:
        return { ok: false, code: 'not_member', message: `not a member of ${item.chat}` };
    }
  });
}

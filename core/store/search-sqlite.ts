/**
 * The SQLite search index: one FTS5 table written in the append's own transaction, so an
 * acknowledged message is findable at once. FTS5's unicode61 tokenizer (remove_diacritics 2) reads
 * documents already folded and split by store/search.ts; chat and sender are indexed as one opaque
 * token each, so "in the asker's chats" and "from this sender" are intersected inside the index
 * instead of filtering every match of a common word row by row.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { ChatId, Message } from '../protocol.ts';
import { ftsMatch, RANK_WINDOW, searchDoc, type SearchQuery, type SearchRow } from './search.ts';

const keys = new Map<string, string>();
const MAX_KEYS = 50_000;

/** An opaque, tokenizer-safe key for a chat ('c…') or a sender ('s…'): 64 bits of SHA-1 in hex. */
export function searchKey(kind: 'c' | 's', id: string): string {
  const name = kind + id;
  let key = keys.get(name);
  if (key === undefined) {
    // Hashing costs more than the rest of indexing a short body: active chats and senders are remembered.
    if (keys.size >= MAX_KEYS) keys.clear();
    key = kind + createHash('sha1').update(id).digest('hex').slice(0, 16);
    keys.set(name, key);
  }
  return key;
}

/** The SQL functions migration 4 calls to fill the index from stored messages. */
export function registerSearchFunctions(db: Database.Database): void {
  db.function('parley_search_doc', { deterministic: true }, (body: unknown) => searchDoc(String(body)));
  db.function('parley_search_key', { deterministic: true }, (kind: unknown, id: unknown) => searchKey(kind === 's' ? 's' : 'c', String(id)));
}

/** More chats than this in one MATCH and the asker's chats are intersected in chunks. */
const CHATS_PER_MATCH = 200;
const FILTERS = 'message_search MATCH ? AND ts >= ? AND ts <= ? AND (sender = ? OR sender NOT IN (SELECT target FROM blocks WHERE owner = ?))';

export class SqliteSearch {
  readonly #db: Database.Database;
  readonly #stmt;
  /**
   * Rowids count down, newest lowest: FTS5 walks a doclist forwards cheaply and backwards only by
   * loading it whole, so "the newest matches" must be the first ones. The next rowid, once read.
   */
  #next: number | undefined;
  /** Whether appends are indexed (off only to measure what the index costs). */
  readonly enabled: boolean;

  constructor(db: Database.Database, enabled = true) {
    this.#db = db;
    this.enabled = enabled;
    this.#stmt = {
      insert: db.prepare('INSERT INTO message_search(rowid, doc, ctok, stok, chat, seq, sender, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      lowest: db.prepare('SELECT min(rowid) FROM message_search').pluck(),
      memberChats: db.prepare('SELECT chat FROM members WHERE user = ?').pluck(),
      message: db.prepare('SELECT body, cmid, attachments FROM messages WHERE chat = ? AND seq = ?'),
      clear: db.prepare('DELETE FROM message_search'),
      refill: db.prepare(`INSERT INTO message_search(rowid, doc, ctok, stok, chat, seq, sender, ts)
        SELECT -row_number() OVER (ORDER BY ts, chat, seq), parley_search_doc(body), parley_search_key('c', chat), parley_search_key('s', sender), chat, seq, sender, ts FROM messages`),
      rowsOfChat: db.prepare('SELECT rowid FROM message_search WHERE message_search MATCH ?').pluck(),
      deleteRow: db.prepare('DELETE FROM message_search WHERE rowid = ?'),
      windowFloor: db.prepare(`SELECT rowid FROM message_search WHERE ${FILTERS} ORDER BY rowid LIMIT 1 OFFSET ${RANK_WINDOW - 1}`).pluck(),
      ranked: db.prepare(`SELECT chat, seq, sender, ts, rank FROM message_search WHERE ${FILTERS} AND rowid <= ? ORDER BY rank, ts DESC LIMIT ?`),
    };
  }

  /** Indexes one message; runs inside the append's transaction. */
  index(chat: ChatId, seq: number, sender: string, body: string, ts: number): void {
    if (!this.enabled) return;
    this.#next ??= Math.min(0, (this.#stmt.lowest.get() as number | null) ?? 0);
    this.#stmt.insert.run(--this.#next, searchDoc(body), searchKey('c', chat), searchKey('s', sender), chat, seq, sender, ts);
  }

  /** Removes every entry of a chat; runs inside the caller's transaction. Returns how many. */
  deleteChat(chat: ChatId): number {
    const rows = this.#stmt.rowsOfChat.all(`ctok : ${searchKey('c', chat)}`) as number[];
    for (const r of rows) this.#stmt.deleteRow.run(r);
    return rows.length;
  }

  /**
   * Matches in the asker's chats, best first (bm25 over the body; newer first on ties), without
   * senders the asker blocks and without messages past `durable` (committed but not yet flushed).
   */
  search(q: SearchQuery, durable: (chat: ChatId) => number): SearchRow[] {
    let chats = q.chat !== undefined ? [q.chat] : (this.#stmt.memberChats.all(q.user) as string[]);
    if (q.chat !== undefined && !(this.#stmt.memberChats.all(q.user) as string[]).includes(q.chat)) chats = [];
    if (!chats.length) return [];
    const want = q.offset + q.limit;
    const rows: { chat: string; seq: number; sender: string; ts: number; rank: number }[] = [];
    for (let i = 0; i < chats.length; i += CHATS_PER_MATCH) {
      const keys = chats.slice(i, i + CHATS_PER_MATCH).map((c) => searchKey('c', c)).join(' OR ');
      let match = `doc : (${ftsMatch(q.terms)}) AND ctok : (${keys})`;
      if (q.from !== undefined) match += ` AND stok : ${searchKey('s', q.from)}`;
      const args = [match, q.since ?? 0, Math.min(q.until ?? Number.MAX_SAFE_INTEGER, q.upto), q.user, q.user] as const;
      // Ranking every match of a common word costs a bm25 per match: rank the newest RANK_WINDOW only.
      const floor = (this.#stmt.windowFloor.get(...args) as number | undefined) ?? Number.MAX_SAFE_INTEGER;
      rows.push(...(this.#stmt.ranked.all(...args, floor, want) as typeof rows));
    }
    // bm25 ranks lower as better: sort the chunks together and cut the page.
    rows.sort((a, b) => a.rank - b.rank || b.ts - a.ts || (a.chat < b.chat ? -1 : a.chat > b.chat ? 1 : a.seq - b.seq));
    const out: SearchRow[] = [];
    for (const r of rows.filter((x) => x.seq <= durable(x.chat)).slice(q.offset, q.offset + q.limit)) {
      const m = this.#stmt.message.get(r.chat, r.seq) as { body: string; cmid: string; attachments: string | null } | undefined;
      if (!m) continue;
      const message: Message = { chat: r.chat, seq: r.seq, from: r.sender, cmid: m.cmid, body: m.body, ts: r.ts };
      if (m.attachments !== null) message.attachments = JSON.parse(m.attachments) as string[];
      out.push({ message, score: -r.rank });
    }
    return out;
  }

  /** Rebuilds the index from the messages table; runs inside the caller's transaction. */
  reindex(): number {
    this.#stmt.clear.run();
    this.#next = undefined;
    return this.#stmt.refill.run().changes;
  }
}

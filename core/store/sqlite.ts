/**
 * SQLite store (better-sqlite3, WAL). Writes are queued and committed together in one transaction
 * per event-loop turn (group commit), so throughput does not collapse to one fsync per message;
 * each caller's promise resolves only after its transaction committed.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChatId, ChatSummary, Message, RoomPolicy } from '../protocol.ts';
import type { AppendItem, AppendResult, ChatInfo, CursorKind, Store, StoreFault } from './types.ts';
import { DiskProbe, errorKind, unavailableError, type StoreErrorKind } from './diskfault.ts';
import { MIGRATIONS } from './migrations.ts';
import { Checkpointer } from './checkpointer.ts';
import { WalSync } from './walsync.ts';
import { SqliteSocial } from './sqlite-social.ts';
import { registerSearchFunctions, SqliteSearch } from './search-sqlite.ts';
import type { SearchQuery, SearchRow } from './search.ts';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  file: string;
  /**
   * 'full': a write resolves once its commit is on disk (survives power loss); the flush runs in the
   * thread pool beside the next batch (WalSync). 'normal' survives process crashes.
   */
  sync?: 'full' | 'normal';
  /** Most write operations in one transaction. */
  batchMax?: number;
  /** Observes each committed transaction (operations, milliseconds); the metrics layer hooks in here. */
  onCommit?: (ops: number, ms: number) => void;
  /** Observes each failed transaction, and the first failed WAL flush, by kind. */
  onError?: (kind: StoreErrorKind, err: unknown) => void;
  /** Called when the store stops writing (with the fault) and when it writes again (undefined). */
  onFault?: (fault: StoreFault | undefined) => void;
  /** How often a store stopped by a full disk or an I/O error tries the disk again; default 1 s. */
  probeIntervalMs?: number;
  /** Index appends for search (default true); off only to measure what the index costs. */
  searchIndex?: boolean;
}

interface QueuedWrite {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** Reports expected outcomes as values and throws only when the database fails: needs no savepoint. */
  bare: boolean;
}

type Outcome = { ok: boolean; v: unknown };

/** WAL pages between checkpoints: SQLite's own default for its automatic checkpoint. */
const CHECKPOINT_PAGES = 1000;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** WAL frames past which the writer finishes a checkpoint itself so that the WAL restarts (see #restartWal). */
const RESTART_FRAMES = 4 * CHECKPOINT_PAGES;

interface MessageRow { chat: string; seq: number; sender: string; cmid: string; body: string; ts: number; attachments: string | null }
function toMessage(r: MessageRow): Message {
  const m: Message = { chat: r.chat, seq: r.seq, from: r.sender, cmid: r.cmid, body: r.body, ts: r.ts };
  if (r.attachments !== null) m.attachments = JSON.parse(r.attachments) as string[];
  return m;
}

export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #batchMax: number;
  readonly #onCommit: SqliteOptions['onCommit'];
  #queue: QueuedWrite[] = [];
  #scheduled = false;
  #closed = false;
  /** Why writes are refused (see #fail); undefined while the store writes. */
  #fault: StoreFault | undefined;
  readonly #probe: DiskProbe | undefined;
  readonly #onError: SqliteOptions['onError'];
  readonly #onFault: SqliteOptions['onFault'];
  /** Last seq per chat, authoritative while this process is the only writer. */
  readonly #lastSeq = new Map<ChatId, number>();
  /** Seqs as they were before the transaction in progress, for a rollback. */
  readonly #seqUndo = new Map<ChatId, number>();
  /** Appended chats of the running transaction and their last seq, written when it ends (see #runBatch). */
  readonly #lastSeqRows = new Map<ChatId, { seq: number; ts: number }>();
  readonly #wal: WalSync | undefined;
  readonly #checkpointer: Checkpointer | undefined;
  /** Last seq on disk of each chat with commits still being flushed: reads stop there. */
  readonly #durable = new Map<ChatId, number>();
  readonly #stmt;
  readonly social: SqliteSocial;
  readonly #search: SqliteSearch;

  constructor(opts: SqliteOptions) {
    if (opts.file !== ':memory:') fs.mkdirSync(path.dirname(opts.file), { recursive: true });
    this.#db = new Database(opts.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${opts.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    // Deleted rows (an expired chat) are overwritten with zeros, not left readable in free pages.
    this.#db.pragma('secure_delete = ON');
    this.#batchMax = opts.batchMax ?? 512;
    this.#onCommit = opts.onCommit;
    this.#onError = opts.onError;
    this.#onFault = opts.onFault;
    registerSearchFunctions(this.#db);
    migrate(this.#db);
    if (opts.file !== ':memory:') this.#probe = new DiskProbe(`${opts.file}-probe`, opts.probeIntervalMs ?? 1_000, () => this.#recovered());
    // 'full' on a file: commits only write the WAL (NORMAL) and WalSync flushes it before anyone is told.
    this.#wal = opts.sync !== 'normal' && opts.file !== ':memory:' ? WalSync.open(`${opts.file}-wal`) : undefined;
    if (this.#wal) {
      this.#db.pragma('synchronous = NORMAL');
      // Checkpoints move to a worker; the WAL file is cut back to the limit after each restart.
      this.#db.pragma('wal_autocheckpoint = 0');
      this.#db.pragma(`journal_size_limit = ${WAL_LIMIT_BYTES}`);
      this.#checkpointer = Checkpointer.start(opts.file, CHECKPOINT_PAGES * (this.#db.pragma('page_size', { simple: true }) as number));
      this.#checkpointer.onDead = () => this.#db.pragma(`wal_autocheckpoint = ${CHECKPOINT_PAGES}`);
      this.#checkpointer.onCheckpointed = (log) => this.#restartWal(log);
    }
    const db = this.#db;
    this.social = new SqliteSocial(db, (run) => this.#write(run));
    this.#search = new SqliteSearch(db, opts.searchIndex ?? true);
    this.#stmt = {
      insertChat: db.prepare("INSERT OR IGNORE INTO chats(id, kind, name, created_by, created_at, policy) VALUES (?, ?, ?, ?, ?, ?)"),
      insertMember: db.prepare('INSERT OR IGNORE INTO members(chat, user, joined_at) VALUES (?, ?, ?)'),
      deleteMember: db.prepare('DELETE FROM members WHERE chat = ? AND user = ?'),
      members: db.prepare('SELECT user FROM members WHERE chat = ? ORDER BY user').pluck(),
      isMember: db.prepare('SELECT 1 FROM members WHERE chat = ? AND user = ?').pluck(),
      chat: db.prepare('SELECT id, kind, name, policy, last_seq, lifetime_ms FROM chats WHERE id = ?'),
      bySenderCmid: db.prepare('SELECT chat, seq, sender, cmid, body, ts, attachments FROM messages WHERE sender = ? AND cmid = ?'),
      insertMessage: db.prepare('INSERT INTO messages(chat, seq, sender, cmid, body, ts, attachments) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      setLastSeq: db.prepare('UPDATE chats SET last_seq = ?, last_ts = ? WHERE id = ?'),
      // The sender has read up to its message; it has received everything up to it only when it
      // had everything before it (a peer's message committed just before may not have reached it).
      senderCursors: db.prepare('UPDATE members SET read_seq = max(read_seq, @seq), delivered_seq = CASE WHEN delivered_seq >= @seq - 1 THEN max(delivered_seq, @seq) ELSE delivered_seq END WHERE chat = @chat AND user = @user'),
      after: db.prepare('SELECT chat, seq, sender, cmid, body, ts, attachments FROM messages WHERE chat = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      before: db.prepare('SELECT chat, seq, sender, cmid, body, ts, attachments FROM messages WHERE chat = ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
      advanceRead: db.prepare('UPDATE members SET read_seq = max(read_seq, ?) WHERE chat = ? AND user = ? RETURNING read_seq').pluck(),
      advanceDelivered: db.prepare('UPDATE members SET delivered_seq = max(delivered_seq, ?) WHERE chat = ? AND user = ? RETURNING delivered_seq').pluck(),
      delivered: db.prepare('SELECT chat, delivered_seq FROM members WHERE user = ?'),
      userChats: db.prepare(`
        SELECT c.id, c.kind, c.name, c.last_seq, m.read_seq, c.lifetime_ms, coalesce(c.last_ts, c.created_at) AS active_ts,
               g.seq AS g_seq, g.sender AS g_sender, g.cmid AS g_cmid, g.body AS g_body, g.ts AS g_ts, g.attachments AS g_attachments
        FROM members m JOIN chats c ON c.id = m.chat
        LEFT JOIN messages g ON g.chat = c.id AND g.seq = c.last_seq
        WHERE m.user = ? ORDER BY coalesce(c.last_ts, c.created_at) DESC, c.id`),
    };
  }

  /** Queues a write for the next group commit; `bare` writes skip their savepoint (see QueuedWrite). */
  #write<T>(run: () => T, bare = false): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('store is closed'));
    if (this.#fault) return Promise.reject(unavailableError(this.#fault));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject, bare });
      if (this.#queue.length >= this.#batchMax) this.#commit();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#commit());
      }
    });
  }

  #commit(): void {
    this.#scheduled = false;
    while (this.#queue.length) {
      if (this.#fault) {
        for (const w of this.#queue.splice(0)) w.reject(unavailableError(this.#fault));
        return;
      }
      const batch = this.#queue.splice(0, this.#batchMax);
      const t0 = performance.now();
      let results: Outcome[];
      try {
        results = this.#runBatch(batch, false);
      } catch (first) {
        this.#undoSeqs();
        // A disk that cannot write fails the retry the same way: refuse the batch, probe later.
        if (errorKind(first) === 'full' || errorKind(first) === 'io') {
          this.#fail(errorKind(first), first);
          for (const w of batch) w.reject(unavailableError(this.#fault!));
          continue;
        }
        // A bare write threw: retry once with a savepoint per write.
        try {
          results = this.#runBatch(batch, true);
        } catch (err) {
          // The whole transaction failed: nothing is acknowledged.
          this.#undoSeqs();
          const kind = errorKind(err);
          this.#fail(kind, err);
          for (const w of batch) w.reject(this.#fault && kind !== 'other' ? unavailableError(this.#fault) : err);
          continue;
        }
      }
      this.#onCommit?.(batch.length, performance.now() - t0);
      const settle = () => batch.forEach((w, i) => (results[i]!.ok ? w.resolve(results[i]!.v) : w.reject(results[i]!.v)));
      if (!this.#wal) {
        this.#seqUndo.clear();
        settle();
        continue;
      }
      const committed: [ChatId, number][] = [];
      for (const [chat, prior] of this.#seqUndo) {
        if (!this.#durable.has(chat)) this.#durable.set(chat, prior);
        committed.push([chat, this.#lastSeq.get(chat)!]);
      }
      this.#seqUndo.clear();
      this.#checkpointer?.poke(this.#wal.bytes());
      // Flushes complete in commit order, so callers still hear of commits in seq order.
      this.#wal.afterFlush((flushErr) => {
        // After one failed fdatasync, Linux may report success for later ones although the pages
        // were dropped: every batch after the first failure is refused, never acknowledged.
        if (flushErr && this.#fault?.kind !== 'flush') this.#fail('flush', flushErr);
        if (this.#fault?.kind === 'flush') return batch.forEach((w) => w.reject(unavailableError(this.#fault!)));
        for (const [chat, seq] of committed) {
          if (seq >= this.#seqOf(chat)) this.#durable.delete(chat);
          else this.#durable.set(chat, seq);
        }
        settle();
      });
    }
  }

  /**
   * SQLite starts the WAL over from its first frame only when a write begins with every frame
   * already in the database file. The worker's checkpoint never leaves it so while writes go on:
   * the frames appended during its copy are always left, so the WAL grew without end (11 GB in
   * three minutes of a soak, then a full disk). Once the WAL holds RESTART_FRAMES, the writer
   * copies that short tail itself, between two batches (no transaction is open on this connection
   * here), so its next commit restarts the WAL and cuts the file back to the size limit.
   */
  #restartWal(logFrames: number): void {
    if (this.#closed || logFrames < RESTART_FRAMES) return;
    try {
      this.#db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      // A failed checkpoint loses nothing (the frames stay in the WAL); the next one retries.
      this.#onError?.(errorKind(err), err);
    }
  }

  /** One transaction over a batch; each write that may throw gets a savepoint so it fails alone. */
  #runBatch(batch: QueuedWrite[], savepointAll: boolean): Outcome[] {
    this.#lastSeqRows.clear();
    return this.#db.transaction(() => {
      const out = batch.map((w): Outcome => {
        // Other writes read chats.last_seq (read markers): they see every append before them.
        if (!w.bare) this.#writeLastSeqs();
        return this.#runOne(w, savepointAll);
      });
      this.#writeLastSeqs();
      return out;
    })();
  }

  /** chats.last_seq for the appends of this transaction so far: one UPDATE per chat, not per message. */
  #writeLastSeqs(): void {
    for (const [chat, last] of this.#lastSeqRows) this.#stmt.setLastSeq.run(last.seq, last.ts, chat);
    this.#lastSeqRows.clear();
  }

  #runOne(w: QueuedWrite, savepointAll: boolean): Outcome {
    if (w.bare && !savepointAll) return { ok: true, v: w.run() };
    try {
      return { ok: true, v: this.#db.transaction(w.run)() };
    } catch (err) {
      // SQLite rolls the whole transaction back on some I/O errors: the writes after it would
      // autocommit one by one, unflushed and with stale seqs, so the batch ends here.
      if (!this.#db.inTransaction) throw err;
      const kind = errorKind(err);
      if (kind !== 'full' && kind !== 'io') return { ok: false, v: err };
      this.#fail(kind, err);
      return { ok: false, v: unavailableError(this.#fault!) };
    }
  }

  /**
   * Stops writing. A full disk or an I/O error rolled its transaction back (in WAL mode the frames
   * of an uncommitted transaction are never read), so nothing acknowledged is at risk and writes
   * resume once the probe can write and fdatasync a file beside the database. A failed WAL flush
   * is different: Linux may have dropped dirty pages of commits already made and report later
   * flushes as fine, so the store refuses writes until a restart re-opens and fdatasyncs the WAL.
   */
  #fail(kind: StoreErrorKind, err: unknown): void {
    this.#onError?.(kind, err);
    if (kind === 'other' || this.#fault?.kind === 'flush') return;
    const was = this.#fault;
    if (kind === 'flush' || !was) this.#fault = { kind, message: err instanceof Error ? err.message : String(err), since: Date.now() };
    if (kind === 'flush') this.#probe?.stop();
    else this.#probe?.start();
    if (this.#fault !== was) this.#onFault?.(this.#fault);
  }

  #recovered(): void {
    if (!this.#fault || this.#fault.kind === 'flush' || this.#closed) return;
    this.#fault = undefined;
    this.#onFault?.(undefined);
  }

  /** Why writes are refused right now; undefined while the store writes. */
  fault(): StoreFault | undefined {
    return this.#fault;
  }

  /** Restores the seq cache to its state before a rolled-back transaction. */
  #undoSeqs(): void {
    for (const [chat, seq] of this.#seqUndo) this.#lastSeq.set(chat, seq);
    this.#seqUndo.clear();
  }

  #seqOf(chat: ChatId): number {
    let seq = this.#lastSeq.get(chat);
    if (seq === undefined) {
      const row = this.#stmt.chat.get(chat) as { last_seq: number } | undefined;
      seq = row?.last_seq ?? 0;
      this.#lastSeq.set(chat, seq);
    }
    return seq;
  }

  ensureDirect(chat: ChatId, a: string, b: string): Promise<void> {
    return this.#write(() => {
      const now = Date.now();
      if (this.#stmt.insertChat.run(chat, 'direct', null, a, now, 'invite').changes) {
        this.#stmt.insertMember.run(chat, a, now);
        this.#stmt.insertMember.run(chat, b, now);
      }
    });
  }

  createRoom(chat: ChatId, name: string | undefined, creator: string, members: readonly string[], policy: RoomPolicy, lifetimeMs?: number): Promise<void> {
    return this.#write(() => {
      const now = Date.now();
      const created = this.#stmt.insertChat.run(chat, 'room', name ?? null, creator, now, policy).changes > 0;
      if (created && lifetimeMs !== undefined) this.#db.prepare('UPDATE chats SET lifetime_ms = ? WHERE id = ?').run(lifetimeMs, chat);
      for (const u of new Set([creator, ...members])) this.#stmt.insertMember.run(chat, u, now);
    });
  }

  addMember(chat: ChatId, user: string): Promise<boolean> {
    return this.#write(() => this.#stmt.insertMember.run(chat, user, Date.now()).changes > 0);
  }

  removeMember(chat: ChatId, user: string): Promise<boolean> {
    return this.#write(() => this.#stmt.deleteMember.run(chat, user).changes > 0);
  }

  async members(chat: ChatId): Promise<string[] | undefined> {
    if (!this.#stmt.chat.get(chat)) return undefined;
    return this.#stmt.members.all(chat) as string[];
  }

  async chatInfo(chat: ChatId): Promise<ChatInfo | undefined> {
    const row = this.#stmt.chat.get(chat) as { id: string; kind: 'direct' | 'room'; name: string | null; policy: RoomPolicy; lifetime_ms: number | null } | undefined;
    if (!row) return undefined;
    const info: ChatInfo = { chat: row.id, kind: row.kind, lastSeq: this.#seqOf(chat) };
    if (row.lifetime_ms !== null) info.lifetimeMs = row.lifetime_ms;
    if (row.name !== null) info.name = row.name;
    if (row.kind === 'room') info.policy = row.policy;
    return info;
  }

  append(items: readonly AppendItem[]): Promise<AppendResult[]> {
    return Promise.all(items.map((item) => this.#write(() => this.#appendOne(item), true)));
  }

  #appendOne(item: AppendItem): AppendResult {
    const prior = this.#stmt.bySenderCmid.get(item.from, item.cmid) as MessageRow | undefined;
    if (prior) {
      if (prior.chat !== item.chat) return { ok: false, code: 'cmid_conflict', message: `cmid "${item.cmid}" was already used in ${prior.chat}` };
      return { ok: true, message: toMessage(prior), dup: true };
    }
    if (!this.#stmt.isMember.get(item.chat, item.from)) return { ok: false, code: 'not_member', message: `not a member of ${item.chat}` };
    const seq = this.#seqOf(item.chat) + 1;
    const attachments = item.attachments?.length ? [...item.attachments] : undefined;
    this.#stmt.insertMessage.run(item.chat, seq, item.from, item.cmid, item.body, item.ts, attachments ? JSON.stringify(attachments) : null);
    this.#stmt.senderCursors.run({ seq, chat: item.chat, user: item.from });
    this.#search.index(item.chat, seq, item.from, item.body, item.ts);
    if (!this.#seqUndo.has(item.chat)) this.#seqUndo.set(item.chat, seq - 1);
    this.#lastSeq.set(item.chat, seq);
    this.#lastSeqRows.set(item.chat, { seq, ts: item.ts });
    const message: Message = { chat: item.chat, seq, from: item.from, cmid: item.cmid, body: item.body, ts: item.ts };
    if (attachments) message.attachments = attachments;
    return { ok: true, message, dup: false };
  }

  async after(chat: ChatId, after: number, limit: number): Promise<Message[]> {
    return (this.#stmt.after.all(chat, after, this.#durable.get(chat) ?? Number.MAX_SAFE_INTEGER, limit) as MessageRow[]).map(toMessage);
  }

  async before(chat: ChatId, before: number | undefined, limit: number): Promise<Message[]> {
    const below = Math.min(before ?? Number.MAX_SAFE_INTEGER, (this.#durable.get(chat) ?? Number.MAX_SAFE_INTEGER - 1) + 1);
    const rows = this.#stmt.before.all(chat, below, limit) as MessageRow[];
    return rows.reverse().map(toMessage);
  }

  async userChats(user: string): Promise<ChatSummary[]> {
    type Row = { id: string; kind: 'direct' | 'room'; name: string | null; last_seq: number; read_seq: number; lifetime_ms: number | null; active_ts: number; g_seq: number | null; g_sender: string; g_cmid: string; g_body: string; g_ts: number; g_attachments: string | null };
    return (this.#stmt.userChats.all(user) as Row[]).map((r) => {
      const s: ChatSummary = { chat: r.id, kind: r.kind, lastSeq: r.last_seq, readSeq: r.read_seq, unread: Math.max(0, r.last_seq - r.read_seq) };
      if (r.name !== null) s.name = r.name;
      if (r.lifetime_ms !== null) s.expiresAt = r.active_ts + r.lifetime_ms;
      if (r.g_seq !== null) s.last = toMessage({ chat: r.id, seq: r.g_seq, sender: r.g_sender, cmid: r.g_cmid, body: r.g_body, ts: r.g_ts, attachments: r.g_attachments });
      return s;
    });
  }

  advanceCursor(user: string, chat: ChatId, kind: CursorKind, seq: number): Promise<number> {
    const stmt = kind === 'read' ? this.#stmt.advanceRead : this.#stmt.advanceDelivered;
    return this.#write(() => (stmt.get(seq, chat, user) as number | undefined) ?? 0);
  }

  async deliveredCursors(user: string): Promise<Map<ChatId, number>> {
    const rows = this.#stmt.delivered.all(user) as { chat: string; delivered_seq: number }[];
    return new Map(rows.map((r) => [r.chat, r.delivered_seq]));
  }

  async search(q: SearchQuery): Promise<SearchRow[]> {
    return this.#search.search(q, (chat) => this.#durable.get(chat) ?? Number.MAX_SAFE_INTEGER);
  }

  reindexSearch(): Promise<number> {
    return this.#write(() => this.#search.reindex());
  }

  async expiredChats(now: number, limit: number): Promise<ChatId[]> {
    return this.#db.prepare('SELECT id FROM chats WHERE lifetime_ms IS NOT NULL AND coalesce(last_ts, created_at) + lifetime_ms <= ? ORDER BY id LIMIT ?').pluck().all(now, limit) as string[];
  }

  deleteChat(chat: ChatId, ifLapsedAt?: number): Promise<string[]> {
    return this.#write(() => {
      if (ifLapsedAt !== undefined && !this.#db.prepare('SELECT 1 FROM chats WHERE id = ? AND lifetime_ms IS NOT NULL AND coalesce(last_ts, created_at) + lifetime_ms <= ?').get(chat, ifLapsedAt)) return [];
      const members = this.#stmt.members.all(chat) as string[];
      this.#db.prepare('DELETE FROM messages WHERE chat = ?').run(chat);
      this.#search.deleteChat(chat);
      this.#db.prepare('DELETE FROM members WHERE chat = ?').run(chat);
      this.#db.prepare('DELETE FROM chats WHERE id = ?').run(chat);
      this.#lastSeq.delete(chat);
      return members;
    });
  }

  /**
   * Deleted rows are zeroed in the database pages (secure_delete), but their old versions stay in
   * the WAL until it is checkpointed and cut: this does both (a busy reader can postpone it).
   */
  async purge(): Promise<void> {
    await this.flush();
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Resolves when every write queued so far is committed and on disk. */
  flush(): Promise<void> {
    if (!this.#queue.length && !this.#wal) return Promise.resolve();
    return this.#write(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // A faulted store refused its writes: there is nothing left to flush.
    await this.flush().catch((err: unknown) => {
      if (!this.#fault) throw err;
    });
    this.#closed = true;
    this.#probe?.stop();
    await this.#checkpointer?.close();
    await this.#wal?.close();
    this.#db.close();
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this build knows (${MIGRATIONS.length}); refusing to start`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/**
 * Attachments of a single node: contents are files under <dir>/blobs/<first 2 hex>/<sha256>,
 * written to a temporary file, fsynced, then renamed into place (a crash leaves no half file under
 * a hash); rows are in <dir>/index.db (SQLite). Files are 0600, folders 0700 (core/datadir.ts).
 * Link and unlink run one at a time, so a content is never deleted while an upload of the same
 * bytes is linking to it. The index is a database of its own, not the message store's: the folder
 * is the whole attachment store (one thing to back up or move), and uploads never wait in the
 * messages' group commit.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { privateFile } from '../datadir.ts';
import type { ChatId } from '../protocol.ts';
import type { AttachmentMeta, AttachmentPart, AttachmentStore } from './attachments.ts';

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    chat TEXT NOT NULL,
    uploader TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    thumb_sha TEXT,
    thumb_size INTEGER,
    created_at INTEGER NOT NULL,
    referenced INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX attachments_by_chat ON attachments(chat);
  CREATE INDEX attachments_by_sha ON attachments(sha);
  CREATE INDEX attachments_by_thumb ON attachments(thumb_sha) WHERE thumb_sha IS NOT NULL;
  CREATE INDEX attachments_unreferenced ON attachments(created_at) WHERE referenced = 0;
  `,
];

interface Row { id: string; chat: string; uploader: string; type: string; name: string; size: number; sha: string; width: number | null; height: number | null; thumb_sha: string | null; thumb_size: number | null; created_at: number; referenced: number }

function toMeta(r: Row): AttachmentMeta {
  const m: AttachmentMeta = { id: r.id, chat: r.chat, uploader: r.uploader, type: r.type, name: r.name, size: r.size, sha256: r.sha, createdAt: r.created_at, referenced: r.referenced === 1 };
  if (r.width !== null) m.width = r.width;
  if (r.height !== null) m.height = r.height;
  if (r.thumb_sha !== null) { m.thumbSha256 = r.thumb_sha; m.thumbSize = r.thumb_size!; }
  return m;
}

export class FsAttachments implements AttachmentStore {
  readonly #dir: string;
  readonly #db: Database.Database;
  /** Link (put) and unlink (delete) one at a time: see the header. */
  #lane: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** `dir`: the attachments folder, <dataDir>/attachments. */
  constructor(dir: string) {
    this.#dir = dir;
    fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true, mode: 0o700 });
    // Temporary files of uploads a crash interrupted: never renamed, never named by a row.
    for (const f of fs.readdirSync(path.join(dir, 'blobs'))) if (f.startsWith('.tmp-')) fs.rmSync(path.join(dir, 'blobs', f), { force: true });
    this.#db = new Database(privateFile(path.join(dir, 'index.db')));
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('secure_delete = ON');
    const current = this.#db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) throw new Error(`attachment index schema version ${current} is newer than this build knows (${MIGRATIONS.length}); refusing to start`);
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[v]!);
        this.#db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  #serial<T>(run: () => Promise<T> | T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('attachment store is closed'));
    const next = this.#lane.then(run);
    this.#lane = next.catch(() => undefined);
    return next;
  }

  #blobPath(sha: string): string {
    return path.join(this.#dir, 'blobs', sha.slice(0, 2), sha);
  }

  /** Writes a content under its hash unless it is there already: temp file, fsync, rename. */
  #writeBlob(sha: string, bytes: Buffer): void {
    const file = this.#blobPath(sha);
    if (fs.existsSync(file)) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = path.join(this.#dir, 'blobs', `.tmp-${randomBytes(8).toString('hex')}`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    // The rename is durable only once its folder is: the index row written next must not outlive it.
    const dir = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }

  put(meta: AttachmentMeta, content: Buffer, thumbnail?: Buffer): Promise<void> {
    return this.#serial(() => {
      this.#writeBlob(meta.sha256, content);
      if (thumbnail && meta.thumbSha256) this.#writeBlob(meta.thumbSha256, thumbnail);
      this.#db.prepare(`INSERT INTO attachments(id, chat, uploader, type, name, size, sha, width, height, thumb_sha, thumb_size, created_at, referenced)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(meta.id, meta.chat, meta.uploader, meta.type, meta.name, meta.size, meta.sha256,
        meta.width ?? null, meta.height ?? null, meta.thumbSha256 ?? null, meta.thumbSize ?? null, meta.createdAt, meta.referenced ? 1 : 0);
    });
  }

  async get(id: string): Promise<AttachmentMeta | undefined> {
    const row = this.#db.prepare('SELECT * FROM attachments WHERE id = ?').get(id) as Row | undefined;
    return row && toMeta(row);
  }

  async read(meta: AttachmentMeta, part: AttachmentPart, range?: { start: number; end: number }): Promise<Buffer> {
    const sha = part === 'content' ? meta.sha256 : meta.thumbSha256;
    if (!sha) throw new Error(`attachment ${meta.id} has no ${part}`);
    const fh = await fs.promises.open(this.#blobPath(sha), 'r');
    try {
      if (!range) return await fh.readFile();
      const buf = Buffer.alloc(range.end - range.start + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, range.start);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async claim(chat: ChatId, uploader: string, ids: readonly string[]): Promise<string[]> {
    const stmt = this.#db.prepare('UPDATE attachments SET referenced = 1 WHERE id = ? AND chat = ? AND uploader = ? RETURNING id').pluck();
    return this.#db.transaction(() => ids.filter((id) => stmt.get(id, chat, uploader) !== undefined))();
  }

  /**
   * Deletes rows and finds the contents no row names any more in one transaction, then removes
   * those files (a crash between the two leaves a file no row names, never a row without its file).
   */
  #delete(where: string, args: unknown[]): number {
    const named = this.#db.prepare('SELECT 1 FROM attachments WHERE sha = ? OR thumb_sha = ? LIMIT 1');
    const { n, orphans } = this.#db.transaction(() => {
      const rows = this.#db.prepare(`DELETE FROM attachments WHERE ${where} RETURNING sha, thumb_sha`).all(...args) as { sha: string; thumb_sha: string | null }[];
      const shas = new Set(rows.flatMap((r) => (r.thumb_sha ? [r.sha, r.thumb_sha] : [r.sha])));
      return { n: rows.length, orphans: [...shas].filter((sha) => !named.get(sha, sha)) };
    })();
    for (const sha of orphans) fs.rmSync(this.#blobPath(sha), { force: true });
    return n;
  }

  deleteChat(chat: ChatId): Promise<number> {
    return this.#serial(() => this.#delete('chat = ?', [chat]));
  }

  collect(before: number, limit: number): Promise<number> {
    return this.#serial(() => this.#delete('id IN (SELECT id FROM attachments WHERE referenced = 0 AND created_at < ? ORDER BY created_at LIMIT ?)', [before, limit]));
  }

  async chatsAfter(after: ChatId, limit: number): Promise<ChatId[]> {
    return this.#db.prepare('SELECT DISTINCT chat FROM attachments WHERE chat > ? ORDER BY chat LIMIT ?').pluck().all(after, limit) as string[];
  }

  async stats(): Promise<{ attachments: number; contents: number }> {
    const attachments = this.#db.prepare('SELECT count(*) FROM attachments').pluck().get() as number;
    let contents = 0;
    for (const d of fs.readdirSync(path.join(this.#dir, 'blobs'), { withFileTypes: true })) {
      if (d.isDirectory()) contents += fs.readdirSync(path.join(this.#dir, 'blobs', d.name)).length;
    }
    return { attachments, contents };
  }

  /** Deleted rows are zeroed in the pages (secure_delete); this cuts their old versions out of the WAL. */
  async purge(): Promise<void> {
    await this.#serial(() => this.#db.pragma('wal_checkpoint(TRUNCATE)'));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#lane;
    this.#closed = true;
    this.#db.close();
  }
}

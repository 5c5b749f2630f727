/**
 * Attachments in the shared PostgreSQL database, for a cluster: contents in attachment_blobs keyed
 * by SHA-256 (bytea), rows in attachments (postgres-migrations.ts, migration 5). Any node serves
 * any attachment. Rows name their contents by foreign key: a content another node is deleting
 * while an upload links to it fails that upload's transaction (retried by the client), never
 * leaves a row without its bytes.
 */
import type { ChatId } from '../protocol.ts';
import type { AttachmentMeta, AttachmentPart, AttachmentStore } from './attachments.ts';
import { PgDb, type Query } from './postgres-db.ts';
import { openMigrated } from './postgres-migrations.ts';

interface Row { id: string; chat: string; uploader: string; type: string; name: Buffer; size: number; sha: string; width: number | null; height: number | null; thumb_sha: string | null; thumb_size: number | null; created_at: number; referenced: boolean }

function toMeta(r: Row): AttachmentMeta {
  const m: AttachmentMeta = { id: r.id, chat: r.chat, uploader: r.uploader, type: r.type, name: r.name.toString('utf8'), size: r.size, sha256: r.sha, createdAt: r.created_at, referenced: r.referenced };
  if (r.width !== null) m.width = r.width;
  if (r.height !== null) m.height = r.height;
  if (r.thumb_sha !== null) { m.thumbSha256 = r.thumb_sha; m.thumbSize = r.thumb_size!; }
  return m;
}

/** Deletes the given contents that no row names any more (in the caller's transaction). */
const DELETE_ORPHANS = 'DELETE FROM attachment_blobs b WHERE b.sha = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha = b.sha OR a.thumb_sha = b.sha)';

export class PostgresAttachments implements AttachmentStore {
  readonly #db: PgDb;

  private constructor(db: PgDb) {
    this.#db = db;
  }

  /** Connects (a small pool of its own) and brings the schema up to date. */
  static async open(url: string, poolMax = 4): Promise<PostgresAttachments> {
    const db = await openMigrated({ url, poolMax }, 'the PostgreSQL attachment store');
    return new PostgresAttachments(db);
  }

  put(meta: AttachmentMeta, content: Buffer, thumbnail?: Buffer): Promise<void> {
    return this.#db.tx(async (t) => {
      // DO UPDATE (not NOTHING) locks an existing content row until this transaction commits.
      const link = 'INSERT INTO attachment_blobs(sha, bytes) VALUES ($1, $2) ON CONFLICT (sha) DO UPDATE SET sha = EXCLUDED.sha';
      await t(link, [meta.sha256, content]);
      if (thumbnail && meta.thumbSha256) await t(link, [meta.thumbSha256, thumbnail]);
      await t(`INSERT INTO attachments(id, chat, uploader, type, name, size, sha, width, height, thumb_sha, thumb_size, created_at, referenced)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, [meta.id, meta.chat, meta.uploader, meta.type, Buffer.from(meta.name, 'utf8'), meta.size, meta.sha256,
        meta.width ?? null, meta.height ?? null, meta.thumbSha256 ?? null, meta.thumbSize ?? null, meta.createdAt, meta.referenced]);
    });
  }

  async get(id: string): Promise<AttachmentMeta | undefined> {
    const [row] = await this.#db.query<Row>('SELECT * FROM attachments WHERE id = $1', [id]);
    return row && toMeta(row);
  }

  async read(meta: AttachmentMeta, part: AttachmentPart, range?: { start: number; end: number }): Promise<Buffer> {
    const sha = part === 'content' ? meta.sha256 : meta.thumbSha256;
    if (!sha) throw new Error(`attachment ${meta.id} has no ${part}`);
    const [row] = range
      ? await this.#db.query<{ b: Buffer }>('SELECT substring(bytes FROM $2 FOR $3) AS b FROM attachment_blobs WHERE sha = $1', [sha, range.start + 1, range.end - range.start + 1])
      : await this.#db.query<{ b: Buffer }>('SELECT bytes AS b FROM attachment_blobs WHERE sha = $1', [sha]);
    if (!row) throw new Error(`the content ${sha} of attachment ${meta.id} is missing`);
    return row.b;
  }

  async claim(chat: ChatId, uploader: string, ids: readonly string[]): Promise<string[]> {
    const rows = await this.#db.query<{ id: string }>('UPDATE attachments SET referenced = true WHERE id = ANY($1::text[]) AND chat = $2 AND uploader = $3 RETURNING id', [ids, chat, uploader]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => found.has(id));
  }

  async #delete(t: Query, where: string, args: unknown[]): Promise<number> {
    const rows = await t<{ sha: string; thumb_sha: string | null }>(`DELETE FROM attachments WHERE ${where} RETURNING sha, thumb_sha`, args);
    const shas = [...new Set(rows.flatMap((r) => (r.thumb_sha ? [r.sha, r.thumb_sha] : [r.sha])))];
    if (shas.length) await t(DELETE_ORPHANS, [shas]);
    return rows.length;
  }

  deleteChat(chat: ChatId): Promise<number> {
    return this.#db.tx((t) => this.#delete(t, 'chat = $1', [chat]));
  }

  collect(before: number, limit: number): Promise<number> {
    return this.#db.tx((t) => this.#delete(t, 'id IN (SELECT id FROM attachments WHERE NOT referenced AND created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)', [before, limit]));
  }

  async chatsAfter(after: ChatId, limit: number): Promise<ChatId[]> {
    return (await this.#db.query<{ chat: string }>('SELECT DISTINCT chat FROM attachments WHERE chat > $1 ORDER BY chat LIMIT $2', [after, limit])).map((r) => r.chat);
  }

  async stats(): Promise<{ attachments: number; contents: number }> {
    const [row] = await this.#db.query<{ a: number; c: number }>('SELECT (SELECT count(*)::int FROM attachments) AS a, (SELECT count(*)::int FROM attachment_blobs) AS c');
    return { attachments: row!.a, contents: row!.c };
  }

  close(): Promise<void> {
    return this.#db.end();
  }
}

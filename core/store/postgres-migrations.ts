/**
 * PostgreSQL schema migrations, applied in order and recorded in schema_migrations. Append only: a
 * shipped migration is never edited. Ids use the "C" collation so ordering and range scans match
 * SQLite's byte order; bodies and room names are bytea because PostgreSQL text cannot hold U+0000.
 */
import type pg from 'pg';
import { PgDb, type PgDbOptions } from './postgres-db.ts';

export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE chats (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'room')),
    name BYTEA,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0,
    last_ts BIGINT,
    policy TEXT NOT NULL DEFAULT 'invite' CHECK (policy IN ('invite', 'open'))
  );
  CREATE TABLE members (
    chat TEXT COLLATE "C" NOT NULL REFERENCES chats(id),
    user_id TEXT COLLATE "C" NOT NULL,
    joined_at BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL DEFAULT 0,
    read_seq BIGINT NOT NULL DEFAULT 0,
    receipt_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat, user_id)
  );
  CREATE INDEX members_by_user ON members(user_id, chat);
  CREATE TABLE messages (
    chat TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    cmid TEXT COLLATE "C" NOT NULL,
    body BYTEA NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (chat, seq)
  );
  CREATE UNIQUE INDEX messages_by_cmid ON messages(sender, cmid);
  CREATE TABLE roster (
    owner TEXT COLLATE "C" NOT NULL,
    peer TEXT COLLATE "C" NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('friend', 'out', 'in', 'none')),
    ver BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, peer)
  );
  CREATE INDEX roster_by_ver ON roster(owner, ver);
  CREATE TABLE roster_versions (owner TEXT COLLATE "C" PRIMARY KEY, ver BIGINT NOT NULL);
  CREATE TABLE notes (
    owner TEXT COLLATE "C" NOT NULL,
    peer TEXT COLLATE "C" NOT NULL,
    kid TEXT COLLATE "C" NOT NULL,
    iv BYTEA NOT NULL,
    ct BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, peer)
  );
  CREATE INDEX notes_by_kid ON notes(kid);
  CREATE TABLE blocks (
    owner TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, target)
  );
  CREATE INDEX blocks_by_target ON blocks(target, owner);
  CREATE TABLE user_settings (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    typing BOOLEAN NOT NULL DEFAULT true,
    receipts BOOLEAN NOT NULL DEFAULT true
  );
  `,
  // 2: appends as one server-side call (one round trip per batch instead of eight). Chats are
  // locked in id order first; each later statement sees rows committed while it waited.
  `
  CREATE FUNCTION parley_append(p_chat TEXT[], p_from TEXT[], p_cmid TEXT[], p_body BYTEA[], p_ts BIGINT[])
  RETURNS TABLE (status TEXT, m_chat TEXT, m_seq BIGINT, m_body BYTEA, m_ts BIGINT)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    k INT;
    prior RECORD;
    s BIGINT;
  BEGIN
    PERFORM 1 FROM chats WHERE id = ANY(p_chat) ORDER BY id FOR UPDATE;
    FOR k IN 1..coalesce(array_length(p_chat, 1), 0) LOOP
      m_chat := NULL; m_seq := NULL; m_body := NULL; m_ts := NULL;
      SELECT g.chat, g.seq, g.body, g.ts INTO prior FROM messages g WHERE g.sender = p_from[k] AND g.cmid = p_cmid[k];
      IF FOUND THEN
        status := CASE WHEN prior.chat = p_chat[k] THEN 'dup' ELSE 'conflict' END;
        m_chat := prior.chat; m_seq := prior.seq; m_body := prior.body; m_ts := prior.ts;
      ELSIF NOT EXISTS (SELECT 1 FROM members WHERE chat = p_chat[k] AND user_id = p_from[k]) THEN
        status := 'not_member';
      ELSE
        UPDATE chats SET last_seq = last_seq + 1, last_ts = p_ts[k] WHERE id = p_chat[k] RETURNING last_seq INTO s;
        INSERT INTO messages(chat, seq, sender, cmid, body, ts) VALUES (p_chat[k], s, p_from[k], p_cmid[k], p_body[k], p_ts[k]);
        UPDATE members SET read_seq = greatest(read_seq, s), delivered_seq = greatest(delivered_seq, s) WHERE chat = p_chat[k] AND user_id = p_from[k];
        status := 'new'; m_chat := p_chat[k]; m_seq := s;
      END IF;
      RETURN NEXT;
    END LOOP;
  END
  $fn$;
  `,
  // 3: full-text search (store/search-postgres.ts). Documents are folded tokens computed by the
  // node and inserted by the append statement itself. Existing messages: \`parley search reindex\`.
  `
  CREATE TABLE message_search (
    chat TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    doc TSVECTOR NOT NULL,
    PRIMARY KEY (chat, seq)
  );
  CREATE INDEX message_search_doc ON message_search USING gin (doc);
  `,
  // 4: ephemeral chats: a lifetime since the last activity (NULL: permanent).
  `
  ALTER TABLE chats ADD COLUMN lifetime_ms BIGINT;
  CREATE INDEX chats_ephemeral ON chats(id) WHERE lifetime_ms IS NOT NULL;
  `,
  // 5: attachments. A message's references are a JSON array of ids (NULL: none), written by a
  // six-argument parley_append (the five-argument one stays for nodes not yet upgraded). Uploads:
  // contents by SHA-256 in attachment_blobs, rows in attachments (store/attachments-postgres.ts);
  // the foreign key keeps a content from being deleted while an upload links to it.
  `
  ALTER TABLE messages ADD COLUMN attachments TEXT;
  CREATE FUNCTION parley_append(p_chat TEXT[], p_from TEXT[], p_cmid TEXT[], p_body BYTEA[], p_ts BIGINT[], p_att TEXT[])
  RETURNS TABLE (status TEXT, m_chat TEXT, m_seq BIGINT, m_body BYTEA, m_ts BIGINT)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    k INT;
    prior RECORD;
    s BIGINT;
  BEGIN
    PERFORM 1 FROM chats WHERE id = ANY(p_chat) ORDER BY id FOR UPDATE;
    FOR k IN 1..coalesce(array_length(p_chat, 1), 0) LOOP
      m_chat := NULL; m_seq := NULL; m_body := NULL; m_ts := NULL;
      SELECT g.chat, g.seq, g.body, g.ts INTO prior FROM messages g WHERE g.sender = p_from[k] AND g.cmid = p_cmid[k];
      IF FOUND THEN
        status := CASE WHEN prior.chat = p_chat[k] THEN 'dup' ELSE 'conflict' END;
        m_chat := prior.chat; m_seq := prior.seq; m_body := prior.body; m_ts := prior.ts;
      ELSIF NOT EXISTS (SELECT 1 FROM members WHERE chat = p_chat[k] AND user_id = p_from[k]) THEN
        status := 'not_member';
      ELSE
        UPDATE chats SET last_seq = last_seq + 1, last_ts = p_ts[k] WHERE id = p_chat[k] RETURNING last_seq INTO s;
        INSERT INTO messages(chat, seq, sender, cmid, body, ts, attachments) VALUES (p_chat[k], s, p_from[k], p_cmid[k], p_body[k], p_ts[k], p_att[k]);
        UPDATE members SET read_seq = greatest(read_seq, s), delivered_seq = greatest(delivered_seq, s) WHERE chat = p_chat[k] AND user_id = p_from[k];
        status := 'new'; m_chat := p_chat[k]; m_seq := s;
      END IF;
      RETURN NEXT;
    END LOOP;
  END
  $fn$;
  CREATE TABLE attachment_blobs (
    sha TEXT COLLATE "C" PRIMARY KEY,
    bytes BYTEA NOT NULL
  );
  CREATE TABLE attachments (
    id TEXT COLLATE "C" PRIMARY KEY,
    chat TEXT COLLATE "C" NOT NULL,
    uploader TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    name BYTEA NOT NULL,
    size BIGINT NOT NULL,
    sha TEXT COLLATE "C" NOT NULL REFERENCES attachment_blobs(sha),
    width INTEGER,
    height INTEGER,
    thumb_sha TEXT COLLATE "C" REFERENCES attachment_blobs(sha),
    thumb_size BIGINT,
    created_at BIGINT NOT NULL,
    referenced BOOLEAN NOT NULL DEFAULT false
  );
  CREATE INDEX attachments_by_chat ON attachments(chat);
  CREATE INDEX attachments_by_sha ON attachments(sha);
  CREATE INDEX attachments_by_thumb ON attachments(thumb_sha) WHERE thumb_sha IS NOT NULL;
  CREATE INDEX attachments_unreferenced ON attachments(created_at) WHERE NOT referenced;
  `,
  // 6: the sender's delivered cursor moves over its own message only when it had everything
  // before it (store/sqlite.ts says why); both append functions, for nodes on either.
  `
  CREATE OR REPLACE FUNCTION parley_append(p_chat TEXT[], p_from TEXT[], p_cmid TEXT[], p_body BYTEA[], p_ts BIGINT[])
  RETURNS TABLE (status TEXT, m_chat TEXT, m_seq BIGINT, m_body BYTEA, m_ts BIGINT)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    k INT;
    prior RECORD;
    s BIGINT;
  BEGIN
    PERFORM 1 FROM chats WHERE id = ANY(p_chat) ORDER BY id FOR UPDATE;
    FOR k IN 1..coalesce(array_length(p_chat, 1), 0) LOOP
      m_chat := NULL; m_seq := NULL; m_body := NULL; m_ts := NULL;
      SELECT g.chat, g.seq, g.body, g.ts INTO prior FROM messages g WHERE g.sender = p_from[k] AND g.cmid = p_cmid[k];
      IF FOUND THEN
        status := CASE WHEN prior.chat = p_chat[k] THEN 'dup' ELSE 'conflict' END;
        m_chat := prior.chat; m_seq := prior.seq; m_body := prior.body; m_ts := prior.ts;
      ELSIF NOT EXISTS (SELECT 1 FROM members WHERE chat = p_chat[k] AND user_id = p_from[k]) THEN
        status := 'not_member';
      ELSE
        UPDATE chats SET last_seq = last_seq + 1, last_ts = p_ts[k] WHERE id = p_chat[k] RETURNING last_seq INTO s;
        INSERT INTO messages(chat, seq, sender, cmid, body, ts) VALUES (p_chat[k], s, p_from[k], p_cmid[k], p_body[k], p_ts[k]);
        UPDATE members SET read_seq = greatest(read_seq, s), delivered_seq = CASE WHEN delivered_seq >= s - 1 THEN greatest(delivered_seq, s) ELSE delivered_seq END WHERE chat = p_chat[k] AND user_id = p_from[k];
        status := 'new'; m_chat := p_chat[k]; m_seq := s;
      END IF;
      RETURN NEXT;
    END LOOP;
  END
  $fn$;
  CREATE OR REPLACE FUNCTION parley_append(p_chat TEXT[], p_from TEXT[], p_cmid TEXT[], p_body BYTEA[], p_ts BIGINT[], p_att TEXT[])
  RETURNS TABLE (status TEXT, m_chat TEXT, m_seq BIGINT, m_body BYTEA, m_ts BIGINT)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    k INT;
    prior RECORD;
    s BIGINT;
  BEGIN
    PERFORM 1 FROM chats WHERE id = ANY(p_chat) ORDER BY id FOR UPDATE;
    FOR k IN 1..coalesce(array_length(p_chat, 1), 0) LOOP
      m_chat := NULL; m_seq := NULL; m_body := NULL; m_ts := NULL;
      SELECT g.chat, g.seq, g.body, g.ts INTO prior FROM messages g WHERE g.sender = p_from[k] AND g.cmid = p_cmid[k];
      IF FOUND THEN
        status := CASE WHEN prior.chat = p_chat[k] THEN 'dup' ELSE 'conflict' END;
        m_chat := prior.chat; m_seq := prior.seq; m_body := prior.body; m_ts := prior.ts;
      ELSIF NOT EXISTS (SELECT 1 FROM members WHERE chat = p_chat[k] AND user_id = p_from[k]) THEN
        status := 'not_member';
      ELSE
        UPDATE chats SET last_seq = last_seq + 1, last_ts = p_ts[k] WHERE id = p_chat[k] RETURNING last_seq INTO s;
        INSERT INTO messages(chat, seq, sender, cmid, body, ts, attachments) VALUES (p_chat[k], s, p_from[k], p_cmid[k], p_body[k], p_ts[k], p_att[k]);
        UPDATE members SET read_seq = greatest(read_seq, s), delivered_seq = CASE WHEN delivered_seq >= s - 1 THEN greatest(delivered_seq, s) ELSE delivered_seq END WHERE chat = p_chat[k] AND user_id = p_from[k];
        status := 'new'; m_chat := p_chat[k]; m_seq := s;
      END IF;
      RETURN NEXT;
    END LOOP;
  END
  $fn$;
  `,
];

/** Arbitrary constant key of the advisory lock that serializes migrations across nodes. */
const MIGRATION_LOCK = 0x7061726c; // "parl"

/**
 * Brings the schema up to date. Every node may call it at the same start: the advisory lock lets
 * one migrate while the others wait, then find nothing left to do.
 */
export async function migratePostgres(client: pg.ClientBase, migrations: readonly string[] = PG_MIGRATIONS): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    if (current > migrations.length) {
      throw new Error(`database schema version ${current} is newer than this build knows (${migrations.length}); refusing to start`);
    }
    for (let v = current; v < migrations.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(migrations[v]!);
        await client.query('INSERT INTO schema_migrations(version) VALUES ($1)', [v + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
    return migrations.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
  }
}

/**
 * A pool on `opts.url` with the schema brought up to date (safe when several nodes start at once);
 * on failure the pool is ended and the error names `what` and the URL without its password.
 */
export async function openMigrated(opts: PgDbOptions, what: string): Promise<PgDb> {
  const db = new PgDb(opts);
  try {
    const client = await db.pool.connect();
    try {
      await migratePostgres(client);
    } finally {
      client.release();
    }
  } catch (err) {
    await db.end().catch(() => undefined);
    throw new Error(`cannot open ${what} at ${db.url}: ${(err as Error).message}`, { cause: err });
  }
  return db;
}

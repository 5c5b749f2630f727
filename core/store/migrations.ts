/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
 * a shipped migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'room')),
    name TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_ts INTEGER
  );
  CREATE TABLE members (
    chat TEXT NOT NULL REFERENCES chats(id),
    user TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat, user)
  ) WITHOUT ROWID;
  CREATE INDEX members_by_user ON members(user, chat);
  CREATE TABLE messages (
    chat TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    cmid TEXT NOT NULL,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (chat, seq)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX messages_by_cmid ON messages(sender, cmid);
  `,
  // 2: friends (roster with per-owner versions and tombstones), encrypted notes, blocks, privacy
  // settings, and the shared read marker (read_seq stays private; receipt_seq is what others see).
  `
  CREATE TABLE roster (
    owner TEXT NOT NULL,
    peer TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('friend', 'out', 'in', 'none')),
    ver INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, peer)
  ) WITHOUT ROWID;
  CREATE INDEX roster_by_ver ON roster(owner, ver);
  CREATE TABLE roster_versions (owner TEXT PRIMARY KEY, ver INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE notes (
    owner TEXT NOT NULL,
    peer TEXT NOT NULL,
    kid TEXT NOT NULL,
    iv BLOB NOT NULL,
    ct BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, peer)
  ) WITHOUT ROWID;
  CREATE INDEX notes_by_kid ON notes(kid);
  CREATE TABLE blocks (
    owner TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, target)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_by_target ON blocks(target, owner);
  CREATE TABLE user_settings (
    user TEXT PRIMARY KEY,
    typing INTEGER NOT NULL DEFAULT 1,
    receipts INTEGER NOT NULL DEFAULT 1
  ) WITHOUT ROWID;
  ALTER TABLE members ADD COLUMN receipt_seq INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: room join policy. Rooms created before it were joinable by id and stay so; new rooms are
  // created invite-only unless asked otherwise.
  `
  ALTER TABLE chats ADD COLUMN policy TEXT NOT NULL DEFAULT 'open' CHECK (policy IN ('invite', 'open'));
  `,
  // 4: full-text search (store/search-sqlite.ts). Folded tokens from parley_search_doc (a function
  // the store registers); bm25 ranks by the body alone. Existing messages are indexed here.
  `
  CREATE VIRTUAL TABLE message_search USING fts5(doc, ctok, stok, chat UNINDEXED, seq UNINDEXED, sender UNINDEXED, ts UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2');
  INSERT INTO message_search(message_search, rank) VALUES ('rank', 'bm25(1.0, 0.0, 0.0)');
  INSERT INTO message_search(doc, ctok, stok, chat, seq, sender, ts)
    SELECT parley_search_doc(body), parley_search_key('c', chat), parley_search_key('s', sender), chat, seq, sender, ts FROM messages;
  `,
  // 5: ephemeral chats (a lifetime since the last activity) and deletes that leave nothing behind:
  // FTS5 removes a deleted row's terms from the index at once instead of leaving them until a merge.
  `
  ALTER TABLE chats ADD COLUMN lifetime_ms INTEGER;
  CREATE INDEX chats_ephemeral ON chats(id) WHERE lifetime_ms IS NOT NULL;
  INSERT INTO message_search(message_search, rank) VALUES ('secure-delete', 1);
  `,
  // 6: search rowids count down, newest lowest (store/search-sqlite.ts): renumber what migration 4 indexed.
  `
  CREATE TEMP TABLE search_renumber AS SELECT rowid AS r, doc, ctok, stok, chat, seq, sender, ts FROM message_search;
  DELETE FROM message_search;
  INSERT INTO message_search(rowid, doc, ctok, stok, chat, seq, sender, ts) SELECT -r, doc, ctok, stok, chat, seq, sender, ts FROM search_renumber WHERE r > 0;
  INSERT INTO message_search(rowid, doc, ctok, stok, chat, seq, sender, ts) SELECT r, doc, ctok, stok, chat, seq, sender, ts FROM search_renumber WHERE r <= 0;
  DROP TABLE search_renumber;
  `,
  // 7: attachments a message references (a JSON array of ids; NULL: none). The uploads themselves
  // live in the attachment store (store/attachments-fs.ts).
  `
  ALTER TABLE messages ADD COLUMN attachments TEXT;
  `,
];

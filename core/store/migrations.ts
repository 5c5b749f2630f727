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
];

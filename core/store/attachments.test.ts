import { onTestFinished } from 'vitest';
import path from 'node:path';
import { tempDir } from '../test/helpers.ts';
import { requires } from '../test/env.ts';
import { FsAttachments } from './attachments-fs.ts';
import { PostgresAttachments } from './attachments-postgres.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import { attachmentStoreContract, messageAttachmentsContract } from './test/attachments-contract.ts';
import { createTestDatabase, pgAvailable } from './test/pg.ts';

attachmentStoreContract('files', async () => new FsAttachments(path.join(tempDir(), 'attachments')));
attachmentStoreContract('PostgreSQL', async (ctx) => {
  requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
  const db = await createTestDatabase();
  onTestFinished(() => db.drop());
  return PostgresAttachments.open(db.url);
});

messageAttachmentsContract('SQLite', async () => new SqliteStore({ file: path.join(tempDir(), 'p.db'), sync: 'normal' }));
messageAttachmentsContract('PostgreSQL', async (ctx) => {
  requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
  const db = await createTestDatabase();
  onTestFinished(() => db.drop());
  return PostgresStore.open({ url: db.url });
});

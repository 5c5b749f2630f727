/**
 * `parley search reindex`: rebuilds the full-text index from the stored messages, for the store
 * the settings name (the SQLite file in --data-dir, or the --store postgres:// URL).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { PostgresStore } from '../core/store/postgres.ts';
import { SqliteStore } from '../core/store/sqlite.ts';
import type { Store } from '../core/store/types.ts';
import { commandConfig } from './config.ts';

export const SEARCH_HELP = `usage: parley search reindex [--data-dir DIR | --store postgres://...]

  reindex  drop the search index and rebuild it from every stored message; prints how many
           messages it indexed and how long it took

SQLite: run it while no node uses the data dir (the rebuild is one transaction and holds the
write lock). PostgreSQL: run it once after upgrading a database that has messages from before
search existed; nodes keep serving meanwhile (searches see the old index until the commit).
Every \`parley serve\` setting is accepted too (see parley serve --help).`;

export async function searchCommand(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  if (rest.length !== 1 || rest[0] !== 'reindex') throw new UsageError([`expected "reindex", got "${rest.join(' ')}"`]);
  const config = commandConfig('search', flags);
  let store: Store;
  if (config.store === 'sqlite') {
    const file = path.join(config.dataDir, 'parley.db');
    if (!fs.existsSync(file)) throw new UsageError([`no database at ${file}; pass the node's --data-dir`]);
    store = new SqliteStore({ file, sync: config.sqliteSync });
  } else {
    store = await PostgresStore.open({ url: config.store });
  }
  try {
    const t0 = performance.now();
    const n = await store.reindexSearch();
    console.log(`indexed ${n} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    await store.close();
  }
}

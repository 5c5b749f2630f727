/**
 * The disk under the node, read at scrape: the data directory's filesystem (free and total bytes)
 * and, with the SQLite store, the database and write-ahead log files. A WAL that grows without end
 * once filled a disk; these gauges show it long before the store refuses writes.
 */
import fs from 'node:fs';
import type { Metrics } from './registry.ts';

/** The size of a file in bytes; 0 when it does not exist (a WAL between restarts, a store not yet opened). */
function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Makes the storage gauges read the data directory's filesystem, and `sqliteFile` (and its -wal) when given. */
export function watchStorage(metrics: Metrics, dataDir: string, sqliteFile?: string): void {
  const fsStats = () => {
    try {
      return fs.statfsSync(dataDir);
    } catch {
      return undefined;
    }
  };
  // NaN (unknown), not 0, when the filesystem cannot be read: 0 would look like a full disk.
  metrics.read('parley_data_dir_free_bytes', () => { const s = fsStats(); return s ? s.bavail * s.bsize : Number.NaN; });
  metrics.read('parley_data_dir_size_bytes', () => { const s = fsStats(); return s ? s.blocks * s.bsize : Number.NaN; });
  if (sqliteFile === undefined) return;
  metrics.read('parley_sqlite_db_bytes', () => fileBytes(sqliteFile));
  metrics.read('parley_sqlite_wal_bytes', () => fileBytes(`${sqliteFile}-wal`));
}

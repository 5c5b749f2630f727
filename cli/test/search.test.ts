/** `parley search reindex` run in-process through main (the compiled entry point is cli.test.ts's job). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';
import { parseQuery } from '../../core/store/search.ts';
import { SqliteStore } from '../../core/store/sqlite.ts';

const find = (store: SqliteStore, q: string) => store.search({ user: 'a', terms: parseQuery(q), upto: Number.MAX_SAFE_INTEGER, limit: 10, offset: 0 });

describe('parley search reindex', () => {
  it('rebuilds an emptied index from the stored messages and says how many it indexed', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-reindex-'));
    const file = path.join(dataDir, 'parley.db');
    let store = new SqliteStore({ file });
    await store.ensureDirect('d:a:b', 'a', 'b');
    await store.append([{ chat: 'd:a:b', from: 'a', cmid: '1', body: 'quarterly numbers', ts: 1 }, { chat: 'd:a:b', from: 'b', cmid: '2', body: 'numbers look fine', ts: 2 }]);
    await store.close();
    const db = new Database(file);
    db.exec('DELETE FROM message_search');
    db.close();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['search', 'reindex', '--data-dir', dataDir])).toBe(0);
      expect(log.mock.calls[0]![0]).toMatch(/^indexed 2 messages in \d+\.\d s$/);
    } finally {
      log.mockRestore();
    }
    store = new SqliteStore({ file });
    expect((await find(store, 'numbers')).map((r) => r.message.body).sort()).toEqual(['numbers look fine', 'quarterly numbers']);
    await store.close();
  });

  it('refuses a data dir without a database with exit 2 and creates no database', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-reindex-')), 'none');
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['search', 'reindex', '--data-dir', dataDir])).toBe(2);
      expect(err.mock.calls.map((c) => String(c[0])).join('\n')).toContain('no database at');
    } finally {
      err.mockRestore();
    }
    expect(fs.existsSync(path.join(dataDir, 'parley.db'))).toBe(false);
  });
});

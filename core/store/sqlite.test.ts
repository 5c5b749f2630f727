import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite.ts';
import type { AppendItem } from './types.ts';
import { storeContract } from './test/contract.ts';

let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const item = (cmid: string, ts = 1_700_000_000_000): AppendItem => ({ chat: 'd:a:b', from: 'a', cmid, body: `body ${cmid}`, ts });

storeContract('SQLite', async () => new SqliteStore({ file: ':memory:' }));

describe('SqliteStore with sync full on a file', () => {
  const fileIn = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-store-')), 'p.db');

  it('reads no message before the flush of its commit completed, and every acked one after', async () => {
    store = new SqliteStore({ file: fileIn(), sync: 'full' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    const pending = store.append([item('c1'), item('c2')]);
    // The commit runs on the turn's setImmediate; this one runs right after it, before any flush can finish.
    await new Promise((r) => setImmediate(r));
    expect(await store.after('d:a:b', 0, 10)).toEqual([]);
    expect(await store.before('d:a:b', undefined, 10)).toEqual([]);
    const acked = await pending;
    expect(acked.map((r) => (r.ok ? r.message.seq : -1))).toEqual([1, 2]);
    expect((await store.after('d:a:b', 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    expect((await store.before('d:a:b', undefined, 10)).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('keeps every acked message across a close and reopen, and continues the seq', async () => {
    const file = fileIn();
    store = new SqliteStore({ file, sync: 'full' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    await Promise.all(Array.from({ length: 50 }, (_, i) => store!.append([item(`c${i}`)])));
    await store.close();
    store = new SqliteStore({ file, sync: 'full' });
    expect((await store.after('d:a:b', 0, 100)).map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const [next] = await store.append([item('after-reopen')]);
    expect(next).toMatchObject({ ok: true, message: { seq: 51 } });
  });

  it('writes a chat\'s last seq once per commit, yet a read marker in that commit sees the appends before it and a reopen continues after the last', async () => {
    const file = fileIn();
    store = new SqliteStore({ file, sync: 'full' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    // One turn, so one commit: three appends, then a read marker at the third one's seq.
    const appended = store.append([item('c1'), item('c2'), item('c3')]);
    const marked = store.social.markRead('b', 'd:a:b', 3, true);
    expect((await appended).map((r) => (r.ok ? r.message.seq : -1))).toEqual([1, 2, 3]);
    expect(await marked).toMatchObject({ read: 3, last: 3 });
    expect(await store.chatInfo('d:a:b')).toMatchObject({ lastSeq: 3 });
    await store.close();
    store = new SqliteStore({ file, sync: 'full' });
    expect(await store.chatInfo('d:a:b')).toMatchObject({ lastSeq: 3 });
    expect((await store.userChats('a'))[0]).toMatchObject({ chat: 'd:a:b', lastSeq: 3 });
    const [next] = await store.append([item('c4')]);
    expect(next).toMatchObject({ ok: true, message: { seq: 4 } });
  });

  it('checkpoints the WAL into the database file with autocheckpoint off, keeping every message', async () => {
    const file = fileIn();
    store = new SqliteStore({ file, sync: 'full' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    const before = fs.statSync(file).size;
    // About 6 MiB of WAL: past the 1000-page threshold at which the worker checkpoints.
    const body = 'x'.repeat(3000);
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store!.append([{ ...item(`r${round}-${i}`), body }])));
    }
    const deadline = Date.now() + 10_000;
    while (fs.statSync(file).size <= before + 4 * 1024 * 1024 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fs.statSync(file).size).toBeGreaterThan(before + 4 * 1024 * 1024);
    await store.close();
    store = new SqliteStore({ file, sync: 'full' });
    const all = await store.after('d:a:b', 0, 5000);
    expect(all.length).toBe(2000);
    expect(all.every((m, i) => m.seq === i + 1)).toBe(true);
  });

  it('keeps the WAL bounded while writes never pause (the worker alone never catches up, and the WAL grew to 11 GB in a 3-minute soak)', async () => {
    const file = fileIn();
    store = new SqliteStore({ file, sync: 'full' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    const body = 'x'.repeat(3000);
    let n = 0;
    let maxWal = 0;
    const end = Date.now() + 8_000;
    // Eight writers, each with its next append queued as soon as the last is acked: no idle turn.
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      while (Date.now() < end) {
        await Promise.all(Array.from({ length: 50 }, () => store!.append([{ ...item(`w${w}-${n++}`), body }])));
        maxWal = Math.max(maxWal, fs.statSync(`${file}-wal`).size);
      }
    }));
    const written = n * body.length;
    expect({ written: written > 128 * 1024 * 1024, maxWalMiB: Math.round(maxWal / 1048576) }).toEqual({ written: true, maxWalMiB: expect.any(Number) });
    // Bounded: 75 MiB here after 8 s (1.2 GB and growing without the writer's restart).
    expect(maxWal).toBeLessThan(128 * 1024 * 1024);
    await store.close();
    store = new SqliteStore({ file, sync: 'full' });
    expect((await store.chatInfo('d:a:b'))?.lastSeq).toBe(n);
  }, 30_000);
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite.ts';
import type { AppendItem } from './types.ts';

let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const item = (cmid: string, ts = 1_700_000_000_000): AppendItem => ({ chat: 'd:a:b', from: 'a', cmid, body: `body ${cmid}`, ts });

describe('SqliteStore group commit', () => {
  it('commits the rest of a batch when one append in it fails, with seqs that have no gap', async () => {
    store = new SqliteStore({ file: ':memory:' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    // One turn: all four share a transaction. NaN binds as NULL and breaks NOT NULL on ts.
    const settled = await Promise.allSettled([store.append([item('c1')]), store.append([item('bad', Number.NaN)]), store.append([item('c2')]), store.append([item('c3')])]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    const seqs = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<SqliteStore['append']>>>).value[0]);
    expect(seqs.map((r) => (r?.ok ? r.message.seq : -1))).toEqual([1, 2, 3]);
    expect((await store.after('d:a:b', 0, 10)).map((m) => [m.seq, m.cmid])).toEqual([[1, 'c1'], [2, 'c2'], [3, 'c3']]);
    const [next] = await store.append([item('c4')]);
    expect(next).toMatchObject({ ok: true, message: { seq: 4 } });
    expect((await store.chatInfo('d:a:b'))?.lastSeq).toBe(4);
  });

  it('rejects a write that throws alone while the appends around it commit', async () => {
    store = new SqliteStore({ file: ':memory:' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    // A member of a chat that does not exist breaks the foreign key: that write alone fails.
    const settled = await Promise.allSettled([store.append([item('c1')]), store.addMember('r:nochat', 'c'), store.append([item('c2')])]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.after('d:a:b', 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('returns the original message for a repeated cmid within one batch and across batches', async () => {
    store = new SqliteStore({ file: ':memory:' });
    await store.ensureDirect('d:a:b', 'a', 'b');
    const [first, again] = await Promise.all([store.append([item('same')]), store.append([item('same')])]);
    expect(first[0]).toMatchObject({ ok: true, dup: false, message: { seq: 1 } });
    expect(again[0]).toMatchObject({ ok: true, dup: true, message: { seq: 1 } });
    const [later] = await store.append([item('same')]);
    expect(later).toMatchObject({ ok: true, dup: true, message: { seq: 1 } });
  });
});

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
});

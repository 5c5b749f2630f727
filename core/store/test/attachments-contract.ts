/**
 * The attachment store contract: store/attachments-fs.ts and store/attachments-postgres.ts both
 * register it (store/attachments.test.ts). Contents are addressed by hash, kept while any row names
 * them, and deleted with the last row that did.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import type { AttachmentMeta, AttachmentStore } from '../attachments.ts';
import { parseQuery } from '../search.ts';
import type { Store } from '../types.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function meta(id: string, content: Buffer, over: Partial<AttachmentMeta> = {}, thumb?: Buffer): AttachmentMeta {
  const m: AttachmentMeta = { id: id.padEnd(16, '0'), chat: 'r:one', uploader: 'a', type: 'image/png', name: `${id}.png`, size: content.length, sha256: sha(content), createdAt: 1_000, referenced: false, ...over };
  if (thumb) Object.assign(m, { thumbSha256: sha(thumb), thumbSize: thumb.length, width: 4, height: 3 });
  return m;
}

const A = Buffer.from('first content, bytes 0..n');
const B = Buffer.from('second content');
const T = Buffer.from('a thumbnail');

export function attachmentStoreContract(engine: string, openStore: (ctx: TestContext) => Promise<AttachmentStore>): void {
  const open = async (ctx: TestContext): Promise<AttachmentStore> => {
    const store = await openStore(ctx);
    onTestFinished(() => store.close());
    return store;
  };

  describe(`${engine} attachment store`, () => {
    it('keeps a row and its content: whole, by inclusive range, and the thumbnail', async (ctx) => {
      const store = await open(ctx);
      const m = meta('a1', A, { name: 'ünïcode name.png' }, T);
      await store.put(m, A, T);
      expect(await store.get(m.id)).toEqual(m);
      expect(await store.get('nope'.padEnd(16, '0'))).toBeUndefined();
      expect(await store.read(m, 'content')).toEqual(A);
      expect(await store.read(m, 'content', { start: 6, end: 12 })).toEqual(A.subarray(6, 13));
      expect(await store.read(m, 'thumbnail')).toEqual(T);
      expect(await store.stats()).toEqual({ attachments: 1, contents: 2 });
    });

    it('claims only the uploader\'s own uploads to that chat, and says which', async (ctx) => {
      const store = await open(ctx);
      const mine = meta('mine', A);
      const theirs = meta('theirs', B, { uploader: 'b' });
      const elsewhere = meta('elsewhere', B, { chat: 'r:two' });
      for (const m of [mine, theirs, elsewhere]) await store.put(m, m === mine ? A : B);
      const unknown = 'unknown'.padEnd(16, '0');
      expect(await store.claim('r:one', 'a', [mine.id, theirs.id, elsewhere.id, unknown])).toEqual([mine.id]);
      expect((await store.get(mine.id))?.referenced).toBe(true);
      expect((await store.get(theirs.id))?.referenced).toBe(false);
      expect((await store.get(elsewhere.id))?.referenced).toBe(false);
      // Claiming again (a retried send) is no error.
      expect(await store.claim('r:one', 'a', [mine.id])).toEqual([mine.id]);
    });

    it('stores one content for equal bytes and deletes it with the last row naming it', async (ctx) => {
      const store = await open(ctx);
      const one = meta('one', A, { chat: 'r:one' });
      const two = meta('two', A, { chat: 'r:two' });
      await store.put(one, A);
      await store.put(two, A);
      expect(await store.stats()).toEqual({ attachments: 2, contents: 1 });
      expect(await store.deleteChat('r:one')).toBe(1);
      expect(await store.stats()).toEqual({ attachments: 1, contents: 1 });
      expect(await store.read(two, 'content')).toEqual(A);
      expect(await store.deleteChat('r:two')).toBe(1);
      expect(await store.stats()).toEqual({ attachments: 0, contents: 0 });
      expect(await store.deleteChat('r:two')).toBe(0);
    });

    it('lists the chats that have attachments in id order, page by page', async (ctx) => {
      const store = await open(ctx);
      for (const [id, chat] of [['x1', 'r:b'], ['x2', 'r:a'], ['x3', 'r:b'], ['x4', 'd:a:b']]) await store.put(meta(id!, A, { chat }), A);
      expect(await store.chatsAfter('', 2)).toEqual(['d:a:b', 'r:a']);
      expect(await store.chatsAfter('r:a', 2)).toEqual(['r:b']);
      expect(await store.chatsAfter('r:b', 2)).toEqual([]);
    });

    it('collects unreferenced rows created before the cut-off, oldest first, at most the limit', async (ctx) => {
      const store = await open(ctx);
      const rows = [meta('old1', A, { createdAt: 100 }), meta('old2', B, { createdAt: 200 }), meta('old3', T, { createdAt: 300 }), meta('kept', B, { createdAt: 50, referenced: true }), meta('young', A, { createdAt: 5_000 })];
      for (const m of rows) await store.put(m, m.id.startsWith('old3') ? T : m.id.startsWith('old2') || m.id.startsWith('kept') ? B : A);
      expect(await store.collect(1_000, 2)).toBe(2);
      expect(await store.get(rows[0]!.id)).toBeUndefined();
      expect(await store.get(rows[1]!.id)).toBeUndefined();
      expect(await store.collect(1_000, 10)).toBe(1);
      expect(await store.collect(1_000, 10)).toBe(0);
      expect((await store.get(rows[3]!.id))?.referenced).toBe(true);
      expect(await store.get(rows[4]!.id)).toBeDefined();
      // A and B are still named (young, kept); T went with old3.
      expect(await store.stats()).toEqual({ attachments: 2, contents: 2 });
    });
  });
}

/** The message side: a store keeps the attachment ids a message references, on every read path. */
export function messageAttachmentsContract(engine: string, openStore: (ctx: TestContext) => Promise<Store>): void {
  describe(`${engine} store: messages with attachments`, () => {
    it('returns the ids with the new message, its history, its catch-up, the chats list and search hits; a message without them has none', async (ctx) => {
      const store = await openStore(ctx);
      onTestFinished(() => store.close());
      await store.createRoom('r:one', 'one', 'a', ['b'], 'invite');
      const ids = ['AAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBB'];
      const [plain, withIds] = await store.append([
        { chat: 'r:one', from: 'a', cmid: 'p', body: 'plain', ts: 1 },
        { chat: 'r:one', from: 'a', cmid: 'w', body: 'photos', ts: 2, attachments: ids },
      ]);
      expect(plain!.ok && plain!.message.attachments).toBeUndefined();
      expect(withIds!.ok && withIds!.message.attachments).toEqual(ids);
      expect((await store.after('r:one', 0, 10)).map((m) => m.attachments)).toEqual([undefined, ids]);
      expect((await store.before('r:one', undefined, 10)).map((m) => m.attachments)).toEqual([undefined, ids]);
      expect((await store.userChats('b'))[0]!.last?.attachments).toEqual(ids);
      const hits = await store.search({ user: 'b', terms: parseQuery('photos'), upto: Number.MAX_SAFE_INTEGER, limit: 10, offset: 0 });
      expect(hits.map((h) => h.message.attachments)).toEqual([ids]);
    });
  });
}

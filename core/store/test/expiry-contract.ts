/** The ephemeral-chat part of the store contract (registered by storeContract). */
import { describe, expect, it, type TestContext } from 'vitest';
import { parseQuery } from '../search.ts';
import type { Store } from '../types.ts';

export function expiryContract(engine: string, open: (ctx: TestContext) => Promise<Store>): void {
  describe(`${engine} store: ephemeral chats`, () => {
    it('finds a room lapsed a lifetime after its last message, and not before', async (ctx) => {
      const store = await open(ctx);
      const t0 = Date.now();
      await store.createRoom('r:eph', 'e', 'a', ['b'], 'invite', 60_000);
      await store.createRoom('r:keep', 'k', 'a', ['b'], 'invite');
      expect((await store.chatInfo('r:eph'))?.lifetimeMs).toBe(60_000);
      expect((await store.chatInfo('r:keep'))?.lifetimeMs).toBeUndefined();
      await store.append([{ chat: 'r:eph', from: 'a', cmid: 'e1', body: 'soon gone', ts: t0 + 5_000 }]);
      expect(await store.expiredChats(t0 + 64_999, 10)).toEqual([]);
      expect(await store.expiredChats(t0 + 65_000, 10)).toEqual(['r:eph']);
      expect((await store.userChats('b')).find((c) => c.chat === 'r:eph')?.expiresAt).toBe(t0 + 65_000);
    });

    it('deletes a chat with its messages, search entries and members, and only if still lapsed when asked so', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:eph', 'e', 'a', ['b'], 'invite', 1000);
      await store.createRoom('r:keep', 'k', 'a', ['b'], 'invite');
      await store.append([{ chat: 'r:eph', from: 'a', cmid: 'e1', body: 'vanishing words', ts: 10 }, { chat: 'r:keep', from: 'a', cmid: 'k1', body: 'vanishing not', ts: 10 }]);
      await store.advanceCursor('b', 'r:eph', 'read', 1);
      expect(await store.deleteChat('r:eph', 500)).toEqual([]);
      expect(await store.deleteChat('r:keep', Number.MAX_SAFE_INTEGER)).toEqual([]);
      expect(await store.deleteChat('r:eph', 1010)).toEqual(['a', 'b']);
      expect(await store.chatInfo('r:eph')).toBeUndefined();
      expect(await store.after('r:eph', 0, 10)).toEqual([]);
      expect((await store.userChats('b')).map((c) => c.chat)).toEqual(['r:keep']);
      const found = await store.search({ user: 'a', terms: parseQuery('vanishing'), upto: Number.MAX_SAFE_INTEGER, limit: 10, offset: 0 });
      expect(found.map((r) => r.message.chat)).toEqual(['r:keep']);
      // The cmid is free again, and the id can be reused.
      expect(await store.deleteChat('r:eph')).toEqual([]);
      expect(await store.expiredChats(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    });
  });
}

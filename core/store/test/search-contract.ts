/**
 * The search part of the store contract (registered by storeContract): what a user may find, how
 * queries match, ranking and paging. Both engines index the same tokens (store/search.ts), so the
 * same expectations hold for each.
 */
import { describe, expect, it, type TestContext } from 'vitest';
import { parseQuery, SEARCH_LIMITS, type SearchQuery } from '../search.ts';
import type { AppendItem, Store } from '../types.ts';

const T0 = 1_700_000_000_000;
let n = 0;
const msg = (chat: string, from: string, body: string, ts = T0): AppendItem => ({ chat, from, cmid: `s${++n}`, body, ts });
const query = (user: string, q: string, over: Partial<SearchQuery> = {}): SearchQuery => ({ user, terms: parseQuery(q), upto: Number.MAX_SAFE_INTEGER, limit: SEARCH_LIMITS.defaultLimit, offset: 0, ...over });

export function searchContract(engine: string, open: (ctx: TestContext) => Promise<Store>): void {
  const bodies = async (store: Store, user: string, q: string, over: Partial<SearchQuery> = {}) => (await store.search(query(user, q, over))).map((r) => r.message.body);

  describe(`${engine} store: search`, () => {
    it('finds an acknowledged message at once, with its chat, seq, sender, cmid and time', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect('d:a:b', 'a', 'b');
      const [r] = await store.append([{ chat: 'd:a:b', from: 'a', cmid: 'k1', body: 'the deploy is green', ts: T0 + 7 }]);
      expect(r!.ok).toBe(true);
      const rows = await store.search(query('b', 'deploy'));
      expect(rows.map((x) => x.message)).toEqual([{ chat: 'd:a:b', seq: 1, from: 'a', cmid: 'k1', body: 'the deploy is green', ts: T0 + 7 }]);
    });

    it('searches only the chats the asker belongs to now: never rooms left or never joined, nor others\' 1:1 chats', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect('d:a:b', 'a', 'b');
      await store.ensureDirect('d:b:c', 'b', 'c');
      await store.createRoom('r:joined', 'j', 'a', ['b'], 'invite');
      await store.createRoom('r:left', 'l', 'b', ['a'], 'invite');
      await store.createRoom('r:never', 'n', 'b', ['c'], 'open');
      await store.append([msg('d:a:b', 'b', 'secret in our direct'), msg('d:b:c', 'b', 'secret in theirs'), msg('r:joined', 'b', 'secret in joined'),
        msg('r:left', 'b', 'secret in left'), msg('r:never', 'c', 'secret in never')]);
      await store.removeMember('r:left', 'a');
      expect((await bodies(store, 'a', 'secret')).sort()).toEqual(['secret in joined', 'secret in our direct']);
      // Naming a chat the asker is not in finds nothing, whichever kind it is.
      for (const chat of ['r:left', 'r:never', 'd:b:c', 'r:nosuchroom']) expect(await bodies(store, 'a', 'secret', { chat })).toEqual([]);
      expect(await bodies(store, 'nobody', 'secret')).toEqual([]);
      expect((await bodies(store, 'c', 'secret')).sort()).toEqual(['secret in never', 'secret in theirs']);
    });

    it('leaves out messages of senders the asker blocks, in rooms too, but not the asker\'s own', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:room', 'r', 'a', ['b', 'c'], 'invite');
      await store.append([msg('r:room', 'b', 'lunch from b'), msg('r:room', 'c', 'lunch from c'), msg('r:room', 'a', 'lunch from a')]);
      await store.social.block('a', 'b', 100);
      expect((await bodies(store, 'a', 'lunch')).sort()).toEqual(['lunch from a', 'lunch from c']);
      // The block is one-sided: b still finds a's message.
      expect((await bodies(store, 'b', 'lunch')).sort()).toEqual(['lunch from a', 'lunch from b', 'lunch from c']);
    });

    it('filters by chat, sender and an inclusive time range', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:one', 'one', 'a', ['b'], 'invite');
      await store.createRoom('r:two', 'two', 'a', ['b'], 'invite');
      await store.append([msg('r:one', 'a', 'report one a', T0), msg('r:one', 'b', 'report one b', T0 + 10), msg('r:two', 'a', 'report two a', T0 + 20)]);
      expect((await bodies(store, 'a', 'report', { chat: 'r:one' })).sort()).toEqual(['report one a', 'report one b']);
      expect((await bodies(store, 'a', 'report', { from: 'a' })).sort()).toEqual(['report one a', 'report two a']);
      expect(await bodies(store, 'a', 'report', { since: T0 + 10, until: T0 + 10 })).toEqual(['report one b']);
      expect(await bodies(store, 'a', 'report', { upto: T0 + 5 })).toEqual(['report one a']);
    });

    it('matches every word, phrases in order, prefixes, accents folded and CJK inside a run', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect('d:a:b', 'a', 'b');
      await store.append(['Let us meet at the Café Noir', 'the noir café closed', 'deployment finished', 'the deploy failed',
        '明日東京都で会いましょう', 'Ünïcödé façade déjà vu', 'e-mail me'].map((b) => msg('d:a:b', 'a', b)));
      expect((await bodies(store, 'b', 'cafe noir')).sort()).toEqual(['Let us meet at the Café Noir', 'the noir café closed']);
      expect(await bodies(store, 'b', '"café noir"')).toEqual(['Let us meet at the Café Noir']);
      expect((await bodies(store, 'b', 'deploy*')).sort()).toEqual(['deployment finished', 'the deploy failed']);
      expect(await bodies(store, 'b', 'deploy')).toEqual(['the deploy failed']);
      expect(await bodies(store, 'b', 'UNICODE facade deja')).toEqual(['Ünïcödé façade déjà vu']);
      for (const q of ['東京', '東京都', '京都', '都', 'で会い']) expect(await bodies(store, 'b', q)).toEqual(['明日東京都で会いましょう']);
      expect(await bodies(store, 'b', '大阪')).toEqual([]);
      expect(await bodies(store, 'b', 'email')).toEqual([]);
      expect(await bodies(store, 'b', 'e-mail')).toEqual(['e-mail me']);
      expect(await bodies(store, 'b', 'cafe nothing')).toEqual([]);
    });

    it('ranks a message that says the word more often first, and pages without repeats', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect('d:a:b', 'a', 'b');
      await store.append([msg('d:a:b', 'a', 'build once then other words here'), msg('d:a:b', 'a', 'build build build'), msg('d:a:b', 'a', 'build it and build it')]);
      const rows = await store.search(query('b', 'build'));
      expect(rows.map((r) => r.message.body)).toEqual(['build build build', 'build it and build it', 'build once then other words here']);
      expect(rows[0]!.score).toBeGreaterThan(rows[2]!.score);
      const pages = [await bodies(store, 'b', 'build', { limit: 2 }), await bodies(store, 'b', 'build', { limit: 2, offset: 2 })];
      expect(pages).toEqual([['build build build', 'build it and build it'], ['build once then other words here']]);
    });

    it('finds messages stored before a reindex after it, and counts them', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect('d:a:b', 'a', 'b');
      await store.append([msg('d:a:b', 'a', 'alpha'), msg('d:a:b', 'b', 'beta')]);
      expect(await store.reindexSearch()).toBe(2);
      expect(await bodies(store, 'a', 'beta')).toEqual(['beta']);
      expect(await store.reindexSearch()).toBe(2);
      expect(await bodies(store, 'a', 'alpha')).toEqual(['alpha']);
    });
  });
}

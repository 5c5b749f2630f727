/**
 * The store contract as one test suite: every Store implementation registers it with a factory
 * of fresh, empty stores (sqlite.test.ts, postgres.test.ts). What passes here for one engine
 * must pass for every other; engine-specific behaviour is tested beside each engine.
 */
import { describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import type { AppendItem, AppendResult, Store } from '../types.ts';
import { searchContract } from './search-contract.ts';
import { expiryContract } from './expiry-contract.ts';

type RosterState = Awaited<ReturnType<Store['social']['rosterState']>>;

/** Opens a fresh, empty store, or skips the test (through ctx) when the engine is unavailable. */
export type OpenStore = (ctx: TestContext) => Promise<Store>;

/**
 * Opens `n` stores on one fresh, empty database, as `n` nodes of a cluster would, or skips the
 * test. Engines that serve one node have none: their race tests run on one store.
 */
export type OpenNodes = (ctx: TestContext, n: number) => Promise<Store[]>;

const T0 = 1_700_000_000_000;
const D = 'd:a:b';
const item = (cmid: string, over: Partial<AppendItem> = {}): AppendItem => ({ chat: D, from: 'a', cmid, body: `body ${cmid}`, ts: T0, ...over });
const seqOf = (r: AppendResult | undefined) => (r?.ok ? r.message.seq : -1);
const friendly = (): [RosterState, RosterState] => ['friend', 'friend'];
const request = (): [RosterState, RosterState] => ['out', 'in'];
const drop = (): [RosterState, RosterState] => ['none', 'none'];
const note = (kid: string, byte: number) => ({ kid, iv: Buffer.alloc(12, byte), ct: Buffer.from([byte, 0, 255, byte]) });

export function storeContract(engine: string, openStore: OpenStore, openNodes?: OpenNodes): void {
  const open = async (ctx: TestContext): Promise<Store> => {
    const store = await openStore(ctx);
    onTestFinished(() => store.close());
    return store;
  };
  /** Two nodes' stores on one database where the engine has nodes, else the one store twice. */
  const openPair = async (ctx: TestContext): Promise<[Store, Store]> => {
    if (!openNodes) {
      const store = await open(ctx);
      return [store, store];
    }
    const stores = await openNodes(ctx, 2);
    for (const s of stores) onTestFinished(() => s.close());
    return [stores[0]!, stores[1]!];
  };
  searchContract(engine, open);
  expiryContract(engine, open);

  describe(`${engine} store: messages and seqs`, () => {
    it('gives each chat its own seqs from 1 with no gap, in the order of the appends', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.createRoom('r:one', 'one', 'a', ['b'], 'invite');
      const results = await store.append([item('c1'), item('c2', { chat: 'r:one' }), item('c3'), item('c4', { chat: 'r:one', from: 'b' }), item('c5')]);
      expect(results.map((r) => [r.ok && r.message.chat, seqOf(r)])).toEqual([[D, 1], ['r:one', 1], [D, 2], ['r:one', 2], [D, 3]]);
      expect((await store.after(D, 0, 10)).map((m) => [m.seq, m.cmid, m.from])).toEqual([[1, 'c1', 'a'], [2, 'c3', 'a'], [3, 'c5', 'a']]);
      expect((await store.chatInfo('r:one'))?.lastSeq).toBe(2);
    });

    it('commits the rest of a batch when one append in it fails, with seqs that have no gap', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      // One turn: all four share a transaction. A NaN timestamp cannot be stored.
      const settled = await Promise.allSettled([store.append([item('c1')]), store.append([item('bad', { ts: Number.NaN })]), store.append([item('c2')]), store.append([item('c3')])]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
      expect(settled.flatMap((s) => (s.status === 'fulfilled' ? [seqOf(s.value[0])] : []))).toEqual([1, 2, 3]);
      expect((await store.after(D, 0, 10)).map((m) => [m.seq, m.cmid])).toEqual([[1, 'c1'], [2, 'c2'], [3, 'c3']]);
      expect(seqOf((await store.append([item('c4')]))[0])).toBe(4);
      expect((await store.chatInfo(D))?.lastSeq).toBe(4);
    });

    it('rejects a write that throws alone while the appends around it commit', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      // A member of a chat that does not exist breaks the foreign key: that write alone fails.
      const settled = await Promise.allSettled([store.append([item('c1')]), store.addMember('r:nochat', 'c'), store.append([item('c2')])]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await store.after(D, 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
    });

    it('returns the original message for a repeated cmid within one batch and across batches', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      const [first, again] = await Promise.all([store.append([item('same')]), store.append([item('same', { body: 'changed', ts: T0 + 5 })])]);
      expect(first[0]).toEqual({ ok: true, dup: false, message: { chat: D, seq: 1, from: 'a', cmid: 'same', body: 'body same', ts: T0 } });
      expect(again[0]).toEqual({ ok: true, dup: true, message: { chat: D, seq: 1, from: 'a', cmid: 'same', body: 'body same', ts: T0 } });
      const [later] = await store.append([item('same')]);
      expect(later).toMatchObject({ ok: true, dup: true, message: { seq: 1, body: 'body same' } });
      expect((await store.chatInfo(D))?.lastSeq).toBe(1);
    });

    it('treats the same cmid from two senders as two messages', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      const results = await store.append([item('x'), item('x', { from: 'b' })]);
      expect(results.map((r) => [r.ok && r.dup, seqOf(r)])).toEqual([[false, 1], [false, 2]]);
    });

    it('answers cmid_conflict when a sender reuses a cmid in another chat, and stores nothing for it', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.createRoom('r:two', undefined, 'a', [], 'open');
      await store.append([item('once')]);
      const [conflict] = await store.append([item('once', { chat: 'r:two' })]);
      expect(conflict).toMatchObject({ ok: false, code: 'cmid_conflict' });
      expect(await store.after('r:two', 0, 10)).toEqual([]);
      expect((await store.chatInfo('r:two'))?.lastSeq).toBe(0);
    });

    it('answers not_member to a sender outside the chat and for a chat that does not exist', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      const results = await store.append([item('m1', { from: 'c' }), item('m2', { chat: 'r:ghost' }), item('m3')]);
      expect(results.map((r) => (r.ok ? seqOf(r) : r.code))).toEqual(['not_member', 'not_member', 1]);
    });

    it('keeps bodies and room names byte for byte, NUL, quotes, backslashes and emoji included', async (ctx) => {
      const store = await open(ctx);
      const name = 'tea\u0000time "☕" \\ \u{1F600}';
      await store.createRoom('r:odd', name, 'a', [], 'open');
      const body = 'a\u0000b\'c"d\\e\u{1F600}\u00e9\n';
      const [r] = await store.append([item('odd', { chat: 'r:odd', body })]);
      expect(r).toMatchObject({ ok: true, message: { body } });
      expect((await store.after('r:odd', 0, 1))[0]?.body).toBe(body);
      expect((await store.chatInfo('r:odd'))?.name).toBe(name);
      expect((await store.userChats('a'))[0]).toMatchObject({ name, last: { body } });
    });

    it('commits a thousand appends of one turn, every one with its own seq', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => store.append([item(`n${i}`, { from: i % 2 ? 'a' : 'b' })])));
      expect(results.map((r) => seqOf(r[0]))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      await store.flush();
      expect((await store.after(D, 0, 2000)).length).toBe(1000);
    });
  });

  describe(`${engine} store: history pages`, () => {
    const filled = async (ctx: TestContext) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.append(Array.from({ length: 25 }, (_, i) => item(`h${i + 1}`, { ts: T0 + i })));
      return store;
    };

    it('pages forward with after(seq, limit), ascending', async (ctx) => {
      const store = await filled(ctx);
      expect((await store.after(D, 0, 10)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect((await store.after(D, 20, 10)).map((m) => m.seq)).toEqual([21, 22, 23, 24, 25]);
      expect(await store.after(D, 25, 10)).toEqual([]);
      expect(await store.after('r:none', 0, 10)).toEqual([]);
    });

    it('pages backward with before(seq, limit), ascending within a page, the newest page first', async (ctx) => {
      const store = await filled(ctx);
      expect((await store.before(D, undefined, 4)).map((m) => m.seq)).toEqual([22, 23, 24, 25]);
      expect((await store.before(D, 22, 4)).map((m) => m.seq)).toEqual([18, 19, 20, 21]);
      expect((await store.before(D, 3, 4)).map((m) => m.seq)).toEqual([1, 2]);
      expect(await store.before(D, 1, 4)).toEqual([]);
      expect((await store.before(D, undefined, 1))[0]).toEqual({ chat: D, seq: 25, from: 'a', cmid: 'h25', body: 'body h25', ts: T0 + 24 });
    });
  });

  describe(`${engine} store: chats and members`, () => {
    it('creates a 1:1 chat once, however often it is ensured', async (ctx) => {
      const store = await open(ctx);
      await Promise.all([store.ensureDirect(D, 'a', 'b'), store.ensureDirect(D, 'a', 'b')]);
      await store.ensureDirect(D, 'a', 'b');
      expect(await store.members(D)).toEqual(['a', 'b']);
      expect(await store.chatInfo(D)).toEqual({ chat: D, kind: 'direct', lastSeq: 0 });
    });

    it('creates a room with its creator, members, name and policy; unknown chats have no members and no info', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:team', 'Team', 'carol', ['alice', 'bob', 'alice'], 'open');
      await store.createRoom('r:quiet', undefined, 'dave', [], 'invite');
      expect(await store.members('r:team')).toEqual(['alice', 'bob', 'carol']);
      expect(await store.chatInfo('r:team')).toEqual({ chat: 'r:team', kind: 'room', name: 'Team', policy: 'open', lastSeq: 0 });
      expect(await store.chatInfo('r:quiet')).toEqual({ chat: 'r:quiet', kind: 'room', policy: 'invite', lastSeq: 0 });
      expect(await store.members('r:nope')).toBeUndefined();
      expect(await store.chatInfo('r:nope')).toBeUndefined();
    });

    it('adds and removes members, answering whether anything changed', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:club', undefined, 'a', [], 'open');
      expect(await store.addMember('r:club', 'b')).toBe(true);
      expect(await store.addMember('r:club', 'b')).toBe(false);
      expect(await store.removeMember('r:club', 'a')).toBe(true);
      expect(await store.removeMember('r:club', 'a')).toBe(false);
      expect(await store.members('r:club')).toEqual(['b']);
      await store.removeMember('r:club', 'b');
      expect(await store.members('r:club')).toEqual([]);
      const [r] = await store.append([item('late', { chat: 'r:club', from: 'a' })]);
      expect(r).toMatchObject({ ok: false, code: 'not_member' });
    });

    it('lists a user\'s chats newest activity first, with the last message and the unread count', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.createRoom('r:news', 'News', 'b', ['a'], 'invite');
      await store.append([item('x1', { ts: T0 + 10 }), item('x2', { ts: T0 + 20 })]);
      await store.append([item('y1', { chat: 'r:news', from: 'b', ts: T0 + 30 })]);
      const chats = await store.userChats('a');
      expect(chats.map((c) => [c.chat, c.lastSeq, c.readSeq, c.unread])).toEqual([['r:news', 1, 0, 1], [D, 2, 2, 0]]);
      expect(chats[0]).toMatchObject({ kind: 'room', name: 'News', last: { seq: 1, from: 'b', cmid: 'y1', ts: T0 + 30 } });
      expect(chats[1]).toMatchObject({ kind: 'direct', last: { seq: 2, cmid: 'x2' } });
      expect(chats[1]!.name).toBeUndefined();
      expect((await store.userChats('b')).map((c) => [c.chat, c.unread])).toEqual([['r:news', 0], [D, 2]]);
      expect(await store.userChats('nobody')).toEqual([]);
    });
  });

  describe(`${engine} store: cursors`, () => {
    it('moves delivered and read cursors forward only, and moves the sender\'s own on append', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.append([item('k1'), item('k2'), item('k3')]);
      expect(await store.advanceCursor('b', D, 'delivered', 2)).toBe(2);
      expect(await store.advanceCursor('b', D, 'delivered', 1)).toBe(2);
      expect(await store.advanceCursor('b', D, 'read', 1)).toBe(1);
      expect(await store.advanceCursor('b', D, 'read', 3)).toBe(3);
      expect(await store.advanceCursor('c', D, 'read', 3)).toBe(0);
      expect(await store.deliveredCursors('a')).toEqual(new Map([[D, 3]]));
      expect(await store.deliveredCursors('b')).toEqual(new Map([[D, 2]]));
      expect(await store.deliveredCursors('nobody')).toEqual(new Map());
    });

    it('moves the sender\'s delivered cursor over its own message only when nothing before it is undelivered', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      // b's seq 1 is committed, not yet delivered to a; a answers with seq 2 (they crossed).
      await store.append([{ chat: D, from: 'b', cmid: 'q1', body: 'question', ts: 1 }]);
      await store.append([{ chat: D, from: 'a', cmid: 'a1', body: 'hello', ts: 2 }]);
      // a's cursor must not claim seq 1: a resume from it would never send it.
      expect(await store.deliveredCursors('a')).toEqual(new Map([[D, 0]]));
      expect(await store.deliveredCursors('b')).toEqual(new Map([[D, 1]]));
      // Once a's device reports seq 1, its own later sends move the cursor again.
      expect(await store.advanceCursor('a', D, 'delivered', 2)).toBe(2);
      await store.append([{ chat: D, from: 'a', cmid: 'a2', body: 'again', ts: 3 }, { chat: D, from: 'a', cmid: 'a3', body: 'and again', ts: 4 }]);
      expect(await store.deliveredCursors('a')).toEqual(new Map([[D, 4]]));
    });

    it('keeps the order of pipelined sends that each make the same store calls', async (ctx) => {
      const store = await open(ctx);
      // Like a client's burst of sends to a new peer: each ensures the chat, reads it, then appends.
      const results = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        await store.ensureDirect(D, 'a', 'b');
        await store.members(D);
        return store.append([item(`o${i}`)]);
      }));
      expect(results.map((r) => (r[0]?.ok ? r[0].message.cmid : r[0]?.code))).toEqual(Array.from({ length: 40 }, (_, i) => `o${i}`));
      expect(results.map((r) => seqOf(r[0]))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    });

    it('resolves flush once every write queued before it is readable', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      const pending = store.append([item('f1'), item('f2')]);
      await store.flush();
      expect((await store.after(D, 0, 10)).map((m) => m.seq)).toEqual([1, 2]);
      await pending;
    });
  });

  describe(`${engine} store: rosters and notes`, () => {
    it('records a request on both sides, bumps each owner\'s version, and sends changes since a version', async (ctx) => {
      const { social } = await open(ctx);
      const sent = await social.rosterChange('a', 'b', request);
      expect(sent).toEqual({ a: { peer: 'b', state: 'out', ver: 1 }, b: { peer: 'a', state: 'in', ver: 1 } });
      expect(await social.rosterChange('a', 'b', request)).toBeUndefined();
      await social.rosterChange('a', 'c', request);
      await social.rosterChange('a', 'b', friendly);
      expect(await social.rosterState('a', 'b')).toBe('friend');
      expect(await social.rosterState('a', 'z')).toBe('none');
      expect(await social.friends('a')).toEqual(['b']);
      expect(await social.roster('a')).toEqual({ ver: 3, full: true, items: [{ peer: 'b', state: 'friend', ver: 3 }, { peer: 'c', state: 'out', ver: 2 }] });
      expect(await social.roster('a', 2)).toEqual({ ver: 3, full: false, items: [{ peer: 'b', state: 'friend', ver: 3 }] });
      expect(await social.roster('a', 3)).toEqual({ ver: 3, full: false, items: [] });
      // A version ahead of the store's is unknown: the whole roster.
      expect((await social.roster('a', 99)).full).toBe(true);
      expect(await social.roster('nobody')).toEqual({ ver: 0, full: true, items: [] });
    });

    it('sends a removal as state none in a diff and leaves it out of the whole roster', async (ctx) => {
      const { social } = await open(ctx);
      await social.rosterChange('a', 'b', friendly);
      await social.rosterChange('a', 'c', friendly);
      await social.rosterChange('a', 'b', drop);
      expect(await social.roster('a', 2)).toEqual({ ver: 3, full: false, items: [{ peer: 'b', state: 'none', ver: 3 }] });
      expect((await social.roster('a')).items.map((r) => r.peer)).toEqual(['c']);
    });

    it('refuses a change past a roster cap with roster_full and changes nothing', async (ctx) => {
      const { social } = await open(ctx);
      const caps = { maxFriends: 1, maxPendingSent: 1 };
      await social.rosterChange('a', 'b', request, caps);
      await expect(social.rosterChange('a', 'c', request, caps)).rejects.toMatchObject({ code: 'roster_full', message: 'your roster holds at most 1 pending friend requests' });
      await social.rosterChange('a', 'b', friendly, caps);
      await expect(social.rosterChange('c', 'a', (): [RosterState, RosterState] => ['friend', 'friend'], caps)).rejects.toMatchObject({ code: 'roster_full', message: 'a\'s roster holds at most 1 friends' });
      expect(await social.rosterState('a', 'c')).toBe('none');
      expect((await social.roster('a')).ver).toBe(2);
    });

    it('lets exactly the changes that fit under a cap win when 60 race for 10 free places from two nodes', async (ctx) => {
      const nodes = await openPair(ctx);
      // Small caps: the race is the same at 5,000 (core/test/roster.test.ts runs that one end to end).
      const caps = { maxFriends: 50, maxPendingSent: 50 };
      const [{ social }] = nodes;
      // bob has 40 friends, 30 requests from r* and 30 sent to q*: 60 accepts, half his, half theirs.
      await Promise.all(Array.from({ length: 40 }, (_, i) => social.rosterChange('bob', `f${i}`, friendly)));
      await Promise.all(Array.from({ length: 30 }, (_, i) => social.rosterChange(`r${i}`, 'bob', request)));
      await Promise.all(Array.from({ length: 30 }, (_, i) => social.rosterChange('bob', `q${i}`, request)));
      const accepts = Array.from({ length: 60 }, (_, i) => {
        const node = nodes[i % 2]!.social;
        return i < 30 ? node.rosterChange('bob', `r${i}`, friendly, caps) : node.rosterChange(`q${i - 30}`, 'bob', friendly, caps);
      });
      const settled = await Promise.allSettled(accepts);
      const won = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [i < 30 ? `r${i}` : `q${i - 30}`] : []));
      expect(won).toHaveLength(10);
      for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'roster_full', details: { user: 'bob', max: 50 } });
      expect(await social.friends('bob')).toHaveLength(50);
      // Each winner is a friend on both sides; each loser's request still stands.
      for (const peer of won) expect([await social.rosterState('bob', peer), await social.rosterState(peer, 'bob')]).toEqual(['friend', 'friend']);
      const lost = [...Array.from({ length: 30 }, (_, i) => `r${i}`), ...Array.from({ length: 30 }, (_, i) => `q${i}`)].filter((p) => !won.includes(p));
      for (const peer of lost) expect(await social.rosterState('bob', peer), peer).toBe(peer.startsWith('r') ? 'in' : 'out');
    });

    it('lets exactly the requests that fit under the pending cap win when 40 race for 10 free places from two nodes', async (ctx) => {
      const nodes = await openPair(ctx);
      const caps = { maxFriends: 50, maxPendingSent: 20 };
      const [{ social }] = nodes;
      await Promise.all(Array.from({ length: 10 }, (_, i) => social.rosterChange('alice', `p${i}`, request)));
      const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => nodes[i % 2]!.social.rosterChange('alice', `z${i}`, request, caps)));
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(10);
      for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'roster_full', details: { user: 'alice', max: 20 } });
      expect((await social.roster('alice')).items.filter((r) => r.state === 'out')).toHaveLength(20);
    });

    it('propagates an error thrown by decide and writes nothing', async (ctx) => {
      const { social } = await open(ctx);
      await expect(social.rosterChange('a', 'b', () => { throw new Error('no such transition'); })).rejects.toThrow('no such transition');
      expect(await social.roster('a')).toEqual({ ver: 0, full: true, items: [] });
    });

    it('keeps a sealed note on a roster row, bumps the version, and drops it when the pair is removed', async (ctx) => {
      const { social } = await open(ctx);
      await expect(social.setNote('a', 'b', note('k1', 1))).rejects.toMatchObject({ code: 'not_friend' });
      await social.rosterChange('a', 'b', request);
      const row = await social.setNote('a', 'b', note('k1', 1));
      expect(row).toEqual({ peer: 'b', state: 'out', ver: 2, note: note('k1', 1) });
      expect((await social.roster('a')).items).toEqual([row]);
      expect(await social.setNote('a', 'b', null)).toEqual({ peer: 'b', state: 'out', ver: 3 });
      await social.setNote('a', 'b', note('k1', 2));
      await social.rosterChange('a', 'b', drop);
      await social.rosterChange('a', 'b', request);
      expect((await social.roster('a')).items).toEqual([{ peer: 'b', state: 'out', ver: 6 }]);
    });

    it('finds notes under old keys and replaces one only if it is still the ciphertext that was read', async (ctx) => {
      const { social } = await open(ctx);
      for (const peer of ['b', 'c', 'd']) await social.rosterChange('a', peer, friendly);
      await social.setNote('a', 'b', note('old', 1));
      await social.setNote('a', 'c', note('old', 2));
      await social.setNote('a', 'd', note('new', 3));
      expect(await social.noteKeyCounts()).toEqual({ old: 2, new: 1 });
      const stale = await social.notesNotUnder('new', 10);
      expect(stale.map((n) => [n.owner, n.peer, n.kid]).sort()).toEqual([['a', 'b', 'old'], ['a', 'c', 'old']]);
      expect(await social.notesNotUnder('new', 1)).toHaveLength(1);
      const b = stale.find((n) => n.peer === 'b')!;
      expect(b.iv).toEqual(note('old', 1).iv);
      expect(await social.replaceNote(b, note('new', 4))).toBe(true);
      // The owner rewrote c's note meanwhile: the stale rewrite loses.
      await social.setNote('a', 'c', note('old', 5));
      expect(await social.replaceNote(stale.find((n) => n.peer === 'c')!, note('new', 6))).toBe(false);
      expect(await social.noteKeyCounts()).toEqual({ old: 1, new: 2 });
    });
  });

  describe(`${engine} store: blocks and privacy`, () => {
    it('blocks and unblocks, answering whether anything changed, and pages the list in id order', async (ctx) => {
      const { social } = await open(ctx);
      for (const t of ['m', 'c', 'x', 'a.b', 'A']) expect(await social.block('o', t, 10)).toBe(true);
      expect(await social.block('o', 'c', 10)).toBe(false);
      await social.block('p', 'c', 10);
      expect(await social.blocks('o', undefined, 3)).toEqual(['A', 'a.b', 'c']);
      expect(await social.blocks('o', 'c', 3)).toEqual(['m', 'x']);
      expect((await social.blocking('o')).sort()).toEqual(['A', 'a.b', 'c', 'm', 'x']);
      expect((await social.blockers('c')).sort()).toEqual(['o', 'p']);
      expect(await social.isBlocked('o', 'c')).toBe(true);
      expect(await social.unblock('o', 'c')).toBe(true);
      expect(await social.unblock('o', 'c')).toBe(false);
      expect(await social.isBlocked('o', 'c')).toBe(false);
    });

    it('refuses a block past the list\'s size with block_list_full', async (ctx) => {
      const { social } = await open(ctx);
      await social.block('o', 'a', 2);
      await social.block('o', 'b', 2);
      await expect(social.block('o', 'c', 2)).rejects.toMatchObject({ code: 'block_list_full' });
      expect(await social.block('o', 'b', 2)).toBe(false);
      expect(await social.blocking('o')).toHaveLength(2);
    });

    it('shares typing and receipts by default and changes only what a patch names', async (ctx) => {
      const { social } = await open(ctx);
      expect(await social.privacy('u')).toEqual({ typing: true, receipts: true });
      expect(await social.setPrivacy('u', { typing: false })).toEqual({ typing: false, receipts: true });
      expect(await social.setPrivacy('u', { receipts: false })).toEqual({ typing: false, receipts: false });
      expect(await social.setPrivacy('u', { typing: true })).toEqual({ typing: true, receipts: false });
      expect(await social.privacy('u')).toEqual({ typing: true, receipts: false });
    });
  });

  describe(`${engine} store: read markers`, () => {
    it('moves the private marker forward only, the shared one only when shared, and counts readers per message', async (ctx) => {
      const store = await open(ctx);
      await store.createRoom('r:read', undefined, 'a', ['b', 'c'], 'invite');
      await store.append([item('r1', { chat: 'r:read' }), item('r2', { chat: 'r:read' }), item('r3', { chat: 'r:read' })]);
      const { social } = store;
      expect(await social.markRead('b', 'r:read', 2, true)).toEqual({ prev: 0, read: 2, prevShared: 0, shared: 2, last: 3 });
      expect(await social.markRead('b', 'r:read', 1, true)).toEqual({ prev: 2, read: 2, prevShared: 2, shared: 2, last: 3 });
      expect(await social.markRead('c', 'r:read', 3, false)).toEqual({ prev: 0, read: 3, prevShared: 0, shared: 0, last: 3 });
      expect(await social.readCounts('r:read', 1, 3)).toEqual({ 1: 1, 2: 1, 3: 0 });
      await social.markRead('c', 'r:read', 3, true);
      expect(await social.readCounts('r:read', 1, 3)).toEqual({ 1: 2, 2: 2, 3: 1 });
      expect(await social.readCounts('r:read', 2, 2)).toEqual({ 2: 2 });
      expect((await store.userChats('c'))[0]).toMatchObject({ readSeq: 3, unread: 0 });
    });

    it('refuses a marker from a non-member with not_member and one past the end with read_past_end', async (ctx) => {
      const store = await open(ctx);
      await store.ensureDirect(D, 'a', 'b');
      await store.append([item('p1')]);
      await expect(store.social.markRead('z', D, 1, true)).rejects.toMatchObject({ code: 'not_member' });
      await expect(store.social.markRead('b', D, 2, true)).rejects.toMatchObject({ code: 'read_past_end', details: { chat: D, lastSeq: 1 } });
      expect((await store.social.markRead('b', D, 1, true)).read).toBe(1);
    });
  });
}

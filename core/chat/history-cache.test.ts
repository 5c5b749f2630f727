import { describe, expect, it } from 'vitest';
import type { Message } from '../protocol.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';
import { LocalBus } from '../bus/local.ts';
import { HistoryCache } from './history-cache.ts';
import { ChatService } from './chat.ts';

const C = 'd:a:b';
const msg = (seq: number, body = `m${seq}`): Message => ({ chat: C, seq, from: 'a', cmid: `c${seq}`, body, ts: 1000 + seq });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));
const seqs = (ms: Message[] | undefined) => ms?.map((m) => m.seq);

describe('HistoryCache', () => {
  it('answers the first page and catch-ups from memory once filled, and follows appends in seq order', async () => {
    const cache = new HistoryCache({ perChat: 5, maxBytes: 1 << 20 });
    expect(cache.before(C, undefined, 2)).toBeUndefined();
    await cache.fill(C, async (n) => range(8 - n + 1, 8));
    cache.append(msg(9));
    expect(seqs(cache.before(C, undefined, 2))).toEqual([7, 8, 9]);
    expect(seqs(cache.before(C, 8, 2))).toEqual([5, 6, 7]);
    // Older than the cache reaches (and more than it holds) is a miss: the store answers.
    expect(cache.before(C, 6, 2)).toBeUndefined();
    expect(seqs(cache.after(C, 6, 10))).toEqual([7, 8, 9]);
    expect(seqs(cache.after(C, 9, 10))).toEqual([]);
    expect(cache.after(C, 3, 10)).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 4, misses: 3, chats: 1 });
  });

  it('answers every page of a chat shorter than the cache, however far back, without the store', async () => {
    const cache = new HistoryCache({ perChat: 75, maxBytes: 1 << 20 });
    await cache.fill(C, async () => range(1, 3));
    expect(seqs(cache.before(C, undefined, 50))).toEqual([1, 2, 3]);
    expect(seqs(cache.after(C, 0, 50))).toEqual([1, 2, 3]);
  });

  it('keeps a message committed while the fill read the store (the fill and append race)', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 1 << 20 });
    let release!: () => void;
    const filling = cache.fill(C, () => new Promise((resolve) => { release = () => resolve(range(1, 4)); }));
    // Committed after the read saw seq 4, reported before the read returned.
    cache.append(msg(5));
    cache.append(msg(6));
    release();
    await filling;
    expect(seqs(cache.before(C, undefined, 10))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('does not repeat a message that both the fill read and an append report', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 1 << 20 });
    await cache.fill(C, async () => { cache.append(msg(3)); return range(1, 3); });
    expect(seqs(cache.before(C, undefined, 10))).toEqual([1, 2, 3]);
  });

  it('caches nothing when what arrived during a fill does not follow on from the read', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 1 << 20 });
    await cache.fill(C, async () => { cache.append(msg(6)); return range(1, 4); });
    expect(cache.has(C)).toBe(false);
  });

  it('drops a chat at a gap in the appends rather than serve a page with a hole', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 1 << 20 });
    await cache.fill(C, async () => range(1, 2));
    cache.append(msg(4));
    expect(cache.has(C)).toBe(false);
    expect(cache.before(C, undefined, 5)).toBeUndefined();
  });

  it('stays within its byte bound by evicting the least recently used chats, and counts evictions', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 3000 });
    const big = (chat: string, seq: number): Message => ({ chat, seq, from: 'a', cmid: `x${seq}`, body: 'x'.repeat(400), ts: seq });
    for (const chat of ['r:one', 'r:two', 'r:three']) await cache.fill(chat, async () => [big(chat, 1)]);
    cache.before('r:one', undefined, 1);
    for (let s = 2; s <= 3; s++) cache.append(big('r:three', s));
    expect(cache.stats.bytes).toBeLessThanOrEqual(3000);
    expect(cache.has('r:two')).toBe(false);
    expect(cache.has('r:one')).toBe(true);
    expect(cache.stats.evictions).toBeGreaterThan(0);
  });

  it('forgets a cleared chat and its bytes', async () => {
    const cache = new HistoryCache({ perChat: 10, maxBytes: 1 << 20 });
    await cache.fill(C, async () => range(1, 3));
    cache.clear(C);
    expect(cache.has(C)).toBe(false);
    expect(cache.stats).toMatchObject({ bytes: 0, chats: 0 });
  });
});

/** Counts the store's history reads. */
function counting(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'before' || prop === 'after') return (...args: unknown[]) => { reads++; return (v as (...a: unknown[]) => unknown).apply(target, args); };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: proxy, reads: () => reads };
}

describe('ChatService with the hot cache', () => {
  it('opens a conversation from memory after the first read, with every acked message and none twice, under concurrent sends', async () => {
    const sqlite = new SqliteStore({ file: ':memory:' });
    const { store, reads } = counting(sqlite);
    const chat = new ChatService(store, new LocalBus(), {}, new HistoryCache({ perChat: 75, maxBytes: 1 << 20 }));
    for (let i = 0; i < 100; i++) await chat.send('a', { to: 'b', cmid: `p${i}`, body: `pre ${i}` });
    // The first open reads the store once; sends racing with it are not lost.
    const [first] = await Promise.all([chat.history('b', C, undefined, 50), ...Array.from({ length: 20 }, (_, i) => chat.send('a', { to: 'b', cmid: `r${i}`, body: `race ${i}` }))]);
    expect(first.messages).toHaveLength(50);
    expect(reads()).toBe(1);
    for (let i = 0; i < 5; i++) await chat.send('b', { to: 'a', cmid: `q${i}`, body: `after ${i}` });
    const page = await chat.history('a', C, undefined, 50);
    expect(reads()).toBe(1);
    const fromStore = await sqlite.before(C, undefined, 50);
    expect(page.messages).toEqual(fromStore);
    expect(page.more).toBe(true);
    expect(await chat.catchUp(C, 100, 500)).toEqual(await sqlite.after(C, 100, 500));
    expect(reads()).toBe(1);
    await sqlite.close();
  });
});

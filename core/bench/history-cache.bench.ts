/**
 * bench:history-cache: opening a conversation (the first history page, 50 messages) with the hot
 * cache on and off, on the same SQLite file, rounds interleaved. Reports the open latency and the
 * store reads per open. Chats are opened with a skew (a few hot chats, many cold), as users do.
 *
 * Usage: npm run bench:history-cache [-- --chats 500 --messages 200 --opens 5000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../args.ts';
import { LocalBus } from '../bus/local.ts';
import { ChatService } from '../chat/chat.ts';
import { HistoryCache } from '../chat/history-cache.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';

const { flags } = parseArgs(process.argv.slice(2));
const CHATS = Number(flags.get('chats') ?? 500);
const MESSAGES = Number(flags.get('messages') ?? 200);
const OPENS = Number(flags.get('opens') ?? 5000);

const chatId = (i: number) => `d:u${String(i).padStart(4, '0')}:zz`;
const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-cache-'));
  const store = new SqliteStore({ file: path.join(dir, 'p.db'), sync: 'normal' });
  for (let c = 0; c < CHATS; c++) {
    await store.ensureDirect(chatId(c), `u${String(c).padStart(4, '0')}`, 'zz');
    await store.append(Array.from({ length: MESSAGES }, (_, k) => ({ chat: chatId(c), from: 'zz', cmid: `c${c}-${k}`, body: `message ${k} of chat ${c} with some words in it`, ts: k })));
  }
  let reads = 0;
  const counted: Store = new Proxy(store, {
    get(t, prop) {
      const v = Reflect.get(t, prop) as unknown;
      if (prop === 'before' || prop === 'after') return (...a: unknown[]) => { reads++; return (v as (...x: unknown[]) => unknown).apply(t, a); };
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
    },
  });
  const services = {
    off: new ChatService(counted, new LocalBus(), {}, new HistoryCache({ perChat: 0, maxBytes: 0 })),
    on: new ChatService(counted, new LocalBus(), {}, new HistoryCache({ perChat: 75, maxBytes: 16 * 2 ** 20 })),
  };
  // A skewed pick: chat i with weight 1/(i+1).
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = () => Math.min(CHATS - 1, Math.floor(Math.exp(rand() * Math.log(CHATS + 1))) - 1);
  const out: Record<'off' | 'on', { ms: number[]; reads: number }> = { off: { ms: [], reads: 0 }, on: { ms: [], reads: 0 } };
  for (let round = 0; round < 10; round++) {
    for (const key of (round % 2 ? ['on', 'off'] : ['off', 'on']) as ('off' | 'on')[]) {
      const r0 = reads;
      for (let i = 0; i < OPENS / 10; i++) {
        const c = pick();
        const t0 = performance.now();
        await services[key].history(`u${String(c).padStart(4, '0')}`, chatId(c), undefined, 50);
        out[key].ms.push(performance.now() - t0);
      }
      out[key].reads += reads - r0;
    }
  }
  const stats = services.on.historyCache.stats;
  console.log(`${CHATS} chats of ${MESSAGES} messages, ${OPENS} opens each way (skewed), first page of 50`);
  console.log('| cache | p50 ms | p99 ms | store reads per open |\n| --- | --- | --- | --- |');
  for (const key of ['off', 'on'] as const) {
    const ms = out[key].ms.sort((a, b) => a - b);
    console.log(`| ${key} | ${pct(ms, 50).toFixed(3)} | ${pct(ms, 99).toFixed(3)} | ${(out[key].reads / OPENS).toFixed(3)} |`);
  }
  console.log(`cache: hit ratio ${(stats.hits / (stats.hits + stats.misses)).toFixed(3)}, ${stats.chats} chats, ${(stats.bytes / 2 ** 20).toFixed(1)} MiB, ${stats.evictions} evictions`);
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();

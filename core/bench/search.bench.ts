/**
 * bench:search: full-text search on the embedded store at scale, and what the index costs a send.
 * Fills a SQLite store with --messages messages (default 1M) over --chats chats, bodies drawn from a
 * seeded Zipf distribution over a synthetic vocabulary; then times searches of users who belong to
 * --member-chats chats each (common word, rare word, phrase of two common words, prefix), through
 * the same code path as the search op (query parse, store query, snippets). Last, in the same run,
 * the CPU per append with the index against without it: two fresh stores, rounds interleaved.
 *
 * Usage: npm run bench:search [-- --messages 1000000 --chats 1000 --member-chats 50 --queries 200 --seed 7]
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../args.ts';
import { loadConfig } from '../config.ts';
import { startServer } from '../server.ts';
import { searchMessages } from '../chat/search.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { AppendItem } from '../store/types.ts';

const { flags } = parseArgs(process.argv.slice(2));
const num = (name: string, def: number) => Number(flags.get(name) ?? def);
const MESSAGES = num('messages', 1_000_000);
const CHATS = num('chats', 1000);
const MEMBER_CHATS = num('member-chats', 50);
const QUERIES = num('queries', 200);
const SEED = num('seed', 7);
const CPU_MESSAGES = num('cpu-messages', 20_000);
const SEND_MESSAGES = num('send-messages', 5_000);
const VOCAB = 20_000;
const USERS = 20;

/** mulberry32: a small seeded PRNG, so every run indexes the same corpus. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(SEED);
const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'ze', 'po', 'da', 'fe', 'gu', 'hi', 'jo', 'qu', 'bre', 'sti', 'ran', 'dol'];
const words = Array.from({ length: VOCAB }, (_, i) => {
  let w = '';
  for (let n = i + 1; n > 0; n = Math.floor(n / SYL.length)) w += SYL[n % SYL.length];
  return w;
});
// Zipf (s = 1): the cumulative weights, sampled by binary search.
const cumulative: number[] = [];
for (let i = 0, acc = 0; i < VOCAB; i++) cumulative.push((acc += 1 / (i + 1)));
const total = cumulative.at(-1)!;
function word(): string {
  const x = rand() * total;
  let lo = 0;
  let hi = VOCAB - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return words[lo]!;
}
const body = () => Array.from({ length: 4 + Math.floor(rand() * 20) }, word).join(' ');

const chatId = (i: number) => `r:bench${i.toString(16).padStart(6, '0')}`;
const userOf = (i: number) => `u${i}`;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function fill(store: SqliteStore): Promise<number> {
  // Querying users u0..u19 are members of MEMBER_CHATS chats each; every chat has a poster "p<i>".
  for (let c = 0; c < CHATS; c++) {
    const members = [`p${c}`];
    for (let u = 0; u < USERS; u++) if ((c + u * 7) % CHATS < MEMBER_CHATS) members.push(userOf(u));
    await store.createRoom(chatId(c), `bench ${c}`, `p${c}`, members, 'invite');
  }
  const t0 = performance.now();
  const CHUNK = 5000;
  for (let done = 0; done < MESSAGES; done += CHUNK) {
    const items: AppendItem[] = [];
    for (let k = 0; k < Math.min(CHUNK, MESSAGES - done); k++) {
      const c = Math.floor(rand() * CHATS);
      items.push({ chat: chatId(c), from: `p${c}`, cmid: `m${done + k}`, body: body(), ts: 1_700_000_000_000 + done + k });
    }
    await store.append(items);
    if (process.stderr.isTTY) process.stderr.write(`\rfilled ${done + items.length} / ${MESSAGES}`);
    else if ((done / CHUNK) % 40 === 0) console.error(`filled ${done + items.length} / ${MESSAGES}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  return performance.now() - t0;
}

async function timeQueries(store: SqliteStore, name: string, q: string): Promise<string> {
  const ms: number[] = [];
  const cpu: number[] = [];
  let hits = 0;
  for (let i = 0; i < QUERIES; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await searchMessages(store, userOf(i % USERS), { q }, Number.MAX_SAFE_INTEGER);
    const c = process.cpuUsage(c0);
    ms.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
    hits += r.hits.length;
  }
  ms.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return `| ${name} | \`${q}\` | ${(hits / QUERIES).toFixed(1)} | ${pct(ms, 50).toFixed(2)} | ${pct(ms, 99).toFixed(2)} | ${pct(cpu, 50).toFixed(2)} | ${pct(cpu, 99).toFixed(2)} |`;
}

/** CPU microseconds per appended message, indexed and not, rounds interleaved A B B A. */
async function appendCpu(dir: string): Promise<{ off: number; on: number }> {
  const stores = { off: new SqliteStore({ file: path.join(dir, 'cpu-off.db'), sync: 'normal', searchIndex: false }), on: new SqliteStore({ file: path.join(dir, 'cpu-on.db'), sync: 'normal' }) };
  for (const s of Object.values(stores)) await s.createRoom('r:cpu', 'cpu', 'p', [], 'invite');
  const bodies = Array.from({ length: CPU_MESSAGES }, body);
  const used = { off: 0, on: 0 };
  const ROUNDS = 8;
  const per = Math.floor(CPU_MESSAGES / ROUNDS);
  let cmid = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const key of (r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) as ('off' | 'on')[]) {
      const items = bodies.slice(r * per, (r + 1) * per).map((b): AppendItem => ({ chat: 'r:cpu', from: 'p', cmid: `c${cmid++}`, body: b, ts: Date.now() }));
      const c0 = process.cpuUsage();
      // Appends in groups of 64, as a busy node's group commits are: per-commit overhead is included.
      for (let i = 0; i < items.length; i += 64) await stores[key].append(items.slice(i, i + 64));
      const c = process.cpuUsage(c0);
      used[key] += c.user + c.system;
    }
  }
  for (const s of Object.values(stores)) await s.close();
  const n = per * ROUNDS;
  return { off: used.off / n, on: used.on / n };
}

/**
 * CPU of the whole send path (frame decode, checks, append, ack, fan-out) in microseconds per
 * message: a node in this process, its one client in a child process, rounds off on on off.
 */
async function sendPathCpu(dir: string): Promise<{ off: number; on: number }> {
  const used = { off: 0, on: 0 };
  for (const [i, key] of (['off', 'on', 'on', 'off'] as const).entries()) {
    const dataDir = path.join(dir, `send-${i}`);
    const config = loadConfig(new Map(), {}, { port: 0, opsPort: 0, host: '127.0.0.1', dataDir, secret: 'bench-secret-that-is-at-least-32-characters', logLevel: 'silent', sqliteSync: 'normal', liveHoldMs: 0, sendRatePerSec: 1_000_000, sendBurst: 1_000_000 });
    const store = new SqliteStore({ file: path.join(dataDir, 'parley.db'), sync: 'normal', searchIndex: key === 'on' });
    const server = await startServer(config, { store });
    const child = fork(new URL('./search-sender.mjs', import.meta.url), [server.wsUrl, await server.auth.mint('sender', 3600), String(SEND_MESSAGES), String(SEED)], { stdio: 'inherit' });
    let c0 = process.cpuUsage();
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m) => {
        if (m === 'start') c0 = process.cpuUsage();
        if (m === 'done') { const c = process.cpuUsage(c0); used[key] += c.user + c.system; resolve(); }
      });
      child.on('exit', (code) => (code ? reject(new Error(`sender exited with ${code}`)) : undefined));
    });
    await server.close();
  }
  return { off: used.off / (2 * SEND_MESSAGES), on: used.on / (2 * SEND_MESSAGES) };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-search-'));
  const store = new SqliteStore({ file: path.join(dir, 'search.db'), sync: 'normal' });
  try {
    console.error(`bench:search: ${MESSAGES} messages over ${CHATS} chats; users in ${MEMBER_CHATS} chats each; seed ${SEED}`);
    const fillMs = await fill(store);
    const common = `${words[0]} ${words[1]}`;
    const lines = [
      `messages ${MESSAGES}, chats ${CHATS}, member chats per user ${MEMBER_CHATS} (~${Math.round((MESSAGES * MEMBER_CHATS) / CHATS)} messages searched per user), ${QUERIES} queries each, seed ${SEED}`,
      `fill: ${(fillMs / 1000).toFixed(1)} s (${((fillMs * 1000) / MESSAGES).toFixed(1)} µs per message, wall, indexed); database ${(fs.statSync(path.join(dir, 'search.db')).size / 2 ** 20).toFixed(0)} MiB`,
      '',
      '| query | q | hits per page | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      await timeQueries(store, 'common word (rank 1)', words[0]!),
      await timeQueries(store, 'two common words', common),
      await timeQueries(store, 'rare word (rank 5000)', words[4999]!),
      await timeQueries(store, 'phrase of two common words', `"${common}"`),
      await timeQueries(store, 'prefix', `${words[2]!.slice(0, 3)}*`),
    ];
    await store.close();
    const cpu = await appendCpu(dir);
    const send = await sendPathCpu(dir);
    const rel = (x: { off: number; on: number }) => `+${(((x.on - x.off) / x.off) * 100).toFixed(0)}%`;
    lines.push('', '| CPU per message | without the index | with it | index cost |', '| --- | --- | --- | --- |',
      `| send path (socket frame to ack, node only; ${SEND_MESSAGES * 2} messages each) | ${send.off.toFixed(1)} µs | ${send.on.toFixed(1)} µs | ${rel(send)} |`,
      `| store append alone (${CPU_MESSAGES} messages each, groups of 64) | ${cpu.off.toFixed(1)} µs | ${cpu.on.toFixed(1)} µs | ${rel(cpu)} |`);
    console.log(lines.join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

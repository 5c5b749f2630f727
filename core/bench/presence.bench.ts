/**
 * bench:presence: what batching and coalescing buy in a presence storm. The same storm (1,000
 * friends of one observer drop their connections and come back over 4 s, grace 2 s) runs twice
 * in one session: baseline with presenceBatchMs=0 and presenceCoalesceMs=0 (no coalescing; one
 * frame per event-loop turn, the least batching there can be) and 200 ms windows. Reports the observer's
 * frames, entries and bytes, the server thread's event-loop utilization during the storm, and the
 * candidate/baseline ratios.
 *
 * Usage: npm run bench:presence [-- --users 1000 --spread-ms 4000]
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parseArgs } from '../args.ts';
import { encode } from '../protocol.ts';
import { person } from '../test/social-fixtures.ts';
import { testServer, until } from '../test/helpers.ts';

interface Result { name: string; frames: number; entries: number; bytes: number; stormMs: number; elu: number }

const { flags } = parseArgs(process.argv.slice(2));
const USERS = Number(flags.get('users') ?? 1000);
const SPREAD_MS = Number(flags.get('spread-ms') ?? 4000);

async function storm(name: string, windowMs: number): Promise<Result> {
  const server = await testServer({ presenceGraceMs: 2000, presenceCoalesceMs: windowMs, presenceBatchMs: windowMs, liveHoldMs: 0 });
  const clients = new Worker(new URL('../test/storm-clients.mjs', import.meta.url));
  const command = async <T>(msg: Record<string, unknown>): Promise<T> => {
    clients.postMessage(msg);
    const [answer] = (await once(clients, 'message')) as [T & { cmd: string; message?: string }];
    if (answer.cmd === 'error') throw new Error(answer.message);
    return answer;
  };
  try {
    const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
    await Promise.all(names.map((n) => server.chat.store.social.rosterChange('obs', n, () => ['friend', 'friend'])));
    const tokens = await Promise.all(names.map((n) => server.auth.mint(n, 3600)));
    await command({ cmd: 'connect', url: server.wsUrl, tokens });
    const obs = await person(server, 'obs');
    await until(() => obs.social.presence.size === USERS && [...obs.social.presence.values()].every((p) => p.state === 'available'), 'all available', 60_000);
    let frames = 0, entries = 0, bytes = 0, last = 0;
    obs.social.on('presence', ({ users, bulk }) => {
      if (bulk) return;
      frames++;
      entries += users.length;
      bytes += encode({ op: 'presence', users }).length;
      last = Date.now();
    });
    const elu0 = performance.eventLoopUtilization();
    const { t0 } = await command<{ t0: number }>({ cmd: 'storm', url: server.wsUrl, tokens, spreadMs: SPREAD_MS });
    await until(() => [...obs.social.presence.values()].every((p) => p.state === 'available') && Date.now() - last > 1000, 'settle', 120_000);
    const elu = performance.eventLoopUtilization(elu0).utilization;
    await command({ cmd: 'close' });
    await obs.client.close();
    return { name, frames, entries, bytes, stormMs: last - t0, elu };
  } finally {
    await clients.terminate();
    await server.close();
  }
}

const baseline = await storm('baseline (both windows 0)', 0);
const candidate = await storm('batched + coalesced (200 ms)', 200);
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`presence storm: ${USERS} users, reconnects spread over ${SPREAD_MS} ms, grace 2000 ms`);
console.log(`${'variant'.padEnd(40)}${pad('frames', 8)}${pad('entries', 9)}${pad('KiB', 8)}${pad('storm ms', 10)}${pad('ELU', 7)}`);
for (const r of [baseline, candidate]) console.log(`${r.name.padEnd(40)}${pad(r.frames, 8)}${pad(r.entries, 9)}${pad((r.bytes / 1024).toFixed(0), 8)}${pad(r.stormMs, 10)}${pad(r.elu.toFixed(2), 7)}`);
const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : (a / b).toFixed(3));
console.log(`ratios candidate/baseline: frames ${ratio(candidate.frames, baseline.frames)}, entries ${ratio(candidate.entries, baseline.entries)}, bytes ${ratio(candidate.bytes, baseline.bytes)}, ELU ${ratio(candidate.elu, baseline.elu)}`);
process.exit(0);

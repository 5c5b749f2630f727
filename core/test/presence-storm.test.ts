/**
 * A presence storm through real sockets: 1,000 friends of one observer drop their connections at
 * once and come back over three seconds. The observer must end with the right state for all of
 * them, and because updates to one observer are batched per window, it receives at most one
 * presence frame per presenceBatchMs: frames <= ceil(storm duration / presenceBatchMs) + 1.
 */
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { SUBPROTOCOL } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { testServer, until } from './helpers.ts';
import { person, sleep, type Person } from './social-fixtures.ts';

const USERS = 1000;
const GRACE_MS = 1500;
const BATCH_MS = 200;
const SPREAD_MS = 3000;

let server: ParleyServer;
let observer: Person | undefined;
const sockets: WebSocket[] = [];

function open(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await observer?.client.close();
  await server?.close();
});

describe('presence storm', () => {
  it('leaves the observer of 1,000 reconnecting friends with every state right, in at most one frame per batch window', async () => {
    server = await testServer({ presenceGraceMs: GRACE_MS, presenceCoalesceMs: 200, presenceBatchMs: BATCH_MS, liveHoldMs: 0 });
    const names = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(4, '0')}`);
    await Promise.all(names.map((n) => server.chat.store.social.rosterChange('obs', n, () => ['friend', 'friend'])));
    const tokens = await Promise.all(names.map((n) => server.auth.mint(n, 3600)));
    for (let i = 0; i < USERS; i += 100) sockets.push(...(await Promise.all(tokens.slice(i, i + 100).map((t) => open(server.wsUrl, t)))));

    observer = await person(server, 'obs');
    const obs = observer.social;
    await until(() => obs.presence.size === USERS && [...obs.presence.values()].every((p) => p.state === 'available'), 'all 1,000 available', 20_000);

    const items = new Map<string, string[]>();
    let lastFrameAt = 0;
    obs.on('presence', ({ users, bulk }) => {
      if (bulk) return;
      lastFrameAt = Date.now();
      for (const u of users) items.set(u.user, [...(items.get(u.user) ?? []), u.state]);
    });
    const framesBefore = obs.presenceFrames;
    const publishedBefore = server.social.presence.stats.published;

    // The storm: every connection drops at once; user i is back after i * SPREAD_MS / USERS ms.
    const t0 = Date.now();
    for (const ws of sockets.splice(0)) ws.terminate();
    const back = names.map((_, i) => sleep((i * SPREAD_MS) / USERS).then(() => open(server.wsUrl, tokens[i]!)).then((ws) => { sockets.push(ws); }));
    await Promise.all(back);
    await until(() => [...obs.presence.values()].every((p) => p.state === 'available') && Date.now() - lastFrameAt > 3 * BATCH_MS, 'the storm to settle', 20_000);

    const frames = obs.presenceFrames - framesBefore;
    const stormMs = lastFrameAt - t0;
    const bound = Math.ceil(stormMs / BATCH_MS) + 1;
    console.log(`presence storm: ${USERS} users, ${frames} frames in ${stormMs} ms (bound ${bound}), ${[...items.values()].flat().length} entries, ${server.social.presence.stats.published - publishedBefore} bus updates`);

    expect(obs.presence.size).toBe(USERS);
    expect([...obs.presence.values()].filter((p) => p.state !== 'available')).toEqual([]);
    expect(frames).toBeLessThanOrEqual(bound);
    expect(frames).toBeLessThanOrEqual(30);
    // The storm did flap the late returners (so the bound was tested), and each user cost at most two entries.
    const flapped = [...items.values()].filter((s) => s.includes('offline')).length;
    expect(flapped).toBeGreaterThan(USERS / 4);
    for (const states of items.values()) expect(states).toEqual(['offline', 'available']);
    // Users back well within the grace period produced nothing at all.
    expect(names.slice(0, USERS / 5).filter((n) => items.has(n))).toEqual([]);
  });
});

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { ParleyServer } from '../server.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { connect, tempDir, testServer, until } from './helpers.ts';

let server: ParleyServer;
const clients: ParleyClient[] = [];
async function user(name: string): Promise<ParleyClient> {
  const c = await connect(server, name);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

/** Every file under dir whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    if (e.isFile() && fs.readFileSync(p).includes(Buffer.from(needle))) out.push(path.relative(dir, p));
  }
  return out;
}

describe('ephemeral rooms', () => {
  it('delete every trace of a lapsed room: store, search index, hot cache, read markers, the files on disk; members are told', async () => {
    server = await testServer({ ephemeralMinLifetimeMs: 100, expiryCheckMs: 100, sqliteSync: 'full' });
    const alice = await user('alice');
    const bob = await user('bob');
    const told: unknown[] = [];
    bob.on('event', (f: unknown) => told.push(f));
    const room = await alice.createRoom('secret', ['bob'], 'invite', { ephemeral: true, lifetimeMs: 1500 });
    expect(room.lifetimeMs).toBe(1500);
    const unique = `zq${randomBytes(8).toString('hex')}`;
    const ack = await alice.send({ chat: room.chat }, `the code is ${unique}`);
    expect((await bob.search(unique)).hits).toHaveLength(1);
    expect((await bob.history(room.chat)).messages.map((m) => m.seq)).toEqual([ack.seq]);
    expect(server.chat.historyCache.has(room.chat)).toBe(true);
    await bob.request('read', { id: 'r', chat: room.chat, seq: ack.seq });
    const listed = (await bob.chats()).find((c) => c.chat === room.chat);
    expect(listed?.expiresAt).toBe(ack.ts + 1500);
    await server.chat.store.flush();
    expect(filesContaining(server.config.dataDir, unique).length).toBeGreaterThan(0);

    await until(() => told.some((f) => (f as { op: string; chat: string }).op === 'chat.expired' && (f as { chat: string }).chat === room.chat), 'bob to hear chat.expired', 15_000);
    expect((await bob.chats()).map((c) => c.chat)).not.toContain(room.chat);
    expect((await alice.search(unique)).hits).toEqual([]);
    await expect(alice.history(room.chat)).rejects.toMatchObject({ code: 'not_member' });
    expect(server.chat.historyCache.has(room.chat)).toBe(false);
    expect(await server.chat.store.chatInfo(room.chat)).toBeUndefined();
    expect(await server.chat.store.members(room.chat)).toBeUndefined();
    expect(await server.chat.store.before(room.chat, undefined, 10)).toEqual([]);
    expect(filesContaining(server.config.dataDir, unique)).toEqual([]);
  });

  it('keeps a room alive while messages keep coming: the lifetime runs from the last one', async () => {
    server = await testServer({ ephemeralMinLifetimeMs: 100, expiryCheckMs: 50 });
    const alice = await user('alice');
    const room = await alice.createRoom('busy', [], 'invite', { ephemeral: true, lifetimeMs: 800 });
    for (let i = 0; i < 4; i++) {
      await alice.send({ chat: room.chat }, `still here ${i}`);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect((await alice.chats()).map((c) => c.chat)).toContain(room.chat);
  });

  it('refuses a lifetime outside the node\'s bounds with bad_field naming lifetimeMs, and creates nothing', async () => {
    server = await testServer({ ephemeralMinLifetimeMs: 60_000, ephemeralMaxLifetimeMs: 86_400_000 });
    const alice = await user('alice');
    for (const lifetimeMs of [1000, 86_400_001]) {
      await expect(alice.createRoom('x', [], 'invite', { ephemeral: true, lifetimeMs })).rejects.toMatchObject({ code: 'bad_field' });
    }
    await expect(alice.createRoom('x', [], 'invite', { ephemeral: false, lifetimeMs: 70_000 })).rejects.toMatchObject({ code: 'bad_field' });
    expect(await alice.chats()).toEqual([]);
    const room = await alice.createRoom('default', [], 'invite', { ephemeral: true });
    expect(room.lifetimeMs).toBe(86_400_000);
  });

  it('remembers a room\'s expiry across a restart: it is computed from stored times', async () => {
    const file = path.join(tempDir(), 'p.db');
    let store = new SqliteStore({ file });
    await store.createRoom('r:eph', 'e', 'a', [], 'invite', 60_000);
    await store.append([{ chat: 'r:eph', from: 'a', cmid: 'x', body: 'x', ts: 1_000 }]);
    await store.close();
    store = new SqliteStore({ file });
    expect(await store.expiredChats(61_000, 10)).toEqual(['r:eph']);
    expect(await store.expiredChats(60_999, 10)).toEqual([]);
    await store.close();
  });
});

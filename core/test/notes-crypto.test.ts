import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { Keyring } from '../social/keyring.ts';
import type { ParleyServer } from '../server.ts';
import { tempDir, testServer, until } from './helpers.ts';
import { befriend, person, type Person } from './social-fixtures.ts';

let server: ParleyServer | undefined;
const people: Person[] = [];
afterEach(async () => {
  await Promise.all(people.splice(0).map((p) => p.client.close()));
  await server?.close();
  server = undefined;
  vi.restoreAllMocks();
});

const FRIENDS = ['bob', 'carol', 'dave'];
const noteFor = (f: string) => `PLAINTEXT-NOTE-about-${f}-owes-me-20-euros`;

function rawBytes(dir: string): Buffer {
  return Buffer.concat(fs.readdirSync(dir).filter((f) => f.startsWith('parley.db')).map((f) => fs.readFileSync(path.join(dir, f))));
}

function kids(dir: string): Record<string, string> {
  const db = new Database(path.join(dir, 'parley.db'), { readonly: true });
  try {
    return Object.fromEntries((db.prepare('SELECT peer, kid FROM notes ORDER BY peer').all() as { peer: string; kid: string }[]).map((r) => [r.peer, r.kid]));
  } finally {
    db.close();
  }
}

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { lines.push(a.join(' ')); });
  const errSpy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { lines.push(a.join(' ')); });
  try {
    return { code: await main(argv), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

async function aliceWithNotes(dir: string, notes = FRIENDS): Promise<Person> {
  server = await testServer({ dataDir: dir });
  for (const f of FRIENDS) await befriend(server, 'alice', f);
  const alice = await person(server, 'alice');
  people.push(alice);
  for (const f of notes) await alice.social.setNote(f, noteFor(f));
  return alice;
}

describe('roster notes encrypted at rest', () => {
  it('leaves no plaintext note anywhere in the raw database files, while the author reads them back', async () => {
    const dir = tempDir();
    const alice = await aliceWithNotes(dir);
    await server!.chat.store.flush();
    expect(kids(dir)).toEqual({ bob: 'k1', carol: 'k1', dave: 'k1' });
    const live = rawBytes(dir);
    expect(live.length).toBeGreaterThan(0);
    for (const f of FRIENDS) {
      expect(live.includes(Buffer.from(noteFor(f)))).toBe(false);
      expect(live.includes(Buffer.from('owes-me'))).toBe(false);
    }
    expect((await alice.social.fetchRoster()).items.map((i) => i.note)).toEqual(FRIENDS.map(noteFor));
    await alice.client.close();
    await server!.close();
    server = undefined;
    const closed = rawBytes(dir);
    expect(closed.includes(Buffer.from('owes-me'))).toBe(false);
    expect(closed.includes(Buffer.from('PLAINTEXT-NOTE'))).toBe(false);
    expect(fs.statSync(path.join(dir, 'keyring.json')).mode & 0o777).toBe(0o600);
  });

  it('binds each ciphertext to its owner and friend, so a note moved to another row or altered fails authentication', () => {
    const keyring = new Keyring(path.join(tempDir(), 'keyring.json'));
    const sealed = keyring.seal('alice', 'bob', 'hello');
    expect(sealed.iv).toHaveLength(12);
    expect(keyring.open('alice', 'bob', sealed)).toBe('hello');
    expect(() => keyring.open('alice', 'carol', sealed)).toThrow(/failed authentication/);
    expect(() => keyring.open('bob', 'alice', sealed)).toThrow(/failed authentication/);
    const flipped = { ...sealed, ct: Buffer.from(sealed.ct) };
    flipped.ct[0]! ^= 1;
    expect(() => keyring.open('alice', 'bob', flipped)).toThrow(/failed authentication/);
    expect(keyring.seal('alice', 'bob', 'hello').iv.equals(sealed.iv)).toBe(false);
    expect(() => keyring.open('alice', 'bob', { ...sealed, kid: 'k9' })).toThrow(expect.objectContaining({ code: 'note_key_missing' }));
  });

  it('writes new notes under a rotated key, keeps old ones readable, and re-encrypts them with `parley keys reencrypt`', async () => {
    const dir = tempDir();
    const alice = await aliceWithNotes(dir, ['bob']);
    expect(await cli('keys', 'rotate', '--data-dir', dir)).toEqual({ code: 0, out: `current key: k2 (${path.join(dir, 'keyring.json')})` });
    await alice.social.setNote('carol', noteFor('carol'));
    await server!.chat.store.flush();
    expect(kids(dir)).toEqual({ bob: 'k1', carol: 'k2' });
    expect((await alice.social.fetchRoster()).items.filter((i) => i.note).map((i) => i.note)).toEqual([noteFor('bob'), noteFor('carol')]);
    expect((await cli('keys', 'list', '--data-dir', dir)).out).toBe('  k1              1 notes\n* k2              1 notes');
    expect(await cli('keys', 'reencrypt', '--data-dir', dir)).toEqual({ code: 0, out: 're-encrypted 1 notes under k2' });
    expect(kids(dir)).toEqual({ bob: 'k2', carol: 'k2' });
    // Re-encryption changes no content, so it bumps no roster version: fetch the whole roster.
    const whole = await alice.client.request<{ items: { note?: string }[] }>('roster');
    expect(whole.items.filter((i) => i.note).map((i) => i.note)).toEqual([noteFor('bob'), noteFor('carol')]);
  });

  it('re-encrypts old notes in the background when a node starts after a rotation', async () => {
    const dir = tempDir();
    await aliceWithNotes(dir);
    await people.pop()!.client.close();
    await server!.close();
    server = undefined;
    await cli('keys', 'rotate', '--data-dir', dir);
    server = await testServer({ dataDir: dir });
    await until(async () => Object.keys(await server!.chat.store.social.noteKeyCounts()).join() === 'k2', 'background re-encryption');
    const alice = await person(server, 'alice');
    people.push(alice);
    expect((await alice.social.fetchRoster()).items.map((i) => i.note)).toEqual(FRIENDS.map(noteFor));
  });

  it('refuses an unknown keys subcommand with exit code 2', async () => {
    expect((await cli('keys', 'shred', '--data-dir', tempDir())).code).toBe(2);
  });
});

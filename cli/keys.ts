/**
 * `parley keys`: the roster-note keyring. rotate adds a key and makes it current (a running node
 * notices within seconds and re-encrypts in the background); reencrypt moves old notes now;
 * list shows the keys and how many notes each one seals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { Keyring, reencryptNotes, rotateKeyring } from '../core/social/keyring.ts';
import { SqliteStore } from '../core/store/sqlite.ts';
import { commandConfig } from './config.ts';

export const KEYS_HELP = `usage: parley keys <rotate|reencrypt|list> [--data-dir DIR] [--notes-keyring FILE]

  rotate     add a random AES-256 key to the keyring and make it current; new notes use it,
             old notes stay readable with their key
  reencrypt  move every note sealed under an older key to the current key
  list       key ids, which one is current, and how many notes each seals (writes nothing)

The keyring defaults to <data-dir>/keyring.json (mode 0600). A running node picks up a rotation
within 10 s and re-encrypts in the background unless --notes-reencrypt false. Every \`parley serve\`
setting is accepted too (see parley serve --help).`;

export async function keysCommand(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const [sub, ...extra] = rest;
  if (!sub || !['rotate', 'reencrypt', 'list'].includes(sub) || extra.length) throw new UsageError([`expected one of rotate, reencrypt, list; got "${rest.join(' ')}"`]);
  const config = commandConfig('keys', flags);
  const file = config.notesKeyring ?? path.join(config.dataDir, 'keyring.json');
  if (sub === 'rotate') {
    console.log(`current key: ${rotateKeyring(file)} (${file})`);
    return 0;
  }
  const db = path.join(config.dataDir, 'parley.db');
  if (sub === 'list') return list(new Keyring(file, { create: false }), db);
  const keyring = new Keyring(file);
  const store = new SqliteStore({ file: db, sync: config.sqliteSync });
  try {
    const moved = await reencryptNotes(store.social, keyring);
    const left = Object.entries(await store.social.noteKeyCounts()).filter(([kid]) => kid !== keyring.currentKid);
    console.log(`re-encrypted ${moved} notes under ${keyring.currentKid}${left.length ? `; not movable: ${left.map(([k, n]) => `${n} under ${k}`).join(', ')}` : ''}`);
    return left.length ? 1 : 0;
  } finally {
    await store.close();
  }
}

/** Prints the keys and their note counts; creates neither the keyring nor the database. */
async function list(keyring: Keyring, db: string): Promise<number> {
  let counts: Record<string, number> = {};
  if (fs.existsSync(db)) {
    const store = new SqliteStore({ file: db, sync: 'normal' });
    try { counts = await store.social.noteKeyCounts(); } finally { await store.close(); }
  }
  if (keyring.kids.length === 0 && Object.keys(counts).length === 0) {
    console.log(`no keyring at ${keyring.file} and no notes (the first \`parley serve\` or \`parley keys rotate\` creates it)`);
    return 0;
  }
  for (const kid of new Set([...keyring.kids, ...Object.keys(counts)])) {
    const mark = kid === keyring.currentKid ? '*' : ' ';
    console.log(`${mark} ${kid.padEnd(8)} ${String(counts[kid] ?? 0).padStart(8)} notes${keyring.kids.includes(kid) ? '' : '  (key missing from the keyring)'}`);
  }
  return 0;
}

/**
 * Encryption of roster notes at rest: AES-256-GCM (node:crypto) with a random 12-byte IV per write,
 * the key id stored next to every ciphertext and AAD binding each note to its (owner, peer), so a
 * ciphertext copied onto another row fails authentication instead of decrypting.
 *
 * Keys live in a JSON keyring file (mode 0600): `{ "current": "k2", "keys": { "k1": "<base64>", ... } }`.
 * `parley keys rotate` appends a key and makes it current; old keys stay so old notes stay readable
 * until the re-encryption pass moved them.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ParleyError } from '../errors.ts';
import type { NoteRow, SealedNote, SocialStore } from '../store/social.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

interface KeyringFile {
  current: string;
  keys: Record<string, string>;
}

function aad(owner: string, peer: string): Buffer {
  return Buffer.from(`parley-note\0${owner}\0${peer}`, 'utf8');
}

function parse(file: string, text: string): KeyringFile {
  let data: unknown;
  try { data = JSON.parse(text); } catch (err) { throw new Error(`keyring ${file} is not JSON: ${(err as Error).message}`); }
  const k = data as KeyringFile;
  if (typeof k?.current !== 'string' || typeof k.keys !== 'object' || k.keys === null) throw new Error(`keyring ${file} must be {"current": "<kid>", "keys": {"<kid>": "<base64>"}}`);
  for (const [kid, b64] of Object.entries(k.keys)) {
    if (typeof b64 !== 'string' || Buffer.from(b64, 'base64').length !== KEY_BYTES) throw new Error(`keyring ${file}: key "${kid}" must be ${KEY_BYTES} bytes of base64`);
  }
  if (!Object.hasOwn(k.keys, k.current)) throw new Error(`keyring ${file}: current key "${k.current}" is not in keys`);
  return k;
}

/** Writes the keyring atomically (temp file + rename) with mode 0600. */
function save(file: string, data: KeyringFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function nextKid(keys: Record<string, string>): string {
  let n = Object.keys(keys).length + 1;
  while (Object.hasOwn(keys, `k${n}`)) n++;
  return `k${n}`;
}

/** Adds a fresh random key to the keyring file (creating it) and makes it current; returns its id. */
export function rotateKeyring(file: string): string {
  const data = fs.existsSync(file) ? parse(file, fs.readFileSync(file, 'utf8')) : { current: '', keys: {} };
  const kid = nextKid(data.keys);
  save(file, { current: kid, keys: { ...data.keys, [kid]: randomBytes(KEY_BYTES).toString('base64') } });
  return kid;
}

export class Keyring {
  readonly file: string;
  #keys = new Map<string, Buffer>();
  #current = '';
  #mtimeMs = -1;

  /**
   * Opens the keyring file, creating it with one random key when it does not exist; with
   * `create: false` a missing file is an empty keyring (for readers such as `parley keys list`).
   */
  constructor(file: string, opts: { create?: boolean } = {}) {
    this.file = file;
    if (!fs.existsSync(file)) {
      if (opts.create === false) return;
      rotateKeyring(file);
    }
    this.#load();
  }

  get currentKid(): string {
    return this.#current;
  }

  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  #load(): void {
    const stat = fs.statSync(this.file);
    const data = parse(this.file, fs.readFileSync(this.file, 'utf8'));
    this.#keys = new Map(Object.entries(data.keys).map(([kid, b64]) => [kid, Buffer.from(b64, 'base64')]));
    this.#current = data.current;
    this.#mtimeMs = stat.mtimeMs;
  }

  /** Re-reads the file if it changed (a `parley keys rotate` while running); true when the current key changed. */
  refresh(): boolean {
    let mtimeMs: number;
    try { mtimeMs = fs.statSync(this.file).mtimeMs; } catch { return false; }
    if (mtimeMs === this.#mtimeMs) return false;
    const before = this.#current;
    try {
      this.#load();
    } catch {
      // A half-written or mistyped file must not take the node down: keep the keys already loaded
      // and try again on the next change (a seal still uses the last good current key).
      this.#mtimeMs = mtimeMs;
      return false;
    }
    return this.#current !== before;
  }

  seal(owner: string, peer: string, plaintext: string): SealedNote {
    this.refresh();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#current)!, iv);
    cipher.setAAD(aad(owner, peer));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { kid: this.#current, iv, ct };
  }

  /** Decrypts and authenticates; throws note_key_missing for an unknown key, internal for a forged or moved note. */
  open(owner: string, peer: string, sealed: SealedNote): string {
    let key = this.#keys.get(sealed.kid);
    if (!key) {
      this.refresh();
      key = this.#keys.get(sealed.kid);
    }
    if (!key) throw new ParleyError('note_key_missing', `the note on ${peer} is sealed with key "${sealed.kid}", which is not in the keyring`, { kid: sealed.kid });
    if (sealed.ct.length < TAG_BYTES) throw new ParleyError('internal', `the note on ${peer} is truncated`);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(aad(owner, peer));
    decipher.setAuthTag(sealed.ct.subarray(sealed.ct.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.ct.subarray(0, sealed.ct.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new ParleyError('internal', `the note on ${peer} failed authentication (tampered or moved)`);
    }
  }
}

/**
 * Moves every note not under the current key to it, in batches; returns how many moved. A note
 * rewritten concurrently is left alone (its new ciphertext is already current).
 */
export async function reencryptNotes(store: SocialStore, keyring: Keyring, batch = 200): Promise<number> {
  keyring.refresh();
  let moved = 0;
  const failed = new Set<string>();
  for (;;) {
    const rows = (await store.notesNotUnder(keyring.currentKid, batch + failed.size)).filter((r) => !failed.has(`${r.owner}\0${r.peer}`));
    if (rows.length === 0) return moved;
    for (const row of rows.slice(0, batch)) {
      let plain: string;
      try { plain = keyring.open(row.owner, row.peer, row); } catch { failed.add(`${row.owner}\0${row.peer}`); continue; }
      if (await store.replaceNote(row as NoteRow, keyring.seal(row.owner, row.peer, plain))) moved++;
    }
  }
}

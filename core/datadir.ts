/**
 * The data dir holds every message body, the token secret and the note keys: it is 0700 and every
 * file in it 0600. Modes looser than that are fixed at start with a warning (a dir created by an
 * older version, or by hand); files parley creates are created private.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** Creates the dir private, or tightens it and the files in it; returns what it fixed. */
export function secureDataDir(dir: string, log?: Logger): string[] {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const fixed: string[] = [];
  const tighten = (p: string, mode: number) => {
    const current = fs.statSync(p).mode & 0o777;
    if ((current & ~mode) === 0) return;
    fs.chmodSync(p, current & mode);
    fixed.push(`${path.relative(dir, p) || '.'} ${current.toString(8)} → ${(current & mode).toString(8)}`);
  };
  tighten(dir, DIR_MODE);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile()) tighten(path.join(dir, entry.name), FILE_MODE);
  }
  if (fixed.length) log?.warn({ dataDir: dir, fixed }, 'the data dir or files in it were readable by other users; modes tightened');
  return fixed;
}

/** Creates `file` empty with mode 0600 unless it exists; SQLite gives its -wal and -shm the database file's mode. */
export function privateFile(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: DIR_MODE });
  fs.closeSync(fs.openSync(file, 'a', FILE_MODE));
  return file;
}

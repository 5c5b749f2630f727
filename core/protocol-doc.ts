/**
 * The generated parts of docs/protocol.md: the error-code, close-code, limit and setting tables are
 * rendered from the catalogs so the contract cannot drift from the code. Each lives between
 * `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; the welcome example's limits too.
 *
 *   node --import tsx core/protocol-doc.ts           exits 1 when docs/protocol.md is stale
 *   node --import tsx core/protocol-doc.ts --write   regenerates it (npm run docs:protocol)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SETTINGS } from './config.ts';
import { CLOSES, ERRORS } from './errors.ts';
import { LIMITS } from './protocol.ts';

export const PROTOCOL_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/protocol.md');

/** What each protocol limit bounds; a limit without an entry renders with its name only. */
const LIMIT_MEANING: Record<string, string> = {
  maxFrameBytes: 'bytes of one text frame; larger frames get `frame_too_large` and the socket stays open',
  maxPayloadBytes: 'bytes of one WebSocket message of any kind; larger ones close the socket with 1009 before parsing',
  maxBodyChars: 'Unicode code points of a message body (`body_too_large`)',
  maxIdChars: 'characters of a request `id` or a `cmid`',
  maxUserIdChars: 'characters of a user id (`A-Z a-z 0-9 _ . @ -`)',
  maxRoomNameChars: 'characters of a room name',
  maxSyncChats: 'entries in one `sync` cursors object',
  maxHistoryLimit: 'largest `limit` of one `history` page (socket and REST)',
  defaultHistoryLimit: '`limit` of a `history` page when none is given',
  maxSyncLimit: 'largest `limit` a `sync` accepts (reserved: a sync currently sends everything after the cursors)',
  defaultSyncLimit: '`limit` of a `sync` when none is given (reserved, as above)',
  maxInitialMembers: 'members named in one `room.create` or REST room creation',
  maxNoteChars: 'characters of a roster note',
  maxStatusChars: 'characters of a presence status text',
  maxBlocks: 'users one user may block',
  maxBlocksPage: 'largest `limit` of one `blocks` page',
  defaultBlocksPage: '`limit` of a `blocks` page when none is given',
  maxReadByRange: 'seqs one `readby` request or push covers',
};

/** The server settings a client developer meets on the wire. */
const CLIENT_SETTINGS = ['pingIntervalMs', 'maxQueueBytes', 'sendRatePerSec', 'sendBurst', 'abuseLimit', 'badFrameLimit', 'liveHoldMs', 'drainTimeoutMs', 'tokenTtlSec'] as const;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function errorTable(): string {
  const rows = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.retry ? 'yes' : 'no'} | ${cell(e.meaning)} |`);
  return ['| code | HTTP status | retry helps | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function closeTable(): string {
  const rows = Object.entries(CLOSES).map(([name, c]) => `| ${c.code} | \`${name}\` | ${c.reconnect ? 'yes' : 'no'} | ${cell(c.meaning)} |`);
  return ['| code | reason | reconnect | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function limitTable(): string {
  const rows = Object.entries(LIMITS).map(([name, value]) => `| \`${name}\` | ${value} | ${cell(LIMIT_MEANING[name] ?? '')} |`);
  return ['| limit | value | bounds |', '| --- | --- | --- |', ...rows].join('\n');
}

export function settingTable(): string {
  const rows = CLIENT_SETTINGS.map((name) => {
    const s = SETTINGS[name];
    const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return `| \`${flag}\` | ${s.default} | ${cell(s.doc)} |`;
  });
  return ['| setting | default | effect |', '| --- | --- | --- |', ...rows].join('\n');
}

export const GENERATED: Record<string, () => string> = { errors: errorTable, closes: closeTable, limits: limitTable, settings: settingTable };

/** The document with every generated block re-rendered; throws when a block's markers are missing. */
export function regenerate(doc: string): string {
  let out = doc;
  for (const [name, render] of Object.entries(GENERATED)) {
    const begin = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`docs/protocol.md lacks the markers ${begin} … ${end}`);
    out = `${out.slice(0, from + begin.length)}\n${render()}\n${out.slice(to)}`;
  }
  // The welcome example carries the live limits too.
  return out.replace(/^(\s*← \{"op":"welcome",.*"limits":)\{[^}]*\}\}$/m, (_, head: string) => `${head}${JSON.stringify(LIMITS)}}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const doc = fs.readFileSync(PROTOCOL_DOC, 'utf8');
  const fresh = regenerate(doc);
  if (process.argv.includes('--write')) {
    if (fresh !== doc) fs.writeFileSync(PROTOCOL_DOC, fresh);
    console.log(fresh === doc ? 'docs/protocol.md is up to date' : 'docs/protocol.md regenerated');
  } else if (fresh !== doc) {
    console.error('docs/protocol.md is stale: run `npm run docs:protocol`');
    process.exitCode = 1;
  } else console.log('docs/protocol.md is up to date');
}

/**
 * The generated parts of docs/protocol.md: the server-frame, error-code, close-code, limit and
 * setting tables are rendered from the catalogs so the contract cannot drift from the code. Each
 * lives between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; the welcome example's
 * limits too. `frameProblems` checks the prose: every server frame shown, every push documented.
 *
 *   node --import tsx core/protocol-doc.ts           exits 1 when docs/protocol.md is stale
 *   node --import tsx core/protocol-doc.ts --write   regenerates it (npm run docs:protocol)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SETTINGS } from './config.ts';
import { CLOSES, ERRORS } from './errors.ts';
import { LIMITS, PUSH_OPS, REQUEST_OPS, SERVER_OPS, type ServerOp } from './protocol.ts';

export const PROTOCOL_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/protocol.md');

/** When the server sends each frame; a Record, so a frame added to the union fails the build until described. */
const FRAME_SENT: Record<ServerOp, string> = {
  welcome: 'the connection is open (first frame)',
  ack: 'a `send` committed',
  msg: 'a message arrived in one of your conversations',
  skip: 'a seq of a conversation will not be shown to this session',
  reply: 'any other request (`recv`, `presence`, `typing` and `read` only when they carry an `id`); the payload is in `result`',
  synced: 'a `sync` caught up',
  member: 'a room\'s membership changed',
  error: 'a request failed; `id` when the request had a readable one',
  pong: 'a `ping` arrived',
  presence: 'friends\' presence changed (batched), or in bulk on connect',
  typing: 'someone started or stopped typing in a conversation',
  read: 'a read marker moved: yours on another session, or the other member\'s in a 1:1',
  readby: 'room messages were read by more members',
  'roster.push': 'an entry of your roster changed',
  'block.push': 'your block list changed',
  'settings.push': 'your privacy settings changed',
  'chat.expired': 'an ephemeral conversation of yours lapsed and was deleted',
};

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
const CLIENT_SETTINGS = ['pingIntervalMs', 'maxQueueBytes', 'sendRatePerSec', 'sendBurst', 'abuseLimit', 'readRatePerSec', 'readBurst', 'maxInflight', 'maxDevicesPerUser', 'badFrameLimit', 'liveHoldMs', 'drainTimeoutMs', 'tokenTtlSec'] as const;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function frameTable(): string {
  const pushes = new Set<string>(PUSH_OPS);
  const rows = SERVER_OPS.map((op) => `| \`${op}\` | ${pushes.has(op) ? 'push' : 'answer'} | ${cell(FRAME_SENT[op])} |`);
  return ['| frame | kind | sent when |', '| --- | --- | --- |', ...rows].join('\n');
}

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

export const GENERATED: Record<string, () => string> = { frames: frameTable, errors: errorTable, closes: closeTable, limits: limitTable, settings: settingTable };

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

/** Every `←` example line inside a fenced block, with its line number (1-based). */
export function serverExamples(doc: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fenced = false;
  doc.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('```')) fenced = !fenced;
    else if (fenced && line.startsWith('← ')) out.push({ text: line.slice(2), line: i + 1 });
  });
  return out;
}

/**
 * What the prose gets wrong about server frames: an op of the union with no example, an example or
 * a push heading with an op the union lacks, a push without its heading, a push example with an id.
 * A push whose op is also a request op is headed `### \`op\` (push)`; any other push `### \`op\``.
 */
export function frameProblems(doc: string): string[] {
  const problems: string[] = [];
  const servers = new Set<string>(SERVER_OPS);
  const pushes = new Set<string>(PUSH_OPS);
  const requests = new Set<string>(REQUEST_OPS);
  const shown = new Set<string>();
  for (const { text, line } of serverExamples(doc)) {
    let frame: { op?: unknown; id?: unknown };
    try { frame = JSON.parse(text) as typeof frame; } catch { problems.push(`line ${line}: the example is not JSON`); continue; }
    const op = String(frame.op);
    shown.add(op);
    if (!servers.has(op)) problems.push(`line ${line}: "${op}" is not a server frame op of core/protocol.ts`);
    else if (pushes.has(op) && frame.id !== undefined) problems.push(`line ${line}: the push "${op}" carries an id`);
  }
  for (const op of SERVER_OPS) if (!shown.has(op)) problems.push(`"${op}" has no example frame`);
  const headed = new Set<string>();
  for (const [, op, push] of doc.matchAll(/^### `([^`]+)`( \(push\))?$/gm)) {
    if (!push && requests.has(op!)) continue;
    headed.add(op!);
    if (!pushes.has(op!)) problems.push(`"${op}" is documented as a push but is no push of core/protocol.ts`);
  }
  for (const op of PUSH_OPS) if (!headed.has(op)) problems.push(`the push "${op}" has no heading ${requests.has(op) ? `"### \`${op}\` (push)"` : `"### \`${op}\`"`}`);
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const doc = fs.readFileSync(PROTOCOL_DOC, 'utf8');
  const fresh = regenerate(doc);
  const problems = frameProblems(fresh);
  for (const p of problems) console.error(`docs/protocol.md: ${p}`);
  if (problems.length) process.exitCode = 1;
  if (process.argv.includes('--write')) {
    if (fresh !== doc) fs.writeFileSync(PROTOCOL_DOC, fresh);
    console.log(fresh === doc ? 'docs/protocol.md is up to date' : 'docs/protocol.md regenerated');
  } else if (fresh !== doc) {
    console.error('docs/protocol.md is stale: run `npm run docs:protocol`');
    process.exitCode = 1;
  } else console.log('docs/protocol.md is up to date');
}

/**
 * The wire protocol: JSON text frames over a WebSocket negotiated with subprotocol `parley.v1`.
 * Pure functions only: decode, validate, encode. docs/protocol.md is the prose contract.
 */
import { ParleyError, type ErrorCode } from './errors.ts';

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = `parley.v${PROTOCOL_VERSION}`;

export const LIMITS = Object.freeze({
  /** Frames above this many bytes are refused with frame_too_large (the socket stays open). */
  maxFrameBytes: 64 * 1024,
  /** Hard socket limit: ws closes with 1009 above it, before parsing. */
  maxPayloadBytes: 1024 * 1024,
  maxBodyChars: 4000,
  maxIdChars: 64,
  maxUserIdChars: 64,
  maxRoomNameChars: 100,
  maxSyncChats: 1000,
  maxHistoryLimit: 200,
  defaultHistoryLimit: 50,
  maxSyncLimit: 1000,
  defaultSyncLimit: 500,
  maxInitialMembers: 500,
  /** Roster notes, in chars; stored encrypted. */
  maxNoteChars: 1000,
  maxStatusChars: 140,
  maxBlocks: 10_000,
  maxBlocksPage: 500,
  defaultBlocksPage: 100,
  /** Most seqs one readby request or push covers. */
  maxReadByRange: 200,
  maxSearchQueryChars: 200,
  maxSearchLimit: 100,
  defaultSearchLimit: 20,
  /** Attachment ids one message may reference (uploaded first with POST /api/v1/chats/:chat/attachments). */
  maxAttachments: 10,
});

/** User ids are restricted so that derived 1:1 chat ids are unambiguous. */
export const USER_ID_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
/** Attachment ids are minted by the node on upload: 16 base64url chars. */
export const ATTACHMENT_ID_RE = /^[A-Za-z0-9_-]{16}$/;
export const CHAT_ID_RE = /^(d:[A-Za-z0-9_.@-]{1,64}:[A-Za-z0-9_.@-]{1,64}|r:[a-z0-9]{1,40})$/;

export type ChatId = string;
export type ReqId = string | number;

// ── client → server ─────────────────────────────────────────────────────────────────────────────

/** `attachments`: ids of the sender's own uploads to that chat (docs/protocol.md "## Attachments"). */
export interface SendReq { op: 'send'; id?: ReqId; chat?: ChatId; to?: string; cmid: string; body: string; attachments?: string[] }
export interface SyncReq { op: 'sync'; id?: ReqId; cursors?: Record<ChatId, number>; limit?: number }
export interface HistoryReq { op: 'history'; id?: ReqId; chat: ChatId; before?: number; limit?: number }
export interface ChatsReq { op: 'chats'; id?: ReqId }
export interface RecvReq { op: 'recv'; id?: ReqId; chat: ChatId; seq: number }
/** Who may join a room: `invite` (the default) only those a member adds; `open` anyone who knows its id. */
export type RoomPolicy = 'invite' | 'open';
export const ROOM_POLICIES: readonly RoomPolicy[] = ['invite', 'open'];
/** `ephemeral`: the room and everything in it is deleted `lifetimeMs` (default: the node's, 24 h) after its last message. */
export interface RoomCreateReq { op: 'room.create'; id?: ReqId; name?: string; members?: string[]; policy?: RoomPolicy; ephemeral?: boolean; lifetimeMs?: number }
export interface RoomJoinReq { op: 'room.join'; id?: ReqId; chat: ChatId }
export interface RoomLeaveReq { op: 'room.leave'; id?: ReqId; chat: ChatId }
export interface RoomInviteReq { op: 'room.invite'; id?: ReqId; chat: ChatId; user: string }
export interface RoomMembersReq { op: 'room.members'; id?: ReqId; chat: ChatId }
export interface PingReq { op: 'ping'; id?: ReqId }
/** Full-text search of the asker's chats; `since`/`until` are inclusive ms; `cursor` is an earlier answer's `next`. */
export interface SearchReq { op: 'search'; id?: ReqId; q: string; chat?: ChatId; from?: string; since?: number; until?: number; limit?: number; cursor?: string }

// Friends, blocks, presence, typing, receipts, privacy settings (see docs/protocol.md "## Friends" onwards).
export type FriendAction = 'request' | 'accept' | 'decline' | 'cancel' | 'remove';
export type PresenceState = 'available' | 'away' | 'idle' | 'offline';
export interface FriendReq { op: `friend.${FriendAction}`; id?: ReqId; user: string }
export interface RosterReq { op: 'roster'; id?: ReqId; ver?: number }
export interface NoteSetReq { op: 'note.set'; id?: ReqId; user: string; note: string | null }
export interface BlockReq { op: 'block' | 'unblock'; id?: ReqId; user: string }
export interface BlocksReq { op: 'blocks'; id?: ReqId; after?: string; limit?: number }
export interface PresenceReq { op: 'presence'; id?: ReqId; state: Exclude<PresenceState, 'offline'>; status?: string }
export interface TypingReq { op: 'typing'; id?: ReqId; chat: ChatId; state: 'start' | 'stop' }
export interface ReadReq { op: 'read'; id?: ReqId; chat: ChatId; seq: number }
export interface ReadByReq { op: 'readby'; id?: ReqId; chat: ChatId; from: number; to: number }
export interface SettingsReq { op: 'settings'; id?: ReqId; typing?: boolean; receipts?: boolean }

export type SocialRequest =
  | FriendReq | RosterReq | NoteSetReq | BlockReq | BlocksReq | PresenceReq | TypingReq | ReadReq | ReadByReq | SettingsReq;

export type Request =
  | SendReq | SyncReq | HistoryReq | ChatsReq | RecvReq | RoomCreateReq | RoomJoinReq
  | RoomLeaveReq | RoomInviteReq | RoomMembersReq | PingReq | SearchReq | SocialRequest;

export type RequestOp = Request['op'];

// ── server → client ─────────────────────────────────────────────────────────────────────────────
// Every frame the server writes is one of these, built as an object literal with `op` first and
// encoded by `encode()`: the probe reads the op from the `{"op":"…"` prefix without parsing.

/** `attachments` (absent when none): ids to fetch from GET /api/v1/chats/:chat/attachments/:id. */
export interface Message { chat: ChatId; seq: number; from: string; cmid: string; body: string; ts: number; attachments?: string[] }
/**
 * An uploaded attachment as its chat's members see it (the upload's answer, GET .../info). `type`
 * comes from the content's magic bytes; `width`/`height` and `thumbnail` for images only.
 */
export interface AttachmentInfo { id: string; chat: ChatId; from: string; type: string; name: string; size: number; sha256: string; width?: number; height?: number; thumbnail: boolean; createdAt: number }
/** `expiresAt` (ms since the epoch): an ephemeral chat's deletion time if nobody writes before it. */
export interface ChatSummary { chat: ChatId; kind: 'direct' | 'room'; name?: string; lastSeq: number; readSeq: number; unread: number; last?: Message; expiresAt?: number }
/** A window of a found message's body; `highlights` are [start, end) UTF-16 offsets of each match in `text`. */
export interface Snippet { text: string; highlights: [number, number][] }
/** One search result: the message, its snippet, and a score (higher is better, comparable within one answer). */
export interface SearchHit { message: Message; snippet: Snippet; score: number }
/** A page of search results, best first; `next` pages on, absent on the last page. */
export interface SearchResult { hits: SearchHit[]; next?: string }
/** A roster entry as its owner sees it: 'sent' = I asked, 'received' = they asked; `note` is the owner's own. */
export type FriendState = 'friend' | 'sent' | 'received' | 'none';
export interface RosterItem { user: string; state: FriendState; note?: string }
/** One user's presence as an observer sees it; `ts` 0 means never seen (or hidden by a block). */
export interface PresenceItem { user: string; state: PresenceState; status?: string; ts: number }
/** A user's privacy settings: share typing indicators, share read markers. */
export interface Privacy { typing: boolean; receipts: boolean }

// Answers: to the connection (welcome) or to a request, whose `id` they echo.
export interface WelcomeFrame { op: 'welcome'; session: string; user: string; protocol: number; heartbeatMs: number; limits: typeof LIMITS }
export interface AckFrame { op: 'ack'; id?: ReqId; chat: ChatId; seq: number; cmid: string; ts: number; dup?: true }
export interface ReplyFrame { op: 'reply'; id?: ReqId; result: unknown }
export interface SyncedFrame { op: 'synced'; id?: ReqId; chats: Record<ChatId, { last: number; more: boolean }> }
export interface ErrorFrame { op: 'error'; id?: ReqId; code: ErrorCode; message: string; details?: Record<string, unknown> }
export interface PongFrame { op: 'pong'; id?: ReqId }

// Pushes: sent unasked, never with an `id`.
export type MsgFrame = { op: 'msg' } & Message;
/** A seq this session will not be shown (e.g. its sender is blocked); advance the cursor over it. */
export interface SkipFrame { op: 'skip'; chat: ChatId; seq: number }
export interface MemberFrame { op: 'member'; chat: ChatId; user: string; event: 'joined' | 'left' }
/** `ver` is the owner's roster version after the change. */
export interface RosterPushFrame { op: 'roster.push'; ver: number; item: RosterItem }
export interface BlockPushFrame { op: 'block.push'; user: string; blocked: boolean }
/** `bulk` marks the frame a new session gets with every friend's presence, offline ones included. */
export interface PresenceFrame { op: 'presence'; bulk?: true; users: PresenceItem[] }
export interface TypingFrame { op: 'typing'; chat: ChatId; user: string; state: 'start' | 'stop'; ttlMs: number }
export interface ReadFrame { op: 'read'; chat: ChatId; user: string; seq: number }
/** Seq → how many members other than its sender have read it. */
export interface ReadByFrame { op: 'readby'; chat: ChatId; counts: Record<number, number> }
export interface SettingsPushFrame { op: 'settings.push'; settings: Privacy }
/** An ephemeral chat's lifetime lapsed: it and its messages are deleted; drop it from the list. */
export interface ChatExpiredFrame { op: 'chat.expired'; chat: ChatId }

export type AnswerFrame = WelcomeFrame | AckFrame | ReplyFrame | SyncedFrame | ErrorFrame | PongFrame;
export type PushFrame =
  | MsgFrame | SkipFrame | MemberFrame | RosterPushFrame | BlockPushFrame | PresenceFrame | TypingFrame | ReadFrame | ReadByFrame | SettingsPushFrame | ChatExpiredFrame;
export type ServerFrame = AnswerFrame | PushFrame;
export type ServerOp = ServerFrame['op'];

/** Each server op and whether it answers or pushes; the mapped type keeps it in step with the union. */
const SERVER_FRAME_KIND: { [Op in ServerOp]: Extract<ServerFrame, { op: Op }> extends PushFrame ? 'push' : 'answer' } = {
  welcome: 'answer', ack: 'answer', msg: 'push', skip: 'push', reply: 'answer', synced: 'answer', member: 'push', error: 'answer', pong: 'answer',
  presence: 'push', typing: 'push', read: 'push', readby: 'push', 'roster.push': 'push', 'block.push': 'push', 'settings.push': 'push', 'chat.expired': 'push',
};

/** Every op the server writes, in catalog order (metrics pre-create a series per op from it). */
export const SERVER_OPS = Object.freeze(Object.keys(SERVER_FRAME_KIND) as ServerOp[]);
/** The server ops that are pushes: they never carry an `id`. */
export const PUSH_OPS = Object.freeze(SERVER_OPS.filter((op) => SERVER_FRAME_KIND[op] === 'push'));

// ── decode and validate ─────────────────────────────────────────────────────────────────────────

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isWellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string of ${v.length} chars`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 20)}`;
}

function fieldError(field: string, expected: string, got: unknown): ParleyError {
  return new ParleyError('bad_field', `"${field}" must be ${expected}, got ${describe(got)}`, { field });
}

export function isUserId(v: unknown): v is string {
  return typeof v === 'string' && USER_ID_RE.test(v);
}

export function isChatId(v: unknown): v is ChatId {
  if (typeof v !== 'string' || v.length > 140 || !CHAT_ID_RE.test(v)) return false;
  // A 1:1 id is canonical: its two users sorted and distinct, so each pair has exactly one chat.
  if (v.startsWith('d:')) { const [, a, b] = v.split(':'); return a! < b!; }
  return true;
}

/** The one 1:1 chat of two users: both ids sorted, so either side derives the same id. */
export function directChatId(a: string, b: string): ChatId {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

/** The two members of a 1:1 chat id, or undefined for a room id. */
export function directMembers(chat: ChatId): [string, string] | undefined {
  if (!chat.startsWith('d:')) return undefined;
  const [, a, b] = chat.split(':');
  return a && b ? [a, b] : undefined;
}

const reqId = (o: Obj): ReqId | undefined => {
  const id = o.id;
  if (id === undefined) return undefined;
  if ((typeof id === 'string' && id.length <= LIMITS.maxIdChars) || Number.isSafeInteger(id)) return id as ReqId;
  throw fieldError('id', `a string of at most ${LIMITS.maxIdChars} chars or an integer`, id);
};

function chatField(o: Obj, name = 'chat'): ChatId {
  const v = o[name];
  if (!isChatId(v)) throw fieldError(name, 'a chat id ("d:<a>:<b>" with a < b, or "r:<id>")', v);
  return v;
}

function optInt(o: Obj, name: string, min: number, max: number): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
    throw fieldError(name, `an integer in [${min}, ${max}]`, v);
  }
  return v as number;
}

function userField(o: Obj, name: string): string {
  const v = o[name];
  if (!isUserId(v)) throw fieldError(name, 'a user id (1-64 of A-Z a-z 0-9 _ . @ -)', v);
  return v;
}

function cmidField(o: Obj): string {
  return validateCmid(o.cmid);
}

/** Validates a client message id; shared by the socket and REST. */
export function validateCmid(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > LIMITS.maxIdChars || !isWellFormed(v)) {
    throw fieldError('cmid', `a non-empty string of at most ${LIMITS.maxIdChars} chars`, v);
  }
  return v;
}

/** Unicode code points in a well-formed string: what every client language agrees a "char" is. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/** Validates a roster note; shared by the socket and REST. An empty note clears it (null). */
export function validateNote(note: unknown): string | null {
  if (note !== null && (typeof note !== 'string' || !isWellFormed(note))) throw fieldError('note', 'a string or null', note);
  if (typeof note === 'string' && note.length > LIMITS.maxNoteChars) throw fieldError('note', `at most ${LIMITS.maxNoteChars} chars`, note);
  return note === '' ? null : note;
}

/** Validates a sequence number (a non-negative integer); shared by the socket and REST. */
export function validateSeq(v: unknown): number {
  if (!isSeq(v)) throw fieldError('seq', 'a non-negative integer', v);
  return v;
}

/** Validates a message body; shared by the socket and REST. Its length counts code points, not UTF-16 units. */
export function validateBody(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw fieldError('body', 'a non-empty string', v);
  if (!isWellFormed(v)) throw new ParleyError('bad_field', '"body" must be well-formed Unicode, got an unpaired surrogate', { field: 'body' });
  const chars = v.length > LIMITS.maxBodyChars ? codePoints(v) : v.length;
  if (chars > LIMITS.maxBodyChars) {
    throw new ParleyError('body_too_large', `"body" must be at most ${LIMITS.maxBodyChars} chars (code points), got ${chars}`, { field: 'body', max: LIMITS.maxBodyChars });
  }
  return v;
}

export function isAttachmentId(v: unknown): v is string {
  return typeof v === 'string' && ATTACHMENT_ID_RE.test(v);
}

/** Validates a message's optional attachment ids (distinct, at most limits.maxAttachments); shared by the socket and REST. */
export function validateAttachments(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > LIMITS.maxAttachments || !v.every(isAttachmentId) || new Set(v).size !== v.length) {
    throw fieldError('attachments', `an array of at most ${LIMITS.maxAttachments} distinct attachment ids`, v);
  }
  return v.length ? v as string[] : undefined;
}

/** Validates an optional room name; shared by the socket and REST. */
/** `policy` of a new room: absent means invite-only. */
export function validateRoomPolicy(v: unknown): RoomPolicy | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && (ROOM_POLICIES as readonly string[]).includes(v)) return v as RoomPolicy;
  throw fieldError('policy', `one of ${ROOM_POLICIES.map((p) => `"${p}"`).join(', ')}`, v);
}

export function validateRoomName(v: unknown): string | undefined {
  if (v !== undefined && (typeof v !== 'string' || v.length > LIMITS.maxRoomNameChars || !isWellFormed(v))) {
    throw fieldError('name', `a string of at most ${LIMITS.maxRoomNameChars} chars`, v);
  }
  return v;
}

/** Validates a search request's fields; shared by the socket and REST (which passes query values parsed). */
export function validateSearch(o: Record<string, unknown>, id?: ReqId): SearchReq {
  const q = o.q;
  if (typeof q !== 'string' || q.trim() === '' || q.length > LIMITS.maxSearchQueryChars || !isWellFormed(q)) {
    throw fieldError('q', `a non-empty search query of at most ${LIMITS.maxSearchQueryChars} chars`, q);
  }
  const req: SearchReq = { op: 'search', id, q };
  if (o.chat !== undefined) req.chat = chatField(o);
  if (o.from !== undefined) req.from = userField(o, 'from');
  req.since = optInt(o, 'since', 0, Number.MAX_SAFE_INTEGER);
  req.until = optInt(o, 'until', 0, Number.MAX_SAFE_INTEGER);
  if (req.since !== undefined && req.until !== undefined && req.until < req.since) throw fieldError('until', `a time at or after since (${req.since})`, req.until);
  req.limit = optInt(o, 'limit', 1, LIMITS.maxSearchLimit);
  if (o.cursor !== undefined) {
    if (typeof o.cursor !== 'string' || o.cursor.length === 0 || o.cursor.length > LIMITS.maxIdChars) throw fieldError('cursor', 'the "next" value of an earlier search answer', o.cursor);
    req.cursor = o.cursor;
  }
  for (const k of ['since', 'until', 'limit'] as const) if (req[k] === undefined) delete req[k];
  return req;
}

type Validator = (o: Obj, id: ReqId | undefined) => Request;

const VALIDATORS: Record<RequestOp, Validator> = {
  send(o, id) {
    const hasChat = o.chat !== undefined;
    const hasTo = o.to !== undefined;
    if (hasChat === hasTo) throw new ParleyError('bad_field', 'send needs exactly one of "chat" or "to"', { field: hasChat ? 'to' : 'chat' });
    const cmid = cmidField(o);
    const body = validateBody(o.body);
    const req: SendReq = hasChat ? { op: 'send', id, chat: chatField(o), cmid, body } : { op: 'send', id, to: userField(o, 'to'), cmid, body };
    const attachments = validateAttachments(o.attachments);
    if (attachments) req.attachments = attachments;
    return req;
  },
  sync(o, id) {
    const limit = optInt(o, 'limit', 1, LIMITS.maxSyncLimit);
    if (o.cursors === undefined) return { op: 'sync', id, limit };
    if (!isObj(o.cursors)) throw fieldError('cursors', 'an object of chat id → seq', o.cursors);
    const entries = Object.entries(o.cursors);
    if (entries.length > LIMITS.maxSyncChats) throw fieldError('cursors', `at most ${LIMITS.maxSyncChats} entries`, o.cursors);
    const cursors: Record<ChatId, number> = {};
    for (const [chat, seq] of entries) {
      if (!isChatId(chat)) throw fieldError(`cursors.${String(chat).slice(0, 40)}`, 'keyed by a chat id', chat);
      if (!isSeq(seq)) throw fieldError(`cursors.${chat}`, 'a non-negative integer seq', seq);
      cursors[chat] = seq;
    }
    return { op: 'sync', id, cursors, limit };
  },
  history(o, id) {
    return { op: 'history', id, chat: chatField(o), before: optInt(o, 'before', 1, Number.MAX_SAFE_INTEGER), limit: optInt(o, 'limit', 1, LIMITS.maxHistoryLimit) };
  },
  chats: (_o, id) => ({ op: 'chats', id }),
  recv(o, id) {
    return { op: 'recv', id, chat: chatField(o), seq: validateSeq(o.seq) };
  },
  'room.create'(o, id) {
    const name = validateRoomName(o.name);
    let members: string[] | undefined;
    if (o.members !== undefined) {
      if (!Array.isArray(o.members) || o.members.length > LIMITS.maxInitialMembers || !o.members.every(isUserId)) {
        throw fieldError('members', `an array of at most ${LIMITS.maxInitialMembers} user ids`, o.members);
      }
      members = o.members as string[];
    }
    const req: RoomCreateReq = { op: 'room.create', id, name, members, policy: validateRoomPolicy(o.policy) };
    if (o.ephemeral !== undefined && typeof o.ephemeral !== 'boolean') throw fieldError('ephemeral', 'true or false', o.ephemeral);
    const lifetimeMs = optInt(o, 'lifetimeMs', 1, 365 * 86_400_000);
    if (lifetimeMs !== undefined && o.ephemeral === false) throw fieldError('lifetimeMs', 'absent for a room that is not ephemeral', lifetimeMs);
    if (o.ephemeral === true || lifetimeMs !== undefined) req.ephemeral = true;
    if (lifetimeMs !== undefined) req.lifetimeMs = lifetimeMs;
    return req;
  },
  'room.join': (o, id) => ({ op: 'room.join', id, chat: chatField(o) }),
  'room.leave': (o, id) => ({ op: 'room.leave', id, chat: chatField(o) }),
  'room.invite': (o, id) => ({ op: 'room.invite', id, chat: chatField(o), user: userField(o, 'user') }),
  'room.members': (o, id) => ({ op: 'room.members', id, chat: chatField(o) }),
  ping: (_o, id) => ({ op: 'ping', id }),
  search(o, id) {
    return validateSearch(o, id);
  },
  'friend.request': (o, id) => ({ op: 'friend.request', id, user: userField(o, 'user') }),
  'friend.accept': (o, id) => ({ op: 'friend.accept', id, user: userField(o, 'user') }),
  'friend.decline': (o, id) => ({ op: 'friend.decline', id, user: userField(o, 'user') }),
  'friend.cancel': (o, id) => ({ op: 'friend.cancel', id, user: userField(o, 'user') }),
  'friend.remove': (o, id) => ({ op: 'friend.remove', id, user: userField(o, 'user') }),
  roster: (o, id) => ({ op: 'roster', id, ver: optInt(o, 'ver', 0, Number.MAX_SAFE_INTEGER) }),
  'note.set'(o, id) {
    return { op: 'note.set', id, user: userField(o, 'user'), note: validateNote(o.note) };
  },
  block: (o, id) => ({ op: 'block', id, user: userField(o, 'user') }),
  unblock: (o, id) => ({ op: 'unblock', id, user: userField(o, 'user') }),
  blocks(o, id) {
    const after = o.after === undefined ? undefined : userField(o, 'after');
    return { op: 'blocks', id, after, limit: optInt(o, 'limit', 1, LIMITS.maxBlocksPage) };
  },
  presence(o, id) {
    if (o.state !== 'available' && o.state !== 'away' && o.state !== 'idle') throw fieldError('state', 'one of "available", "away", "idle"', o.state);
    const status = o.status;
    if (status !== undefined && (typeof status !== 'string' || status.length > LIMITS.maxStatusChars || !isWellFormed(status))) {
      throw fieldError('status', `a string of at most ${LIMITS.maxStatusChars} chars`, status);
    }
    return status === undefined ? { op: 'presence', id, state: o.state } : { op: 'presence', id, state: o.state, status };
  },
  typing(o, id) {
    if (o.state !== 'start' && o.state !== 'stop') throw fieldError('state', 'one of "start", "stop"', o.state);
    return { op: 'typing', id, chat: chatField(o), state: o.state };
  },
  read(o, id) {
    return { op: 'read', id, chat: chatField(o), seq: validateSeq(o.seq) };
  },
  readby(o, id) {
    const from = optInt(o, 'from', 1, Number.MAX_SAFE_INTEGER);
    const to = optInt(o, 'to', 1, Number.MAX_SAFE_INTEGER);
    if (from === undefined || to === undefined) throw fieldError(from === undefined ? 'from' : 'to', 'a positive integer seq', from === undefined ? o.from : o.to);
    if (to < from || to - from >= LIMITS.maxReadByRange) throw fieldError('to', `a seq in [from, from + ${LIMITS.maxReadByRange - 1}]`, to);
    return { op: 'readby', id, chat: chatField(o), from, to };
  },
  settings(o, id) {
    const out: SettingsReq = { op: 'settings', id };
    for (const key of ['typing', 'receipts'] as const) {
      if (o[key] === undefined) continue;
      if (typeof o[key] !== 'boolean') throw fieldError(key, 'true or false', o[key]);
      out[key] = o[key];
    }
    return out;
  },
};

export const REQUEST_OPS = Object.freeze(Object.keys(VALIDATORS) as RequestOp[]);

export type Decoded = { ok: true; req: Request } | { ok: false; error: ParleyError; id?: ReqId; op?: string };

/**
 * Decodes one text frame. Never throws: a bad frame yields the error to send back, with the
 * request id when it could be read so the client can match the error to its request.
 */
/** The request id when it is valid, else undefined (never throws). */
function readableId(raw: Record<string, unknown>): ReqId | undefined {
  try {
    return reqId(raw);
  } catch {
    return undefined;
  }
}

export function decode(text: string): Decoded {
  if (Buffer.byteLength(text) > LIMITS.maxFrameBytes) {
    return { ok: false, error: new ParleyError('frame_too_large', `frames must be at most ${LIMITS.maxFrameBytes} bytes, got ${Buffer.byteLength(text)}`) };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: new ParleyError('bad_json', `expected a JSON object: ${(err as Error).message}`) };
  }
  if (!isObj(raw) || typeof raw.op !== 'string') {
    const error = new ParleyError('bad_frame', `expected an object with a string "op", got ${describe(raw)}`);
    // A readable id is echoed even when the op is not: the client can match the error to its request.
    return isObj(raw) ? { ok: false, error, id: readableId(raw) } : { ok: false, error };
  }
  const op = raw.op;
  let id: ReqId | undefined;
  try {
    id = reqId(raw);
    const validate = Object.hasOwn(VALIDATORS, op) ? VALIDATORS[op as RequestOp] : undefined;
    if (!validate) {
      return { ok: false, id, op: op.slice(0, 32), error: new ParleyError('unknown_op', `unknown op "${op.slice(0, 32)}"; expected one of ${REQUEST_OPS.join(', ')}`) };
    }
    return { ok: true, req: validate(raw, id) };
  } catch (err) {
    if (err instanceof ParleyError) return { ok: false, error: err, id, op };
    throw err;
  }
}

/**
 * The one encoder of server frames. Plain JSON.stringify: frames are built with `op` as their first
 * key, so the text starts `{"op":"<op>"` (core/edge/probe.ts counts frames by that prefix).
 */
export function encode(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/** The error frame for a failed request: `id` right after `op`, as in every other answer. */
/** What an error frame says: a ParleyError, or a plain refusal built without an Error's stack (hot refusal paths). */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown> | undefined;
}

export function errorFrame(err: Refusal, id?: ReqId): ErrorFrame {
  const frame: ErrorFrame = id === undefined ? { op: 'error', code: err.code, message: err.message } : { op: 'error', id, code: err.code, message: err.message };
  if (err.details) frame.details = err.details;
  return frame;
}

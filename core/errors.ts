/**
 * The catalog: every error code and close code parley emits, with its meaning and whether a client
 * should retry or reconnect. Code throws or returns these; nobody builds ad-hoc error strings.
 * docs/protocol.md renders this table; the metrics layer pre-creates one series per code.
 */

export interface ErrorSpec {
  /** HTTP status used when the same error is answered over REST. */
  readonly status: number;
  /** Whether repeating the same request later can succeed. */
  readonly retry: boolean;
  readonly meaning: string;
}

export const ERRORS = {
  bad_json: { status: 400, retry: false, meaning: 'The frame or body is not valid JSON.' },
  bad_frame: { status: 400, retry: false, meaning: 'The frame is valid JSON but not an object with a string "op".' },
  unknown_op: { status: 400, retry: false, meaning: 'The "op" names no operation of this protocol version.' },
  bad_field: { status: 400, retry: false, meaning: 'A field is missing, of the wrong type, or out of range; the message names it.' },
  frame_too_large: { status: 413, retry: false, meaning: 'The frame exceeds the protocol frame limit (limits.maxFrameBytes).' },
  body_too_large: { status: 413, retry: false, meaning: 'A message body exceeds limits.maxBodyChars.' },
  binary_not_supported: { status: 400, retry: false, meaning: 'Binary frames are not part of the protocol; send JSON text.' },
  unauthorized: { status: 401, retry: false, meaning: 'No valid access token was presented.' },
  forbidden: { status: 403, retry: false, meaning: 'The token is valid but lacks the right for this request.' },
  not_member: { status: 403, retry: false, meaning: 'The user is not a member of the conversation (or it does not exist).' },
  not_found: { status: 404, retry: false, meaning: 'The addressed object does not exist.' },
  self_chat: { status: 400, retry: false, meaning: 'A 1:1 conversation needs two different users.' },
  already_member: { status: 409, retry: false, meaning: 'The user is already a member of the room.' },
  cmid_conflict: { status: 409, retry: false, meaning: 'A client message id was reused for a different conversation.' },
  blocked: { status: 403, retry: false, meaning: 'One of the two users blocked the other: no 1:1 conversation, friend request or typing between them; details.byYou says who.' },
  self_target: { status: 400, retry: false, meaning: 'Friend requests, notes and blocks need another user than yourself.' },
  already_friends: { status: 409, retry: false, meaning: 'The two users are already friends.' },
  no_request: { status: 409, retry: false, meaning: 'There is no pending friend request to accept, decline or cancel (or no friendship to remove).' },
  not_friend: { status: 404, retry: false, meaning: 'The other user is not on your roster (a note needs a friend or a pending request).' },
  roster_full: { status: 409, retry: false, meaning: 'A roster reached its cap (friends, or pending requests sent); details.user names whose.' },
  block_list_full: { status: 409, retry: false, meaning: 'The block list reached limits.maxBlocks; unblock someone first.' },
  read_past_end: { status: 400, retry: false, meaning: 'A read marker may not pass the last seq of the conversation (details.lastSeq).' },
  note_key_missing: { status: 500, retry: false, meaning: 'A stored note names an encryption key that is not in the keyring; restore the key.' },
  cursor_past_end: { status: 400, retry: false, meaning: 'A recv cursor may not pass the last seq of the conversation (details.lastSeq); it would hide later messages.' },
  unsupported_protocol: { status: 400, retry: false, meaning: 'The client offered WebSocket subprotocols, none of them parley.v1.' },
  payload_too_large: { status: 413, retry: false, meaning: 'A REST request body exceeds 64 KiB.' },
  method_not_allowed: { status: 405, retry: false, meaning: 'The path does not answer this HTTP method (the Allow header lists the ones it does).' },
  web_not_built: { status: 503, retry: false, meaning: 'The web pages are not built on this node (npm run build:web).' },
  attachment_too_large: { status: 413, retry: false, meaning: 'The upload exceeds the node\'s attachment size limit (setting attachmentMaxBytes, details.maxBytes); nothing was stored.' },
  attachment_type: { status: 415, retry: false, meaning: 'The upload\'s content, judged by its magic bytes (never by the client\'s Content-Type or file name), is not an accepted type: JPEG, PNG, WebP, GIF, plus the types of setting attachmentExtraTypes; nothing was stored.' },
  attachment_invalid: { status: 422, retry: false, meaning: 'The upload starts like an image but does not decode (truncated, corrupt, or empty); nothing was stored.' },
  attachment_dimensions: { status: 422, retry: false, meaning: 'The image declares more pixels than the node decodes (setting attachmentMaxPixels, details.maxPixels; a decompression bomb); refused from its header alone, nothing stored.' },
  attachment_stalled: { status: 408, retry: true, meaning: 'The upload\'s body stopped arriving for longer than the setting attachmentIdleMs (details.idleMs); nothing was stored. Upload again.' },
  attachment_not_found: { status: 404, retry: false, meaning: 'No such attachment in this conversation (never uploaded, collected as unreferenced, or expired with its chat); a message may reference only its sender\'s own uploads to that conversation (details.attachments lists the ids).' },
  range_not_satisfiable: { status: 416, retry: false, meaning: 'The Range header asks for bytes outside the attachment (Content-Range: bytes */size gives its size).' },
  rate_limited: { status: 429, retry: true, meaning: 'The session sent (or read) faster than its rate limit; retry after retryAfterMs.' },
  busy: { status: 429, retry: true, meaning: 'The connection has maxInflight requests unanswered (details.maxInflight); wait for replies before sending more.' },
  overloaded: { status: 503, retry: true, meaning: 'The node is over its work budget (details.reason: inflight, queued_bytes, heap, or uploads for attachment uploads); retry after retryAfterMs, or on another node.' },
  store_unavailable: { status: 503, retry: true, meaning: 'The store cannot write (disk full, I/O error, database down); the message was not stored. Retry with the same cmid.' },
  invite_only: { status: 403, retry: false, meaning: 'The room is invite-only: a member must invite the user (room.invite); only open rooms can be joined by id.' },
  shutting_down: { status: 503, retry: true, meaning: 'The node is draining; reconnect and retry.' },
  internal: { status: 500, retry: true, meaning: 'The server failed; the request was not applied. Retry with the same cmid.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface CloseSpec {
  readonly code: number;
  readonly reconnect: boolean;
  readonly meaning: string;
}

/**
 * WebSocket close codes. 4000-4499: the client should reconnect (with backoff and jitter);
 * 4500-4999: terminal, reconnecting with the same credentials will fail the same way.
 */
export const CLOSES = {
  shutdown: { code: 4000, reconnect: true, meaning: 'The node is draining (restart or deploy); reconnect to any node.' },
  slow: { code: 4008, reconnect: true, meaning: 'The outbound queue exceeded its byte bound; reconnect and resume from your cursors.' },
  stale: { code: 4010, reconnect: true, meaning: 'No pong within the heartbeat window.' },
  rate_abuse: { code: 4029, reconnect: true, meaning: 'Sustained sends over the rate limit; reconnect after a backoff.' },
  kicked: { code: 4100, reconnect: true, meaning: 'An operator disconnected the user (admin API POST /admin/users/:user/disconnect on the ops port); reconnect after a backoff.' },
  token_expired: { code: 4500, reconnect: false, meaning: 'The access token expired; obtain a new one before reconnecting.' },
  policy: { code: 4503, reconnect: false, meaning: 'The connection broke protocol rules repeatedly (too many bad frames).' },
  device_limit: { code: 4509, reconnect: false, meaning: 'The user opened more connections than the node allows (maxDevicesPerUser); this, the oldest, was closed. Reconnecting would close another device.' },
} as const satisfies Record<string, CloseSpec>;

export type CloseName = keyof typeof CLOSES;

/** Whether a close code (ours or RFC 6455's) asks the client to reconnect. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  if (code === 1008 || code === 1002 || code === 1003) return false;
  return true;
}

/** The error every layer throws: a catalog code plus a message saying what was expected and what came. */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ParleyError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

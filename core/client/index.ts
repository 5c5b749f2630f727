/**
 * The parley client: connect with a token, send with automatic client message ids, receive in
 * order without duplicates, reconnect with backoff and jitter, and resume from per-chat cursors.
 * Sends that were not acknowledged when a connection dropped are re-sent with the same cmid after
 * the reconnect, so the server's idempotency turns them into exactly one message.
 */
import { shouldReconnect } from '../errors.ts';
import type { AttachmentInfo, ChatId, ChatSummary, Message, RoomPolicy, SearchResult } from '../protocol.ts';
import { Emitter } from './emitter.ts';
import { connector, unref, type Connector, type Socket, type WebSocketConstructor } from './transport.ts';

export type { AttachmentInfo, ChatId, ChatSummary, Message, PresenceState, RoomPolicy, SearchHit, SearchResult, Snippet } from '../protocol.ts';

/** Narrows a search: one chat, one sender, an inclusive time range (ms), a page size, the `next` of the previous page. */
export interface SearchOptions { chat?: ChatId; from?: string; since?: number; until?: number; limit?: number; cursor?: string }
export type { StandardWebSocket, WebSocketConstructor } from './transport.ts';

export interface ClientOptions {
  /** ws://host:port/ws */
  url: string;
  /** A token, or a function returning a fresh one (called on every connect). */
  token: string | (() => string | Promise<string>);
  /** Reconnect after a reconnectable close (default true). */
  reconnect?: boolean;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  requestTimeoutMs?: number;
  /** Cursors to resume from (chat → last seq seen), e.g. persisted by the app. */
  cursors?: Record<ChatId, number>;
  /** Report delivered cursors to the server every this many ms (0 disables). Default 1000. */
  recvReportMs?: number;
  /** Sync on every connect (default true). */
  sync?: boolean;
  /**
   * A standard WebSocket class to connect with instead of the default (`ws` in Node, the global
   * WebSocket elsewhere). The token then travels as `?token=`, since such a class sets no headers.
   */
  webSocketImpl?: WebSocketConstructor;
  /** http(s)://host:port of the node's REST API, for attachments; default: derived from `url`. */
  httpUrl?: string;
}

/** A downloaded attachment (or a byte range of it). */
export interface Download {
  type: string;
  bytes: Uint8Array;
  /** 200 for the whole content, 206 for a range. */
  status: number;
}

export interface Ack {
  chat: ChatId;
  seq: number;
  cmid: string;
  ts: number;
  dup?: boolean;
}

export class ParleyClientError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(`${code}: ${message}`);
    this.name = 'ParleyClientError';
    this.code = code;
    this.details = details;
  }
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: Timer | undefined;
}

interface PendingSend extends Pending {
  frame: Record<string, unknown>;
}

type Timer = ReturnType<typeof setTimeout>;

type ServerFrameIn = { op: string; id?: number | string; [k: string]: unknown };

export interface ClientEvents {
  message: [Message];
  member: [{ chat: ChatId; user: string; event: 'joined' | 'left' }];
  /** Any server push this client does not interpret (later protocol additions). */
  event: [ServerFrameIn];
  ready: [{ session: string; reconnects: number }];
  disconnect: [{ code: number; reason: string; willReconnect: boolean }];
  error: [Error];
}

/** A 12-character base64url id from 9 random bytes (Web Crypto: Node 20 and browsers alike). */
function newCmid(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}

export class ParleyClient extends Emitter<ClientEvents> {
  readonly #opts: Required<Omit<ClientOptions, 'cursors' | 'webSocketImpl' | 'httpUrl'>> & Pick<ClientOptions, 'webSocketImpl' | 'httpUrl'>;
  readonly #cursors = new Map<ChatId, number>();
  readonly #requests = new Map<number, Pending>();
  /** Unacknowledged sends by cmid, in send order; re-sent after a reconnect. */
  readonly #sends = new Map<string, PendingSend>();
  readonly #reported = new Map<ChatId, number>();
  /** Seqs seen past a gap in the cursor, per chat, until the gap is filled. */
  readonly #ahead = new Map<ChatId, Set<number>>();
  #ws: Socket | undefined;
  #nextId = 1;
  #attempt = 0;
  #closed = false;
  #ready = false;
  #reconnectTimer: Timer | undefined;
  #reportTimer: ReturnType<typeof setInterval> | undefined;
  #session = '';
  #user = '';
  reconnects = 0;
  duplicatesDropped = 0;
  gaps = 0;

  constructor(opts: ClientOptions) {
    super();
    this.#opts = {
      reconnect: true, backoffMinMs: 100, backoffMaxMs: 10_000, requestTimeoutMs: 10_000, recvReportMs: 1000, sync: true,
      ...opts,
    };
    for (const [chat, seq] of Object.entries(opts.cursors ?? {})) this.#cursors.set(chat, seq);
  }

  get session(): string {
    return this.#session;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Last seq seen per chat: persist it to resume in a later process. */
  get cursors(): Record<ChatId, number> {
    return Object.fromEntries(this.#cursors);
  }

  /** Connects and resolves once the session is synced. Rejects on a terminal failure (e.g. 401). */
  connect(): Promise<void> {
    this.#closed = false;
    return new Promise<void>((resolve, reject) => {
      const onReady = () => { this.off('disconnect', onDisconnect); resolve(); };
      const onDisconnect = (d: { code: number; reason: string; willReconnect: boolean }) => {
        if (d.willReconnect) return;
        this.off('ready', onReady);
        reject(new ParleyClientError(d.reason || 'closed', `connection closed with ${d.code}`));
      };
      this.once('ready', onReady);
      this.on('disconnect', onDisconnect);
      void this.#open();
    });
  }

  async #open(): Promise<void> {
    let token: string;
    try {
      token = typeof this.#opts.token === 'function' ? await this.#opts.token() : this.#opts.token;
    } catch (err) {
      this.#report(err as Error);
      return this.#scheduleReconnect(1006, 'token_unavailable');
    }
    let connect: Connector;
    try {
      connect = await connector(this.#opts.webSocketImpl);
    } catch (err) {
      this.#report(err as Error);
      this.emit('disconnect', { code: 1006, reason: 'no_websocket', willReconnect: false });
      return;
    }
    if (this.#closed) return;
    const ws: Socket = connect(this.#opts.url, token, {
      message: (text) => { if (this.#ws === ws) this.#onFrame(text); },
      close: (code, reason) => { if (this.#ws === ws) this.#handleClose(code, reason, shouldReconnect(code)); },
      // 401/403/400 will not get better by retrying; 5xx (draining node) will.
      refused: (status, code) => { if (this.#ws === ws) this.#handleClose(status >= 500 ? 1013 : 4501, code, status >= 500); },
    });
    this.#ws = ws;
  }

  #handleClose(code: number, reason: string, reconnectable: boolean): void {
    if (this.#ws === undefined) return;
    this.#ws = undefined;
    this.#ready = false;
    clearInterval(this.#reportTimer);
    for (const [id, p] of this.#requests) {
      clearTimeout(p.timer);
      p.reject(new ParleyClientError('disconnected', `connection closed (${code}) before the reply`));
      this.#requests.delete(id);
    }
    const willReconnect = reconnectable && this.#opts.reconnect && !this.#closed;
    if (!willReconnect) {
      for (const s of this.#sends.values()) { clearTimeout(s.timer); s.reject(new ParleyClientError('disconnected', `connection closed (${code}) before the ack`)); }
      this.#sends.clear();
    }
    this.emit('disconnect', { code, reason, willReconnect });
    if (willReconnect) this.#scheduleReconnect(code, reason);
  }

  #scheduleReconnect(_code: number, _reason: string): void {
    if (this.#closed) return;
    const ceiling = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffMinMs * 2 ** this.#attempt);
    this.#attempt++;
    // Equal jitter: half fixed, half random, so a node's clients do not return in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#reconnectTimer = setTimeout(() => { this.reconnects++; void this.#open(); }, delay);
  }

  #onFrame(text: string): void {
    let f: ServerFrameIn;
    try { f = JSON.parse(text) as ServerFrameIn; } catch { return; }
    switch (f.op) {
      case 'welcome':
        this.#session = String(f.session);
        this.#user = String(f.user);
        return void this.#afterWelcome();
      case 'msg':
        return this.#onMessage(f as unknown as Message);
      case 'ack': {
        const ack = f as unknown as Ack;
        // The first seq met in a chat new to this client starts its cursor, but an ack of seq N
        // there may come before seqs below N are delivered (the server fills them in order): it
        // waits aside instead, so those seqs are not dropped as already past.
        if (!this.#cursors.has(ack.chat) && ack.seq > 1) this.#aside(ack.chat, ack.seq);
        else this.#see(ack.chat, ack.seq);
        const s = this.#sends.get(ack.cmid);
        if (s) { this.#sends.delete(ack.cmid); clearTimeout(s.timer); s.resolve({ chat: ack.chat, seq: ack.seq, cmid: ack.cmid, ts: ack.ts, ...(ack.dup ? { dup: true } : {}) }); }
        return;
      }
      case 'reply': case 'synced': case 'pong':
        return this.#settle(f, f.op === 'reply' ? f.result : f);
      case 'error': {
        const err = new ParleyClientError(String(f.code), String(f.message), f.details as Record<string, unknown> | undefined);
        if (typeof f.id === 'number' && this.#requests.has(f.id)) return this.#settle(f, undefined, err);
        const send = typeof f.id === 'string' ? this.#sends.get(f.id) : undefined;
        // A draining node refuses the send and closes the connection next: the send stays pending
        // and is repeated, with its cmid, on the node the client reconnects to.
        if (send && f.code === 'shutting_down' && this.#opts.reconnect) return;
        if (send) { this.#sends.delete(f.id as string); clearTimeout(send.timer); send.reject(err); return; }
        this.#report(err);
        return;
      }
      case 'skip':
        this.#see(String(f.chat), Number(f.seq));
        return;
      case 'member':
        this.emit('member', f as never);
        return;
      default:
        this.emit('event', f);
    }
  }

  /** Emits 'error' only to listeners: an app that does not listen must not be crashed by a server error frame. */
  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #settle(f: ServerFrameIn, value: unknown, err?: Error): void {
    if (typeof f.id !== 'number') return;
    const p = this.#requests.get(f.id);
    if (!p) return;
    this.#requests.delete(f.id);
    clearTimeout(p.timer);
    if (err) p.reject(err); else p.resolve(value);
  }

  #onMessage(m: Message): void {
    // One of our sends committed on a connection that closed (or died) before its ack: the catch-up
    // brings it back with its cmid, unique per user. It is that send's ack, not a message to show.
    const own = m.from === this.#user ? this.#sends.get(m.cmid) : undefined;
    if (own) {
      this.#sends.delete(m.cmid);
      clearTimeout(own.timer);
      this.#see(m.chat, m.seq);
      own.resolve({ chat: m.chat, seq: m.seq, cmid: m.cmid, ts: m.ts });
      return;
    }
    if (!this.#see(m.chat, m.seq)) { this.duplicatesDropped++; return; }
    this.emit('message', m);
  }

  /**
   * Records a seq as seen; false when it was seen before. The cursor only moves over contiguous
   * seqs: one past a gap is kept aside, so the server's refill of the gap is not taken for duplicates.
   */
  #aside(chat: ChatId, seq: number): void {
    let ahead = this.#ahead.get(chat);
    if (!ahead) this.#ahead.set(chat, (ahead = new Set()));
    ahead.add(seq);
  }

  #see(chat: ChatId, seq: number): boolean {
    const cur = this.#cursors.get(chat);
    if (cur !== undefined && seq <= cur) return false;
    if (cur !== undefined && seq > cur + 1) {
      let ahead = this.#ahead.get(chat);
      if (!ahead) this.#ahead.set(chat, (ahead = new Set()));
      if (ahead.has(seq)) return false;
      ahead.add(seq);
      this.gaps++;
      return true;
    }
    let next = seq;
    const ahead = this.#ahead.get(chat);
    while (ahead?.delete(next + 1)) next++;
    if (ahead?.size === 0) this.#ahead.delete(chat);
    this.#cursors.set(chat, next);
    return true;
  }

  async #afterWelcome(): Promise<void> {
    try {
      if (this.#opts.sync) await this.request('sync', this.#cursors.size ? { cursors: this.cursors } : {});
    } catch (err) {
      // A session that could not sync is useless: drop it and reconnect (with backoff) instead of hanging.
      this.#report(err as Error);
      void this.#ws?.close(4001, 'sync_failed', 2000);
      return;
    }
    this.#attempt = 0;
    this.#ready = true;
    if (this.#opts.recvReportMs > 0) {
      this.#reportTimer = setInterval(() => this.#reportDelivered(), this.#opts.recvReportMs);
      unref(this.#reportTimer);
    }
    // Re-send what the previous connection did not get acknowledged, in the original order.
    for (const s of this.#sends.values()) this.#ws?.send(JSON.stringify(s.frame));
    this.emit('ready', { session: this.#session, reconnects: this.reconnects });
  }

  #reportDelivered(): void {
    for (const [chat, seq] of this.#cursors) {
      if ((this.#reported.get(chat) ?? 0) >= seq) continue;
      this.#reported.set(chat, seq);
      this.#ws?.send(JSON.stringify({ op: 'recv', chat, seq }));
    }
  }

  /** Sends a request frame and resolves with its reply's result. */
  request<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    const ws = this.#ws;
    if (!ws?.open) return Promise.reject(new ParleyClientError('disconnected', 'not connected'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(id);
        reject(new ParleyClientError('timeout', `${op} got no reply within ${this.#opts.requestTimeoutMs} ms`));
      }, this.#opts.requestTimeoutMs);
      this.#requests.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, op, id }));
    });
  }

  /**
   * Sends a message and resolves with its ack once the server committed it. Survives reconnects:
   * an unacknowledged send is repeated with the same cmid on the next connection.
   */
  send(target: { chat: ChatId } | { to: string }, body: string, cmid = newCmid(), opts: { attachments?: string[] } = {}): Promise<Ack> {
    // `attachments`: ids from upload() to the same chat.
    const frame = { op: 'send', id: cmid, ...target, cmid, body, ...(opts.attachments?.length ? { attachments: opts.attachments } : {}) };
    return new Promise<Ack>((resolve, reject) => {
      const timer = this.#opts.reconnect ? undefined : setTimeout(() => {
        this.#sends.delete(cmid);
        reject(new ParleyClientError('timeout', `send got no ack within ${this.#opts.requestTimeoutMs} ms`));
      }, this.#opts.requestTimeoutMs);
      this.#sends.set(cmid, { frame, resolve, reject, timer });
      if (this.#ready && this.#ws?.open) this.#ws.send(JSON.stringify(frame));
    });
  }

  history(chat: ChatId, opts: { before?: number; limit?: number } = {}): Promise<{ chat: ChatId; messages: Message[]; more: boolean }> {
    return this.request('history', { chat, ...opts });
  }

  async chats(): Promise<ChatSummary[]> {
    return (await this.request<{ chats: ChatSummary[] }>('chats')).chats;
  }

  /** Full-text search of your conversations: words, "phrases" and prefix* terms, best first; pass `next` as `cursor` for more. */
  search(q: string, opts: SearchOptions = {}): Promise<SearchResult> {
    return this.request('search', { q, ...opts });
  }

  /** Creates a room; `policy` 'open' lets anyone who knows its id join (default: invite-only). */
  createRoom(name?: string, members?: string[], policy?: RoomPolicy, opts: { ephemeral?: boolean; lifetimeMs?: number } = {}): Promise<{ chat: ChatId; members: string[]; policy: RoomPolicy; lifetimeMs?: number }> {
    // An ephemeral room is deleted lifetimeMs after its last message; the server pushes chat.expired (an 'event').
    return this.request('room.create', { ...(name ? { name } : {}), ...(members ? { members } : {}), ...(policy ? { policy } : {}), ...opts });
  }

  join(chat: ChatId): Promise<unknown> { return this.request('room.join', { chat }); }
  leave(chat: ChatId): Promise<unknown> { return this.request('room.leave', { chat }); }
  invite(chat: ChatId, user: string): Promise<unknown> { return this.request('room.invite', { chat, user }); }
  async members(chat: ChatId): Promise<string[]> {
    return (await this.request<{ members: string[] }>('room.members', { chat })).members;
  }

  /** The REST base of the node: `httpUrl`, or the WebSocket URL's origin with http(s). */
  get httpUrl(): string {
    if (this.#opts.httpUrl) return this.#opts.httpUrl.replace(/\/$/, '');
    const u = new URL(this.#opts.url);
    return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
  }

  async #token(): Promise<string> {
    const t = this.#opts.token;
    return typeof t === 'function' ? t() : t;
  }

  async #rest(method: string, route: string, init: { body?: Uint8Array | Blob; headers?: Record<string, string> } = {}): Promise<Response> {
    const res = await fetch(`${this.httpUrl}/api/v1${route}`, { method, headers: { authorization: `Bearer ${await this.#token()}`, ...init.headers }, body: init.body as RequestInit["body"] });
    if (res.ok) return res;
    const err = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    throw new ParleyClientError(err.error?.code ?? `http_${res.status}`, err.error?.message ?? res.statusText, err.error?.details);
  }

  /**
   * Uploads a photo or file to a chat (members only); reference the answer's `id` in send(). The
   * server judges the type from the bytes; `name` is the file name shown to others.
   */
  async upload(chat: ChatId, data: Uint8Array | Blob, opts: { name?: string } = {}): Promise<AttachmentInfo> {
    const query = opts.name ? `?name=${encodeURIComponent(opts.name)}` : '';
    const res = await this.#rest('POST', `/chats/${encodeURIComponent(chat)}/attachments${query}`, { body: data, headers: { 'content-type': 'application/octet-stream' } });
    return (await res.json()) as AttachmentInfo;
  }

  /** Metadata of an attachment: type, size, name, image dimensions. */
  async attachmentInfo(chat: ChatId, id: string): Promise<AttachmentInfo> {
    return (await (await this.#rest('GET', `/chats/${encodeURIComponent(chat)}/attachments/${encodeURIComponent(id)}/info`)).json()) as AttachmentInfo;
  }

  /**
   * A URL that downloads the attachment (or its thumbnail) with the token in the query, for an
   * `<img src>` or a link, where no Authorization header can be set. It is valid as long as the token.
   */
  async downloadUrl(chat: ChatId, id: string, opts: { thumbnail?: boolean } = {}): Promise<string> {
    return `${this.httpUrl}/api/v1/chats/${encodeURIComponent(chat)}/attachments/${encodeURIComponent(id)}${opts.thumbnail ? '/thumbnail' : ''}?token=${encodeURIComponent(await this.#token())}`;
  }

  /** Downloads an attachment, its thumbnail, or bytes [start, end] of it (inclusive). */
  async download(chat: ChatId, id: string, opts: { thumbnail?: boolean; range?: [number, number] } = {}): Promise<Download> {
    const headers: Record<string, string> = opts.range ? { range: `bytes=${opts.range[0]}-${opts.range[1]}` } : {};
    const res = await this.#rest('GET', `/chats/${encodeURIComponent(chat)}/attachments/${encodeURIComponent(id)}${opts.thumbnail ? '/thumbnail' : ''}`, { headers });
    return { type: res.headers.get('content-type') ?? 'application/octet-stream', bytes: new Uint8Array(await res.arrayBuffer()), status: res.status };
  }

  /** Sends a raw frame (tests and tools). */
  raw(data: string | Uint8Array): void {
    this.#ws?.send(data);
  }

  /** Closes for good: no reconnect; pending sends are rejected. */
  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#reportTimer);
    return this.#ws?.close(1000, '', 2000) ?? Promise.resolve();
  }
}

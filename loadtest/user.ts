/**
 * A simulated user: one raw `ws` connection speaking docs/protocol.md with minimal per-user state,
 * so a worker holds many thousands. Sends carry a stamp (sender, per-sender seq, intended and actual
 * send time) in the body, so recipients measure delivery and detect loss, duplicates and reordering.
 */
import WebSocket from 'ws';
import type { User } from './api.ts';
import { now } from './clock.ts';
import type { Group } from './plan.ts';
import type { Meter } from './recorder.ts';
import type { RequestTable } from './requests.ts';

const SUBPROTOCOL = 'parley.v1';

/** The stamp a send carries in its body: sender, per-sender seq, intended and actual send time. */
export interface Stamp { s: number; q: number; t: number; a: number }

/**
 * What a simulated user reports; the worker's engine listens. Users emit, they never reach into
 * the engine: the sink decides what an ack, a delivery or an error frame means for the run.
 */
export interface UserSink {
  /** Measurements of the user's own connection (connects, connect_ms, sync_ms, reconnects...). */
  readonly meter: Meter;
  /** Connected and synced: time to resend what was not acknowledged and pump the backlog. */
  ready(u: SimUser): void;
  /** The server acknowledged the send with this client message id. */
  ack(u: SimUser, cmid: string, t: number): void;
  /** A stamped message from another user arrived. */
  delivery(u: SimUser, stamp: Stamp, t: number): void;
  /** A push the user does not interpret itself (presence, typing, ...). */
  event(u: SimUser, frame: Record<string, any>, t: number): void;
  /** An error frame (for a request, a send or neither). */
  errorFrame(u: SimUser, frame: Record<string, any>): void;
  /** A reply, synced or pong frame answering a request. */
  reply(frame: Record<string, any>): void;
}

/** What every user of a worker shares: where to connect, tokens, the request table, the sink. */
export interface UserWiring {
  readonly target: string;
  token(user: string): Promise<string>;
  userId(index: number): string;
  readonly requests: RequestTable;
  readonly sink: UserSink;
}

function onMessage(this: WebSocket & { u: SimUser }, data: WebSocket.RawData): void {
  this.u.onFrame(data.toString());
}
function onClose(this: WebSocket & { u: SimUser }, code: number): void {
  this.u.onClosed(this, code);
}
function onError(): void { /* a close follows */ }

export class SimUser implements User {
  readonly index: number;
  readonly id: string;
  readonly group: Group;
  readonly #w: UserWiring;
  /** Conversation id (1:1 chats are addressed by peer until the first ack names the chat). */
  chat: string | undefined;
  ws: (WebSocket & { u: SimUser }) | undefined;
  connected = false;
  lastSeq = 0;
  q = 0;
  inFlight = 0;
  /** Intended times of sends waiting for the window or a connection. */
  backlog: number[] | undefined;
  arrivedAt = 0;
  #peer: string | undefined;
  #connectStart = 0;
  #awaitFirst = false;
  #dropAt = 0;
  #leaving = false;
  #attempt = 0;
  /** Reconnecting after an unplanned drop (failures retry instead of ending the user). */
  #retrying = false;
  /** The run is ending: no reconnect any more, whatever closes. */
  #retired = false;
  #ready: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(wiring: UserWiring, index: number, group: Group) {
    this.#w = wiring;
    this.index = index;
    this.id = wiring.userId(index);
    this.group = group;
  }

  get peer(): string {
    return (this.#peer ??= this.#w.userId(this.peers[0] ?? this.index));
  }

  /** The other members of this user's conversation. */
  get peers(): number[] {
    return this.group.members.filter((m) => m !== this.index);
  }

  get isLeader(): boolean {
    return this.group.members[0] === this.index;
  }

  /** Connects and syncs; resolves when ready. Counts connect_ms, sync_ms, connects or connect_failures. */
  connect(startedAt = this.arrivedAt || now()): Promise<void> {
    this.#leaving = false;
    this.#connectStart = startedAt;
    this.#awaitFirst = true;
    return new Promise<void>((resolve, reject) => {
      this.#ready = { resolve, reject };
      this.#w.token(this.id).then((token) => {
        const ws = new WebSocket(this.#w.target, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false }) as WebSocket & { u: SimUser };
        ws.u = this;
        this.ws = ws;
        ws.on('message', onMessage as (data: WebSocket.RawData) => void);
        ws.on('close', onClose as (code: number) => void);
        ws.on('error', onError);
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            let code = `http_${res.statusCode ?? 0}`;
            try { code = (JSON.parse(body) as { error: { code: string } }).error.code; } catch { /* not a parley body */ }
            ws.terminate();
            this.#failConnect(code);
          });
        });
      }, (err: Error) => this.#failConnect('token_unavailable', err.message));
    });
  }

  #failConnect(code: string, detail?: string): void {
    this.#w.sink.meter.count('connect_failures');
    this.#w.sink.meter.error(code);
    const r = this.#ready;
    this.#ready = undefined;
    r?.reject(new Error(`${this.id}: connect failed (${code})${detail ? `: ${detail}` : ''}`));
  }

  /** Dropped unplanned and coming back (backoff or connecting): the drain waits for it. */
  get returning(): boolean {
    return !this.connected && this.#retrying && !this.#leaving && !this.#retired;
  }

  /** The run is ending: whatever closes from now on stays closed. */
  retire(): void {
    this.#retired = true;
  }

  /** Closes for good (no reconnect). */
  close(): Promise<void> {
    this.#leaving = true;
    this.connected = false;
    const ws = this.ws;
    this.ws = undefined;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    // Resolves on 'close' even after terminate(): ws emits every frame it read before it, so no
    // ack or delivery can follow the promise.
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
      setTimeout(() => ws.terminate(), 2000).unref();
    });
  }

  /** Drops the connection abruptly (network loss); the user reconnects with backoff. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Reconnects explicitly after close(), resuming from the cursor; resolves when synced. */
  reconnect(): Promise<void> {
    this.#w.sink.meter.count('reconnects');
    this.#dropAt = now();
    return this.connect(this.#dropAt);
  }

  /** Sends one request and resolves with its reply (or rejects with its error frame). */
  request<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    return this.#w.requests.send<T>(this, op, fields);
  }

  /** Writes a frame if connected; returns whether it was written. */
  write(text: string): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  onClosed(ws: WebSocket, code: number): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    const wasConnected = this.connected;
    this.connected = false;
    const retrying = this.#retrying;
    if (this.#ready && !wasConnected) {
      this.#failConnect(`closed_${code}`);
      // A first connect reports its failure to the scenario; a reconnect keeps trying.
      if (!retrying) return;
    }
    if (this.#leaving || this.#retired || code >= 4500) return;
    // Unplanned drop: reconnect with equal-jitter backoff and resend what was not acknowledged.
    if (!retrying) this.#dropAt = now();
    this.#retrying = true;
    const ceiling = Math.min(5000, 100 * 2 ** this.#attempt++);
    setTimeout(() => {
      if (this.#retired) return;
      this.#w.sink.meter.count('reconnects');
      this.connect(this.#dropAt).catch(() => { /* counted; the next close retries */ });
    }, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  onFrame(text: string): void {
    // Fast path for the most frequent frame: an ack of our own cmid (digits and '-', never escaped).
    if (text.startsWith('{"op":"ack"') && this.chat !== undefined) {
      const at = text.indexOf('"cmid":"');
      if (at > 0) return this.#w.sink.ack(this, text.slice(at + 8, text.indexOf('"', at + 8)), now());
    }
    let f: Record<string, any>;
    const sink = this.#w.sink;
    try { f = JSON.parse(text) as Record<string, any>; } catch { return sink.meter.error('bad_json_from_server'); }
    const t = now();
    switch (f.op) {
      case 'welcome': {
        const rec = sink.meter;
        rec.count('connects');
        if (this.#dropAt) rec.record('reconnect_ms', t - this.#dropAt); else rec.record('connect_ms', t - this.#connectStart);
        this.#dropAt = 0;
        const cursors = this.chat && this.lastSeq ? { cursors: { [this.chat]: this.lastSeq } } : {};
        this.request('sync', cursors).then(() => {
          rec.record('sync_ms', now() - t);
          this.connected = true;
          this.#attempt = 0;
          this.#retrying = false;
          sink.ready(this);
          const r = this.#ready;
          this.#ready = undefined;
          r?.resolve();
        }, (err: Error) => this.#failConnect('sync_failed', err.message));
        return;
      }
      case 'msg': return this.#onMsg(f, t);
      case 'ack':
        if (typeof f.chat === 'string') this.chat ??= f.chat;
        return sink.ack(this, String(f.cmid), t);
      case 'reply': case 'synced': case 'pong': return sink.reply(f);
      case 'error': return sink.errorFrame(this, f);
      default:
        // Chatter is judged by what each watcher has to read: frames and bytes, not only events (the
        // bulk presence snapshot at connect is not chatter).
        if ((f.op === 'presence' && !f.bulk) || f.op === 'typing') { sink.meter.count('signal_frames'); sink.meter.count('signal_bytes', Buffer.byteLength(text)); }
        return sink.event(this, f, t);
    }
  }

  #onMsg(f: Record<string, any>, t: number): void {
    if (typeof f.seq === 'number' && f.seq > this.lastSeq) this.lastSeq = f.seq;
    this.chat ??= f.chat as string;
    if (this.#awaitFirst) { this.#awaitFirst = false; this.#w.sink.meter.record('first_msg_ms', t - this.#connectStart); }
    let stamp: Stamp;
    try { stamp = JSON.parse(f.body as string) as Stamp; } catch { return; }
    if (typeof stamp.s !== 'number' || typeof stamp.q !== 'number') return;
    this.#w.sink.delivery(this, stamp, t);
  }
}

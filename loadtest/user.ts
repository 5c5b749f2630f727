/**
 * A simulated user: one raw `ws` connection speaking docs/protocol.md with minimal per-user state,
 * so a worker holds many thousands. Sends carry a stamp (sender, per-sender seq, intended and actual
 * send time) in the body, so recipients measure delivery and detect loss, duplicates and reordering.
 */
import WebSocket from 'ws';
import { now } from './clock.ts';
import type { Runtime } from './runtime.ts';
import type { Group } from './plan.ts';

const SUBPROTOCOL = 'parley.v1';
/** Pending sends are keyed by user index × 2^21 + per-user seq. */
export const SEQ_SPACE = 2_097_152;

export interface PendingSend { i: number; a: number; f: string; u: SimUser; r?: () => void }

/** Thrown when the server refuses an op the scenario needs (e.g. presence on an older node). */
export class UnsupportedOpError extends Error {
  constructor(readonly op: string) {
    super(`the server answered unknown_op to "${op}": this scenario needs a node that supports it`);
  }
}

function onMessage(this: WebSocket & { u: SimUser }, data: WebSocket.RawData): void {
  this.u.onFrame(data.toString());
}
function onClose(this: WebSocket & { u: SimUser }, code: number): void {
  this.u.onClosed(this, code);
}
function onError(): void { /* a close follows */ }

export class SimUser {
  readonly index: number;
  readonly id: string;
  readonly group: Group;
  readonly rt: Runtime;
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
  /** The 1:1 peer's id, cached on first send. */
  peerId: string | undefined;
  #connectStart = 0;
  #awaitFirst = false;
  #dropAt = 0;
  #leaving = false;
  #attempt = 0;
  /** Reconnecting after an unplanned drop (failures retry instead of ending the user). */
  #retrying = false;
  #ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #waiter: { target: number; from: number; resolve: () => void } | undefined;

  constructor(rt: Runtime, index: number, group: Group) {
    this.rt = rt;
    this.index = index;
    this.id = rt.userId(index);
    this.group = group;
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
      this.rt.token(this.id).then((token) => {
        const ws = new WebSocket(this.rt.options.target, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false }) as WebSocket & { u: SimUser };
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
    this.rt.rec.count('connect_failures');
    this.rt.rec.error(code);
    const r = this.#ready;
    this.#ready = undefined;
    r?.reject(new Error(`${this.id}: connect failed (${code})${detail ? `: ${detail}` : ''}`));
  }

  /** Closes for good (no reconnect). */
  close(): Promise<void> {
    this.#leaving = true;
    this.connected = false;
    const ws = this.ws;
    this.ws = undefined;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
      setTimeout(() => { ws.terminate(); resolve(); }, 2000).unref();
    });
  }

  /** Drops the connection abruptly (network loss); the user reconnects with backoff. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Reconnects explicitly after close(), resuming from the cursor; resolves when synced. */
  reconnect(): Promise<void> {
    this.rt.rec.count('reconnects');
    this.#dropAt = now();
    return this.connect(this.#dropAt);
  }

  /** Sends one request and resolves with its reply (or rejects with its error frame). */
  request<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    return this.rt.request<T>(this, op, fields);
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
    if (this.#leaving || this.rt.ending || code >= 4500) return;
    // Unplanned drop: reconnect with equal-jitter backoff and resend what was not acknowledged.
    if (!retrying) this.#dropAt = now();
    this.#retrying = true;
    const ceiling = Math.min(5000, 100 * 2 ** this.#attempt++);
    setTimeout(() => {
      if (this.rt.ending) return;
      this.rt.rec.count('reconnects');
      this.connect(this.#dropAt).catch(() => { /* counted; the next close retries */ });
    }, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  onFrame(text: string): void {
    // Fast path for the most frequent frame: an ack of our own cmid (digits and '-', never escaped).
    if (text.startsWith('{"op":"ack"') && this.chat !== undefined) {
      const at = text.indexOf('"cmid":"');
      if (at > 0) return this.rt.onAckCmid(this, text.slice(at + 8, text.indexOf('"', at + 8)), now());
    }
    let f: Record<string, any>;
    try { f = JSON.parse(text) as Record<string, any>; } catch { return this.rt.rec.error('bad_json_from_server'); }
    const t = now();
    switch (f.op) {
      case 'welcome': {
        const rec = this.rt.rec;
        rec.count('connects');
        if (this.#dropAt) rec.record('reconnect_ms', t - this.#dropAt); else rec.record('connect_ms', t - this.#connectStart);
        this.#dropAt = 0;
        const cursors = this.chat && this.lastSeq ? { cursors: { [this.chat]: this.lastSeq } } : {};
        this.rt.request(this, 'sync', cursors).then(() => {
          rec.record('sync_ms', now() - t);
          this.connected = true;
          this.#attempt = 0;
          this.#retrying = false;
          this.rt.resend(this);
          const r = this.#ready;
          this.#ready = undefined;
          r?.resolve();
        }, (err: Error) => this.#failConnect('sync_failed', err.message));
        return;
      }
      case 'msg': return this.#onMsg(f, t);
      case 'ack': return this.rt.onAck(this, f, t);
      case 'reply': case 'synced': case 'pong': return this.rt.settle(f);
      case 'error': return this.rt.onErrorFrame(this, f);
      default: return this.rt.onEvent(this, f, t);
    }
  }

  #onMsg(f: Record<string, any>, t: number): void {
    if (typeof f.seq === 'number' && f.seq > this.lastSeq) this.lastSeq = f.seq;
    this.chat ??= f.chat as string;
    if (this.#awaitFirst) { this.#awaitFirst = false; this.rt.rec.record('first_msg_ms', t - this.#connectStart); }
    let stamp: { s: number; q: number; t: number; a: number };
    try { stamp = JSON.parse(f.body as string) as typeof stamp; } catch { return; }
    if (typeof stamp.s !== 'number' || typeof stamp.q !== 'number') return;
    this.rt.onDelivery(this, stamp, t);
    const w = this.#waiter;
    if (w && this.rt.ledger.receivedCount(this.index, w.from) >= w.target) { this.#waiter = undefined; w.resolve(); }
  }

  /** Resolves once `count` distinct messages from `from` have arrived (offline catch-up). */
  received(from: number, count: number): Promise<void> {
    if (this.rt.ledger.receivedCount(this.index, from) >= count) return Promise.resolve();
    return new Promise((resolve) => { this.#waiter = { target: count, from, resolve }; });
  }
}

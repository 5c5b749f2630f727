/**
 * A raw WebSocket test client: speaks the wire protocol frame by frame, without the client
 * library's ids, retries and resyncs, so tests can send exactly the bytes they mean.
 */
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';

export type Frame = { op: string; id?: string | number; [k: string]: unknown };

export interface RawClient {
  readonly ws: WebSocket;
  /** Every frame received so far, in order. */
  readonly frames: Frame[];
  /** Resolves with the close code once the socket closed. */
  readonly closed: Promise<number>;
  /** Sends text (objects are JSON-encoded) or binary. */
  send(data: string | Buffer | object): void;
  /** Sends a frame and resolves with the first later frame matching `match` (by default: same id). */
  request(frame: Frame, match?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Resolves with the first frame, received from now on or already buffered after `from`, matching `match`. */
  next(match: (f: Frame) => boolean, timeoutMs?: number, from?: number): Promise<Frame>;
  close(): Promise<void>;
}

/** Opens a raw socket as `user` (or with an explicit token) and waits for the welcome frame. */
export async function rawConnect(server: ParleyServer, user: string, opts: { token?: string } = {}): Promise<RawClient> {
  const token = opts.token ?? (await server.auth.mint(user, 3600));
  const ws = new WebSocket(server.wsUrl, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data, isBinary) => {
    frames.push(isBinary ? { op: '<binary>' } : (JSON.parse(data.toString()) as Frame));
    for (const w of [...waiters]) w();
  });
  ws.on('error', () => undefined);

  const next = (match: (f: Frame) => boolean, timeoutMs = 5000, from = frames.length): Promise<Frame> =>
    new Promise((resolve, reject) => {
      let seen = from;
      const check = (): boolean => {
        for (; seen < frames.length; seen++) {
          if (match(frames[seen]!)) {
            waiters.delete(check as () => void);
            clearTimeout(timer);
            resolve(frames[seen]!);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.delete(check as () => void);
        reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(frames.slice(-3))}`));
      }, timeoutMs);
      if (!check()) waiters.add(check as () => void);
    });

  const client: RawClient = {
    ws, frames, closed, next,
    send(data) {
      ws.send(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data));
    },
    request(frame, match, timeoutMs) {
      const from = frames.length;
      client.send(frame);
      return next(match ?? ((f) => f.id === frame.id && f.op !== 'msg' && f.op !== 'member'), timeoutMs, from);
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await closed;
    },
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  await next((f) => f.op === 'welcome', 5000, 0);
  return client;
}

/** Opens a WebSocket upgrade and returns the HTTP refusal (status and JSON body), or throws if it was accepted. */
export function refusal(url: string, opts: { protocols?: string | string[]; headers?: Record<string, string> } = {}): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? SUBPROTOCOL, { headers: opts.headers });
    ws.on('open', () => { ws.close(); reject(new Error('the upgrade was accepted')); });
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error: { code: string; message: string } } }));
    });
  });
}

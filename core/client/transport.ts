/**
 * The socket under a ParleyClient. In Node it is the `ws` package, loaded on first use: the token
 * travels as a bearer header and a refused upgrade shows its HTTP status. Elsewhere (browsers) it is
 * the global WebSocket, which cannot set headers, so the token travels as `?token=`.
 */
import { SUBPROTOCOL } from '../protocol.ts';

/** The part of the standard WebSocket (browsers, Node 22+) the client uses. */
export interface StandardWebSocket {
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (ev: any) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => StandardWebSocket;

/** What the client sees of a connection, whichever implementation carries it. */
export interface Socket {
  readonly open: boolean;
  send(data: string | Uint8Array): void;
  /** Closes with `code`; resolves once closed, or after `graceMs` by dropping the connection. */
  close(code: number, reason: string, graceMs: number): Promise<void>;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
}

export interface SocketHandlers {
  message(text: string): void;
  close(code: number, reason: string): void;
  /** The server refused the upgrade with an HTTP status and an error code (only `ws` can see it). */
  refused(status: number, code: string): void;
}

export type Connector = (url: string, token: string, on: SocketHandlers) => Socket;

const OPEN = 1;
const CLOSED = 3;

let nodeConnector: Promise<Connector> | undefined;

/**
 * Picks the implementation: `impl` when given, `ws` under Node (header auth, HTTP refusals), else
 * the global WebSocket. Rejects when there is none.
 */
export function connector(impl?: WebSocketConstructor): Promise<Connector> {
  if (impl) return Promise.resolve(standardConnector(impl));
  if (typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string') {
    return (nodeConnector ??= import('ws').then(({ default: WS }) => wsConnector(WS)));
  }
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return Promise.resolve(standardConnector(global));
  return Promise.reject(new Error('no WebSocket implementation: pass webSocketImpl'));
}

function standardConnector(Impl: WebSocketConstructor): Connector {
  return (url, token, on) => {
    const u = new URL(url);
    u.searchParams.set('token', token);
    const ws = new Impl(u.toString(), SUBPROTOCOL);
    let closed = false;
    const closedWaiters: (() => void)[] = [];
    ws.addEventListener('message', (ev: { data: unknown }) => { if (typeof ev.data === 'string') on.message(ev.data); });
    ws.addEventListener('close', (ev: { code: number; reason: string }) => {
      closed = true;
      for (const w of closedWaiters.splice(0)) w();
      on.close(ev.code, ev.reason);
    });
    return {
      get open() { return ws.readyState === OPEN; },
      send: (data) => ws.send(data),
      close: (code, reason, graceMs) => new Promise<void>((resolve) => {
        if (closed || ws.readyState === CLOSED) return resolve();
        closedWaiters.push(resolve);
        ws.close(code, reason);
        unref(setTimeout(resolve, graceMs));
      }),
      // A standard WebSocket cannot drop a connection: close it and forget it.
      terminate: () => ws.close(),
    };
  };
}

type WsModule = typeof import('ws').default;

function wsConnector(WS: WsModule): Connector {
  return (url, token, on) => {
    const ws = new WS(url, SUBPROTOCOL, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let code = `http_${res.statusCode ?? 0}`;
        try { code = (JSON.parse(body) as { error: { code: string } }).error.code; } catch { /* not ours */ }
        ws.terminate();
        on.refused(res.statusCode ?? 0, code);
      });
    });
    ws.on('message', (data) => on.message(data.toString()));
    ws.on('close', (code, reason) => on.close(code, reason.toString()));
    ws.on('error', () => { /* a close follows */ });
    return {
      get open() { return ws.readyState === WS.OPEN; },
      send: (data) => ws.send(data),
      close: (code, reason, graceMs) => new Promise<void>((resolve) => {
        if (ws.readyState === WS.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(code, reason);
        unref(setTimeout(() => { ws.terminate(); resolve(); }, graceMs));
      }),
      terminate: () => ws.terminate(),
    };
  };
}

/** Lets Node exit while a timer is pending; browsers have nothing to unref. */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

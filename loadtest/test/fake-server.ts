/**
 * A small server speaking enough of parley's protocol for the load generator (welcome, sync →
 * synced, send → ack, msg fan-out to the 1:1 peer) with faults injected on purpose: a fixed delivery
 * delay, a stall, and loss, duplication and reordering of deliveries, each counted exactly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { now } from '../clock.ts';
import { createHistogram, recordMs, type Histogram } from '../histogram.ts';

export interface Faults {
  /**
   * Every delivery is written exactly this long after the send's intended time (read from the
   * body's stamp, on the machine's shared monotonic clock), so the true latency is known.
   */
  deliverDelayMs?: number;
  /** Stop answering for `forMs`, `afterMs` after the first send arrives; frames wait, then run in order. */
  stall?: { afterMs: number; forMs: number };
  /**
   * Stop reading every socket for `forMs`, `afterMs` after the first send arrives, as a stalled relay
   * does: sends and close frames wait in the network, then are read in order.
   */
  freeze?: { afterMs: number; forMs: number };
  /** Delivery number n (1-based, over the whole server) is dropped when n % dropEvery === 0. */
  dropEvery?: number;
  /** ... sent twice when n % duplicateEvery === 0 (and not dropped). */
  duplicateEvery?: number;
  /** ... held back and sent after the next delivery to the same user when n % reorderEvery === 0. */
  reorderEvery?: number;
}

export interface FakeServer {
  url: string;
  counts: { dropped: number; duplicated: number; reordered: number; delivered: number; acked: number; stalledFrames: number };
  /** Intended send → the moment this server wrote the delivery: the true latency it injected. */
  trueDelay: Histogram;
  close(): Promise<void>;
}

const userOf = (auth: string | undefined): string | undefined => {
  const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try { return (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub?: string }).sub; } catch { return undefined; }
};

/** Runs fn at monotonic time `due`: a timer, then a short spin for sub-millisecond precision. */
function preciseAt(due: number, fn: () => void): void {
  const spin = () => (now() >= due ? fn() : setImmediate(spin));
  const ms = due - now();
  if (ms > 2) setTimeout(spin, ms - 2); else spin();
}

export async function fakeServer(faults: Faults = {}): Promise<FakeServer> {
  const sockets = new Map<string, WebSocket>();
  const held = new Map<string, string>();
  const heldTimers = new Map<string, NodeJS.Timeout>();
  const seqs = new Map<string, number>();
  const counts = { dropped: 0, duplicated: 0, reordered: 0, delivered: 0, acked: 0, stalledFrames: 0 };
  const trueDelay = createHistogram();
  let deliveries = 0;
  let firstSendAt: number | undefined;
  let queue: (() => void)[] | undefined;
  const wires = new Set<Duplex>();

  /** Writes to the user's socket if it is still open; a delivery counts only when written. */
  const write = (user: string, text: string): boolean => {
    const ws = sockets.get(user);
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(text);
    return true;
  };

  const deliver = (to: string, text: string) => {
    const n = ++deliveries;
    if (faults.dropEvery && n % faults.dropEvery === 0) { counts.dropped++; return; }
    const prior = held.get(to);
    if (faults.reorderEvery && n % faults.reorderEvery === 0 && !prior) {
      held.set(to, text);
      // Nothing else for this user within 200 ms: send it anyway (then it is not out of order).
      heldTimers.set(to, setTimeout(() => { if (held.get(to) === text) { held.delete(to); if (write(to, text)) counts.delivered++; } }, 200));
      return;
    }
    if (write(to, text)) counts.delivered++;
    if (faults.duplicateEvery && n % faults.duplicateEvery === 0 && write(to, text)) counts.duplicated++;
    if (prior) {
      held.delete(to);
      clearTimeout(heldTimers.get(to));
      if (write(to, prior)) { counts.delivered++; counts.reordered++; }
    }
  };

  const handle = (user: string, ws: WebSocket, f: Record<string, any>) => {
    switch (f.op) {
      case 'sync': return ws.send(JSON.stringify({ op: 'synced', id: f.id, chats: {} }));
      case 'send': {
        const peer = String(f.to);
        const chat = user < peer ? `d:${user}:${peer}` : `d:${peer}:${user}`;
        const seq = (seqs.get(chat) ?? 0) + 1;
        seqs.set(chat, seq);
        const ts = Date.now();
        ws.send(JSON.stringify({ op: 'ack', id: f.id, chat, seq, cmid: f.cmid, ts }));
        counts.acked++;
        const msg = JSON.stringify({ op: 'msg', chat, seq, from: user, cmid: f.cmid, body: f.body, ts });
        if (faults.deliverDelayMs) {
          const intended = (JSON.parse(String(f.body)) as { t: number }).t;
          preciseAt(intended + faults.deliverDelayMs, () => { recordMs(trueDelay, now() - intended); deliver(peer, msg); });
        } else deliver(peer, msg);
        return;
      }
      default:
        return ws.send(JSON.stringify({ op: 'error', id: f.id, code: 'unknown_op', message: `unknown op "${String(f.op)}"` }));
    }
  };

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: () => 'parley.v1' });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    const user = userOf(req.headers.authorization);
    if (!user) return socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    wires.add(socket);
    socket.on('close', () => wires.delete(socket));
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.set(user, ws);
      ws.on('close', () => { if (sockets.get(user) === ws) sockets.delete(user); });
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Record<string, any>;
        if (f.op === 'send' && firstSendAt === undefined && faults.freeze) {
          firstSendAt = performance.now();
          const { afterMs, forMs } = faults.freeze;
          setTimeout(() => {
            const frozen = [...wires];
            for (const w of frozen) w.pause();
            setTimeout(() => { for (const w of frozen) w.resume(); }, forMs);
          }, afterMs);
        }
        if (f.op === 'send' && firstSendAt === undefined && faults.stall) {
          firstSendAt = performance.now();
          const { afterMs, forMs } = faults.stall;
          setTimeout(() => {
            queue = [];
            setTimeout(() => { const q = queue!; queue = undefined; for (const run of q) run(); }, forMs);
          }, afterMs);
        }
        if (queue) { counts.stalledFrames++; queue.push(() => handle(user, ws, f)); return; }
        handle(user, ws, f);
      });
      ws.send(JSON.stringify({ op: 'welcome', session: user, user, protocol: 1, heartbeatMs: 25_000, limits: {} }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    counts,
    trueDelay,
    close: () => new Promise<void>((resolve) => {
      for (const t of heldTimers.values()) clearTimeout(t);
      for (const ws of wss.clients) ws.terminate();
      server.close(() => resolve());
    }),
  };
}

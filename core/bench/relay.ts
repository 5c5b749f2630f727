/**
 * The ceiling for bench:core: a raw `ws` relay with no persistence, no auth and no limits. It does
 * the least a 1:1 chat relay must do per message (decode the send, ack the sender, forward a msg
 * frame to the peer) with the same frame shapes as parley, so the gap to parley is its real work.
 *
 * Run: `node relay.js` (or `--import tsx relay.ts`); prints `{"port":N}` once listening on 127.0.0.1.
 * Clients connect to `/ws?user=<id>`.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { directChatId, encode } from '../protocol.ts';

interface SendFrame { op: string; to?: string; cmid: string; body: string }

/** Starts the relay on `port` (0 picks a free one) and resolves with the bound port. */
export function startRelay(port = 0): Promise<{ port: number; close: () => void }> {
  const byUser = new Map<string, WebSocket>();
  const seqs = new Map<string, number>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, handleProtocols: (p) => p.values().next().value ?? false });

  wss.on('connection', (ws, req) => {
    const user = new URL(req.url ?? '/', 'http://localhost').searchParams.get('user') ?? '';
    byUser.set(user, ws);
    ws.on('close', () => { if (byUser.get(user) === ws) byUser.delete(user); });
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as SendFrame;
      if (f.op !== 'send' || !f.to) return;
      const chat = directChatId(user, f.to);
      const seq = (seqs.get(chat) ?? 0) + 1;
      seqs.set(chat, seq);
      const ts = Date.now();
      ws.send(encode({ op: 'ack', chat, seq, cmid: f.cmid, ts }));
      byUser.get(f.to)?.send(encode({ op: 'msg', chat, seq, from: user, cmid: f.cmid, body: f.body, ts }));
    });
  });

  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      const addr = wss.address();
      resolve({ port: addr !== null && typeof addr === 'object' ? addr.port : 0, close: () => wss.close() });
    });
  });
}

if (process.argv[1] && /relay\.(ts|js)$/.test(process.argv[1])) {
  const { port } = await startRelay(Number(process.env.PORT ?? 0));
  console.log(JSON.stringify({ port }));
}

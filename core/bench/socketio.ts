/**
 * The peer for bench:core: the same 1:1 relay on Socket.IO (the server most Node teams would pick
 * instead), with no persistence. Each send is an event with an ack callback; the server acks the
 * sender and emits a msg event to the peer's socket. Frames carry the same fields as parley's.
 *
 * Run: `node socketio.js` (or `--import tsx socketio.ts`); prints `{"port":N}` once listening on
 * 127.0.0.1. Clients open `/socket.io/?EIO=4&transport=websocket&user=<id>` (no polling).
 */
import { createServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { directChatId } from '../protocol.ts';

interface SendEvent { to?: string; cmid: string; body: string }

/** Starts the relay on `port` (0 picks a free one) and resolves with the bound port. */
export function startSocketIoRelay(port = 0): Promise<{ port: number; close: () => void }> {
  const byUser = new Map<string, Socket>();
  const seqs = new Map<string, number>();
  const http = createServer();
  // Websocket only, no compression: the same transport as the other two servers.
  const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

  io.on('connection', (socket) => {
    const user = String(socket.handshake.query.user ?? '');
    byUser.set(user, socket);
    socket.on('disconnect', () => { if (byUser.get(user) === socket) byUser.delete(user); });
    socket.on('send', (f: SendEvent, ack?: (reply: unknown) => void) => {
      if (!f || typeof f.to !== 'string') return;
      const chat = directChatId(user, f.to);
      const seq = (seqs.get(chat) ?? 0) + 1;
      seqs.set(chat, seq);
      const ts = Date.now();
      ack?.({ op: 'ack', chat, seq, cmid: f.cmid, ts });
      byUser.get(f.to)?.emit('msg', { op: 'msg', chat, seq, from: user, cmid: f.cmid, body: f.body, ts });
    });
  });

  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      const addr = http.address();
      resolve({ port: addr !== null && typeof addr === 'object' ? addr.port : 0, close: () => void io.close() });
    });
  });
}

if (process.argv[1] && /socketio\.(ts|js)$/.test(process.argv[1])) {
  const { port } = await startSocketIoRelay(Number(process.env.PORT ?? 0));
  console.log(JSON.stringify({ port }));
}

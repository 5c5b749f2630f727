/**
 * room-fanout for k6: VUs in rooms of GROUP members; the first VU of each group creates the room
 * with all members and the others learn it from the member event, then everyone posts at a steady
 * pace and measures delivery from the stamp.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import ws from 'k6/ws';
import { PREFIX, TARGET, parse, token, type Stamp } from './lib/parley.ts';

const ackMs = new Trend('ack_ms', true);
const deliverMs = new Trend('deliver_ms', true);
const errors = new Counter('errors');

const GROUP = Number(__ENV.GROUP ?? 10);
const RATE_PER_SEC = Number(__ENV.RATE ?? 0.2);

export const options = {
  scenarios: {
    rooms: { executor: 'constant-vus', vus: Number(__ENV.USERS ?? 200), duration: __ENV.DURATION ?? '30s', gracefulStop: '5s' },
  },
  thresholds: { ack_ms: ['p(99)<100'], deliver_ms: ['p(99)<200'], errors: ['count==0'] },
};

export default function (): void {
  const me = exec.vu.idInTest;
  const first = Math.floor((me - 1) / GROUP) * GROUP + 1;
  const members = Array.from({ length: GROUP }, (_, i) => `${PREFIX}${first + i}`);
  let room: string | undefined;
  let q = 0;
  const sentAt = new Map<string, number>();
  const res = ws.connect(TARGET, { headers: { authorization: `Bearer ${token(`${PREFIX}${me}`)}`, 'sec-websocket-protocol': 'parley.v1' } }, (socket) => {
    socket.on('open', () => {
      socket.send(JSON.stringify({ op: 'sync', id: 1 }));
      // Give every member time to connect before the leader creates the room.
      if (me === first) socket.setTimeout(() => socket.send(JSON.stringify({ op: 'room.create', id: 2, name: `k6 ${first}`, members })), 5000);
      socket.setInterval(() => {
        if (!room) return;
        q++;
        const cmid = `${me}-${q}`;
        const stamp: Stamp = { s: me, q, t: Date.now() };
        sentAt.set(cmid, stamp.t);
        socket.send(JSON.stringify({ op: 'send', id: cmid, chat: room, cmid, body: JSON.stringify(stamp) }));
      }, 1000 / RATE_PER_SEC);
    });
    socket.on('message', (data) => {
      const f = parse(data);
      if (!f) return;
      if (f.op === 'reply' && f.id === 2) room = (f.result as { chat: string }).chat;
      else if (f.op === 'member' && typeof f.chat === 'string') room ??= f.chat;
      else if (f.op === 'ack' && typeof f.cmid === 'string') {
        const t = sentAt.get(f.cmid);
        if (t !== undefined) { ackMs.add(Date.now() - t); sentAt.delete(f.cmid); }
      } else if (f.op === 'msg' && typeof f.body === 'string') {
        room ??= f.chat;
        const stamp = JSON.parse(f.body) as Stamp;
        if (stamp.s !== me) deliverMs.add(Date.now() - stamp.t);
      } else if (f.op === 'error') errors.add(1, { code: String(f.code) });
    });
  });
  check(res, { 'upgraded to a WebSocket': (r) => r !== undefined && r.status === 101 });
}

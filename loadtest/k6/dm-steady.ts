/**
 * dm-steady for k6 (k6-operator can run it from many machines): pairs of VUs chat 1:1.
 * Each VU holds one socket, sends on a fixed interval, and measures send→ack and send→deliver
 * from the stamp, with the same metric names and thresholds as `parley load dm-steady`.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import ws from 'k6/ws';
import { PREFIX, TARGET, parse, partnerOf, token, type Stamp } from './lib/parley.ts';

const ackMs = new Trend('ack_ms', true);
const deliverMs = new Trend('deliver_ms', true);
const duplicated = new Counter('duplicated');
const reordered = new Counter('reordered');
const errors = new Counter('errors');

const RATE_PER_SEC = Number(__ENV.RATE ?? 1);

export const options = {
  scenarios: {
    pairs: { executor: 'constant-vus', vus: Number(__ENV.USERS ?? 200), duration: __ENV.DURATION ?? '30s', gracefulStop: '5s' },
  },
  thresholds: {
    ack_ms: ['p(99)<50'],
    deliver_ms: ['p(99)<100'],
    duplicated: ['count==0'],
    errors: ['count==0'],
  },
};

export default function (): void {
  const me = exec.vu.idInTest;
  const user = `${PREFIX}${me}`;
  const peer = `${PREFIX}${partnerOf(me)}`;
  const sentAt = new Map<string, number>();
  let q = 0;
  let maxSeen = 0;
  const seen = new Set<number>();
  const res = ws.connect(TARGET, { headers: { authorization: `Bearer ${token(user)}`, 'sec-websocket-protocol': 'parley.v1' } }, (socket) => {
    socket.on('open', () => {
      socket.send(JSON.stringify({ op: 'sync', id: 1 }));
      socket.setInterval(() => {
        q++;
        const t = Date.now();
        const cmid = `${me}-${q}`;
        sentAt.set(cmid, t);
        const stamp: Stamp = { s: me, q, t };
        socket.send(JSON.stringify({ op: 'send', id: cmid, to: peer, cmid, body: JSON.stringify(stamp) }));
      }, 1000 / RATE_PER_SEC);
    });
    socket.on('message', (data) => {
      const f = parse(data);
      if (!f) return;
      if (f.op === 'ack' && typeof f.cmid === 'string') {
        const t = sentAt.get(f.cmid);
        if (t !== undefined) { ackMs.add(Date.now() - t); sentAt.delete(f.cmid); }
      } else if (f.op === 'msg' && typeof f.body === 'string') {
        const stamp = JSON.parse(f.body) as Stamp;
        if (stamp.s === me) return;
        if (seen.has(stamp.q)) { duplicated.add(1); return; }
        if (stamp.q < maxSeen) reordered.add(1);
        seen.add(stamp.q);
        maxSeen = Math.max(maxSeen, stamp.q);
        deliverMs.add(Date.now() - stamp.t);
      } else if (f.op === 'error') errors.add(1, { code: String(f.code) });
    });
    socket.setTimeout(() => socket.close(1000), exec.scenario.startTime + 3_600_000);
  });
  check(res, { 'upgraded to a WebSocket': (r) => r !== undefined && r.status === 101 });
}

/**
 * login-storm for k6: users arrive at a constant rate (open model), connect, sync and idle.
 * connect_ms is the time from the iteration start to the welcome frame.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import ws from 'k6/ws';
import { PREFIX, TARGET, parse, token } from './lib/parley.ts';

const connectMs = new Trend('connect_ms', true);
const syncMs = new Trend('sync_ms', true);
const connectFailures = new Counter('connect_failures');

export const options = {
  scenarios: {
    storm: {
      executor: 'constant-arrival-rate', rate: Number(__ENV.ARRIVAL_RATE ?? 500), timeUnit: '1s',
      duration: __ENV.DURATION ?? '10s', preAllocatedVUs: 200, maxVUs: Number(__ENV.MAX_VUS ?? 5000),
    },
  },
  thresholds: { connect_ms: ['p(99)<500'], sync_ms: ['p(99)<250'], connect_failures: ['count==0'], dropped_iterations: ['count==0'] },
};

export default function (): void {
  const started = Date.now();
  const user = `${PREFIX}${exec.scenario.iterationInTest}`;
  let syncSent = 0;
  const res = ws.connect(TARGET, { headers: { authorization: `Bearer ${token(user)}`, 'sec-websocket-protocol': 'parley.v1' } }, (socket) => {
    socket.on('message', (data) => {
      const f = parse(data);
      if (f?.op === 'welcome') {
        connectMs.add(Date.now() - started);
        syncSent = Date.now();
        socket.send(JSON.stringify({ op: 'sync', id: 1 }));
      } else if (f?.op === 'synced') {
        syncMs.add(Date.now() - syncSent);
        socket.setTimeout(() => socket.close(1000), Number(__ENV.HOLD_MS ?? 2000));
      }
    });
  });
  if (!check(res, { 'upgraded to a WebSocket': (r) => r !== undefined && r.status === 101 })) connectFailures.add(1);
}

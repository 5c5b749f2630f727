/**
 * http-api for k6: backend services post and read 1:1 messages over REST at a constant arrival
 * rate (open model), one conversation per VU pair.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { PREFIX, directChat, origin, partnerOf, token } from './lib/parley.ts';

const httpMs = new Trend('http_ms', true);
const errors = new Counter('errors');

export const options = {
  scenarios: {
    api: { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE ?? 200), timeUnit: '1s', duration: __ENV.DURATION ?? '10s', preAllocatedVUs: 50, maxVUs: 500 },
  },
  thresholds: { http_ms: ['p(99)<100'], errors: ['count==0'] },
};

export default function (): void {
  const me = exec.vu.idInTest;
  const user = `${PREFIX}${me}`;
  const peer = `${PREFIX}${partnerOf(me)}`;
  const headers = { authorization: `Bearer ${token(user)}`, 'content-type': 'application/json' };
  const chat = directChat(user, peer);
  const post = http.post(`${origin()}/api/v1/chats/${encodeURIComponent(chat)}/messages`, JSON.stringify({ cmid: `${me}-${exec.scenario.iterationInTest}`, body: 'hello over REST' }), { headers });
  const read = http.get(`${origin()}/api/v1/chats/${encodeURIComponent(chat)}/messages?limit=20`, { headers });
  for (const r of [post, read]) {
    httpMs.add(r.timings.duration);
    if (!check(r, { '2xx': (x) => x.status >= 200 && x.status < 300 })) errors.add(1, { status: String(r.status) });
  }
}

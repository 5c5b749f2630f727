/**
 * http-api: backend services post and read messages over REST (bots, integrations, admin tools).
 * Each connection opens a 1:1 chat, then alternates POST /chats/{id}/messages and GET .../messages,
 * driven by autocannon (closed loop per connection). Gates on REST latency and on non-2xx answers.
 */
import autocannon from 'autocannon';
import { defineScenario, targetsOf } from '../api.ts';

export default defineScenario({
  name: 'http-api',
  story: 'Backend services post and read 1:1 messages over REST through autocannon connections (closed loop).',
  options: {
    users: 20,
    arrivalRate: 0,
    groupSize: 2,
    duration: '10s',
    thresholds: {
      http_ms: ['p(99)<100'],
      errors: ['count==0'],
    },
  },
  async worker(run) {
    // autocannon speaks to one origin: the first node of a --target list.
    const target = new URL(targetsOf(run.options.target)[0]!);
    const origin = `${target.protocol === 'wss:' ? 'https' : 'http'}://${target.host}`;
    const pairs = run.users.filter((u) => u.isLeader);
    if (pairs.length === 0) return;
    const sessions = await Promise.all(pairs.map(async (u) => {
      const token = await run.token(u.id);
      const res = await fetch(`${origin}/api/v1/chats`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: u.peer }) });
      run.count('requests');
      if (!res.ok) throw new Error(`POST /api/v1/chats answered ${res.status}: ${await res.text()}`);
      return { token, chat: ((await res.json()) as { chat: string }).chat };
    }));
    let next = 0;
    let cmid = 0;
    let finish!: (err: unknown) => void;
    const finished = new Promise<void>((resolve, reject) => { finish = (err) => (err ? reject(err as Error) : resolve()); });
    const instance = autocannon({
      url: origin,
      connections: sessions.length,
      duration: Math.max(1, Math.round(run.options.durationMs / 1000)),
      requests: [
        {
          method: 'POST',
          setupRequest: (req, context) => {
            const ctx = context as { session?: number };
            const s = sessions[(ctx.session ??= next++ % sessions.length)]!;
            return { ...req, path: `/api/v1/chats/${encodeURIComponent(s.chat)}/messages`, headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmid: `h${cmid++}`, body: 'hello over REST' }) };
          },
        },
        {
          method: 'GET',
          setupRequest: (req, context) => {
            const s = sessions[(context as { session?: number }).session ?? 0]!;
            return { ...req, path: `/api/v1/chats/${encodeURIComponent(s.chat)}/messages?limit=20`, headers: { authorization: `Bearer ${s.token}` } };
          },
        },
      ],
    }, (err) => finish(err));
    instance.on('response', (_client, status, _bytes, ms) => {
      run.count('requests');
      run.record('http_ms', ms);
      if (status >= 400) run.error(`http_${status}`);
    });
    instance.on('reqError', () => run.error('http_request_failed'));
    await finished;
  },
});

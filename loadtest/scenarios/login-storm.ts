/**
 * login-storm: a crowd (re)connects at once, e.g. after a node restart or a client release.
 * Every user opens a socket, authenticates, syncs and holds the connection for a while; nothing
 * is sent. Gates on connect and sync latency and on zero failed connections.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'login-storm',
  story: 'A crowd connects at a high arrival rate (restart, release), authenticates, syncs and idles; no messages.',
  options: {
    users: 1000,
    arrivalRate: 500,
    groupSize: 1,
    messageRate: 0,
    duration: '10s',
    params: { holdMs: 2000 },
    thresholds: {
      connect_ms: ['p(99)<500'],
      sync_ms: ['p(99)<250'],
      connect_failures: ['count==0'],
      errors: ['rate<0.001'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.sleep(Number(run.options.params.holdMs ?? 2000));
    await u.close();
  },
});

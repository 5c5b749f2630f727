/**
 * presence-storm: friends flip between available and away, the chattiest traffic of a chat service.
 * Each pair becomes friends, then every user changes presence at a steady pace; the server batches
 * updates per watcher. Gates on the latency of a change reaching the friend. Needs `presence`.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'presence-storm',
  story: 'Pairs of friends flip between available and away; each change must reach the friend quickly (server-side batching included).',
  options: {
    users: 400,
    arrivalRate: 400,
    groupSize: 2,
    duration: '30s',
    messageRate: 0.5,
    thresholds: {
      presence_ms: ['p(99)<500'],
      errors: ['rate<0.01'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    // Friendship first: presence reaches friends only. An older node answers unknown_op, which ends the run with a clear reason.
    if (u.isLeader) await u.request('friend.request', { user: u.peer });
    await run.barrier('requested');
    if (!u.isLeader) await u.request('friend.accept', { user: u.peer });
    await run.barrier('friends');
    let away = false;
    await run.every(run.options.messageRate, (intended) => {
      away = !away;
      run.signal(u, 'presence', { state: away ? 'away' : 'available' }, intended);
    });
  },
});

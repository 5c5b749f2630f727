/**
 * room-fanout: group chats where every message reaches every other member.
 * Users join rooms of --group-size members (seeded grouping); each member talks at a steady pace,
 * so the server encodes once and fans out to size−1 sessions. Gates on delivery latency and loss.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'room-fanout',
  story: 'Rooms of 10 members (seeded grouping); every member posts at a steady pace and every message fans out to 9 others.',
  options: {
    users: 200,
    arrivalRate: 200,
    groupSize: 10,
    duration: '30s',
    messageRate: 0.2,
    thresholds: {
      ack_ms: ['p(99)<100'],
      deliver_ms: ['p(99)<200', { threshold: 'p(99)<500', window: '5s' }],
      lost: ['count==0'],
      duplicated: ['count==0'],
      errors: ['rate<0.001'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    await run.room(u);
    await run.barrier('rooms');
    await run.converse(u);
  },
});

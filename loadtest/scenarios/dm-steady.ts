/**
 * dm-steady: pairs of friends chat 1:1 at a steady conversational pace.
 * Models the bulk of a chat service's persisted traffic: every message is committed, acknowledged
 * and delivered to exactly one online peer. Gates on ack and delivery latency and zero loss.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'dm-steady',
  story: 'Pairs of online friends exchange 1:1 messages at a steady Poisson pace; every message must arrive once, in order, fast.',
  options: {
    users: 200,
    arrivalRate: 200,
    groupSize: 2,
    duration: '30s',
    messageRate: 1,
    thresholds: {
      ack_ms: ['p(99)<50'],
      deliver_ms: ['p(99)<100', { threshold: 'p(99)<250', window: '5s' }],
      lost: ['count==0'],
      duplicated: ['count==0'],
      errors: ['rate<0.001'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    await run.converse(u);
  },
});

/**
 * reconnect-churn: phones on flaky networks drop and come back mid-conversation.
 * Pairs chat steadily while every user loses its connection at random (Poisson) moments, then
 * reconnects, resumes from its cursor and resends unacked sends. Nothing may be lost or doubled.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'reconnect-churn',
  story: 'Pairs chat while each user drops its connection every ~10 s on average and resumes from its cursor.',
  options: {
    users: 200,
    arrivalRate: 200,
    groupSize: 2,
    duration: '30s',
    messageRate: 1,
    drain: '5s',
    params: { dropsPerMinute: 6 },
    thresholds: {
      reconnect_ms: ['p(99)<2000'],
      lost: ['count==0'],
      duplicated: ['count==0'],
      missed_sends: ['count==0'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    const drops = Number(run.options.params.dropsPerMinute ?? 6) / 60;
    await Promise.all([run.converse(u), drops > 0 ? run.every(drops, () => u.drop()) : undefined]);
  },
});

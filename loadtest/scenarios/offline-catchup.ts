/**
 * offline-catchup: a user comes back online to a backlog (morning commute, phone was off).
 * In each pair one user goes offline while the other sends --param-backlog messages; the first
 * then reconnects and syncs. Gates on the time to receive the whole backlog and on zero loss.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'offline-catchup',
  story: 'Half the users go offline while their partners send a backlog; they come back, sync and must receive all of it.',
  options: {
    users: 200,
    arrivalRate: 200,
    groupSize: 2,
    duration: '60s',
    messageRate: 20,
    drain: '5s',
    params: { backlog: 50 },
    thresholds: {
      catchup_ms: ['p(99)<2000'],
      lost: ['count==0'],
      duplicated: ['count==0'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    if (u.isLeader) await u.close();
    await run.barrier('offline');
    if (!u.isLeader) {
      await run.converse(u, { count: Number(run.options.params.backlog ?? 50) });
      await run.idle(u);
    }
    await run.barrier('sent');
    if (!u.isLeader) return;
    await run.measure('catchup_ms', async () => {
      await u.reconnect();
      await run.caughtUp(u);
    });
  },
});
